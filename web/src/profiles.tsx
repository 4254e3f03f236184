// Public profiles (display name, ratings) by id, fetched once per visit: lists of bookings and
// reviews name people only by id.
import { useEffect, useState } from "preact/hooks";
import { users } from "./api/clients";
import type { User } from "./gen/seatmesh/users/v1/users_pb";

const known = new Map<string, Promise<User>>();

export function profile(userId: string): Promise<User> {
  let found = known.get(userId);
  if (!found) {
    found = users.getUser({ userId });
    // A failure is not remembered: the next page that asks tries again.
    found.catch(() => known.delete(userId));
    known.set(userId, found);
  }
  return found;
}

/** Forgets a profile whose ratings just changed (a guest rated, a review written). */
export function forgetProfile(userId: string): void {
  known.delete(userId);
}

/** The profile; undefined while it loads, null when it could not be read. */
export function useProfile(userId: string | undefined): User | null | undefined {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => {
    setUser(undefined);
    if (!userId) return;
    let current = true;
    profile(userId).then(
      (found) => current && setUser(found),
      () => current && setUser(null),
    );
    return () => {
      current = false;
    };
  }, [userId]);
  return user;
}

export function PersonName(props: { userId: string }) {
  const user = useProfile(props.userId);
  if (user === undefined) return <span class="muted">…</span>;
  // Unreadable (deleted, unreachable): the id's start still tells people apart.
  return <>{user?.displayName || props.userId.slice(0, 8)}</>;
}
