// Notifications carry links into the REST API (built from SEATMESH_PUBLIC_URL); in the console
// the same place is a page. Links elsewhere are left as they are.
const UUID = "[0-9a-fA-F-]{36}";
const PATTERNS: [RegExp, (match: RegExpExecArray, query: URLSearchParams) => string][] = [
  [/^\/v1\/events$/, () => "/"],
  [new RegExp(`^/v1/events/(${UUID})$`), (match) => `/events/${match[1]}`],
  [
    /^\/v1\/bookings$/,
    (_, query) => {
      const eventId = query.get("eventId") ?? "";
      if (query.get("as") === "HOST" && eventId) {
        const state = query.get("state");
        return `/organize/events/${eventId}/guests${state ? `?state=${encodeURIComponent(state)}` : ""}`;
      }
      return eventId ? `/events/${eventId}` : "/bookings";
    },
  ],
  [new RegExp(`^/v1/bookings/(${UUID})$`), () => "/bookings?view=all"],
  [/^\/v1\/notifications$/, () => "/inbox"],
  [/^\/v1\/notifications\/preferences$/, () => "/settings#preferences"],
];

/** The console page for a notification's link, or null when it points outside this site. */
export function consolePathFor(link: string, origin: string): string | null {
  let url: URL;
  try {
    url = new URL(link, origin);
  } catch {
    return null;
  }
  for (const [pattern, page] of PATTERNS) {
    const match = pattern.exec(url.pathname);
    if (match) return page(match, url.searchParams);
  }
  return url.origin === new URL(origin).origin ? url.pathname + url.search : null;
}
