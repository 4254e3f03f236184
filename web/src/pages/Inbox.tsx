import { notifications } from "../api/clients";
import { apiBaseUrl } from "../api/session";
import { Badge, ErrorNotice, LoadMore, LocalTime, Notice, Page } from "../components/ui";
import type { Notification } from "../gen/seatmesh/notifications/v1/notifications_pb";
import { useAction, usePages } from "../hooks";
import { useI18n } from "../i18n";
import { inbox, markedAllRead, markedRead } from "../inbox";
import { kindLabel } from "../labels";
import { consolePathFor } from "../links";
import { navigate, useLocation } from "../router";
import { useStore } from "../store";

function NotificationItem(props: { notification: Notification; onRead: (id: string) => void }) {
  const { t } = useI18n();
  const { notification } = props;
  const mark = useAction();
  const path = notification.link ? consolePathFor(notification.link, apiBaseUrl) : null;
  return (
    <li class={`card notification${notification.read ? "" : " unread"}`} data-testid="notification">
      <p class="meta">
        {notification.read ? null : <Badge tone="warn">{t("inbox.new")}</Badge>}{" "}
        <span class="muted">
          {kindLabel(notification.kind, t)} · <LocalTime at={notification.createTime} />
        </span>
      </p>
      <h2 class="h3">{notification.title}</h2>
      {notification.body ? <p class="body">{notification.body}</p> : null}
      <ErrorNotice problem={mark.problem} />
      <div class="actions">
        {path ? (
          <a href={path} aria-label={t("inbox.openAria", { title: notification.title })}>
            {t("inbox.open")}
          </a>
        ) : null}
        {notification.read ? null : (
          <button
            type="button"
            class="secondary"
            disabled={mark.busy}
            onClick={() =>
              void mark.run(async () => {
                await notifications.markNotificationRead({ notificationId: notification.id });
                props.onRead(notification.id);
              })
            }
          >
            {t("inbox.markRead")}
          </button>
        )}
      </div>
    </li>
  );
}

export function InboxPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const unreadOnly = query.get("unread") === "1";
  const live = useStore(inbox);
  const markAll = useAction();
  const pages = usePages<Notification>(
    async (pageToken) => {
      const page = await notifications.listNotifications({ unreadOnly, pageSize: 20, pageToken });
      return { items: page.notifications, nextPageToken: page.nextPageToken };
    },
    [unreadOnly],
  );

  // What arrived live goes on top; the loaded pages may already hold some of it.
  const loaded = new Set(pages.items.map((item) => item.id));
  const arrivals = live.arrivals.filter((item) => !loaded.has(item.id) && !(unreadOnly && item.read));
  const readIds = new Set(live.arrivals.filter((item) => item.read).map((item) => item.id));
  const shown = [
    ...arrivals,
    ...pages.items.map((item) => (readIds.has(item.id) ? { ...item, read: true } : item)),
  ];

  const onRead = (id: string): void => {
    markedRead(id);
    pages.update((items) => items.map((item) => (item.id === id ? { ...item, read: true } : item)));
  };

  return (
    <Page title={t("inbox.title")}>
      <div class="toolbar">
        <p class="live-state muted" data-state={live.state}>
          <span class={`dot ${live.state}`} aria-hidden="true" /> {t(`live.${live.state}`)}
        </p>
        <label class="inline">
          <input
            type="checkbox"
            checked={unreadOnly}
            onChange={(event) => navigate(event.currentTarget.checked ? "/inbox?unread=1" : "/inbox")}
          />{" "}
          {t("inbox.unreadOnly")}
        </label>
        <button
          type="button"
          class="secondary"
          disabled={markAll.busy || live.unread === 0}
          onClick={() =>
            void markAll.run(async () => {
              await notifications.markAllNotificationsRead({});
              markedAllRead();
              pages.update((items) => items.map((item) => ({ ...item, read: true })));
            })
          }
        >
          {t("inbox.markAllRead")}
        </button>
      </div>
      <ErrorNotice problem={markAll.problem} />
      {arrivals.length > 0 ? <Notice>{t("inbox.arrived", { count: arrivals.length })}</Notice> : null}
      <ul class="list" aria-live="polite" aria-relevant="additions">
        {shown.map((notification) => (
          <NotificationItem key={notification.id} notification={notification} onRead={onRead} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={shown.length > 0 ? "" : t("inbox.none")} />
    </Page>
  );
}
