// Server streams (seats left, the inbox) kept open for as long as a page wants them: a stream that
// ends or breaks is opened again with backoff; one refused for good (no such event, no access)
// stops and says why. The gRPC-web transport carries these streams; REST could not.
import { Code, ConnectError } from "@connectrpc/connect";
import { refreshNow, session } from "./session";

export type LiveState = "connecting" | "live" | "retrying" | "stopped";

export interface StreamOptions {
  signal: AbortSignal;
  onHeader: () => void;
}

const PERMANENT = new Set([Code.NotFound, Code.InvalidArgument, Code.PermissionDenied, Code.Unimplemented]);
const MAX_BACKOFF_MS = 15_000;

function backoff(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Follows a server stream until the returned function is called. `open` starts the call with the
 * options it is given (abort signal, header callback: the stream is live once headers arrive).
 */
export function follow<T>(
  open: (options: StreamOptions) => AsyncIterable<T>,
  onMessage: (message: T) => void,
  onState: (state: LiveState, error?: unknown) => void,
): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  void (async () => {
    let attempt = 0;
    while (!signal.aborted) {
      onState(attempt === 0 ? "connecting" : "retrying");
      try {
        const stream = open({
          signal,
          onHeader: () => {
            attempt = 0;
            onState("live");
          },
        });
        for await (const message of stream) onMessage(message);
      } catch (error) {
        if (signal.aborted) return;
        const failure = ConnectError.from(error);
        if (failure.code === Code.Unauthenticated) {
          const token = session.get()?.accessToken;
          if (!token || !(await refreshNow(token))) {
            onState("stopped", error);
            return;
          }
        } else if (PERMANENT.has(failure.code)) {
          onState("stopped", error);
          return;
        }
        onState("retrying", error);
      }
      if (signal.aborted) return;
      await sleep(backoff(attempt), signal);
      attempt += 1;
    }
  })();
  return () => controller.abort();
}
