"""Settling a booking: what events answers about seats (reservation outcomes), and where a PENDING
booking goes once it has, with the bus event that says so."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.bookings.domain.bookings import Booking, Cause, EventFacts, State, Terms, terms_for


class Announce(enum.Enum):
    """The bus event a settlement publishes."""

    NONE = "none"
    CONFIRMED = "confirmed"
    AWAITING_APPROVAL = "awaiting_approval"
    PROMOTED = "promoted"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # Seats of a paid event are held for the payment (BookingAwaitingPayment).
    AWAITING_PAYMENT = "awaiting_payment"
    # A payment that came after the hold expired found no seats (BookingPaymentRefused).
    PAYMENT_REFUSED = "payment_refused"


# -- reservation outcomes (what events answered to ReserveSeats) ---------------------------------
# One small type per kind of answer (alike in shape), so the saga and the rules match on the type.


@dataclass(frozen=True, slots=True)
class Reserved:
    event: EventFacts
    seats_available: int


@dataclass(frozen=True, slots=True)
class SoldOut:
    seats_available: int
    # The event's seats_version when events looked (None: not said), which orders it among the
    # availability messages events publishes.
    seats_version: int | None = None


@dataclass(frozen=True, slots=True)
class NotBookable:
    cause: Cause


@dataclass(frozen=True, slots=True)
class Unknown:
    """No answer in time (events down, slow, or the reply got lost): the booking stays PENDING."""

    detail: str = ""


Outcome = Reserved | SoldOut | NotBookable | Unknown


@dataclass(frozen=True, slots=True)
class Released:
    """What events answered to ReleaseSeats."""

    seats_released: int
    seats_available: int


@dataclass(frozen=True, slots=True)
class Settlement:
    state: State
    announce: Announce
    cause: Cause | None = None
    hold_expire_time: datetime | None = None
    # Put the booking in the waitlist (a new place unless it already has one).
    waitlist: bool = False
    # The booking's terms from here on (a reservation prices it by the event as events answered).
    terms: Terms | None = None


def settle(
    booking: Booking, outcome: Reserved | SoldOut | NotBookable, *, hold: timedelta, now: datetime
) -> Settlement:
    """Where a PENDING booking goes once events has answered its reservation; `hold` is how long a
    host may take to answer a request."""
    if booking.paid_at is not None:
        return _settle_paid(booking, outcome)
    promoted = booking.was_waitlisted
    if isinstance(outcome, Reserved):
        terms = terms_for(outcome.event, booking.seats)
        if outcome.event.requires_approval:
            # The event's start ends the hold sooner (checked against the start as it is then).
            announce = Announce.PROMOTED if promoted else Announce.AWAITING_APPROVAL
            return Settlement(State.AWAITING_APPROVAL, announce, hold_expire_time=now + hold, terms=terms)
        if terms is not None:
            return Settlement(
                State.AWAITING_PAYMENT,
                Announce.AWAITING_PAYMENT,
                hold_expire_time=now + terms.payment_hold,
                terms=terms,
            )
        return Settlement(State.CONFIRMED, Announce.PROMOTED if promoted else Announce.CONFIRMED)
    return _settle_without_seats(booking, outcome)


def _settle_without_seats(booking: Booking, outcome: SoldOut | NotBookable) -> Settlement:
    promoted = booking.was_waitlisted
    if isinstance(outcome, SoldOut):
        if booking.join_waitlist:
            # Back in line after a promotion that did not fit is no news; a first entry is.
            return Settlement(
                State.WAITLISTED,
                Announce.NONE if promoted else Announce.WAITLISTED,
                waitlist=True,
                terms=booking.terms,
            )
        return Settlement(State.REJECTED, Announce.REJECTED, cause=Cause.SOLD_OUT, terms=booking.terms)
    if promoted:
        # A waitlist entry whose event started, ended or was called off.
        return Settlement(State.EXPIRED, Announce.EXPIRED, cause=outcome.cause, terms=booking.terms)
    return Settlement(State.REJECTED, Announce.REJECTED, cause=outcome.cause, terms=booking.terms)


def _settle_paid(booking: Booking, outcome: Reserved | SoldOut | NotBookable) -> Settlement:
    """A payment that came after the hold expired, once events answered its new reservation: the
    seats are had (the payment pays for the terms it was taken for, whatever the price is now), or
    the booking stays expired and the payment is refused, so payments refunds it in full. Never the
    waitlist: money waiting in a line nobody promised is money kept."""
    if isinstance(outcome, Reserved):
        return Settlement(State.CONFIRMED, Announce.CONFIRMED, terms=booking.terms)
    cause = Cause.SOLD_OUT if isinstance(outcome, SoldOut) else outcome.cause
    return Settlement(State.EXPIRED, Announce.PAYMENT_REFUSED, cause=cause, terms=booking.terms)
