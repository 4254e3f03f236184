import type { ComponentChildren } from "preact";
import { useI18n } from "../i18n";
import { useLocation } from "../router";

/** A link marked as the current page (aria-current) on its path, below it, or under `section`. */
export function NavLink(props: {
  href: string;
  children: ComponentChildren;
  exact?: boolean;
  section?: string;
}) {
  const { path } = useLocation();
  const base = props.section ?? props.href;
  const active = props.exact ? path === props.href : path === base || path.startsWith(`${base}/`);
  return (
    <a href={props.href} aria-current={active ? "page" : undefined}>
      {props.children}
    </a>
  );
}

export function AdminTabs() {
  const { t } = useI18n();
  return (
    <nav class="tabs" aria-label={t("admin.tabs")}>
      <NavLink href="/admin/users">{t("admin.users")}</NavLink>
      <NavLink href="/admin/events">{t("admin.events")}</NavLink>
      <NavLink href="/admin/payments">{t("admin.payments")}</NavLink>
      <NavLink href="/admin/deliveries">{t("admin.deliveries")}</NavLink>
      <NavLink href="/admin/dead-letters">{t("admin.deadLetters")}</NavLink>
      <NavLink href="/admin/announce">{t("admin.announce")}</NavLink>
    </nav>
  );
}
