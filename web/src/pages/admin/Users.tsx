import { useState } from "preact/hooks";
import { users } from "../../api/clients";
import { session } from "../../api/session";
import { AdminTabs } from "../../components/nav";
import {
  ErrorNotice,
  LoadMore,
  LocalTime,
  Notice,
  Page,
  SelectField,
  Stars,
  TextField,
} from "../../components/ui";
import { Role, type User } from "../../gen/seatmesh/users/v1/users_pb";
import { useAction, usePages } from "../../hooks";
import { useI18n } from "../../i18n";
import { PERSON_ROLES, roleLabel } from "../../labels";
import { navigate, queryString, useLocation } from "../../router";
import { useStore } from "../../store";

function UserRow(props: { user: User; onChange: (user: User) => void }) {
  const { t } = useI18n();
  const current = useStore(session);
  const { user } = props;
  const [role, setRole] = useState(String(user.role));
  const [changed, setChanged] = useState(false);
  const action = useAction();
  const scope = `user-${user.id}`;
  return (
    <tr data-testid="user-row">
      <th scope="row">
        {user.displayName}
        {current?.user.id === user.id ? <span class="muted"> ({t("admin.you")})</span> : null}
        <br />
        <span class="muted small">{user.email}</span>
      </th>
      <td>{user.emailVerified ? t("admin.verified") : t("admin.unverified")}</td>
      <td>
        <span class="muted small">{t("admin.asGuest")}</span>{" "}
        <Stars average={user.guestRating?.average ?? 0} count={user.guestRating?.count ?? 0} />
        {user.role !== Role.PARTICIPANT ? (
          <>
            <br />
            <span class="muted small">{t("admin.asHost")}</span>{" "}
            <Stars average={user.hostRating?.average ?? 0} count={user.hostRating?.count ?? 0} />
          </>
        ) : null}
      </td>
      <td>
        <LocalTime at={user.createTime} />
      </td>
      <td>
        <form
          class="role-form"
          onSubmit={(submit) => {
            submit.preventDefault();
            setChanged(false);
            void action.run(async () => {
              props.onChange(await users.setUserRole({ userId: user.id, role: Number(role) as Role }));
              setChanged(true);
            });
          }}
        >
          <SelectField
            label={t("admin.roleOf", { name: user.displayName || user.email })}
            name="role"
            scope={scope}
            value={role}
            onValue={setRole}
            options={PERSON_ROLES.map((known) => ({ value: String(known), label: roleLabel(known, t) }))}
          />
          <button type="submit" class="secondary" disabled={action.busy || Number(role) === user.role}>
            {action.busy ? t("action.working") : t("admin.changeRole")}
          </button>
          {changed ? (
            <span class="success-text" role="status">
              {t("admin.roleChanged")}
            </span>
          ) : null}
          <ErrorNotice problem={action.problem} />
        </form>
      </td>
    </tr>
  );
}

export function AdminUsers() {
  const { t } = useI18n();
  const { query } = useLocation();
  const prefix = query.get("email") ?? "";
  const roleFilter = query.get("role") ?? "";
  const [draftPrefix, setDraftPrefix] = useState(prefix);
  const [draftRole, setDraftRole] = useState(roleFilter);
  const pages = usePages<User>(
    async (pageToken) => {
      const page = await users.listUsers({
        emailPrefix: prefix,
        role: roleFilter ? (Number(roleFilter) as Role) : Role.UNSPECIFIED,
        pageSize: 25,
        pageToken,
      });
      return { items: page.users, nextPageToken: page.nextPageToken };
    },
    [prefix, roleFilter],
  );

  return (
    <Page title={t("admin.usersTitle")}>
      <AdminTabs />
      <form
        class="filters"
        role="search"
        aria-label={t("admin.findUsers")}
        onSubmit={(submit) => {
          submit.preventDefault();
          navigate(`/admin/users${queryString({ email: draftPrefix.trim(), role: draftRole })}`);
        }}
      >
        <div class="filter-grid">
          <TextField
            label={t("admin.emailPrefix")}
            name="email"
            type="search"
            value={draftPrefix}
            onValue={setDraftPrefix}
          />
          <SelectField
            label={t("admin.role")}
            name="roleFilter"
            value={draftRole}
            onValue={setDraftRole}
            options={[
              { value: "", label: t("admin.anyRole") },
              ...PERSON_ROLES.map((known) => ({ value: String(known), label: roleLabel(known, t) })),
            ]}
          />
        </div>
        <div class="actions">
          <button type="submit">{t("admin.search")}</button>
        </div>
      </form>
      <Notice>{t("admin.roleNote")}</Notice>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t("admin.person")}</th>
              <th scope="col">{t("admin.emailStatus")}</th>
              <th scope="col">{t("admin.ratings")}</th>
              <th scope="col">{t("admin.joined")}</th>
              <th scope="col">{t("admin.role")}</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((user) => (
              <UserRow
                key={user.id}
                user={user}
                onChange={(changed) =>
                  pages.update((items) => items.map((item) => (item.id === changed.id ? changed : item)))
                }
              />
            ))}
          </tbody>
        </table>
      </div>
      <LoadMore pages={pages} empty={t("admin.noUsers")} />
    </Page>
  );
}
