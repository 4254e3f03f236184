import { describe, expect, it } from "vitest";
import {
  dateStartInstant,
  instantToWallTime,
  sameWallTime,
  wallTimeToInstant,
  zoneOffset,
} from "../src/time";

describe("wall times in a zone", () => {
  it("reads a winter and a summer evening in Berlin", () => {
    expect(wallTimeToInstant("2026-12-24T19:00", "Europe/Berlin")?.toISOString()).toBe(
      "2026-12-24T18:00:00.000Z",
    );
    expect(wallTimeToInstant("2026-07-01T19:00", "Europe/Berlin")?.toISOString()).toBe(
      "2026-07-01T17:00:00.000Z",
    );
  });

  it("reads zones west of UTC and with half hours", () => {
    expect(wallTimeToInstant("2026-12-06T19:30", "America/New_York")?.toISOString()).toBe(
      "2026-12-07T00:30:00.000Z",
    );
    expect(wallTimeToInstant("2026-01-10T09:00", "Asia/Kolkata")?.toISOString()).toBe(
      "2026-01-10T03:30:00.000Z",
    );
  });

  it("takes the first of a wall time that happens twice (clocks going back)", () => {
    // Berlin, 25 October 2026: 02:30 happens at +02:00 and again at +01:00.
    expect(wallTimeToInstant("2026-10-25T02:30", "Europe/Berlin")?.toISOString()).toBe(
      "2026-10-25T00:30:00.000Z",
    );
  });

  it("moves a wall time that never happens (clocks going forward) past the gap", () => {
    // Berlin, 29 March 2026: 02:00-03:00 does not exist; 02:30 is read as 03:30 CEST.
    const instant = wallTimeToInstant("2026-03-29T02:30", "Europe/Berlin");
    expect(instant?.toISOString()).toBe("2026-03-29T01:30:00.000Z");
    expect(instantToWallTime(instant as Date, "Europe/Berlin")).toBe("2026-03-29T03:30");
  });

  it("refuses text that is not a wall time", () => {
    expect(wallTimeToInstant("", "UTC")).toBeNull();
    expect(wallTimeToInstant("24.12.2026 19:00", "UTC")).toBeNull();
    expect(dateStartInstant("2026-12-24T00:00", "UTC")).toBeNull();
  });

  it("round-trips an instant through its wall time", () => {
    const instant = new Date("2026-12-24T18:00:00Z");
    for (const zone of ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "Australia/Adelaide"]) {
      expect(wallTimeToInstant(instantToWallTime(instant, zone), zone)?.getTime()).toBe(instant.getTime());
    }
  });

  it("starts a day at its local midnight", () => {
    expect(dateStartInstant("2026-12-24", "Asia/Tokyo")?.toISOString()).toBe("2026-12-23T15:00:00.000Z");
  });

  it("knows offsets and when two zones agree", () => {
    const instant = new Date("2026-12-24T18:00:00Z");
    expect(zoneOffset(instant, "Europe/Berlin")).toBe(3_600_000);
    expect(sameWallTime(instant, "Europe/Berlin", "Europe/Paris")).toBe(true);
    expect(sameWallTime(instant, "Europe/Berlin", "Europe/London")).toBe(false);
  });
});
