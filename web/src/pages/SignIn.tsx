import { useState } from "preact/hooks";
import { session, sessionEnd, signIn } from "../api/session";
import { ErrorNotice, Notice, Page, SubmitButton, TextField } from "../components/ui";
import { useAction } from "../hooks";
import { useI18n } from "../i18n";
import { SESSION_ENDS } from "../labels";
import { navigate, queryString, useLocation } from "../router";
import { useStore } from "../store";

/** Where to go after signing in: only paths of this site, never another origin. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function SignInPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const ended = useStore(sessionEnd);
  const current = useStore(session);
  const [email, setEmail] = useState(query.get("email") ?? "");
  const [password, setPassword] = useState("");
  const action = useAction();
  const next = safeNext(query.get("next"));

  return (
    <Page title={t("signIn.title")}>
      {ended ? <Notice kind="warning">{t(SESSION_ENDS[ended])}</Notice> : null}
      {query.get("verified") ? <Notice kind="success">{t("verify.doneSignIn")}</Notice> : null}
      {current ? <Notice>{t("signIn.already", { name: current.user.displayName })}</Notice> : null}
      <form
        class="narrow"
        onSubmit={(submit) => {
          submit.preventDefault();
          void action.run(async () => {
            const started = await signIn(email.trim(), password);
            setPassword("");
            navigate(
              started.user.emailVerified
                ? next
                : `/verify${queryString({ email: started.user.email, next })}`,
            );
          });
        }}
      >
        <TextField
          label={t("field.email")}
          name="email"
          type="email"
          autoComplete="username"
          required
          problem={action.problem}
          value={email}
          onValue={setEmail}
        />
        <TextField
          label={t("field.password")}
          name="password"
          type="password"
          autoComplete="current-password"
          required
          problem={action.problem}
          value={password}
          onValue={setPassword}
        />
        <ErrorNotice problem={action.problem} />
        <SubmitButton busy={action.busy} label={t("signIn.submit")} />
      </form>
      <p>
        {t("signIn.noAccount")}{" "}
        <a href={`/signup${queryString({ next: query.get("next") ?? "" })}`}>{t("nav.signUp")}</a>
      </p>
      <p>
        {t("signIn.haveCode")} <a href={`/verify${queryString({ email })}`}>{t("signIn.enterCode")}</a>
      </p>
      <p class="muted small">{t("signIn.memoryOnly")}</p>
    </Page>
  );
}
