import type { GenEnum } from "@bufbuild/protobuf/codegenv2";
import { describe, expect, it } from "vitest";
import { Booking_StateSchema } from "../src/gen/seatmesh/bookings/v1/bookings_pb";
import { Event_StateSchema } from "../src/gen/seatmesh/events/v1/events_pb";
import {
  ChannelSchema,
  Delivery_StateSchema,
  KindSchema,
} from "../src/gen/seatmesh/notifications/v1/notifications_pb";
import {
  EventSales_EventStateSchema,
  Payment_StateSchema,
  Refund_InitiatorSchema,
  Refund_StateSchema,
} from "../src/gen/seatmesh/payments/v1/payments_pb";
import { RoleSchema } from "../src/gen/seatmesh/users/v1/users_pb";
import { hasMessage } from "../src/i18n/en";
import {
  BOOKING_STATE_FILTERS,
  BOOKING_STATES,
  bookingStateByName,
  CHANNELS,
  DELIVERY_STATES,
  enumValues,
  EVENT_STATES,
  isActiveBooking,
  KINDS,
  PAYMENT_STATES,
  REFUND_INITIATORS,
  REFUND_STATES,
  ROLES,
  SALES_EVENT_STATES,
  SESSION_ENDS,
} from "../src/labels";

// Every value a contract defines, by name; a value added to a .proto fails here until it has words.
function names(schema: GenEnum<number>): string[] {
  return schema.values.filter((value) => value.number !== 0).map((value) => value.name);
}

describe("every value of the contracts' enums has words", () => {
  it.each([
    ["Booking.State", Booking_StateSchema, BOOKING_STATES],
    ["Event.State", Event_StateSchema, EVENT_STATES],
    ["Role", RoleSchema, ROLES],
    ["Kind", KindSchema, KINDS],
    ["Channel", ChannelSchema, CHANNELS],
    ["Delivery.State", Delivery_StateSchema, DELIVERY_STATES],
    ["Payment.State", Payment_StateSchema, PAYMENT_STATES],
    ["Refund.State", Refund_StateSchema, REFUND_STATES],
    ["Refund.Initiator", Refund_InitiatorSchema, REFUND_INITIATORS],
    ["EventSales.EventState", EventSales_EventStateSchema, SALES_EVENT_STATES],
  ] as const)("%s", (_, schema, words) => {
    expect(names(schema as GenEnum<number>).filter((name) => !(name in words))).toEqual([]);
    for (const entry of Object.values(words) as (string | Record<string, string>)[]) {
      const keys = typeof entry === "string" ? [entry] : [entry.label, entry.explain].filter(Boolean);
      for (const key of keys) expect(hasMessage(key), key).toBe(true);
    }
  });
});

describe("booking states", () => {
  it("filter by every state, the ones holding seats first", () => {
    expect(BOOKING_STATE_FILTERS).toHaveLength(enumValues(Booking_StateSchema).length);
    const firstEnded = BOOKING_STATE_FILTERS.findIndex((state) => !isActiveBooking(state));
    expect(BOOKING_STATE_FILTERS.slice(firstEnded).some(isActiveBooking)).toBe(false);
  });

  it("are found by name, and an unknown name means any state", () => {
    expect(bookingStateByName("WAITLISTED")).toBe(
      Booking_StateSchema.values.find((v) => v.name === "WAITLISTED")?.number,
    );
    expect(bookingStateByName("NO_SUCH_STATE")).toBe(0);
  });
});

describe("session ends", () => {
  it("each have words", () => {
    for (const key of Object.values(SESSION_ENDS)) expect(hasMessage(key), key).toBe(true);
  });
});
