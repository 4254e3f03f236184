import { useState } from "preact/hooks";
import { users } from "../api/clients";
import { refreshNow, reloadUser, session, signIn } from "../api/session";
import { ErrorNotice, Notice, Page, SubmitButton, TextField } from "../components/ui";
import { useAction } from "../hooks";
import { useI18n } from "../i18n";
import { navigate, queryString, useLocation } from "../router";
import { useStore } from "../store";
import { safeNext } from "./SignIn";

// Between "sign up" and "enter the code" the password stays in memory, so a verified newcomer is
// signed in without typing it twice. Only for that one address, and forgotten once used.
let pendingSignUp: { email: string; password: string } | null = null;

export function rememberSignUp(email: string, password: string): void {
  pendingSignUp = { email, password };
}

export function VerifyPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const current = useStore(session);
  const [email, setEmail] = useState(query.get("email") ?? current?.user.email ?? "");
  const [code, setCode] = useState("");
  const [resent, setResent] = useState(false);
  const verify = useAction();
  const resend = useAction();
  const next = safeNext(query.get("next"));

  return (
    <Page title={t("verify.title")} lead={t("verify.lead")}>
      {resent ? <Notice kind="success">{t("verify.resent")}</Notice> : null}
      <form
        class="narrow"
        onSubmit={(submit) => {
          submit.preventDefault();
          void verify.run(async () => {
            const address = email.trim();
            await users.verifyEmail({ email: address, code: code.trim() });
            const mine = [current?.user.email, current?.user.pendingEmail].map((known) =>
              known?.toLowerCase(),
            );
            if (current && mine.includes(address.toLowerCase())) {
              // The access token still says "unverified" until it is rotated.
              await refreshNow(current.accessToken);
              await reloadUser();
              navigate(next);
              return;
            }
            const pending = pendingSignUp;
            pendingSignUp = null;
            if (pending && pending.email.toLowerCase() === address.toLowerCase()) {
              await signIn(pending.email, pending.password);
              navigate(next);
              return;
            }
            navigate(
              `/signin${queryString({ email: address, verified: true, next: query.get("next") ?? "" })}`,
            );
          });
        }}
      >
        <TextField
          label={t("field.email")}
          name="email"
          type="email"
          autoComplete="email"
          required
          problem={verify.problem ?? resend.problem}
          value={email}
          onValue={setEmail}
        />
        <TextField
          label={t("field.code")}
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          maxLength={6}
          hint={t("verify.codeHint")}
          required
          problem={verify.problem}
          value={code}
          onValue={setCode}
        />
        <ErrorNotice problem={verify.problem} />
        <SubmitButton busy={verify.busy} label={t("verify.submit")} />
      </form>
      <ErrorNotice problem={resend.problem} />
      <p>
        <button
          type="button"
          class="link"
          disabled={resend.busy || !email.trim()}
          onClick={() =>
            void resend.run(async () => {
              setResent(false);
              await users.resendVerification({ email: email.trim() });
              setResent(true);
            })
          }
        >
          {t("verify.resend")}
        </button>
      </p>
    </Page>
  );
}
