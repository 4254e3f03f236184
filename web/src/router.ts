// Paths in the address bar (History API); Envoy answers every such GET with index.html, so a
// link to /events/<id> can be shared, bookmarked and reloaded.
import { createStore, useStore } from "./store";

export interface Location {
  path: string;
  query: URLSearchParams;
}

function read(): Location {
  const { pathname, search } = globalThis.location ?? { pathname: "/", search: "" };
  return { path: pathname, query: new URLSearchParams(search) };
}

const currentLocation = createStore<Location>(read());

globalThis.addEventListener?.("popstate", () => currentLocation.set(read()));

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const target = new URL(to, globalThis.location.href);
  const href = target.pathname + target.search;
  if (href === globalThis.location.pathname + globalThis.location.search) return;
  if (options.replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  currentLocation.set(read());
}

export function useLocation(): Location {
  return useStore(currentLocation);
}

/** Path parameters of `pattern` ("/events/:id") in `path`, or null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const wanted = pattern.split("/").filter(Boolean);
  const actual = path.split("/").filter(Boolean);
  if (wanted.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let index = 0; index < wanted.length; index += 1) {
    const part = wanted[index];
    if (part.startsWith(":")) {
      try {
        params[part.slice(1)] = decodeURIComponent(actual[index]);
      } catch {
        return null;
      }
    } else if (part !== actual[index]) {
      return null;
    }
  }
  return params;
}

/** A query string from the non-empty values of `values`, in a stable order. */
export function queryString(values: Record<string, string | string[] | boolean | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (Array.isArray(value)) for (const item of value) query.append(key, item);
    else if (value === true) query.set(key, "1");
    else if (typeof value === "string" && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** Clicks on <a href="/..."> stay in the app (unless opened in a new tab or window). */
export function interceptLinks(root: HTMLElement): () => void {
  const onClick = (event: MouseEvent): void => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
    const href = anchor.getAttribute("href");
    if (!href || !href.startsWith("/") || href.startsWith("//")) return;
    event.preventDefault();
    navigate(href);
  };
  root.addEventListener("click", onClick);
  return () => root.removeEventListener("click", onClick);
}
