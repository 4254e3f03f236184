// The sales report's numbers by day, ready for a chart: days of every event summed, the period's
// quiet days filled in (a chart whose bars skip empty days misleads about time), and months
// instead of days when the period is too long for a bar per day. Pure functions, tested on their own.
import type { DaySales } from "./gen/seatmesh/payments/v1/payments_pb";
import { amountOf } from "./money";

export type BucketUnit = "day" | "month";

export interface SalesBucket {
  /** "2026-05-01" (a UTC day) or "2026-05" (a month). */
  key: string;
  bookings: number;
  seats: number;
  /** Minor units received, per currency. */
  captured: Map<string, bigint>;
  /** Minor units given back, per currency. */
  refunded: Map<string, bigint>;
}

export interface SalesSeries {
  unit: BucketUnit;
  buckets: SalesBucket[];
}

/** Periods up to this many days get a bar per day; longer ones a bar per month. */
export const MAX_DAY_BARS = 62;
/** A period with more months than this shows only the months that had sales. */
export const MAX_MONTH_BARS = 120;

const DAY_MS = 86_400_000;

function dayNumber(day: string): number {
  const [year, month, date] = day.split("-").map(Number);
  return Date.UTC(year, month - 1, date) / DAY_MS;
}

function dayKey(number: number): string {
  return new Date(number * DAY_MS).toISOString().slice(0, 10);
}

function monthNumber(key: string): number {
  const [year, month] = key.split("-").map(Number);
  return year * 12 + (month - 1);
}

function monthKey(number: number): string {
  return `${Math.floor(number / 12)}-${String((number % 12) + 1).padStart(2, "0")}`;
}

/** The UTC day of an instant, as the report names days. */
export function utcDay(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

function emptyBucket(key: string): SalesBucket {
  return { key, bookings: 0, seats: 0, captured: new Map(), refunded: new Map() };
}

function addMoney(into: Map<string, bigint>, currency: string, minor: bigint): void {
  into.set(currency, (into.get(currency) ?? 0n) + minor);
}

function add(bucket: SalesBucket, day: DaySales): void {
  bucket.bookings += day.bookings;
  bucket.seats += day.seats;
  if (day.captured) {
    const captured = amountOf(day.captured);
    addMoney(bucket.captured, captured.currency, captured.minor);
  }
  if (day.refunded) {
    const refunded = amountOf(day.refunded);
    addMoney(bucket.refunded, refunded.currency, refunded.minor);
  }
}

function isEmpty(bucket: SalesBucket): boolean {
  const moved = (money: Map<string, bigint>): boolean => [...money.values()].some((minor) => minor !== 0n);
  return bucket.bookings === 0 && bucket.seats === 0 && !moved(bucket.captured) && !moved(bucket.refunded);
}

/**
 * The days of every event of a report, summed per day (or month) from `range.first` (default: the
 * first day with sales, or `minDays` before the last day when that is earlier, so that a first
 * week of sales still shows as days in a week) to `range.last` (default: the last day with
 * sales), all UTC days "YYYY-MM-DD".
 */
export function salesSeries(
  days: DaySales[],
  range: { first?: string; last?: string; minDays?: number } = {},
): SalesSeries {
  const keys = days.map((day) => day.day).sort();
  const last = range.last ?? keys[keys.length - 1];
  let first = range.first ?? keys[0];
  if (!first || !last) return { unit: "day", buckets: [] };
  if (range.first === undefined && range.minDays) {
    const earliest = dayKey(dayNumber(last) - range.minDays + 1);
    if (earliest < first) first = earliest;
  }
  const [from, to] = first <= last ? [first, last] : [last, first];

  if (dayNumber(to) - dayNumber(from) + 1 <= MAX_DAY_BARS) {
    const buckets = new Map<string, SalesBucket>();
    for (let number = dayNumber(from); number <= dayNumber(to); number += 1) {
      buckets.set(dayKey(number), emptyBucket(dayKey(number)));
    }
    for (const day of days) {
      const bucket = buckets.get(day.day);
      if (bucket) add(bucket, day);
    }
    return { unit: "day", buckets: [...buckets.values()] };
  }

  const buckets = new Map<string, SalesBucket>();
  const firstMonth = monthNumber(from.slice(0, 7));
  const lastMonth = monthNumber(to.slice(0, 7));
  for (let number = firstMonth; number <= lastMonth; number += 1) {
    buckets.set(monthKey(number), emptyBucket(monthKey(number)));
  }
  for (const day of days) {
    const bucket = buckets.get(day.day.slice(0, 7));
    if (bucket) add(bucket, day);
  }
  const all = [...buckets.values()];
  return {
    unit: "month",
    buckets: all.length > MAX_MONTH_BARS ? all.filter((bucket) => !isEmpty(bucket)) : all,
  };
}

/** Every currency money moved in, in order. */
export function seriesCurrencies(series: SalesSeries): string[] {
  const found = new Set<string>();
  for (const bucket of series.buckets) {
    for (const currency of [...bucket.captured.keys(), ...bucket.refunded.keys()]) found.add(currency);
  }
  return [...found].sort();
}

/** A round step for an axis up to `max` in about `ticks` steps (1, 2 or 5 times a power of ten). */
export function niceStep(max: number, ticks = 4, whole = false): number {
  const raw = max / ticks;
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
  return whole ? Math.max(1, Math.round(step)) : step;
}

/** The axis' top: the smallest multiple of `step` at least `max` (one step for an empty chart). */
export function axisTop(max: number, step: number): number {
  return Math.max(step, Math.ceil(max / step) * step);
}
