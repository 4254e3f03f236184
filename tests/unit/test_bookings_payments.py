"""The rules of paid bookings, as pure functions: what a reservation of a paid event settles into,
what an approval makes of a paid request, and what a succeeded payment does to a booking in each
state (the money rule: kept by a confirmed booking, or refused and refunded; never both)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from services.bookings import convert, domain
from services.bookings.domain import (
    Announce,
    Booking,
    Cause,
    EventFacts,
    NotBookable,
    RefusalReason,
    Reserved,
    SoldOut,
    State,
    SucceededPayment,
    Terms,
    Verdict,
)
from services.runtime.money import Amount
from tests.support import bookings
from tests.support.bookings import NOW

APPROVAL_HOLD = timedelta(hours=48)
PAYMENT_HOLD = timedelta(minutes=10)
TERMS = Terms(Amount(2500, "EUR"), refund_policy=24, payment_hold=PAYMENT_HOLD)


def event(**changes: object) -> EventFacts:
    paid = {
        "title": "Opera",
        "venue": "Hall",
        "price": Amount(1250, "EUR"),
        "refund_policy": 24,
        "payment_hold": PAYMENT_HOLD,
    }
    return bookings.event(**{**paid, **changes})


def booking(**changes: object) -> Booking:
    paid = {"event_title": "Opera", "event_venue": "Hall", "terms": TERMS}
    return bookings.booking(**{**paid, **changes})


def payment(booking_id: uuid.UUID, *, payment_id: str = "p1", minor: int = 2500) -> SucceededPayment:
    return SucceededPayment(payment_id, booking_id, Amount(minor, "EUR"))


# -- settling a reservation of a paid event -------------------------------------------------------


def test_reserved_seats_of_a_paid_event_wait_for_the_payment_priced_by_the_reservation() -> None:
    # The event's price as events answered ReserveSeats, not as the booking was drafted.
    settled = domain.settle(
        booking(terms=None), Reserved(event(price=Amount(1500, "EUR")), 98), hold=APPROVAL_HOLD, now=NOW
    )
    assert (settled.state, settled.announce) == (State.AWAITING_PAYMENT, Announce.AWAITING_PAYMENT)
    assert settled.hold_expire_time == NOW + PAYMENT_HOLD
    assert settled.terms == Terms(Amount(3000, "EUR"), 24, PAYMENT_HOLD)


def test_a_paid_event_that_requires_approval_asks_the_host_first() -> None:
    settled = domain.settle(
        booking(), Reserved(event(requires_approval=True), 98), hold=APPROVAL_HOLD, now=NOW
    )
    assert (settled.state, settled.hold_expire_time) == (State.AWAITING_APPROVAL, NOW + APPROVAL_HOLD)
    assert settled.terms == TERMS
    approved = domain.approval(booking(state=State.AWAITING_APPROVAL), NOW)
    assert (approved.state, approved.hold_expire_time) == (State.AWAITING_PAYMENT, NOW + PAYMENT_HOLD)
    assert domain.approval(booking(state=State.AWAITING_APPROVAL, terms=None), NOW).state == State.CONFIRMED


def test_an_event_made_free_before_the_reservation_books_free() -> None:
    settled = domain.settle(booking(), Reserved(event(price=None), 98), hold=APPROVAL_HOLD, now=NOW)
    assert (settled.state, settled.terms) == (State.CONFIRMED, None)


def test_a_waitlisted_paid_booking_keeps_its_terms_and_a_promotion_waits_for_payment() -> None:
    waiting = domain.settle(booking(join_waitlist=True), SoldOut(0), hold=APPROVAL_HOLD, now=NOW)
    assert (waiting.state, waiting.terms) == (State.WAITLISTED, TERMS)
    promoted = domain.settle(booking(waitlist_seq=4), Reserved(event(), 0), hold=APPROVAL_HOLD, now=NOW)
    assert (promoted.state, promoted.announce) == (State.AWAITING_PAYMENT, Announce.AWAITING_PAYMENT)


def test_the_hold_ends_at_the_start_when_that_comes_first() -> None:
    held = booking(state=State.AWAITING_PAYMENT, hold_expire_time=NOW + PAYMENT_HOLD)
    assert domain.hold_end(held) == NOW + PAYMENT_HOLD
    starting = dataclasses.replace(held, event_start_time=NOW + timedelta(minutes=3))
    assert domain.hold_end(starting) == NOW + timedelta(minutes=3)


# -- a late payment taking seats again ------------------------------------------------------------


def late(**changes: object) -> Booking:
    return booking(state=State.PENDING, paid_at=NOW, payment_id="p1", reservation_id=uuid.uuid4(), **changes)


def test_a_late_payment_with_seats_confirms_whatever_the_price_is_now() -> None:
    settled = domain.settle(
        late(), Reserved(event(price=Amount(9900, "EUR")), 0), hold=APPROVAL_HOLD, now=NOW
    )
    assert (settled.state, settled.announce, settled.terms) == (State.CONFIRMED, Announce.CONFIRMED, TERMS)


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (SoldOut(1), RefusalReason.SOLD_OUT),
        (NotBookable(Cause.EVENT_STARTED), RefusalReason.EVENT_NOT_BOOKABLE),
        (NotBookable(Cause.EVENT_NOT_BOOKABLE), RefusalReason.EVENT_NOT_BOOKABLE),
    ],
)
def test_a_late_payment_without_seats_stays_expired_and_is_refused_never_waitlisted(
    outcome: SoldOut | NotBookable, reason: RefusalReason
) -> None:
    settled = domain.settle(late(join_waitlist=True), outcome, hold=APPROVAL_HOLD, now=NOW)
    assert (settled.state, settled.announce, settled.waitlist) == (
        State.EXPIRED,
        Announce.PAYMENT_REFUSED,
        False,
    )
    assert domain.refusal_reason(settled.cause) == reason
    refused = convert.announcement(
        dataclasses.replace(late(), state=settled.state, reject_cause=settled.cause), settled.announce
    )
    assert refused is not None
    assert (refused.payment_id, refused.amount.units, refused.amount.currency_code) == ("p1", 25, "EUR")  # type: ignore[attr-defined]


# -- what a succeeded payment does ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "verdict", "reason"),
    [
        (State.AWAITING_PAYMENT, Verdict.CONFIRM, None),
        (State.EXPIRED, Verdict.TAKE_SEATS_AGAIN, None),
        (State.CANCELLED, Verdict.REFUSE, RefusalReason.BOOKING_ENDED),
        (State.REJECTED, Verdict.REFUSE, RefusalReason.BOOKING_ENDED),
        (State.AWAITING_APPROVAL, Verdict.REFUSE, RefusalReason.BOOKING_ENDED),
    ],
)
def test_a_payment_is_kept_only_by_a_booking_waiting_for_it(
    state: State, verdict: Verdict, reason: RefusalReason | None
) -> None:
    held = booking(state=state)
    judged = domain.judge_payment(held, payment(held.id))
    assert (judged.verdict, judged.reason) == (verdict, reason)


def test_a_payment_of_another_amount_or_currency_is_refused() -> None:
    held = booking(state=State.AWAITING_PAYMENT)
    assert domain.judge_payment(held, payment(held.id, minor=1250)).reason == RefusalReason.AMOUNT_MISMATCH
    dollars = SucceededPayment("p1", held.id, Amount(2500, "USD"))
    assert domain.judge_payment(held, dollars).reason == RefusalReason.AMOUNT_MISMATCH
    free = booking(state=State.AWAITING_PAYMENT, terms=None)
    assert domain.judge_payment(free, payment(free.id)).reason == RefusalReason.AMOUNT_MISMATCH


def test_the_accepted_payment_again_changes_nothing_and_another_one_is_refused() -> None:
    for accepted in (
        booking(state=State.CONFIRMED, paid_at=NOW, payment_id="p1"),
        late(),
        booking(state=State.EXPIRED, paid_at=NOW, payment_id="p1"),
    ):
        assert domain.judge_payment(accepted, payment(accepted.id)).verdict is Verdict.IGNORE
        other = domain.judge_payment(accepted, payment(accepted.id, payment_id="p2"))
        assert (other.verdict, other.reason) == (Verdict.REFUSE, RefusalReason.ALREADY_PAID)


def test_only_a_late_payment_still_taking_seats_is_refunded_in_full_on_cancel() -> None:
    assert domain.refused_on_cancel(late(), State.PENDING)
    assert not domain.refused_on_cancel(booking(paid_at=NOW, payment_id="p1"), State.CONFIRMED)
    assert not domain.refused_on_cancel(booking(), State.AWAITING_PAYMENT)


def test_a_booking_reserves_under_its_own_id_until_a_late_payment_gives_it_another() -> None:
    fresh = booking()
    assert fresh.reservation == fresh.id
    again = late()
    assert again.reservation == again.reservation_id != again.id
    assert domain.waits_for_seats_again(booking(state=State.EXPIRED, paid_at=NOW))
    assert not domain.waits_for_seats_again(booking(state=State.EXPIRED))
