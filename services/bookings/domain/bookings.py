"""Bookings: what a booking is and the rules of booking (create, see, cancel, approve, reject);
settlement.py has what events answers about seats and where that settles a booking.

A booking of a paid event carries its `Terms` (the total, the refund policy and the payment hold,
as of when its seats were reserved) and waits AWAITING_PAYMENT, seats held, until its payment
succeeds (CONFIRMED) or the hold runs out (EXPIRED); payments.py has the rules about payments.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.runtime.auth import Principal
from services.runtime.errors import (
    ServiceError,
    Violations,
    aborted,
    already_exists,
    bad_field,
    failed_precondition,
    not_found,
    permission_denied,
    unavailable,
)
from services.runtime.money import Amount

MAX_REQUEST_ID_LENGTH = 128
MAX_REASON_LENGTH = 500


class State(enum.StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    WAITLISTED = "WAITLISTED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"


# A booking in one of these counts for the uniqueness rules (one per event, one per start time).
ACTIVE_STATES = frozenset(
    {State.PENDING, State.CONFIRMED, State.AWAITING_APPROVAL, State.AWAITING_PAYMENT, State.WAITLISTED}
)
# A reservation may exist at events: leaving these states must release it.
MAY_HOLD_STATES = frozenset({State.PENDING, State.CONFIRMED, State.AWAITING_APPROVAL, State.AWAITING_PAYMENT})
# Events' default payment hold (what a booking of an event that did not say gets).
DEFAULT_PAYMENT_HOLD = timedelta(minutes=15)


class Cause(enum.StrEnum):
    """Why a booking was refused or ended without seats."""

    SOLD_OUT = "SOLD_OUT"
    EVENT_NOT_BOOKABLE = "EVENT_NOT_BOOKABLE"
    EVENT_STARTED = "EVENT_STARTED"
    HOST_REJECTED = "HOST_REJECTED"


class Actor(enum.StrEnum):
    GUEST = "GUEST"
    HOST = "HOST"
    ADMIN = "ADMIN"
    EVENT_CANCELLED = "EVENT_CANCELLED"


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What bookings needs to know about an event (from events: BatchGetEvents, ReserveSeats, bus)."""

    id: str
    organizer_id: str
    title: str
    start_time: datetime
    end_time: datetime
    time_zone: str
    city: str
    venue: str
    capacity: int
    max_seats_per_booking: int
    requires_approval: bool
    # SCHEDULED, CANCELLED or COMPLETED.
    state: str
    # Changes on every write to the event; orders updates that arrive out of order.
    update_time: datetime | None = None
    # Per seat; None: a free event.
    price: Amount | None = None
    # A full refund until this many hours before the start (paid events).
    refund_policy: int = 0
    payment_hold: timedelta = DEFAULT_PAYMENT_HOLD


@dataclass(frozen=True, slots=True)
class Terms:
    """What a booking of a paid event costs and what its guest agreed to, as of when its seats were
    reserved (or, while it waits in line, as of when it was made)."""

    # The total: the price per seat times the seats.
    amount: Amount
    # A full refund until this many hours before the start, nothing after.
    refund_policy: int
    # How long the seats are held while the guest pays.
    payment_hold: timedelta


def terms_for(event: EventFacts, seats: int) -> Terms | None:
    """What `seats` of `event` cost now; None for a free event."""
    if event.price is None:
        return None
    return Terms(event.price.times(seats), event.refund_policy, event.payment_hold)


@dataclass(frozen=True, slots=True)
class Booking:
    """One row of the bookings table."""

    id: uuid.UUID
    user_id: str
    request_id: str | None
    event_id: str
    host_id: str
    seats: int
    join_waitlist: bool
    state: State
    event_title: str
    event_start_time: datetime
    event_end_time: datetime
    event_time_zone: str
    event_city: str
    event_venue: str
    waitlist_seq: int | None
    hold_expire_time: datetime | None
    reject_cause: str | None
    cancelled_by: str | None
    end_reason: str
    release_pending: bool
    create_time: datetime
    update_time: datetime
    # 1 is next in line; 0 when not waitlisted. Computed when read.
    waitlist_position: int = 0
    # The id its seats are reserved under at events: the booking's id, until a payment that came
    # after its hold expired takes seats again under a new one (a released id is fenced for good).
    # None (bookings made in code, never read from the database): the booking's id.
    reservation_id: uuid.UUID | None = None
    # A paid event's booking; None: free.
    terms: Terms | None = None
    # Its payment at the payments service: the open one while AWAITING_PAYMENT, the one that paid.
    payment_id: str | None = None
    # Where its guest pays, while AWAITING_PAYMENT (empty until the checkout is open).
    checkout_url: str | None = None
    # When bookings accepted a succeeded payment (payment_id) for it: a CONFIRMED paid booking, or
    # one taking its seats again after a late payment (refused, and so refunded, if none are left).
    paid_at: datetime | None = None

    @property
    def was_waitlisted(self) -> bool:
        return self.waitlist_seq is not None

    @property
    def reservation(self) -> uuid.UUID:
        """The reservation id its seats are held (or asked for) under at events."""
        return self.reservation_id or self.id

    @property
    def needs_checkout(self) -> bool:
        """Waiting for a payment nobody opened yet (payments did not answer, or not yet asked)."""
        return self.state == State.AWAITING_PAYMENT and self.payment_id is None


def hold_end(booking: Booking) -> datetime | None:
    """When the hold of a booking's seats (for the host's answer or for the payment) ends: its
    expiry, or the event's start if sooner."""
    if booking.hold_expire_time is None:
        return None
    return min(booking.hold_expire_time, booking.event_start_time)


def approval_expire_time(booking: Booking) -> datetime | None:
    """When the host's time to answer ends."""
    return hold_end(booking)


# -- CreateBooking ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingDraft:
    event_id: str
    seats: int
    join_waitlist: bool
    request_id: str | None


def validate_draft(event_id: str, seats: int, join_waitlist: bool, request_id: str) -> BookingDraft:
    """The request's own fields; seats default to 1 (the upper limit is the event's)."""
    problems = Violations()
    event_id = event_id.strip()
    if problems.check(bool(event_id), "booking.event_id", "is required"):
        try:
            # Canonical form, so one event is one cache entry and one value in the database.
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            problems.add("booking.event_id", "is not an event id")
    problems.check(seats >= 0, "booking.seats", "must be at least 1")
    problems.check(
        len(request_id) <= MAX_REQUEST_ID_LENGTH,
        "request_id",
        f"must be at most {MAX_REQUEST_ID_LENGTH} characters",
    )
    problems.raise_if_any()
    return BookingDraft(
        event_id=event_id, seats=seats or 1, join_waitlist=join_waitlist, request_id=request_id or None
    )


def check_bookable(event: EventFacts, draft: BookingDraft, user_id: str, now: datetime) -> None:
    """The rules bookings owns, checked before anything is written."""
    if event.organizer_id == user_id:
        raise failed_precondition(
            "OWN_EVENT", "you organize this event; you cannot book it", resource_name=event.id
        )
    limit = max(1, min(event.max_seats_per_booking or event.capacity, event.capacity))
    if draft.seats > limit:
        raise bad_field(
            "booking.seats", f"must be between 1 and {limit} for this event", reason="SEATS_OUT_OF_RANGE"
        )
    if event.state != "SCHEDULED":
        raise event_not_bookable(event.id)
    if event.start_time <= now:
        raise event_started(event.id)


def same_draft(booking: Booking, draft: BookingDraft) -> bool:
    """A repeated request_id must carry the same booking as the first time."""
    return (
        booking.event_id == draft.event_id
        and booking.seats == draft.seats
        and booking.join_waitlist == draft.join_waitlist
    )


@dataclass(frozen=True, slots=True)
class InTheWay:
    """An active booking of the guest refused a new one: of the same event, or at the same start
    time (unique indexes, so the rules hold under races). The saga looks up which, to name it."""


def concurrent_bookings() -> ServiceError:
    return aborted("CONCURRENT_CHANGE", "your bookings changed while this one was made; try again")


def concurrent_change() -> ServiceError:
    return aborted("CONCURRENT_CHANGE", "the booking changed while this request was handled; try again")


def event_not_bookable(event_id: str) -> ServiceError:
    return failed_precondition(
        "EVENT_NOT_BOOKABLE", "this event is cancelled or over; it takes no bookings", resource_name=event_id
    )


def event_started(event_id: str) -> ServiceError:
    return failed_precondition(
        "EVENT_STARTED", "this event has already started; it takes no bookings", resource_name=event_id
    )


def sold_out(event_id: str, seats_available: int) -> ServiceError:
    return failed_precondition(
        "SOLD_OUT",
        "not enough seats left; book fewer seats or join the waitlist",
        resource_name=event_id,
        seats_available=seats_available,
    )


def already_booked(booking_id: str) -> ServiceError:
    return already_exists(
        "ALREADY_BOOKED", "you already have an active booking for this event", booking_id=booking_id
    )


def schedule_conflict(booking_id: str) -> ServiceError:
    return failed_precondition(
        "SCHEDULE_CONFLICT",
        "you already have an active booking for another event starting at the same time",
        booking_id=booking_id,
    )


def events_unavailable(booking_id: str = "", retry_after: float = 1.0) -> ServiceError:
    if booking_id:
        message = (
            "seat reservation is taking longer than expected; the booking is pending and will be "
            "settled shortly: repeat the request with the same request id to learn the outcome"
        )
    else:
        message = "the event service is unavailable; try again shortly"
    error = unavailable("EVENTS_UNAVAILABLE", message, retry_after=retry_after)
    if booking_id:
        error.metadata = {"booking_id": booking_id}
    return error


def refusal(booking: Booking, seats_available: int = 0) -> ServiceError | None:
    """The error CreateBooking answers for a booking that ended without seats (also on repeats)."""
    if booking.state != State.REJECTED or booking.reject_cause == Cause.HOST_REJECTED:
        return None
    if booking.reject_cause == Cause.SOLD_OUT:
        return sold_out(booking.event_id, seats_available)
    if booking.reject_cause == Cause.EVENT_STARTED:
        return event_started(booking.event_id)
    return event_not_bookable(booking.event_id)


# -- who may see and change a booking -----------------------------------------------------------


def can_see(booking: Booking, principal: Principal) -> bool:
    return (
        principal.is_admin or principal.is_service or principal.user_id in (booking.user_id, booking.host_id)
    )


def booking_not_found(booking_id: str) -> ServiceError:
    # The same answer whether it does not exist or belongs to someone else: ids are not probed.
    return not_found("booking", booking_id)


def parse_booking_id(value: str) -> uuid.UUID:
    """Unlike other ids (errors.parse_uuid), a malformed booking id is NOT_FOUND: not an id we could
    have issued, so no such booking."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise booking_not_found(value) from None


def visible(booking: Booking | None, principal: Principal, booking_id: str) -> Booking:
    if booking is None or not can_see(booking, principal):
        raise booking_not_found(booking_id)
    return booking


def cancel_actor(booking: Booking, principal: Principal, now: datetime) -> Actor:
    """Who cancels, if they may: the guest before the start, the host or an admin until the end."""
    if principal.user_id == booking.user_id:
        if booking.event_start_time <= now:
            raise failed_precondition(
                "EVENT_STARTED",
                "the event has started; only the host can cancel now",
                resource_name=str(booking.id),
            )
        return Actor.GUEST
    if principal.user_id == booking.host_id or principal.is_admin:
        if booking.event_end_time <= now:
            raise failed_precondition(
                "EVENT_ENDED",
                "the event is over; its bookings stay as they are",
                resource_name=str(booking.id),
            )
        return Actor.HOST if principal.user_id == booking.host_id else Actor.ADMIN
    raise booking_not_found(str(booking.id))


def check_cancellable(booking: Booking) -> None:
    if booking.state not in ACTIVE_STATES:
        raise failed_precondition(
            "BOOKING_NOT_ACTIVE",
            f"the booking is {booking.state.lower().replace('_', ' ')}; there is nothing to cancel",
            resource_name=str(booking.id),
        )


def require_host(booking: Booking, principal: Principal) -> None:
    """Approve and reject are the host's (or an admin's); the guest learns they may not."""
    if principal.user_id == booking.host_id or principal.is_admin:
        return
    if principal.user_id == booking.user_id:
        raise permission_denied("only the event's host can answer a booking request", reason="NOT_HOST")
    raise booking_not_found(str(booking.id))


def check_awaiting(booking: Booking, now: datetime) -> None:
    if booking.state != State.AWAITING_APPROVAL:
        raise failed_precondition(
            "NOT_AWAITING_APPROVAL",
            f"the booking is {booking.state.lower().replace('_', ' ')}, not awaiting approval",
            resource_name=str(booking.id),
        )
    if approval_lapsed(booking, now):
        raise failed_precondition(
            "APPROVAL_EXPIRED", "the time to answer this request has run out", resource_name=str(booking.id)
        )


def approval_lapsed(booking: Booking, now: datetime) -> bool:
    expire = approval_expire_time(booking)
    return (expire is not None and expire <= now) or booking.event_start_time <= now


def validate_reason(reason: str, field_path: str = "reason") -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise bad_field(field_path, f"must be at most {MAX_REASON_LENGTH} characters")
    return reason
