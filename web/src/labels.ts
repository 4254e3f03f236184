// Enum values of the contracts in words, and the tone their badges take. The maps are keyed by the
// values' names in the .proto files (read from the generated enum descriptors), so a value added to
// a contract shows as "unknown" until it gets words here; tests/labels.test.ts lists what lacks them.
import type { GenEnum } from "@bufbuild/protobuf/codegenv2";
import { Booking_State, Booking_StateSchema } from "./gen/seatmesh/bookings/v1/bookings_pb";
import { type Event_State, Event_StateSchema } from "./gen/seatmesh/events/v1/events_pb";
import {
  type Channel,
  ChannelSchema,
  type Delivery_State,
  Delivery_StateSchema,
  type Kind,
  KindSchema,
} from "./gen/seatmesh/notifications/v1/notifications_pb";
import {
  type EventSales_EventState,
  EventSales_EventStateSchema,
  Payment_State,
  Payment_StateSchema,
  type Refund_Initiator,
  Refund_InitiatorSchema,
  type Refund_State,
  Refund_StateSchema,
} from "./gen/seatmesh/payments/v1/payments_pb";
import { Role, RoleSchema } from "./gen/seatmesh/users/v1/users_pb";
import type { SessionEnd } from "./api/session";
import type { MessageKey, Translate } from "./i18n";

export type Tone = "good" | "warn" | "bad" | "neutral";

/** The name a value has in its .proto ("AWAITING_APPROVAL"), or "" for a number it does not know. */
export function enumName<T extends number>(schema: GenEnum<T>, value: T): string {
  return schema.value[value]?.name ?? "";
}

/** Every value of an enum but the unspecified zero. */
export function enumValues<T extends number>(schema: GenEnum<T>): T[] {
  return schema.values.filter((value) => value.number !== 0).map((value) => value.number as T);
}

interface BookingStateWords {
  label: MessageKey;
  explain: MessageKey;
  tone: Tone;
}

const UNKNOWN_BOOKING_STATE: BookingStateWords = {
  label: "booking.state.unknown",
  explain: "booking.explain.unknown",
  tone: "neutral",
};

export const BOOKING_STATES: Record<string, BookingStateWords> = {
  PENDING: { label: "booking.state.pending", explain: "booking.explain.pending", tone: "warn" },
  CONFIRMED: { label: "booking.state.confirmed", explain: "booking.explain.confirmed", tone: "good" },
  AWAITING_APPROVAL: { label: "booking.state.awaiting", explain: "booking.explain.awaiting", tone: "warn" },
  AWAITING_PAYMENT: {
    label: "booking.state.awaitingPayment",
    explain: "booking.explain.awaitingPayment",
    tone: "warn",
  },
  WAITLISTED: { label: "booking.state.waitlisted", explain: "booking.explain.waitlisted", tone: "warn" },
  REJECTED: { label: "booking.state.rejected", explain: "booking.explain.rejected", tone: "bad" },
  CANCELLED: { label: "booking.state.cancelled", explain: "booking.explain.cancelled", tone: "bad" },
  EXPIRED: { label: "booking.state.expired", explain: "booking.explain.expired", tone: "bad" },
};

export function bookingState(state: Booking_State): BookingStateWords {
  return BOOKING_STATES[enumName(Booking_StateSchema, state)] ?? UNKNOWN_BOOKING_STATE;
}

// States in which a booking still holds (or waits for) seats, and so can be cancelled.
const ACTIVE_NAMES = new Set(["PENDING", "CONFIRMED", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "WAITLISTED"]);

export function isActiveBooking(state: Booking_State): boolean {
  return ACTIVE_NAMES.has(enumName(Booking_StateSchema, state));
}

/** The states a list of bookings can be filtered by: all of them, the held ones first. */
export const BOOKING_STATE_FILTERS: Booking_State[] = enumValues(Booking_StateSchema).sort(
  (first, second) => Number(!isActiveBooking(first)) - Number(!isActiveBooking(second)),
);

export function bookingStateByName(name: string): Booking_State {
  return (
    BOOKING_STATE_FILTERS.find((state) => enumName(Booking_StateSchema, state) === name) ??
    Booking_State.STATE_UNSPECIFIED
  );
}

export const EVENT_STATES: Record<string, { label: MessageKey; tone: Tone }> = {
  SCHEDULED: { label: "event.state.scheduled", tone: "good" },
  CANCELLED: { label: "event.state.cancelled", tone: "bad" },
  COMPLETED: { label: "event.state.completed", tone: "neutral" },
};

export function eventState(state: Event_State): { label: MessageKey; tone: Tone } {
  return (
    EVENT_STATES[enumName(Event_StateSchema, state)] ?? { label: "event.state.unknown", tone: "neutral" }
  );
}

export const ROLES: Record<string, MessageKey> = {
  ROLE_PARTICIPANT: "role.participant",
  ROLE_ORGANIZER: "role.organizer",
  ROLE_ADMIN: "role.admin",
  ROLE_SERVICE: "role.service",
};

export function roleLabel(role: Role, t: Translate): string {
  return t(ROLES[enumName(RoleSchema, role)] ?? "role.unknown");
}

/** Organizers and admins run events (admins any event, organizers their own). */
export function isOrganizer(role: Role | undefined): boolean {
  return role === Role.ORGANIZER || role === Role.ADMIN;
}

/** Roles a person can hold (the service role belongs to services only). */
export const PERSON_ROLES = [Role.PARTICIPANT, Role.ORGANIZER, Role.ADMIN];

export const KINDS: Record<string, MessageKey> = {
  KIND_VERIFICATION_CODE: "kind.verificationCode",
  KIND_WELCOME: "kind.welcome",
  KIND_BOOKING_CONFIRMED: "kind.bookingConfirmed",
  KIND_BOOKING_AWAITING_APPROVAL: "kind.bookingAwaitingApproval",
  KIND_BOOKING_WAITLISTED: "kind.bookingWaitlisted",
  KIND_BOOKING_PROMOTED: "kind.bookingPromoted",
  KIND_BOOKING_APPROVED: "kind.bookingApproved",
  KIND_BOOKING_REJECTED: "kind.bookingRejected",
  KIND_BOOKING_EXPIRED: "kind.bookingExpired",
  KIND_BOOKING_CANCELLED: "kind.bookingCancelled",
  KIND_APPROVAL_REQUESTED: "kind.approvalRequested",
  KIND_GUEST_CANCELLED: "kind.guestCancelled",
  KIND_EVENT_UPDATED: "kind.eventUpdated",
  KIND_EVENT_CANCELLED: "kind.eventCancelled",
  KIND_REMINDER_24H: "kind.reminder24h",
  KIND_REMINDER_1H: "kind.reminder1h",
  KIND_RATE_EVENT: "kind.rateEvent",
  KIND_ORGANIZER_MESSAGE: "kind.organizerMessage",
  KIND_ANNOUNCEMENT: "kind.announcement",
  KIND_PAYMENT_DUE: "kind.paymentDue",
  KIND_PAYMENT_REMINDER: "kind.paymentReminder",
  KIND_PAYMENT_RECEIPT: "kind.paymentReceipt",
  KIND_PAYMENT_REFUNDED: "kind.paymentRefunded",
};

export function kindLabel(kind: Kind, t: Translate): string {
  return t(KINDS[enumName(KindSchema, kind)] ?? "kind.unknown");
}

export const CHANNELS: Record<string, MessageKey> = {
  CHANNEL_IN_APP: "channel.inApp",
  CHANNEL_EMAIL: "channel.email",
  CHANNEL_SMS: "channel.sms",
};

export function channelLabel(channel: Channel, t: Translate): string {
  return t(CHANNELS[enumName(ChannelSchema, channel)] ?? "channel.unknown");
}

export const DELIVERY_STATES: Record<string, { label: MessageKey; tone: Tone }> = {
  PENDING: { label: "delivery.state.pending", tone: "warn" },
  SENT: { label: "delivery.state.sent", tone: "good" },
  FAILED: { label: "delivery.state.failed", tone: "bad" },
};

export function deliveryState(state: Delivery_State): { label: MessageKey; tone: Tone } {
  return (
    DELIVERY_STATES[enumName(Delivery_StateSchema, state)] ?? {
      label: "delivery.state.unknown",
      tone: "neutral",
    }
  );
}

interface PaymentStateWords {
  label: MessageKey;
  explain: MessageKey;
  tone: Tone;
}

export const PAYMENT_STATES: Record<string, PaymentStateWords> = {
  PENDING: { label: "payment.state.pending", explain: "payment.explain.pending", tone: "warn" },
  SUCCEEDED: { label: "payment.state.succeeded", explain: "payment.explain.succeeded", tone: "good" },
  FAILED: { label: "payment.state.failed", explain: "payment.explain.failed", tone: "bad" },
  EXPIRED: { label: "payment.state.expired", explain: "payment.explain.expired", tone: "bad" },
};

export function paymentState(state: Payment_State): PaymentStateWords {
  return (
    PAYMENT_STATES[enumName(Payment_StateSchema, state)] ?? {
      label: "payment.state.unknown",
      explain: "payment.explain.unknown",
      tone: "neutral",
    }
  );
}

/** The states a list of payments can be filtered by. */
export const PAYMENT_STATE_FILTERS: Payment_State[] = enumValues(Payment_StateSchema);

export function paymentStateByName(name: string): Payment_State {
  return (
    PAYMENT_STATE_FILTERS.find((state) => enumName(Payment_StateSchema, state) === name) ??
    Payment_State.STATE_UNSPECIFIED
  );
}

export const REFUND_STATES: Record<string, { label: MessageKey; tone: Tone }> = {
  PENDING: { label: "refund.state.pending", tone: "warn" },
  SUCCEEDED: { label: "refund.state.succeeded", tone: "good" },
  FAILED: { label: "refund.state.failed", tone: "bad" },
};

export function refundState(state: Refund_State): { label: MessageKey; tone: Tone } {
  return (
    REFUND_STATES[enumName(Refund_StateSchema, state)] ?? { label: "refund.state.unknown", tone: "neutral" }
  );
}

export const REFUND_INITIATORS: Record<string, MessageKey> = {
  ORGANIZER: "refund.by.organizer",
  ADMIN: "refund.by.admin",
  GUEST_CANCELLATION: "refund.by.guestCancellation",
  HOST_CANCELLATION: "refund.by.hostCancellation",
  EVENT_CANCELLATION: "refund.by.eventCancellation",
  PAYMENT_REFUSED: "refund.by.paymentRefused",
};

export function refundInitiator(initiator: Refund_Initiator, t: Translate): string {
  return t(REFUND_INITIATORS[enumName(Refund_InitiatorSchema, initiator)] ?? "refund.by.unknown");
}

// The report's own copy of an event's state (from the bus): the same words as the event's.
export const SALES_EVENT_STATES: Record<string, { label: MessageKey; tone: Tone }> = EVENT_STATES;

export function salesEventState(state: EventSales_EventState): { label: MessageKey; tone: Tone } {
  return (
    SALES_EVENT_STATES[enumName(EventSales_EventStateSchema, state)] ?? {
      label: "event.state.unknown",
      tone: "neutral",
    }
  );
}

/** Why a session ended, in words (with a sign-in link beside it). */
export const SESSION_ENDS: Record<Exclude<SessionEnd, null>, MessageKey> = {
  expired: "session.expired",
  reused: "session.reused",
  revoked: "session.revoked",
  everywhere: "session.everywhere",
};
