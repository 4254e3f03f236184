"""`BookingTransaction`: the unit of work of the bookings service, with its writes.

Every state change is one conditional UPDATE (`WHERE state = <what the caller saw>`), so two
actors racing on one booking cannot both win; the loser re-reads. A change and its bus event
commit together: the caller adds the event with `tx.publish(...)` in the same transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.bookings import tables
from services.bookings.domain import (
    MAY_HOLD_STATES,
    Actor,
    Approval,
    Booking,
    BookingDraft,
    EventFacts,
    GuestRating,
    Review,
    State,
)
from services.bookings.store.rows import (
    ACTIVE,
    COLUMNS,
    MAY_HOLD,
    after,
    booking,
    bookings,
    c,
    event_copy,
    event_params,
    first_booking,
    new_booking_params,
    new_booking_values,
    state_is,
    state_value,
    transition,
)
from services.runtime.database import Row, Statement, Transaction

# First key of the advisory lock under which one event's waitlist places are handed out.
WAITLIST_LOCK = 0x5EA7_0B0D
# First key of the advisory lock that lets one process at a time promote an event's waitlist.
PROMOTION_LOCK = 0x5EA7_0B0C

GET = Statement.of(select(*COLUMNS).where(c.id == bindparam("p_id", type_=Uuid)))
# The booking's row lock (before GET): what a payment does to a booking is decided under it.
LOCK = Statement.of(select(c.id).where(c.id == bindparam("p_id", type_=Uuid)).with_for_update())

# The checkout payments opened for a booking waiting for its payment (its OpenCheckout reply, or
# PaymentOpened on the bus): where its guest pays from now on.
RECORD_CHECKOUT = Statement.of(
    update(bookings)
    .where(
        c.id == bindparam("p_id", type_=Uuid),
        state_is(c.state, State.AWAITING_PAYMENT),
        c.paid_at.is_(None),
    )
    .values(
        payment_id=bindparam("p_payment_id", type_=Text),
        checkout_url=bindparam("p_checkout_url", type_=Text),
        retry_at=null(),
        attempts=0,
        update_time=func.now(),
    )
    .returning(*COLUMNS)
)


# -- the waitlist -------------------------------------------------------------------------------

WAITLIST_LOCK_STATEMENT = Statement.of(
    select(func.pg_advisory_xact_lock(WAITLIST_LOCK, func.hashtext(bindparam("w_event_id", type_=Text))))
)
PROMOTION_LOCK_STATEMENT = Statement.of(
    select(func.pg_try_advisory_xact_lock(PROMOTION_LOCK, func.hashtext(bindparam("w_event_id", type_=Text))))
)
_ids = bindparam("w_ids", type_=ARRAY(Uuid))
WAITLIST = Statement.of(
    update(bookings)
    .where(c.id == func.any(_ids), state_is(c.state, State.PENDING))
    .values(
        state=state_value(State.WAITLISTED),
        waitlist_seq=func.coalesce(c.waitlist_seq, tables.waitlist_sequence.next_value()),
        hold_expire_time=null(),
        reject_cause=null(),
        retry_at=null(),
        update_time=func.now(),
    )
    .returning(c.id)
)
# How many wait in the event's line now (kept by triggers, see tables.waitlist_lengths).
WAITLIST_LENGTH = Statement.of(
    select(tables.waitlist_lengths.c.waiting).where(
        tables.waitlist_lengths.c.event_id == bindparam("w_event_id", type_=Text)
    )
)
# Bookings just put in line, their positions left to the caller (see `waitlist`).
PLACED = Statement.of(
    select(*COLUMNS[:-1], literal_column("0", Integer).label("waitlist_position")).where(
        c.id == func.any(_ids)
    )
)
# A booking written in line at once (its event is known to be sold out: no PENDING row, no
# reservation). A conflict with a unique rule (a repeated request_id, another active booking of
# the guest) writes nothing: the full path then finds out which, and answers as it always does.
INSERT_WAITLISTED = Statement.of(
    pg_insert(bookings)
    .values(
        **new_booking_values(),
        state=state_value(State.WAITLISTED),
        waitlist_seq=tables.waitlist_sequence.next_value(),
    )
    .on_conflict_do_nothing()
    .returning(c.id)
)


GIVE_UP_RETAKE = Statement.of(
    update(bookings)
    .where(
        c.id == bindparam("p_id", type_=Uuid),
        state_is(c.state, State.EXPIRED),
        c.paid_at.is_not(None),
        c.retry_at.is_not(None),
    )
    .values(retry_at=null(), update_time=func.now())
    .returning(*COLUMNS)
)


# -- ends of many bookings at once --------------------------------------------------------------


def _end_many(chosen: Any, values: dict[str, Any]) -> Any:
    """UPDATE the rows `chosen` selects (id, previous_state), returning each with its previous state."""
    previous = chosen.subquery("previous")
    return (
        update(bookings)
        .where(c.id == previous.c.id)
        .values(**values, update_time=func.now())
        .returning(*COLUMNS, previous.c.previous_state)
    )


def _lapsed(condition: ColumnElement[bool]) -> Any:
    return (
        select(c.id, c.state.label("previous_state"))
        .where(condition)
        .limit(bindparam("x_limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )


_EXPIRED = {"state": state_value(State.EXPIRED)}
# Approval requests nobody answered in time (the hold ran out, or the event started).
EXPIRE_APPROVALS = Statement.of(
    _end_many(
        _lapsed(
            and_(
                state_is(c.state, State.AWAITING_APPROVAL),
                or_(c.hold_expire_time <= func.now(), c.event_start_time <= func.now()),
            )
        ),
        {**_EXPIRED, "release_pending": true(), "retry_at": func.now()},
    )
)
# Waitlist entries of events that started.
EXPIRE_WAITLIST = Statement.of(
    _end_many(_lapsed(and_(state_is(c.state, State.WAITLISTED), c.event_start_time <= func.now())), _EXPIRED)
)
# Payment holds that ran out (or whose event started) before the payment came. The payment may
# still come: it is then a late payment (judge_payment).
EXPIRE_PAYMENTS = Statement.of(
    _end_many(
        _lapsed(
            and_(
                state_is(c.state, State.AWAITING_PAYMENT),
                func.least(c.hold_expire_time, c.event_start_time) <= func.now(),
            )
        ),
        {**_EXPIRED, "release_pending": true(), "retry_at": func.now()},
    )
)


def _with_previous_state(rows: Sequence[Row]) -> list[tuple[Booking, State]]:
    return [(booking(row), State(row.previous_state)) for row in rows]


# -- what the bus tells about events ------------------------------------------------------------

APPLY_EVENT_UPDATE = Statement.of(
    update(bookings)
    .where(c.event_id == bindparam("e_id", type_=Text))
    .values(**event_copy(), update_time=func.now())
)
MARK_COMPLETED = Statement.of(
    pg_insert(tables.completed_events)
    .values(event_id=bindparam("p_event_id", type_=Text))
    .on_conflict_do_nothing()
)
IS_COMPLETED = Statement.of(
    select(exists().where(tables.completed_events.c.event_id == bindparam("p_event_id", type_=Text)))
)

# -- reviews ------------------------------------------------------------------------------------

_booking_facts = {
    "booking_id": bindparam("p_booking_id", type_=Uuid),
    "event_id": bindparam("p_event_id", type_=Text),
    "guest_id": bindparam("p_guest_id", type_=Text),
    "host_id": bindparam("p_host_id", type_=Text),
}
INSERT_REVIEW = Statement.of(
    pg_insert(tables.reviews)
    .values(
        **_booking_facts,
        event_rating=bindparam("p_event_rating", type_=Integer),
        host_rating=bindparam("p_host_rating", type_=Integer),
        comment=bindparam("p_comment", type_=Text),
    )
    .on_conflict_do_nothing(index_elements=["booking_id"])
    .returning(*tables.reviews.c)
)
INSERT_GUEST_RATING = Statement.of(
    pg_insert(tables.guest_ratings)
    .values(**_booking_facts, rating=bindparam("p_rating", type_=Integer))
    .on_conflict_do_nothing(index_elements=["booking_id"])
    .returning(*tables.guest_ratings.c)
)


def _facts_of(reviewed: Booking) -> dict[str, Any]:
    return {
        "p_booking_id": reviewed.id,
        "p_event_id": reviewed.event_id,
        "p_guest_id": reviewed.user_id,
        "p_host_id": reviewed.host_id,
    }


def _place(entry: Booking) -> int:
    assert entry.waitlist_seq is not None  # in line
    return entry.waitlist_seq


class NewEntry(NamedTuple):
    """A booking to write in its event's waitlist at once."""

    booking_id: uuid.UUID
    user_id: str
    draft: BookingDraft
    event: EventFacts


class BookingTransaction(Transaction):
    async def get(self, booking_id: uuid.UUID) -> Booking | None:
        """The booking, read in this transaction."""
        return first_booking(await self.rows(GET, p_id=booking_id))

    # -- the waitlist -----------------------------------------------------------------------------

    async def waitlist(
        self, event_id: str, pending: Sequence[Booking], new: Sequence[NewEntry] = ()
    ) -> list[Booking]:
        """Put PENDING bookings of one event in its waitlist, and write the `new` ones there at
        once; returns the bookings it put there, each with its position.

        Joins of one event's waitlist take turns (a transaction-scoped advisory lock), so the
        position each booking is told is exact when told. A booking that had a place (a promotion
        that did not fit) keeps it; every other one gets a place behind everyone in line. Those are
        numbered from the line's length as it was before them (kept by the database), not counted
        one by one: a long line costs nothing more.
        """
        await self.execute(WAITLIST_LOCK_STATEMENT, w_event_id=event_id)
        ahead = int(await self.scalar(WAITLIST_LENGTH, w_event_id=event_id) or 0)
        rows = [
            new_booking_params(entry.booking_id, entry.user_id, entry.draft, entry.event) for entry in new
        ]
        placed = [row.id for written in await self.rows_each(INSERT_WAITLISTED, rows) for row in written]
        if pending:
            placed += [row.id for row in await self.rows(WAITLIST, w_ids=[booking.id for booking in pending])]
        if not placed:
            return []
        had_place = {booking.id for booking in pending if booking.waitlist_seq is not None}
        written = [booking(row) for row in await self.rows(PLACED, w_ids=placed)]
        # Back in their old places (rare): counted as reads do.
        kept = [await self.get(entry.id) for entry in written if entry.id in had_place]
        behind = sorted((entry for entry in written if entry.id not in had_place), key=_place)
        return [entry for entry in kept if entry is not None] + [
            dataclasses.replace(entry, waitlist_position=ahead + len(kept) + rank)
            for rank, entry in enumerate(behind, start=1)
        ]

    async def lock_promotion(self, event_id: str) -> bool:
        """Whether this transaction now promotes the event's waitlist (False: another process does).

        One process at a time per event, so the order holds across replicas; the lock ends with the
        transaction, and with the process if it dies."""
        return bool(await self.scalar(PROMOTION_LOCK_STATEMENT, w_event_id=event_id))

    # -- changes by people: cancel, approve, reject -----------------------------------------------

    async def cancel(
        self, current: Booking, actor: Actor, reason: str, reconcile_after: float
    ) -> Booking | None:
        """CANCELLED, with its seats to release if it may hold some; None when it changed meanwhile."""
        may_hold = current.state in MAY_HOLD_STATES
        values = {
            "state": State.CANCELLED.value,
            "cancelled_by": actor.value,
            "end_reason": reason,
            "release_pending": may_hold,
            # The canceller releases at once; the reconciler only if that did not go through.
            "retry_at": after(reconcile_after) if may_hold else None,
        }
        return first_booking(await self.rows(transition(current, values)))

    async def reject(self, current: Booking, reason: str, reconcile_after: float) -> Booking | None:
        values = {
            "state": State.REJECTED.value,
            "reject_cause": "HOST_REJECTED",
            "end_reason": reason,
            "release_pending": True,
            "retry_at": after(reconcile_after),
        }
        return first_booking(await self.rows(transition(current, values)))

    async def approve(self, current: Booking, approval: Approval, reconcile_after: float) -> Booking | None:
        values: dict[str, Any] = {
            "state": approval.state.value,
            "hold_expire_time": approval.hold_expire_time,
        }
        if approval.state == State.AWAITING_PAYMENT:
            # The approver opens the checkout at once; the reconciler only if that did not go through.
            values["retry_at"] = after(reconcile_after)
        return first_booking(await self.rows(transition(current, values)))

    # -- payments ---------------------------------------------------------------------------------

    async def lock(self, booking_id: uuid.UUID) -> Booking | None:
        """The booking, locked until this transaction ends."""
        if await self.row(LOCK, p_id=booking_id) is None:
            return None
        return await self.get(booking_id)

    async def record_checkout(
        self, booking_id: uuid.UUID, payment_id: str, checkout_url: str
    ) -> Booking | None:
        """The booking with its open checkout; None when it no longer waits for a payment."""
        return first_booking(
            await self.rows(
                RECORD_CHECKOUT, p_id=booking_id, p_payment_id=payment_id, p_checkout_url=checkout_url or None
            )
        )

    async def confirm_paid(self, current: Booking, payment_id: str) -> Booking | None:
        """AWAITING_PAYMENT -> CONFIRMED by `payment_id`, which succeeded."""
        values = {
            "state": State.CONFIRMED.value,
            "payment_id": payment_id,
            "paid_at": func.now(),
            "hold_expire_time": None,
            "checkout_url": None,
            "retry_at": None,
        }
        return first_booking(await self.rows(transition(current, values)))

    async def accept_late_payment(self, current: Booking, payment_id: str) -> Booking | None:
        """An EXPIRED booking's late payment, accepted: the reconciler takes its seats again (under a
        new reservation id, once the old one's release is confirmed)."""
        values = {
            "payment_id": payment_id,
            "paid_at": func.now(),
            "checkout_url": None,
            "retry_at": func.now(),
        }
        return first_booking(await self.rows(transition(current, values)))

    async def give_up_retake(self, booking_id: uuid.UUID) -> Booking | None:
        """A late payment that will not take seats (to be refused): nothing left for the reconciler.
        None when it was not waiting to take them (given up before, or taking them now)."""
        return first_booking(await self.rows(GIVE_UP_RETAKE, p_id=booking_id))

    # -- expiry and cancelled events --------------------------------------------------------------

    async def expire_lapsed(self, *, limit: int) -> list[tuple[Booking, State]]:
        """Unanswered approval requests, unpaid payment holds and waitlist entries of started events
        -> EXPIRED."""
        ended = []
        for statement in (EXPIRE_APPROVALS, EXPIRE_PAYMENTS, EXPIRE_WAITLIST):
            ended.extend(_with_previous_state(await self.rows(statement, x_limit=limit)))
        return ended

    async def cancel_event_bookings(self, event_id: str, reason: str) -> list[tuple[Booking, State]]:
        chosen = (
            select(c.id, c.state.label("previous_state"))
            .where(c.event_id == event_id, state_is(c.state, *ACTIVE))
            .with_for_update()
        )
        may_hold = state_is(c.state, *MAY_HOLD)
        statement = _end_many(
            chosen,
            {
                "state": State.CANCELLED.value,
                "cancelled_by": Actor.EVENT_CANCELLED.value,
                "end_reason": reason,
                # Nobody else releases these: the reconciler does at once.
                "release_pending": may_hold,
                "retry_at": case((may_hold, func.now()), else_=None),
            },
        )
        return _with_previous_state(await self.rows(statement))

    # -- what the bus tells about events ----------------------------------------------------------

    async def apply_event_update(self, event: EventFacts) -> None:
        """Copy an event's new title, times, zone and place onto its bookings.

        Moving an event can put it on the start time of another active booking of the same guest.
        Neither booking is the guest's fault, so neither is cancelled: the moved one is marked
        `schedule_exempt` (out of the schedule index; the guest hears of the move and chooses), and
        loses the mark if the event moves again to a free time.
        """
        await self.execute(APPLY_EVENT_UPDATE, e_id=event.id, **event_params(event))

    async def mark_completed(self, event_id: str) -> None:
        await self.execute(MARK_COMPLETED, p_event_id=event_id)

    async def is_completed(self, event_id: str) -> bool:
        return bool(await self.scalar(IS_COMPLETED, p_event_id=event_id))

    # -- reviews ----------------------------------------------------------------------------------

    async def insert_review(
        self, reviewed: Booking, event_rating: int, host_rating: int, comment: str
    ) -> Review | None:
        """The review, or None when this booking was reviewed before."""
        row = await self.row(
            INSERT_REVIEW,
            **_facts_of(reviewed),
            p_event_rating=event_rating,
            p_host_rating=host_rating,
            p_comment=comment,
        )
        return None if row is None else Review(**row._asdict())

    async def insert_guest_rating(self, rated: Booking, rating: int) -> GuestRating | None:
        """The rating, or None when this booking's guest was rated before."""
        row = await self.row(INSERT_GUEST_RATING, **_facts_of(rated), p_rating=rating)
        return None if row is None else GuestRating(**row._asdict())
