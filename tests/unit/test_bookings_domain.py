"""The rules of booking, as pure functions: who may book, see, cancel, approve, review; where a
reservation outcome settles a booking."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import grpc
import pytest

from services.bookings import domain
from services.bookings.domain import (
    Actor,
    Announce,
    BookingDraft,
    Cause,
    EventFacts,
    NotBookable,
    Reserved,
    SoldOut,
    State,
)
from services.runtime.auth import Principal, Role
from services.runtime.errors import ServiceError
from services.runtime.idempotency import request_id_reused
from tests.support.bookings import NOW, booking, event

HOLD = timedelta(hours=48)
GUEST = Principal("guest", Role.PARTICIPANT, email_verified=True)
HOST = Principal("host", Role.ORGANIZER, email_verified=True)
ADMIN = Principal("admin", Role.ADMIN, email_verified=True)
STRANGER = Principal("stranger", Role.PARTICIPANT, email_verified=True)


def draft(**changes: object) -> BookingDraft:
    return dataclasses.replace(BookingDraft("e1", 2, False, "r1"), **changes)  # type: ignore[arg-type]


# -- the request --------------------------------------------------------------------------------


def test_seats_default_to_one_and_empty_request_id_means_none() -> None:
    event_id = uuid.uuid4()
    assert domain.validate_draft(f" {str(event_id).upper()} ", 0, False, "") == BookingDraft(
        str(event_id), 1, False, None
    )


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_draft("", -1, False, "x" * 200)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in raised.value.violations} == {"booking.event_id", "booking.seats", "request_id"}
    with pytest.raises(ServiceError) as raised:
        domain.validate_draft("not-an-id", 1, False, "")
    assert raised.value.violations[0].field == "booking.event_id"


def test_own_event_is_refused() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.check_bookable(event(), draft(), "host", NOW)
    assert raised.value.reason == "OWN_EVENT"
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("seats", "limit", "capacity", "ok"),
    [(4, 4, 100, True), (5, 4, 100, False), (3, 0, 2, False), (2, 0, 2, True), (3, 10, 2, False)],
)
def test_seats_within_the_events_limit(seats: int, limit: int, capacity: int, ok: bool) -> None:
    facts = event(max_seats_per_booking=limit, capacity=capacity)
    if ok:
        domain.check_bookable(facts, draft(seats=seats), "guest", NOW)
        return
    with pytest.raises(ServiceError) as raised:
        domain.check_bookable(facts, draft(seats=seats), "guest", NOW)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.reason == "SEATS_OUT_OF_RANGE"
    assert raised.value.violations[0].field == "booking.seats"


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (event(state="CANCELLED"), "EVENT_NOT_BOOKABLE"),
        (event(state="COMPLETED"), "EVENT_NOT_BOOKABLE"),
        (event(start_time=NOW), "EVENT_STARTED"),
    ],
)
def test_only_scheduled_events_that_have_not_started_are_bookable(facts: EventFacts, reason: str) -> None:
    with pytest.raises(ServiceError) as raised:
        domain.check_bookable(facts, draft(), "guest", NOW)
    assert raised.value.reason == reason


def test_a_repeated_request_id_must_carry_the_same_booking() -> None:
    first = booking(seats=2, join_waitlist=False)
    assert domain.same_draft(first, draft())
    assert not domain.same_draft(first, draft(seats=3))
    assert not domain.same_draft(first, draft(event_id="e2"))
    assert not domain.same_draft(first, draft(join_waitlist=True))
    assert request_id_reused().violations[0].field == "request_id"


# -- settling a reservation ---------------------------------------------------------------------


def test_reserved_seats_confirm_the_booking() -> None:
    settled = domain.settle(booking(), Reserved(event(), 98), hold=HOLD, now=NOW)
    assert (settled.state, settled.announce, settled.hold_expire_time) == (
        State.CONFIRMED,
        Announce.CONFIRMED,
        None,
    )


def test_approval_holds_seats_until_the_hold_or_the_start_whichever_first() -> None:
    asked = domain.settle(booking(), Reserved(event(requires_approval=True), 98), hold=HOLD, now=NOW)
    assert asked.state == State.AWAITING_APPROVAL
    assert asked.announce == Announce.AWAITING_APPROVAL
    assert asked.hold_expire_time == NOW + HOLD
    far = booking(state=State.AWAITING_APPROVAL, hold_expire_time=NOW + HOLD)
    assert domain.approval_expire_time(far) == NOW + HOLD
    soon = dataclasses.replace(far, event_start_time=NOW + timedelta(hours=5))
    assert domain.approval_expire_time(soon) == NOW + timedelta(hours=5)
    assert domain.approval_lapsed(soon, NOW + timedelta(hours=5))
    assert not domain.approval_lapsed(far, NOW + HOLD - timedelta(seconds=1))
    assert domain.approval_lapsed(far, NOW + HOLD)


def test_sold_out_rejects_or_waitlists() -> None:
    rejected = domain.settle(booking(), SoldOut(1), hold=HOLD, now=NOW)
    assert (rejected.state, rejected.cause, rejected.announce) == (
        State.REJECTED,
        Cause.SOLD_OUT,
        Announce.REJECTED,
    )
    waiting = domain.settle(booking(join_waitlist=True), SoldOut(0), hold=HOLD, now=NOW)
    assert (waiting.state, waiting.waitlist, waiting.announce) == (
        State.WAITLISTED,
        True,
        Announce.WAITLISTED,
    )


def test_a_promotion_announces_promoted_and_a_failed_one_goes_back_in_line_quietly() -> None:
    promoted = booking(join_waitlist=True, waitlist_seq=7)
    assert domain.settle(promoted, Reserved(event(), 0), hold=HOLD, now=NOW).announce == Announce.PROMOTED
    with_approval = domain.settle(promoted, Reserved(event(requires_approval=True), 0), hold=HOLD, now=NOW)
    assert (with_approval.state, with_approval.announce) == (State.AWAITING_APPROVAL, Announce.PROMOTED)
    back = domain.settle(promoted, SoldOut(0), hold=HOLD, now=NOW)
    assert (back.state, back.announce, back.waitlist) == (State.WAITLISTED, Announce.NONE, True)


def test_an_event_that_is_gone_rejects_a_new_booking_and_expires_a_waitlisted_one() -> None:
    fresh = domain.settle(booking(), NotBookable(Cause.EVENT_STARTED), hold=HOLD, now=NOW)
    assert (fresh.state, fresh.cause) == (State.REJECTED, Cause.EVENT_STARTED)
    waited = domain.settle(booking(waitlist_seq=3), NotBookable(Cause.EVENT_STARTED), hold=HOLD, now=NOW)
    assert (waited.state, waited.announce) == (State.EXPIRED, Announce.EXPIRED)


def test_refusals_repeat_the_first_answer() -> None:
    assert domain.refusal(booking(state=State.CONFIRMED)) is None
    sold_out = domain.refusal(booking(state=State.REJECTED, reject_cause="SOLD_OUT"), 3)
    assert sold_out is not None
    assert (sold_out.reason, sold_out.metadata["seats_available"]) == ("SOLD_OUT", "3")
    started = domain.refusal(booking(state=State.REJECTED, reject_cause="EVENT_STARTED"))
    assert started is not None
    assert started.reason == "EVENT_STARTED"
    # A host's rejection is the booking's story, not an error of the create request.
    assert domain.refusal(booking(state=State.REJECTED, reject_cause="HOST_REJECTED")) is None


# -- who may see and change ---------------------------------------------------------------------


def test_a_booking_is_visible_to_its_guest_its_host_and_admins_only() -> None:
    mine = booking()
    for principal in (GUEST, HOST, ADMIN):
        assert domain.visible(mine, principal, str(mine.id)) is mine
    with pytest.raises(ServiceError) as raised:
        domain.visible(mine, STRANGER, str(mine.id))
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ServiceError):
        domain.visible(None, ADMIN, "x")


def test_the_guest_cancels_before_the_start_the_host_and_admins_until_the_end() -> None:
    mine = booking(state=State.CONFIRMED)
    assert domain.cancel_actor(mine, GUEST, NOW) == Actor.GUEST
    during = mine.event_start_time + timedelta(minutes=5)
    with pytest.raises(ServiceError) as raised:
        domain.cancel_actor(mine, GUEST, during)
    assert raised.value.reason == "EVENT_STARTED"
    assert domain.cancel_actor(mine, HOST, during) == Actor.HOST
    assert domain.cancel_actor(mine, ADMIN, during) == Actor.ADMIN
    with pytest.raises(ServiceError) as raised:
        domain.cancel_actor(mine, HOST, mine.event_end_time)
    assert raised.value.reason == "EVENT_ENDED"
    with pytest.raises(ServiceError) as raised:
        domain.cancel_actor(mine, STRANGER, NOW)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_only_active_bookings_can_be_cancelled() -> None:
    for state in domain.ACTIVE_STATES:
        domain.check_cancellable(booking(state=state))
    for state in (State.REJECTED, State.EXPIRED, State.CANCELLED):
        with pytest.raises(ServiceError) as raised:
            domain.check_cancellable(booking(state=state))
        assert raised.value.reason == "BOOKING_NOT_ACTIVE"


def test_the_guest_may_not_answer_their_own_request_and_strangers_do_not_see_it() -> None:
    waiting = booking(state=State.AWAITING_APPROVAL, hold_expire_time=NOW + HOLD)
    domain.require_host(waiting, HOST)
    domain.require_host(waiting, ADMIN)
    with pytest.raises(ServiceError) as raised:
        domain.require_host(waiting, GUEST)
    assert (raised.value.code, raised.value.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_HOST")
    with pytest.raises(ServiceError) as raised:
        domain.require_host(waiting, STRANGER)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_an_answer_needs_a_request_still_within_its_hold() -> None:
    waiting = booking(state=State.AWAITING_APPROVAL, hold_expire_time=NOW + timedelta(hours=1))
    domain.check_awaiting(waiting, NOW)
    with pytest.raises(ServiceError) as raised:
        domain.check_awaiting(waiting, NOW + timedelta(hours=1))
    assert raised.value.reason == "APPROVAL_EXPIRED"
    with pytest.raises(ServiceError) as raised:
        domain.check_awaiting(booking(state=State.CONFIRMED), NOW)
    assert raised.value.reason == "NOT_AWAITING_APPROVAL"


# -- reviews ------------------------------------------------------------------------------------


def test_review_fields_are_checked_together() -> None:
    assert domain.validate_review(5, 1, "  great  ") == "great"
    with pytest.raises(ServiceError) as raised:
        domain.validate_review(0, 6, "x" * 2001)
    assert {v.field for v in raised.value.violations} == {"event_rating", "host_rating", "comment"}
    with pytest.raises(ServiceError) as raised:
        domain.validate_guest_rating(0)
    assert raised.value.violations[0].field == "rating"


def test_only_confirmed_bookings_of_completed_events_are_reviewed() -> None:
    domain.check_attended(booking(state=State.CONFIRMED), True)
    with pytest.raises(ServiceError) as raised:
        domain.check_attended(booking(state=State.CONFIRMED), False)
    assert raised.value.reason == "EVENT_NOT_COMPLETED"
    with pytest.raises(ServiceError) as raised:
        domain.check_attended(booking(state=State.CANCELLED), True)
    assert raised.value.reason == "NOT_ATTENDED"


def test_reviews_are_the_guests_and_ratings_the_hosts() -> None:
    mine = booking(state=State.CONFIRMED)
    domain.require_guest(mine, GUEST)
    domain.require_rating_host(mine, HOST)
    with pytest.raises(ServiceError) as raised:
        domain.require_guest(mine, HOST)
    assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(ServiceError) as raised:
        domain.require_rating_host(mine, GUEST)
    assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED
    for check in (domain.require_guest, domain.require_rating_host):
        with pytest.raises(ServiceError) as raised:
            check(mine, STRANGER)
        assert raised.value.code == grpc.StatusCode.NOT_FOUND
