import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { axisTop, MAX_DAY_BARS, niceStep, salesSeries, seriesCurrencies } from "../src/chart";
import { DaySalesSchema } from "../src/gen/seatmesh/payments/v1/payments_pb";

function day(date: string, seats: number, euros: number, refundedEuros = 0) {
  return create(DaySalesSchema, {
    day: date,
    bookings: seats > 0 ? 1 : 0,
    seats,
    captured: { currencyCode: "EUR", units: BigInt(euros) },
    refunded: { currencyCode: "EUR", units: BigInt(refundedEuros) },
  });
}

describe("salesSeries", () => {
  it("sums every event's days and fills the quiet days between", () => {
    const series = salesSeries([
      day("2026-03-02", 2, 50),
      day("2026-03-04", 1, 25),
      day("2026-03-02", 3, 60, 20),
    ]);
    expect(series.unit).toBe("day");
    expect(series.buckets.map((bucket) => [bucket.key, bucket.seats])).toEqual([
      ["2026-03-02", 5],
      ["2026-03-03", 0],
      ["2026-03-04", 1],
    ]);
    expect(series.buckets[0].captured.get("EUR")).toBe(11000n);
    expect(series.buckets[0].refunded.get("EUR")).toBe(2000n);
    expect(series.buckets[0].bookings).toBe(2);
    expect(seriesCurrencies(series)).toEqual(["EUR"]);
  });

  it("spans the period asked for, across a month's end", () => {
    const series = salesSeries([day("2026-03-01", 1, 10)], { first: "2026-02-27", last: "2026-03-02" });
    expect(series.buckets.map((bucket) => bucket.key)).toEqual([
      "2026-02-27",
      "2026-02-28",
      "2026-03-01",
      "2026-03-02",
    ]);
  });

  it("shows a first sale among the days before it when the period has no start", () => {
    const series = salesSeries([day("2026-03-10", 2, 50)], { last: "2026-03-11", minDays: 5 });
    expect(series.buckets.map((bucket) => bucket.key)).toEqual([
      "2026-03-07",
      "2026-03-08",
      "2026-03-09",
      "2026-03-10",
      "2026-03-11",
    ]);
    // A start asked for is kept as it is.
    expect(salesSeries([day("2026-03-10", 2, 50)], { first: "2026-03-10", minDays: 5 }).buckets).toHaveLength(
      1,
    );
  });

  it("counts months when the period is too long for a bar per day", () => {
    const series = salesSeries(
      [day("2026-01-15", 2, 20), day("2026-01-20", 1, 10), day("2026-04-01", 4, 40)],
      {
        first: "2026-01-01",
      },
    );
    expect(series.unit).toBe("month");
    expect(series.buckets.map((bucket) => [bucket.key, bucket.seats])).toEqual([
      ["2026-01", 3],
      ["2026-02", 0],
      ["2026-03", 0],
      ["2026-04", 4],
    ]);
  });

  it("keeps a bar per day up to its limit", () => {
    const last = new Date(Date.UTC(2026, 0, MAX_DAY_BARS)).toISOString().slice(0, 10);
    expect(salesSeries([], { first: "2026-01-01", last }).buckets).toHaveLength(MAX_DAY_BARS);
    expect(salesSeries([]).buckets).toEqual([]);
  });
});

describe("axis", () => {
  it("takes round steps, whole ones for seats", () => {
    expect(niceStep(100)).toBe(50);
    expect(niceStep(7, 4, true)).toBe(2);
    expect(niceStep(3, 4, true)).toBe(1);
    expect(niceStep(0)).toBe(1);
    expect(axisTop(7, 2)).toBe(8);
    expect(axisTop(0, 1)).toBe(1);
    expect(niceStep(0.3)).toBeCloseTo(0.1);
  });
});
