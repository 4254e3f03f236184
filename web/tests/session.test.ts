import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSessionKeeper, REFRESH_LEAD_MS, RETRY_MS } from "../src/api/session";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb";
import { EventService, ListTagsResponseSchema } from "../src/gen/seatmesh/events/v1/events_pb";
import { Role, UserSchema, UserService } from "../src/gen/seatmesh/users/v1/users_pb";

const TTL_SECONDS = 900;

// A users service in memory: every login or rotation issues the next numbered pair of tokens.
function fakeUsers() {
  const state = {
    issued: 0,
    rotations: [] as string[],
    logouts: [] as string[],
    everywhere: [] as string[],
    everywhereFailure: null as ConnectError | null,
    failure: null as ConnectError | null,
    role: Role.PARTICIPANT,
  };
  const tokens = () => {
    state.issued += 1;
    return {
      accessToken: `access-${state.issued}`,
      refreshToken: `refresh-${state.issued}`,
      expiresIn: TTL_SECONDS,
      tokenType: "Bearer",
    };
  };
  const transport = createRouterTransport((router) =>
    router.service(UserService, {
      login: () => tokens(),
      refreshToken: (request) => {
        state.rotations.push(request.refreshToken);
        if (state.failure) throw state.failure;
        return tokens();
      },
      getCurrentUser: () =>
        create(UserSchema, { id: "u1", email: "ada@example.com", displayName: "Ada", role: state.role }),
      logout: (request) => {
        state.logouts.push(request.refreshToken);
        return {};
      },
      logoutEverywhere: (_request, context) => {
        if (state.everywhereFailure) throw state.everywhereFailure;
        state.everywhere.push(context.requestHeader.get("Authorization") ?? "");
        return {};
      },
    }),
  );
  return { state, keeper: createSessionKeeper(createClient(UserService, transport)) };
}

function refused(code: Code, reason = ""): ConnectError {
  const details = reason ? [{ desc: ErrorInfoSchema, value: { reason, domain: "seatmesh.dev" } }] : [];
  return new ConnectError("refused", code, undefined, details);
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("the session", () => {
  it("rotates the refresh token quietly before the access token expires", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "correct horse battery");
    expect(keeper.session.get()?.accessToken).toBe("access-1");

    await vi.advanceTimersByTimeAsync(TTL_SECONDS * 1000 - REFRESH_LEAD_MS - 1_000);
    expect(state.rotations).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(state.rotations).toEqual(["refresh-1"]);
    expect(keeper.session.get()?.accessToken).toBe("access-2");
    // And again before the new token expires, always with the newest refresh token.
    await vi.advanceTimersByTimeAsync(TTL_SECONDS * 1000 - REFRESH_LEAD_MS);
    expect(state.rotations).toEqual(["refresh-1", "refresh-2"]);
  });

  it("rotates once however many calls ask at the same time", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    const results = await Promise.all([
      keeper.refreshNow(),
      keeper.refreshNow(),
      keeper.refreshNow("access-1"),
    ]);
    expect(results).toEqual([true, true, true]);
    expect(state.rotations).toEqual(["refresh-1"]);
    // A call that failed with the token already replaced needs no rotation at all.
    expect(await keeper.refreshNow("access-1")).toBe(true);
    expect(state.rotations).toEqual(["refresh-1"]);
  });

  it("rotates at once when a slowed-down timer is late", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    keeper.refreshIfDue();
    expect(state.rotations).toEqual([]);
    // As if the tab was hidden and its timer had not fired: the clock moves, the timer does not.
    vi.setSystemTime(Date.now() + TTL_SECONDS * 1000 - REFRESH_LEAD_MS / 2);
    keeper.refreshIfDue();
    await vi.waitFor(() => expect(keeper.session.get()?.accessToken).toBe("access-2"));
    expect(state.rotations).toEqual(["refresh-1"]);
  });

  it("reads the account again after a rotation", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    state.role = Role.ORGANIZER;
    await keeper.refreshNow();
    await vi.runOnlyPendingTimersAsync();
    expect(keeper.session.get()?.user.role).toBe(Role.ORGANIZER);
  });

  it("ends, and says why, when the token family was revoked", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    state.failure = refused(Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
    expect(await keeper.refreshNow()).toBe(false);
    expect(keeper.session.get()).toBeNull();
    expect(keeper.sessionEnd.get()).toBe("reused");
  });

  it("ends, and says it was ended on the server, when its sign-ins were revoked", async () => {
    // An admin changed the account's role, or the person signed out everywhere elsewhere.
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    state.failure = refused(Code.Unauthenticated, "REFRESH_TOKEN_REVOKED");
    expect(await keeper.refreshNow()).toBe(false);
    expect(keeper.session.get()).toBeNull();
    expect(keeper.sessionEnd.get()).toBe("revoked");
  });

  it("signs out everywhere with the access token, and says so", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    await keeper.signOutEverywhere();
    expect(state.everywhere).toEqual(["Bearer access-1"]);
    expect(keeper.session.get()).toBeNull();
    expect(keeper.sessionEnd.get()).toBe("everywhere");
    await vi.advanceTimersByTimeAsync(TTL_SECONDS * 1000);
    expect(state.rotations).toEqual([]);
  });

  it("keeps the session when signing out everywhere failed: nothing was ended", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    state.everywhereFailure = refused(Code.Unavailable);
    await expect(keeper.signOutEverywhere()).rejects.toThrow();
    expect(keeper.session.get()?.accessToken).toBe("access-1");
    expect(keeper.sessionEnd.get()).toBeNull();
  });

  it("keeps the session through an outage and tries again", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    state.failure = refused(Code.Unavailable);
    expect(await keeper.refreshNow()).toBe(false);
    expect(keeper.session.get()?.accessToken).toBe("access-1");
    state.failure = null;
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(state.rotations).toEqual(["refresh-1", "refresh-1"]);
    expect(keeper.session.get()?.accessToken).toBe("access-2");
  });

  it("retries a call refused for an expired token once, with the rotated token", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    const seen: string[] = [];
    const events = createClient(
      EventService,
      createRouterTransport(
        (router) =>
          router.service(EventService, {
            listTags: (_request, context) => {
              const authorization = context.requestHeader.get("Authorization") ?? "";
              seen.push(authorization);
              if (authorization !== "Bearer access-2") throw refused(Code.Unauthenticated);
              return create(ListTagsResponseSchema, {});
            },
          }),
        { transport: { interceptors: [keeper.authInterceptor] } },
      ),
    );
    await events.listTags({});
    expect(seen).toEqual(["Bearer access-1", "Bearer access-2"]);
    expect(state.rotations).toEqual(["refresh-1"]);
  });

  it("signs out by revoking the refresh token, and forgets everything", async () => {
    const { state, keeper } = fakeUsers();
    await keeper.signIn("ada@example.com", "pw");
    await keeper.signOut();
    expect(state.logouts).toEqual(["refresh-1"]);
    expect(keeper.session.get()).toBeNull();
    expect(keeper.sessionEnd.get()).toBeNull();
    await vi.advanceTimersByTimeAsync(TTL_SECONDS * 1000);
    expect(state.rotations).toEqual([]);
  });
});
