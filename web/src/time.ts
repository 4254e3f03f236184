// Times on the wire are UTC instants; people think in wall-clock time somewhere. Events carry the
// IANA zone of their venue, and a form's <input type="datetime-local"> gives a wall time with no
// zone at all, so conversions between the two live here, tested on their own.

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

function partsFormatter(zone: string): Intl.DateTimeFormat {
  let formatter = partsFormatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    partsFormatters.set(zone, formatter);
  }
  return formatter;
}

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallTimeOf(instant: Date, zone: string): WallTime {
  const values: Record<string, number> = {};
  for (const part of partsFormatter(zone).formatToParts(instant)) {
    if (part.type !== "literal") values[part.type] = Number(part.value);
  }
  return {
    year: values.year,
    month: values.month,
    day: values.day,
    hour: values.hour,
    minute: values.minute,
    second: values.second,
  };
}

/** Milliseconds the zone is ahead of UTC at this instant (Europe/Berlin in winter: 3,600,000). */
export function zoneOffset(instant: Date, zone: string): number {
  const wall = wallTimeOf(instant, zone);
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  return asUtc - Math.floor(instant.getTime() / 1000) * 1000;
}

export function isValidTimeZone(zone: string): boolean {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Every IANA zone this browser knows, for pickers; UTC first. */
export function knownTimeZones(): string[] {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return ["UTC", ...zones.filter((zone) => zone !== "UTC")];
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * The instant when clocks in `zone` show `local` ("2026-12-24T19:00", as datetime-local gives it).
 * A wall time that happens twice (clocks going back) is the first of the two; one that never
 * happens (clocks going forward) is read with the offset from before the jump, which lands it
 * after the gap, as most calendars do. Null for text that is not a wall time.
 */
export function wallTimeToInstant(local: string, zone: string): Date | null {
  const match = WALL_TIME.exec(local);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0));
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  if (Number.isNaN(asUtc)) return null;
  // The offsets in force a day either side bound the answer; try the earlier offset first.
  const before = zoneOffset(new Date(asUtc - 86_400_000), zone);
  const after = zoneOffset(new Date(asUtc + 86_400_000), zone);
  for (const offset of before >= after ? [before, after] : [after, before]) {
    const candidate = new Date(asUtc - offset);
    if (zoneOffset(candidate, zone) === offset) return candidate;
  }
  return new Date(asUtc - before);
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** The wall time `instant` shows in `zone`, in datetime-local's format ("2026-12-24T19:00"). */
export function instantToWallTime(instant: Date, zone: string): string {
  const wall = wallTimeOf(instant, zone);
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${pad(wall.minute)}`;
}

/** A date (YYYY-MM-DD from <input type="date">) as the instant it starts in `zone`. */
export function dateStartInstant(date: string, zone: string): Date | null {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) ? wallTimeToInstant(`${date}T00:00`, zone) : null;
}

export function formatDateTime(instant: Date, zone: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(instant);
}

/** True when both zones show the same wall time at this instant (no need to show both). */
export function sameWallTime(instant: Date, first: string, second: string): boolean {
  return zoneOffset(instant, first) === zoneOffset(instant, second);
}
