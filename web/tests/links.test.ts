import { describe, expect, it } from "vitest";
import { consolePathFor } from "../src/links";
import { matchPath, queryString } from "../src/router";

const origin = "http://127.0.0.1:8080";
const id = "0f4c2a8e-1b7d-4c1e-9a55-3e2d1c0b9a87";

describe("notification links", () => {
  it("lead to console pages instead of the REST API", () => {
    expect(consolePathFor(`${origin}/v1/events/${id}`, origin)).toBe(`/events/${id}`);
    expect(consolePathFor(`${origin}/v1/events`, origin)).toBe("/");
    expect(consolePathFor(`${origin}/v1/bookings?eventId=${id}`, origin)).toBe(`/events/${id}`);
    expect(
      consolePathFor(`${origin}/v1/bookings?as=HOST&state=AWAITING_APPROVAL&eventId=${id}`, origin),
    ).toBe(`/organize/events/${id}/guests?state=AWAITING_APPROVAL`);
    expect(consolePathFor(`${origin}/v1/bookings/${id}`, origin)).toBe("/bookings?view=all");
    expect(consolePathFor(`${origin}/v1/notifications/preferences`, origin)).toBe("/settings#preferences");
  });

  it("follow the path even when the public URL names another host", () => {
    expect(consolePathFor(`https://seatmesh.example.com/v1/events/${id}`, origin)).toBe(`/events/${id}`);
  });

  it("leave unknown places elsewhere alone", () => {
    expect(consolePathFor("https://example.org/somewhere", origin)).toBeNull();
    expect(consolePathFor("not a url at all ::", "not an origin")).toBeNull();
  });
});

describe("router", () => {
  it("matches paths with parameters", () => {
    expect(matchPath("/events/:id", `/events/${id}`)).toEqual({ id });
    expect(matchPath("/events/:id", "/events")).toBeNull();
    expect(matchPath("/organize/events/:id/guests", `/organize/events/${id}/guests`)).toEqual({ id });
    expect(matchPath("/", "/")).toEqual({});
  });

  it("builds query strings from what is set", () => {
    expect(queryString({ q: "jazz", tag: ["a", "b"], available: true, empty: "", off: false })).toBe(
      "?q=jazz&tag=a&tag=b&available=1",
    );
    expect(queryString({ q: "" })).toBe("");
  });
});
