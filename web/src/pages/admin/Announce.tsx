import { useRef, useState } from "preact/hooks";
import { notifications } from "../../api/clients";
import { AdminTabs } from "../../components/nav";
import {
  CheckboxField,
  ErrorNotice,
  Notice,
  Page,
  SubmitButton,
  TextAreaField,
  TextField,
} from "../../components/ui";
import { Channel } from "../../gen/seatmesh/notifications/v1/notifications_pb";
import { useAction } from "../../hooks";
import { useI18n } from "../../i18n";
import { newRequestId } from "../../ids";

export function AdminAnnounce() {
  const { t } = useI18n();
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [email, setEmail] = useState(false);
  const [sent, setSent] = useState<number | null>(null);
  const action = useAction();
  const requestId = useRef(newRequestId());
  return (
    <Page title={t("admin.announceTitle")} lead={t("admin.announceLead")}>
      <AdminTabs />
      <form
        class="narrow"
        onSubmit={(submit) => {
          submit.preventDefault();
          setSent(null);
          void action.run(async () => {
            if (!confirm(t("admin.announceConfirm"))) return;
            const reply = await notifications.sendNotification({
              title: title.trim(),
              body: body.trim(),
              channels: [Channel.IN_APP, ...(email ? [Channel.EMAIL] : [])],
              requestId: requestId.current,
            });
            requestId.current = newRequestId();
            setSent(reply.recipientCount);
            setTitle("");
            setBody("");
          });
        }}
      >
        <TextField
          label={t("field.title")}
          name="title"
          required
          maxLength={200}
          problem={action.problem}
          value={title}
          onValue={setTitle}
        />
        <TextAreaField
          label={t("field.body")}
          name="body"
          required
          rows={5}
          maxLength={5000}
          problem={action.problem}
          value={body}
          onValue={setBody}
        />
        <CheckboxField label={t("admin.alsoEmail")} name="email" checked={email} onChecked={setEmail} />
        <ErrorNotice problem={action.problem} />
        {sent !== null ? <Notice kind="success">{t("guests.sent", { count: sent })}</Notice> : null}
        <SubmitButton busy={action.busy} label={t("admin.announceSubmit")} />
      </form>
    </Page>
  );
}
