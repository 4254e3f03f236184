"""What the bus, the store and other services hand over, as domain types: who a message is for,
what is known of bookings and events, inbox entries, deliveries, reminders, contacts, dead letters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.notifications.domain.kinds import (
    BookingState,
    Channel,
    DeliveryState,
    EventState,
    Kind,
    Provider,
    RefundInitiator,
)
from services.notifications.domain.messages import Content, EventSummary, PaymentDue
from services.runtime.money import Amount

# -- who a message is for -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToUsers:
    """These users: one (most messages) or a group (a reminder's guests)."""

    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class ToEventGuests:
    """The guests of an event whose booking is in one of `states`."""

    event_id: str
    states: tuple[BookingState, ...]


@dataclass(frozen=True)
class ToEveryoneKnown:
    """Every user this service has heard of on the bus whose email address is verified (an admin's
    announcement)."""


Recipients = ToUsers | ToEventGuests | ToEveryoneKnown


# -- what the bus tells -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    user_id: str
    organizer: bool


@dataclass(frozen=True)
class Account:
    """What the users service's bus events told of an account."""

    user_id: str
    # Whether it registered as an organizer; None while its registration was not heard of (or
    # happened before this service kept track, when the welcome went out at registration).
    organizer: bool | None
    email_verified: bool


@dataclass(frozen=True)
class CodeIssued:
    """A verification code for the address being verified (which may not be the account's yet): an
    email address, or a phone number."""

    user_id: str
    address: str
    display_name: str
    # Sealed by the users service for this user; b"" when the message carried none.
    sealed_code: bytes
    expire_time: datetime | None


@dataclass(frozen=True)
class BookingNews:
    """A booking as a bookings message describes it, with its event as the booking knew it."""

    booking_id: str
    guest_id: str
    host_id: str
    seats: int
    event: EventSummary
    # What the message says the booking's state is (None when it says nothing).
    state: BookingState | None
    waitlist_position: int = 0


@dataclass(frozen=True)
class AppliedBooking:
    # False when a newer state was already known (a late message): nothing was changed.
    fresh: bool
    previous_state: BookingState | None
    # The events service's view of the event; None when only bookings told us about it.
    event: EventSummary | None


@dataclass(frozen=True)
class PaymentNews:
    """A payment as a payments message describes it."""

    payment_id: str
    booking_id: str
    buyer_id: str
    seats: int
    # What is due, what was captured and what was given back so far (pending refunds included).
    amount: Amount
    captured: Amount
    refunded: Amount
    # None for a provider this version does not know.
    provider: Provider | None
    checkout_url: str
    hold_expire_time: datetime | None
    # The refund policy the buyer agreed to: everything back until `full_refund_deadline`.
    refund_hours_before_start: int
    full_refund_deadline: datetime | None
    # The event as the payment knows it: title, start and time zone, no place or end.
    event: EventSummary

    def due(self) -> PaymentDue | None:
        """What is left to pay and until when; None when the payment names no hold."""
        if self.hold_expire_time is None:
            return None
        return PaymentDue(
            payment_id=self.payment_id,
            booking_id=self.booking_id,
            seats=self.seats,
            amount=self.amount,
            checkout_url=self.checkout_url,
            hold_expire_time=self.hold_expire_time,
            event=self.event,
        )


@dataclass(frozen=True)
class RefundNews:
    """One refund of a payment, as PaymentRefunded tells it."""

    refund_id: str
    amount: Amount
    # As its initiator said it (automatic refunds: payments' own words).
    reason: str
    # None for an initiator this version does not know.
    initiated_by: RefundInitiator | None


@dataclass(frozen=True)
class KnownEvent:
    """An event as the events service describes it (on the bus, or asked directly)."""

    summary: EventSummary
    organizer_id: str
    # None when the message did not say.
    state: EventState | None
    # The events service's update time of this description; None when unknown.
    version: datetime | None


# -- what the store holds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxEntry:
    """An in-app notification as its recipient sees it."""

    id: uuid.UUID
    kind: Kind
    title: str
    body: str
    link: str
    read: bool
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One email or SMS send, as an admin sees it."""

    id: uuid.UUID
    kind: Kind
    channel: Channel
    recipient_id: uuid.UUID
    address: str | None
    state: DeliveryState
    attempts: int
    last_error: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker has leased, with what to send."""

    id: uuid.UUID
    message_id: uuid.UUID
    channel: Channel
    recipient_id: uuid.UUID
    address: str | None
    # Counted when claimed, so an attempt that crashed the process counts too.
    attempts: int
    created_at: datetime
    content: Content
    expires_at: datetime | None
    # The trace of the work that asked for the message ("" when none): the send joins it.
    traceparent: str = ""


@dataclass(frozen=True)
class DueReminder:
    booking_id: uuid.UUID
    event_id: uuid.UUID
    kind: Kind
    guest_id: uuid.UUID
    # The event start it reminds of; for a payment reminder, the end of the booking's hold.
    start_time: datetime
    # None when the event is not known here (its reminder cannot say anything useful).
    event: EventSummary | None
    # What a payment reminder reminds of (None for the reminders of an event).
    payment: PaymentDue | None = None
    # The booking's state as the bus last told it; None when not heard of.
    booking_state: BookingState | None = None


# -- from elsewhere -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Where a user is reached, from the users service at send time."""

    user_id: str
    email: str
    display_name: str
    phone: str
    # Confirmed by its owner with a code sent to it: only then does an SMS go to it.
    phone_verified: bool


@dataclass(frozen=True)
class DeadLetter:
    """A bus message some consumer gave up on, from the mesh's dead-letter stream."""

    id: str
    stream: str
    event_id: str
    type: str
    error: str
    attempts: int
    dead_time: datetime
