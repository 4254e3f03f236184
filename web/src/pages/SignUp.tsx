import { useState } from "preact/hooks";
import { users } from "../api/clients";
import { ErrorNotice, Page, SubmitButton, TextField } from "../components/ui";
import { Role } from "../gen/seatmesh/users/v1/users_pb";
import { useAction } from "../hooks";
import { useI18n } from "../i18n";
import { navigate, queryString, useLocation } from "../router";
import { rememberSignUp } from "./Verify";

export function SignUpPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [phone, setPhone] = useState("");
  const [role, setRole] = useState<Role>(Role.PARTICIPANT);
  const action = useAction();

  return (
    <Page title={t("signUp.title")} lead={t("signUp.lead")}>
      <form
        class="narrow"
        onSubmit={(submit) => {
          submit.preventDefault();
          void action.run(async () => {
            const user = await users.registerUser({
              email: email.trim(),
              password,
              displayName: displayName.trim(),
              phone: phone.trim(),
              role,
            });
            rememberSignUp(user.email, password);
            setPassword("");
            navigate(`/verify${queryString({ email: user.email, next: query.get("next") ?? "" })}`);
          });
        }}
      >
        <TextField
          label={t("field.email")}
          name="email"
          type="email"
          autoComplete="email"
          required
          problem={action.problem}
          value={email}
          onValue={setEmail}
        />
        <TextField
          label={t("field.password")}
          name="password"
          type="password"
          autoComplete="new-password"
          hint={t("signUp.passwordHint")}
          required
          problem={action.problem}
          value={password}
          onValue={setPassword}
        />
        <TextField
          label={t("field.displayName")}
          name="displayName"
          autoComplete="name"
          required
          problem={action.problem}
          value={displayName}
          onValue={setDisplayName}
        />
        <TextField
          label={t("field.phone")}
          name="phone"
          type="tel"
          autoComplete="tel"
          hint={t("signUp.phoneHint")}
          problem={action.problem}
          value={phone}
          onValue={setPhone}
        />
        <fieldset class="choices">
          <legend>{t("signUp.roleQuestion")}</legend>
          <label>
            <input
              type="radio"
              name="role"
              checked={role === Role.PARTICIPANT}
              onChange={() => setRole(Role.PARTICIPANT)}
            />{" "}
            {t("signUp.roleParticipant")}
          </label>
          <label>
            <input
              type="radio"
              name="role"
              checked={role === Role.ORGANIZER}
              onChange={() => setRole(Role.ORGANIZER)}
            />{" "}
            {t("signUp.roleOrganizer")}
          </label>
        </fieldset>
        <ErrorNotice problem={action.problem} />
        <SubmitButton busy={action.busy} label={t("signUp.submit")} />
      </form>
      <p>
        {t("signUp.haveAccount")} <a href="/signin">{t("nav.signIn")}</a>
      </p>
    </Page>
  );
}
