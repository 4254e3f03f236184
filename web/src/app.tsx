import type { ComponentChildren, VNode } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { refreshIfDue, session, sessionEnd, signOut } from "./api/session";
import { describeError } from "./api/errors";
import { NavLink } from "./components/nav";
import { Notice, Page } from "./components/ui";
import { Role } from "./gen/seatmesh/users/v1/users_pb";
import {
  I18nContext,
  type Language,
  LANGUAGES,
  type MessageKey,
  rememberLanguage,
  translator,
  useI18n,
} from "./i18n";
import { connectInbox, inbox, UNREAD_CAP } from "./inbox";
import { isOrganizer, SESSION_ENDS } from "./labels";
import { AdminDeadLetters } from "./pages/admin/DeadLetters";
import { AdminDeliveries } from "./pages/admin/Deliveries";
import { AdminEvents } from "./pages/admin/Events";
import { AdminAnnounce } from "./pages/admin/Announce";
import { AdminUsers } from "./pages/admin/Users";
import { BookingsPage } from "./pages/Bookings";
import { EventPage } from "./pages/Event";
import { EventsPage } from "./pages/Events";
import { InboxPage } from "./pages/Inbox";
import { NotFoundPage } from "./pages/NotFound";
import { EditEventPage, NewEventPage } from "./pages/organizer/EventForm";
import { GuestsPage } from "./pages/organizer/Guests";
import { MyEventsPage } from "./pages/organizer/MyEvents";
import { SalesPage } from "./pages/organizer/Sales";
import { AdminPaymentsPage, MyPaymentsPage } from "./pages/Payments";
import { ReviewsPage } from "./pages/Reviews";
import { SettingsPage } from "./pages/Settings";
import { SignInPage } from "./pages/SignIn";
import { SignUpPage } from "./pages/SignUp";
import { VerifyPage } from "./pages/Verify";
import { interceptLinks, matchPath, navigate, queryString, useLocation } from "./router";
import { useStore } from "./store";
import type { Problem } from "./api/errors";

type Access = "anyone" | "signedIn" | "organizer" | "admin";

interface Route {
  path: string;
  access: Access;
  render: (params: Record<string, string>) => VNode;
  /** Why this page asks a signed-out visitor to sign in, when there is more to say than usual. */
  signInNote?: (query: URLSearchParams) => MessageKey | null;
}

const ROUTES: Route[] = [
  { path: "/", access: "anyone", render: () => <EventsPage /> },
  { path: "/events/:id", access: "anyone", render: (params) => <EventPage eventId={params.id} /> },
  { path: "/signin", access: "anyone", render: () => <SignInPage /> },
  { path: "/signup", access: "anyone", render: () => <SignUpPage /> },
  { path: "/verify", access: "anyone", render: () => <VerifyPage /> },
  {
    path: "/bookings",
    access: "signedIn",
    render: () => <BookingsPage />,
    // Stripe's checkout sends the buyer back here, to a fresh page: the session was in memory.
    signInNote: (query) => (query.get("payment") ? "guard.backFromCheckout" : null),
  },
  { path: "/payments", access: "signedIn", render: () => <MyPaymentsPage /> },
  { path: "/inbox", access: "signedIn", render: () => <InboxPage /> },
  { path: "/reviews", access: "signedIn", render: () => <ReviewsPage /> },
  { path: "/settings", access: "signedIn", render: () => <SettingsPage /> },
  { path: "/organize", access: "organizer", render: () => <MyEventsPage /> },
  { path: "/organize/new", access: "organizer", render: () => <NewEventPage /> },
  { path: "/organize/sales", access: "organizer", render: () => <SalesPage /> },
  {
    path: "/organize/events/:id/edit",
    access: "organizer",
    render: (params) => <EditEventPage eventId={params.id} />,
  },
  {
    path: "/organize/events/:id/guests",
    access: "organizer",
    render: (params) => <GuestsPage eventId={params.id} />,
  },
  { path: "/admin/users", access: "admin", render: () => <AdminUsers /> },
  { path: "/admin/events", access: "admin", render: () => <AdminEvents /> },
  { path: "/admin/payments", access: "admin", render: () => <AdminPaymentsPage /> },
  { path: "/admin/deliveries", access: "admin", render: () => <AdminDeliveries /> },
  { path: "/admin/dead-letters", access: "admin", render: () => <AdminDeadLetters /> },
  { path: "/admin/announce", access: "admin", render: () => <AdminAnnounce /> },
];

function allowed(access: Access, role: Role | undefined): boolean {
  switch (access) {
    case "anyone":
      return true;
    case "signedIn":
      return role !== undefined;
    case "organizer":
      return isOrganizer(role);
    case "admin":
      return role === Role.ADMIN;
  }
}

function Guard(props: { route: Route; children: ComponentChildren }) {
  const { t } = useI18n();
  const current = useStore(session);
  const { path, query } = useLocation();
  const { access } = props.route;
  if (allowed(access, current?.user.role)) return <>{props.children}</>;
  if (!current) {
    const next = path + (query.toString() ? `?${query}` : "");
    return (
      <Page title={t("guard.signInTitle")}>
        <p>{t(props.route.signInNote?.(query) ?? "guard.signIn")}</p>
        <p>
          <a class="button" href={`/signin${queryString({ next })}`}>
            {t("nav.signIn")}
          </a>
        </p>
      </Page>
    );
  }
  return (
    <Page title={t("guard.forbiddenTitle")}>
      <p>{access === "admin" ? t("guard.adminsOnly") : t("guard.organizersOnly")}</p>
    </Page>
  );
}

function UnreadBadge() {
  const { t } = useI18n();
  const { unread } = useStore(inbox);
  if (unread === 0) return null;
  const shown = unread >= UNREAD_CAP ? `${UNREAD_CAP - 1}+` : String(unread);
  return (
    <span class="count" data-testid="unread-count" aria-label={t("inbox.unreadAria", { count: unread })}>
      {shown}
    </span>
  );
}

function Header(props: { onSignOutProblem: (problem: Problem | null) => void }) {
  const { t, language, setLanguage } = useI18n();
  const current = useStore(session);
  const { path } = useLocation();
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [path]);
  const role = current?.user.role;

  const leave = async (): Promise<void> => {
    props.onSignOutProblem(null);
    try {
      await signOut();
    } catch (error) {
      props.onSignOutProblem(describeError(error, t));
    }
    navigate("/");
  };

  return (
    <header class="site-header">
      <div class="bar">
        <a class="brand" href="/">
          seatmesh
        </a>
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={open ? "true" : "false"}
          aria-controls="site-nav"
          onClick={() => setOpen(!open)}
        >
          {t("nav.menu")}
          {current ? <UnreadBadge /> : null}
        </button>
      </div>
      <nav id="site-nav" class={open ? "open" : ""} aria-label={t("nav.label")}>
        <ul>
          <li>
            <NavLink href="/" exact>
              {t("nav.events")}
            </NavLink>
          </li>
          {current ? (
            <>
              <li>
                <NavLink href="/bookings">{t("nav.bookings")}</NavLink>
              </li>
              <li>
                <NavLink href="/inbox">
                  {t("nav.inbox")} <UnreadBadge />
                </NavLink>
              </li>
              <li>
                <NavLink href="/reviews">{t("nav.reviews")}</NavLink>
              </li>
            </>
          ) : null}
          {isOrganizer(role) ? (
            <li>
              <NavLink href="/organize">{t("nav.organize")}</NavLink>
            </li>
          ) : null}
          {role === Role.ADMIN ? (
            <li>
              <NavLink href="/admin/users" section="/admin">
                {t("nav.admin")}
              </NavLink>
            </li>
          ) : null}
        </ul>
        <ul class="account">
          {current ? (
            <>
              <li>
                <NavLink href="/settings">
                  <span class="who">{current.user.displayName || current.user.email}</span>
                </NavLink>
              </li>
              <li>
                <button type="button" class="link" onClick={() => void leave()}>
                  {t("nav.signOut")}
                </button>
              </li>
            </>
          ) : (
            <>
              <li>
                <NavLink href="/signin">{t("nav.signIn")}</NavLink>
              </li>
              <li>
                <NavLink href="/signup">{t("nav.signUp")}</NavLink>
              </li>
            </>
          )}
          <li>
            <label class="language">
              <span class="visually-hidden">{t("nav.language")}</span>
              <select
                value={language}
                onChange={(event) => setLanguage(event.currentTarget.value as Language)}
              >
                {LANGUAGES.map((option) => (
                  <option key={option.code} value={option.code} lang={option.code}>
                    {option.name}
                  </option>
                ))}
              </select>
            </label>
          </li>
        </ul>
      </nav>
    </header>
  );
}

export function App(props: { initialLanguage: Language }) {
  const [language, setLanguageState] = useState<Language>(props.initialLanguage);
  const [signOutProblem, setSignOutProblem] = useState<Problem | null>(null);
  const { path } = useLocation();
  const current = useStore(session);
  const ended = useStore(sessionEnd);
  const root = useRef<HTMLDivElement>(null);

  const i18n = useMemo(
    () => ({
      language,
      t: translator(language),
      setLanguage: (next: Language) => {
        rememberLanguage(next);
        setLanguageState(next);
      },
    }),
    [language],
  );

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  useEffect(() => (root.current ? interceptLinks(root.current) : undefined), []);
  useEffect(() => connectInbox(), []);
  useEffect(() => {
    const onVisible = (): void => {
      if (document.visibilityState === "visible") refreshIfDue();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, []);

  let page: VNode = <NotFoundPage />;
  for (const route of ROUTES) {
    const params = matchPath(route.path, path);
    if (params) {
      page = (
        <Guard route={route} key={path}>
          {route.render(params)}
        </Guard>
      );
      break;
    }
  }

  return (
    <I18nContext.Provider value={i18n}>
      <div ref={root} class="app">
        <a
          class="skip-link"
          href="#main"
          onClick={(event) => {
            event.preventDefault();
            document.getElementById("page-title")?.focus();
          }}
        >
          {i18n.t("nav.skip")}
        </a>
        <Header onSignOutProblem={setSignOutProblem} />
        <main id="main">
          {!current && ended && path !== "/signin" ? (
            <Notice kind="warning">
              {i18n.t(SESSION_ENDS[ended])}{" "}
              <a href={`/signin${queryString({ next: path })}`}>{i18n.t("nav.signIn")}</a>
            </Notice>
          ) : null}
          {current && !current.user.emailVerified && path !== "/verify" ? (
            <Notice kind="warning">
              {i18n.t("session.unverified")}{" "}
              <a href={`/verify${queryString({ email: current.user.email })}`}>
                {i18n.t("session.verifyNow")}
              </a>
            </Notice>
          ) : null}
          {signOutProblem ? (
            <Notice kind="warning">
              {i18n.t("session.signOutFailed")} {signOutProblem.message}
            </Notice>
          ) : null}
          {page}
        </main>
      </div>
    </I18nContext.Provider>
  );
}
