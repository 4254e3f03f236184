import { useMemo, useState } from "preact/hooks";
import { notifications, users } from "../api/clients";
import { session, signOut, signOutEverywhere } from "../api/session";
import {
  ErrorNotice,
  Loading,
  Notice,
  Page,
  SelectField,
  SubmitButton,
  TextField,
  TimeZoneField,
} from "../components/ui";
import type { KindPreference } from "../gen/seatmesh/notifications/v1/notifications_pb";
import type { User } from "../gen/seatmesh/users/v1/users_pb";
import { useAction, useLoad } from "../hooks";
import { LANGUAGES, useI18n } from "../i18n";
import { kindLabel, roleLabel } from "../labels";
import { navigate, queryString } from "../router";
import { useStore } from "../store";
import { browserTimeZone, knownTimeZones } from "../time";

type ProfileFields = Pick<User, "displayName" | "phone" | "timeZone" | "locale" | "email">;
const PROFILE_PATHS: Record<keyof ProfileFields, string> = {
  displayName: "display_name",
  phone: "phone",
  timeZone: "time_zone",
  locale: "locale",
  email: "email",
};

function ProfileForm(props: { user: User }) {
  const { t } = useI18n();
  const zones = useMemo(knownTimeZones, []);
  const [fields, setFields] = useState<ProfileFields>({
    displayName: props.user.displayName,
    phone: props.user.phone,
    timeZone: props.user.timeZone,
    locale: props.user.locale,
    email: props.user.email,
  });
  const [saved, setSaved] = useState<"" | "saved" | "verify">("");
  const action = useAction();
  const set = (key: keyof ProfileFields, value: string): void =>
    setFields((current) => ({ ...current, [key]: value }));
  const localeOptions = [
    { value: "", label: t("settings.localeDefault") },
    ...LANGUAGES.map((language) => ({ value: language.code, label: language.name })),
  ];
  if (fields.locale && !localeOptions.some((option) => option.value === fields.locale)) {
    localeOptions.push({ value: fields.locale, label: fields.locale });
  }

  return (
    <form
      class="narrow"
      aria-labelledby="profile-title"
      onSubmit={(submit) => {
        submit.preventDefault();
        void action.run(async () => {
          const changed = (Object.keys(PROFILE_PATHS) as (keyof ProfileFields)[]).filter(
            (key) => fields[key].trim() !== props.user[key],
          );
          if (changed.length === 0) {
            setSaved("saved");
            return;
          }
          const update: Partial<ProfileFields> = Object.fromEntries(
            changed.map((key) => [key, fields[key].trim()]),
          );
          const user = await users.updateCurrentUser({
            user: update,
            updateMask: { paths: changed.map((key) => PROFILE_PATHS[key]) },
          });
          const current = session.get();
          if (current) session.set({ ...current, user });
          setSaved(changed.includes("email") ? "verify" : "saved");
        });
      }}
    >
      <h2 id="profile-title">{t("settings.profile")}</h2>
      <TextField
        label={t("field.displayName")}
        name="displayName"
        autoComplete="name"
        required
        problem={action.problem}
        value={fields.displayName}
        onValue={(value) => set("displayName", value)}
      />
      <TextField
        label={t("field.email")}
        name="email"
        type="email"
        autoComplete="email"
        hint={t("settings.emailHint")}
        required
        problem={action.problem}
        value={fields.email}
        onValue={(value) => set("email", value)}
      />
      <TextField
        label={t("field.phone")}
        name="phone"
        type="tel"
        autoComplete="tel"
        hint={t("signUp.phoneHint")}
        problem={action.problem}
        value={fields.phone}
        onValue={(value) => set("phone", value)}
      />
      <TimeZoneField
        label={t("field.timeZone")}
        name="timeZone"
        hint={t("settings.zoneHint", { zone: browserTimeZone() })}
        problem={action.problem}
        value={fields.timeZone}
        onValue={(value) => set("timeZone", value)}
        zones={zones}
      />
      <SelectField
        label={t("field.locale")}
        name="locale"
        hint={t("settings.localeHint")}
        problem={action.problem}
        value={fields.locale}
        onValue={(value) => set("locale", value)}
        options={localeOptions}
      />
      <ErrorNotice problem={action.problem} />
      {saved === "saved" ? <Notice kind="success">{t("settings.saved")}</Notice> : null}
      {saved === "verify" ? (
        <Notice kind="success">
          {t("settings.verifyNewEmail")}{" "}
          <a href={`/verify${queryString({ email: fields.email })}`}>{t("signIn.enterCode")}</a>
        </Notice>
      ) : null}
      <SubmitButton busy={action.busy} label={t("action.save")} />
    </form>
  );
}

function Preferences() {
  const { t } = useI18n();
  const loaded = useLoad(() => notifications.getNotificationPreferences({}), []);
  const [edits, setEdits] = useState<Map<number, KindPreference>>(new Map());
  const [saved, setSaved] = useState(false);
  const action = useAction();
  if (!loaded.data) {
    return loaded.problem ? <ErrorNotice problem={loaded.problem} onRetry={loaded.reload} /> : <Loading />;
  }
  const rows = loaded.data.kinds.map((kind) => edits.get(kind.kind) ?? kind);
  const toggle = (row: KindPreference, channel: "inApp" | "email" | "sms", on: boolean): void => {
    setSaved(false);
    setEdits((current) => new Map(current).set(row.kind, { ...row, [channel]: on }));
  };

  return (
    <form
      id="preferences"
      aria-labelledby="preferences-title"
      onSubmit={(submit) => {
        submit.preventDefault();
        void action.run(async () => {
          const preferences = await notifications.updateNotificationPreferences({
            preferences: { kinds: [...edits.values()] },
          });
          loaded.setData(preferences);
          setEdits(new Map());
          setSaved(true);
        });
      }}
    >
      <h2 id="preferences-title">{t("settings.preferences")}</h2>
      <p class="muted">{t("settings.preferencesLead")}</p>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">{t("settings.preferences")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("settings.kind")}</th>
              <th scope="col">{t("channel.inApp")}</th>
              <th scope="col">{t("channel.email")}</th>
              <th scope="col">{t("channel.sms")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const label = kindLabel(row.kind, t);
              return (
                <tr key={row.kind}>
                  <th scope="row">{label}</th>
                  {(["inApp", "email", "sms"] as const).map((channel) => (
                    <td key={channel}>
                      <input
                        type="checkbox"
                        checked={row[channel]}
                        aria-label={`${label}: ${t(channel === "inApp" ? "channel.inApp" : channel === "email" ? "channel.email" : "channel.sms")}`}
                        onChange={(event) => toggle(row, channel, event.currentTarget.checked)}
                      />
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ErrorNotice problem={action.problem} />
      {saved ? <Notice kind="success">{t("settings.saved")}</Notice> : null}
      <SubmitButton busy={action.busy} label={t("settings.savePreferences")} />
    </form>
  );
}

/** A phone number receives SMS only once a code sent to it came back. */
function PhoneCheck(props: { user: User }) {
  const { t } = useI18n();
  const [sent, setSent] = useState(false);
  const [code, setCode] = useState("");
  const send = useAction();
  const confirmCode = useAction();
  if (!props.user.phone) return <span class="muted">{t("settings.noPhone")}</span>;
  if (props.user.phoneVerified) {
    return (
      <>
        {props.user.phone} <span class="muted">({t("settings.verified")})</span>
      </>
    );
  }
  return (
    <>
      {props.user.phone} <span class="muted">({t("settings.phoneUnverified")})</span>
      <ErrorNotice problem={send.problem} />
      {sent ? <Notice kind="success">{t("settings.phoneCodeSent")}</Notice> : null}
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={send.busy}
          onClick={() =>
            void send.run(async () => {
              setSent(false);
              await users.sendPhoneCode({});
              setSent(true);
            })
          }
        >
          {t("settings.sendPhoneCode")}
        </button>
      </div>
      {sent ? (
        <form
          class="inline-form"
          aria-label={t("settings.phoneCodeLabel")}
          onSubmit={(submit) => {
            submit.preventDefault();
            void confirmCode.run(async () => {
              const user = await users.verifyPhone({ code: code.trim() });
              const current = session.get();
              if (current) session.set({ ...current, user });
            });
          }}
        >
          <TextField
            label={t("field.code")}
            name="code"
            scope="phone"
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={6}
            required
            problem={confirmCode.problem}
            value={code}
            onValue={setCode}
          />
          <ErrorNotice problem={confirmCode.problem} />
          <SubmitButton busy={confirmCode.busy} label={t("verify.submit")} />
        </form>
      ) : null}
    </>
  );
}

export function SettingsPage() {
  const { t } = useI18n();
  const current = useStore(session);
  const leave = useAction();
  const everywhere = useAction();
  if (!current) return null;
  const { user } = current;
  return (
    <Page title={t("settings.title")}>
      <section class="card" aria-labelledby="account-title">
        <h2 id="account-title">{t("settings.account")}</h2>
        <dl class="facts-list">
          <dt>{t("settings.role")}</dt>
          <dd>{roleLabel(user.role, t)}</dd>
          <dt>{t("field.email")}</dt>
          <dd>
            {user.email}{" "}
            {user.emailVerified ? (
              <span class="muted">({t("settings.verified")})</span>
            ) : (
              <a href={`/verify${queryString({ email: user.email })}`}>{t("settings.verifyNow")}</a>
            )}
            {user.pendingEmail ? (
              <>
                <br />
                {t("settings.pendingEmail", { email: user.pendingEmail })}{" "}
                <a href={`/verify${queryString({ email: user.pendingEmail })}`}>{t("signIn.enterCode")}</a>
              </>
            ) : null}
          </dd>
          <dt>{t("field.phone")}</dt>
          <dd>
            <PhoneCheck user={user} />
          </dd>
        </dl>
      </section>
      <ProfileForm key={user.id} user={user} />
      <Preferences />
      <section aria-labelledby="signout-title">
        <h2 id="signout-title">{t("settings.signOutTitle")}</h2>
        <p>{t("settings.signOutLead")}</p>
        <ErrorNotice problem={leave.problem} />
        <button
          type="button"
          class="danger"
          disabled={leave.busy}
          onClick={() =>
            void leave.run(async () => {
              await signOut();
              navigate("/");
            })
          }
        >
          {t("nav.signOut")}
        </button>
      </section>
      <section aria-labelledby="everywhere-title">
        <h2 id="everywhere-title">{t("settings.everywhereTitle")}</h2>
        <p>{t("settings.everywhereLead")}</p>
        <ErrorNotice problem={everywhere.problem} />
        <button
          type="button"
          class="danger"
          disabled={everywhere.busy}
          onClick={() =>
            void everywhere.run(async () => {
              if (!confirm(t("settings.everywhereConfirm"))) return;
              await signOutEverywhere();
              navigate("/signin");
            })
          }
        >
          {everywhere.busy ? t("action.working") : t("settings.everywhereSubmit")}
        </button>
      </section>
    </Page>
  );
}
