"""Payments as bookings sees them: what an approval makes of a paid request, and what a succeeded
payment does to a booking.

The money rule: a payment that succeeded is either kept, because it confirmed its booking (or
takes its seats again after the hold expired), or refused, and then the payments service refunds it
in full. Never both, never neither. The booking row decides under its lock, so a payment and a
hold expiry at the same instant come out as one or the other: CONFIRMED, or EXPIRED and the late
payment takes the seats again if they are still free, else is refused.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.bookings.domain.bookings import Booking, Cause, State
from services.runtime.money import Amount


class RefusalReason(enum.StrEnum):
    """Why bookings does not keep a payment (BookingPaymentRefused.Reason)."""

    SOLD_OUT = "SOLD_OUT"
    EVENT_NOT_BOOKABLE = "EVENT_NOT_BOOKABLE"
    BOOKING_ENDED = "BOOKING_ENDED"
    ALREADY_PAID = "ALREADY_PAID"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    BOOKED_AGAIN = "BOOKED_AGAIN"


def refusal_reason(cause: Cause | None) -> RefusalReason:
    """The refusal of a late payment whose new reservation events refused for `cause`."""
    return RefusalReason.SOLD_OUT if cause == Cause.SOLD_OUT else RefusalReason.EVENT_NOT_BOOKABLE


@dataclass(frozen=True, slots=True)
class Approval:
    """What a request the host approved becomes."""

    state: State
    hold_expire_time: datetime | None


def approval(booking: Booking, now: datetime) -> Approval:
    """A free event's request is confirmed; a paid event's waits for its payment, seats held for
    the event's payment hold from now (approval came first, so the guest never pays for a request
    the host might decline)."""
    if booking.terms is None:
        return Approval(State.CONFIRMED, None)
    return Approval(State.AWAITING_PAYMENT, now + booking.terms.payment_hold)


@dataclass(frozen=True, slots=True)
class SucceededPayment:
    """What PaymentSucceeded says: this payment captured `amount` for this booking."""

    payment_id: str
    booking_id: uuid.UUID
    amount: Amount


class Verdict(enum.Enum):
    # The booking was waiting for it: CONFIRMED.
    CONFIRM = "confirm"
    # It came after the hold expired: take seats again under a new reservation id.
    TAKE_SEATS_AGAIN = "take_seats_again"
    # Not kept: BookingPaymentRefused (a full refund).
    REFUSE = "refuse"
    # Handled before (a repeat of the same payment): nothing to do.
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: RefusalReason | None = None


def judge_payment(booking: Booking, payment: SucceededPayment) -> Judgement:
    """What a succeeded payment does to its booking (as it is now, locked)."""
    if booking.paid_at is not None:
        if booking.payment_id == payment.payment_id:
            return Judgement(Verdict.IGNORE)
        return Judgement(Verdict.REFUSE, RefusalReason.ALREADY_PAID)
    if booking.state not in (State.AWAITING_PAYMENT, State.EXPIRED):
        return Judgement(Verdict.REFUSE, RefusalReason.BOOKING_ENDED)
    if booking.terms is None or booking.terms.amount != payment.amount:
        return Judgement(Verdict.REFUSE, RefusalReason.AMOUNT_MISMATCH)
    if booking.state == State.AWAITING_PAYMENT:
        # Even a moment after hold_expire_time: until the expiry job ended the hold, the seats are
        # still held, and the payment keeps them.
        return Judgement(Verdict.CONFIRM)
    return Judgement(Verdict.TAKE_SEATS_AGAIN)


def refused_on_cancel(booking: Booking, previous: State) -> bool:
    """Whether cancelling a booking that was `previous` must hand its payment back in full: a late
    payment still taking its seats again (PENDING) was accepted but never confirmed anything. (A
    CONFIRMED paid booking's refund follows the event's refund policy: BookingCancelled says so.)"""
    return booking.paid_at is not None and previous != State.CONFIRMED


def waits_for_seats_again(booking: Booking) -> bool:
    """A late payment whose booking has not yet asked events for seats again."""
    return booking.state == State.EXPIRED and booking.paid_at is not None
