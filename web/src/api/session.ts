// The signed-in person: tokens live in this module's memory only (a reload signs out, and no
// script can find them in storage). The refresh token is rotated quietly before the access token
// expires, strictly one rotation at a time: presenting a rotated token again revokes the family.
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { type AuthTokens, type User, UserService } from "../gen/seatmesh/users/v1/users_pb";
import { createStore, type Store } from "../store";
import { reasonOf } from "./errors";

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds when the access token stops working. */
  expiresAt: number;
  user: User;
}

/**
 * Why the last session ended, shown until the next sign-in: it ran out; its refresh token came
 * back after rotation (a copy in other hands); the account's sign-ins were ended on the server (an
 * admin changed its role, or the person signed out everywhere on another device); or the person
 * signed out everywhere here. A plain "sign out" leaves nothing to say.
 */
export type SessionEnd = "expired" | "reused" | "revoked" | "everywhere" | null;

// Rotate this long before expiry, or at 80% of a short lifetime.
export const REFRESH_LEAD_MS = 60_000;
// A rotation that failed for a reason other than the token (network, 503) is retried this often.
export const RETRY_MS = 10_000;
// Refusals of a rotation that say why the session is over; any other one means it expired.
const ENDED_BY: Record<string, SessionEnd> = {
  REFRESH_TOKEN_REUSED: "reused",
  REFRESH_TOKEN_REVOKED: "revoked",
};

export interface SessionKeeper {
  session: Store<Session | null>;
  sessionEnd: Store<SessionEnd>;
  signIn: (email: string, password: string) => Promise<Session>;
  refreshNow: (staleAccessToken?: string) => Promise<boolean>;
  refreshIfDue: () => void;
  signOut: () => Promise<void>;
  signOutEverywhere: () => Promise<void>;
  reloadUser: () => Promise<void>;
  authInterceptor: Interceptor;
}

function bearer(accessToken: string): Record<string, string> {
  return { Authorization: `Bearer ${accessToken}` };
}

/**
 * A session over `identity`, a UserService client that must not carry the interceptor this
 * returns: sign-in and rotation must never trigger a rotation themselves.
 */
export function createSessionKeeper(identity: Client<typeof UserService>): SessionKeeper {
  const session = createStore<Session | null>(null);
  const sessionEnd = createStore<SessionEnd>(null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rotation: Promise<boolean> | null = null;

  // Still the same sign-in (not ended, not replaced by another one or by a rotation)?
  const isCurrent = (candidate: Session): boolean => session.get()?.refreshToken === candidate.refreshToken;

  const schedule = (delayMs: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void refreshNow(), Math.max(1_000, delayMs));
  };

  const adopt = (tokens: AuthTokens, user: User): Session => {
    const next: Session = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: Date.now() + tokens.expiresIn * 1000,
      user,
    };
    session.set(next);
    sessionEnd.set(null);
    const lifetime = next.expiresAt - Date.now();
    schedule(Math.max(lifetime - REFRESH_LEAD_MS, lifetime * 0.8));
    return next;
  };

  const forget = (end: SessionEnd): void => {
    clearTimeout(timer);
    rotation = null;
    session.set(null);
    sessionEnd.set(end);
  };

  const reloadUser = async (): Promise<void> => {
    const current = session.get();
    if (!current) return;
    const user = await identity.getCurrentUser({}, { headers: bearer(current.accessToken) });
    const now = session.get();
    if (now && isCurrent(current)) session.set({ ...now, user });
  };

  const refreshNow = (staleAccessToken?: string): Promise<boolean> => {
    const current = session.get();
    if (!current) return Promise.resolve(false);
    if (staleAccessToken && staleAccessToken !== current.accessToken) return Promise.resolve(true);
    if (rotation) return rotation;
    rotation = (async () => {
      try {
        const tokens = await identity.refreshToken({ refreshToken: current.refreshToken });
        if (!isCurrent(current)) return false;
        // Kept before anything else can fail: the old refresh token is spent from here on.
        adopt(tokens, current.user);
        // The account may have changed meanwhile (an email confirmed on another device, say): read
        // it with the new token. (A new role is not among those changes: it ends every sign-in.)
        void reloadUser().catch(() => undefined);
        return true;
      } catch (error) {
        if (!isCurrent(current)) return false;
        if (ConnectError.from(error).code === Code.Unauthenticated) {
          forget(ENDED_BY[reasonOf(error)] ?? "expired");
          return false;
        }
        // Unreachable or busy: keep the session while the access token lasts, and try again.
        if (current.expiresAt > Date.now()) {
          schedule(Math.min(RETRY_MS, current.expiresAt - Date.now()));
          return false;
        }
        forget("expired");
        return false;
      } finally {
        rotation = null;
      }
    })();
    return rotation;
  };

  // Browsers slow down timers in hidden tabs: a tab shown again rotates at once if it is late.
  const refreshIfDue = (): void => {
    const current = session.get();
    if (current && current.expiresAt - Date.now() <= REFRESH_LEAD_MS) void refreshNow();
  };

  const signIn = async (email: string, password: string): Promise<Session> => {
    const tokens = await identity.login({ email, password });
    const user = await identity.getCurrentUser({}, { headers: bearer(tokens.accessToken) });
    return adopt(tokens, user);
  };

  /** Ends this sign-in wherever it is used: the refresh token's whole family is revoked. */
  const signOut = async (): Promise<void> => {
    const current = session.get();
    if (!current) return;
    try {
      await identity.logout({ refreshToken: current.refreshToken }, { headers: bearer(current.accessToken) });
    } finally {
      forget(null);
    }
  };

  /**
   * Ends every sign-in of the account, on every device, this one included. Unlike signOut, a
   * failure keeps this session: nothing was ended, and the person may try again.
   */
  const signOutEverywhere = async (): Promise<void> => {
    const current = session.get();
    if (!current) return;
    await identity.logoutEverywhere({}, { headers: bearer(current.accessToken) });
    if (isCurrent(current)) forget("everywhere");
  };

  /** Adds the access token to every call; a call refused for an expired token is retried once. */
  const authInterceptor: Interceptor = (next) => async (request) => {
    const current = session.get();
    if (current) request.header.set("Authorization", `Bearer ${current.accessToken}`);
    try {
      return await next(request);
    } catch (error) {
      const unauthenticated = ConnectError.from(error).code === Code.Unauthenticated;
      if (!current || request.stream || !unauthenticated || !(await refreshNow(current.accessToken))) {
        throw error;
      }
      const renewed = session.get();
      if (!renewed) throw error;
      request.header.set("Authorization", `Bearer ${renewed.accessToken}`);
      return await next(request);
    }
  };

  return {
    session,
    sessionEnd,
    signIn,
    refreshNow,
    refreshIfDue,
    signOut,
    signOutEverywhere,
    reloadUser,
    authInterceptor,
  };
}

export const apiBaseUrl = globalThis.location?.origin ?? "http://127.0.0.1:8080";

export const {
  session,
  sessionEnd,
  signIn,
  refreshNow,
  refreshIfDue,
  signOut,
  signOutEverywhere,
  reloadUser,
  authInterceptor,
} = createSessionKeeper(createClient(UserService, createGrpcWebTransport({ baseUrl: apiBaseUrl })));
