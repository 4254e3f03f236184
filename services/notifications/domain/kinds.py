"""The vocabulary of notifications: kinds of message, channels, and the states of what they are about.

Kinds and states are stored by these names (messages.kind, deliveries.state, bookings.state...);
convert.py maps them to and from the contract's enum numbers.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a notification is about (notifications.v1.Kind without the KIND_ prefix)."""

    VERIFICATION_CODE = "VERIFICATION_CODE"
    WELCOME = "WELCOME"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_AWAITING_APPROVAL = "BOOKING_AWAITING_APPROVAL"
    BOOKING_WAITLISTED = "BOOKING_WAITLISTED"
    BOOKING_PROMOTED = "BOOKING_PROMOTED"
    BOOKING_APPROVED = "BOOKING_APPROVED"
    BOOKING_REJECTED = "BOOKING_REJECTED"
    BOOKING_EXPIRED = "BOOKING_EXPIRED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    APPROVAL_REQUESTED = "APPROVAL_REQUESTED"
    GUEST_CANCELLED = "GUEST_CANCELLED"
    EVENT_UPDATED = "EVENT_UPDATED"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    REMINDER_24H = "REMINDER_24H"
    REMINDER_1H = "REMINDER_1H"
    RATE_EVENT = "RATE_EVENT"
    ORGANIZER_MESSAGE = "ORGANIZER_MESSAGE"
    ANNOUNCEMENT = "ANNOUNCEMENT"
    PAYMENT_DUE = "PAYMENT_DUE"
    PAYMENT_REMINDER = "PAYMENT_REMINDER"
    PAYMENT_RECEIPT = "PAYMENT_RECEIPT"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"


# Security mail goes to the address being verified, by email, whatever the preferences say.
SECURITY_KINDS = frozenset({Kind.VERIFICATION_CODE})
# Messages a person wrote: their text is the news, so even an SMS carries it (within its limit).
WRITTEN_KINDS = frozenset({Kind.ORGANIZER_MESSAGE, Kind.ANNOUNCEMENT})


class Channel(StrEnum):
    IN_APP = "IN_APP"
    EMAIL = "EMAIL"
    SMS = "SMS"


# Channels that go through the delivery worker (in-app rows need no sending).
SENT_CHANNELS = (Channel.EMAIL, Channel.SMS)


class DeliveryState(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class BookingState(StrEnum):
    """A booking's state as bookings announces it (bookings.v1.Booking.State)."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    WAITLISTED = "WAITLISTED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"


# Bookings that hold (or wait for) seats: they hear about changes to their event.
ACTIVE_BOOKING_STATES = (
    BookingState.CONFIRMED,
    BookingState.AWAITING_APPROVAL,
    BookingState.AWAITING_PAYMENT,
    BookingState.WAITLISTED,
)
# Bookings whose guest has nothing (more) to pay: paid, or over.
PAYMENT_SETTLED_STATES = frozenset(
    {BookingState.CONFIRMED, BookingState.REJECTED, BookingState.CANCELLED, BookingState.EXPIRED}
)
# Bookings that attend: reminders, "rate your event", organizer messages.
ATTENDING_STATES = (BookingState.CONFIRMED,)


class EventState(StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


class Canceller(StrEnum):
    """Who cancelled a booking (bookings' BookingCancelled.Actor)."""

    GUEST = "GUEST"
    HOST = "HOST"
    ADMIN = "ADMIN"
    # The event itself was cancelled.
    EVENT_CANCELLED = "EVENT_CANCELLED"


class RefundInitiator(StrEnum):
    """Who or what asked for a refund (payments' Refund.Initiator)."""

    ORGANIZER = "ORGANIZER"
    ADMIN = "ADMIN"
    GUEST_CANCELLATION = "GUEST_CANCELLATION"
    HOST_CANCELLATION = "HOST_CANCELLATION"
    EVENT_CANCELLATION = "EVENT_CANCELLATION"
    PAYMENT_REFUSED = "PAYMENT_REFUSED"


class PaymentRefusal(StrEnum):
    """Why bookings would not keep a payment, which is then refunded in full (bookings'
    BookingPaymentRefused.Reason)."""

    SOLD_OUT = "SOLD_OUT"
    EVENT_NOT_BOOKABLE = "EVENT_NOT_BOOKABLE"
    BOOKING_ENDED = "BOOKING_ENDED"
    ALREADY_PAID = "ALREADY_PAID"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    BOOKED_AGAIN = "BOOKED_AGAIN"


class Provider(StrEnum):
    """Who handles a payment's money (payments' Payment.provider)."""

    # Bank transfer or cash, paid to the organizer, who confirms it.
    MANUAL = "manual"
    # Stripe Checkout: a card or another method on Stripe's page.
    STRIPE = "stripe"


class RejectionCause(StrEnum):
    """Why a booking was not accepted (bookings' BookingRejected.Cause)."""

    SOLD_OUT = "SOLD_OUT"
    HOST_REJECTED = "HOST_REJECTED"
    EVENT_NOT_BOOKABLE = "EVENT_NOT_BOOKABLE"
