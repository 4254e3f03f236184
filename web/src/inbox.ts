// The signed-in person's notifications as they arrive (WatchNotifications), for the unread badge
// in the header and the inbox page, whichever page is open. One stream per signed-in tab.
import { useEffect, useRef } from "preact/hooks";
import { notifications } from "./api/clients";
import { follow, type LiveState } from "./api/live";
import { type Session, session } from "./api/session";
import type { Notification } from "./gen/seatmesh/notifications/v1/notifications_pb";
import { createStore } from "./store";

export interface Inbox {
  /** Notifications that arrived live since sign-in, newest first. */
  arrivals: Notification[];
  /** Unread count; UNREAD_CAP and above show as "99+". */
  unread: number;
  state: LiveState;
}

export const UNREAD_CAP = 100;
const EMPTY: Inbox = { arrivals: [], unread: 0, state: "connecting" };

export const inbox = createStore<Inbox>(EMPTY);

let stop: (() => void) | null = null;
let following: string | null = null;

async function countUnread(): Promise<void> {
  const page = await notifications.listNotifications({ unreadOnly: true, pageSize: UNREAD_CAP });
  inbox.update((current) => ({ ...current, unread: page.notifications.length }));
}

function start(): void {
  stop = follow(
    (options) => notifications.watchNotifications({}, options),
    (notification) =>
      inbox.update((current) => ({
        ...current,
        arrivals: [notification, ...current.arrivals.filter((known) => known.id !== notification.id)],
        unread: notification.read ? current.unread : current.unread + 1,
      })),
    (state) => {
      inbox.update((current) => ({ ...current, state }));
      // Whatever arrived while the stream was down is counted again from the server.
      if (state === "live") void countUnread().catch(() => undefined);
    },
  );
}

/** Keeps the stream open while someone is signed in, and forgets everything on sign-out. */
export function connectInbox(): () => void {
  const onSession = (current: Session | null): void => {
    const userId = current?.user.id ?? null;
    if (userId === following) return;
    stop?.();
    stop = null;
    following = userId;
    inbox.set(EMPTY);
    if (userId) start();
  };
  onSession(session.get());
  const unsubscribe = session.subscribe(onSession);
  return () => {
    unsubscribe();
    onSession(null);
  };
}

export function markedRead(id: string): void {
  inbox.update((current) => ({
    ...current,
    unread: Math.max(0, current.unread - 1),
    arrivals: current.arrivals.map((notification) =>
      notification.id === id ? { ...notification, read: true } : notification,
    ),
  }));
}

export function markedAllRead(): void {
  inbox.update((current) => ({
    ...current,
    unread: 0,
    arrivals: current.arrivals.map((notification) => ({ ...notification, read: true })),
  }));
}

/**
 * Calls `onNews` when a notification arrives live, or when the stream is back after a break:
 * the booking or payment a page shows may have changed (a payment confirmed, a hold expired), so
 * pages read it again on news instead of asking the server over and over.
 */
export function useInboxNews(onNews: () => void): void {
  const latest = useRef(onNews);
  latest.current = onNews;
  useEffect(() => {
    let newest = inbox.get().arrivals[0]?.id;
    let state = inbox.get().state;
    return inbox.subscribe((current) => {
      const arrived = current.arrivals[0]?.id;
      const reconnected = current.state === "live" && state === "retrying";
      state = current.state;
      if ((arrived && arrived !== newest) || reconnected) {
        newest = arrived;
        latest.current();
      }
    });
  }, []);
}
