"""The SQL of the bookings service (SQLAlchemy Core).

Statements run on the async engine, except those of the booking hot path (write the PENDING
booking, settle it, look it up, mark a release done): single statements in autocommit on raw
psycopg connections (`services.runtime.rawsql.RawPool`), compiled once to SQL text. That spares
each the engine's checkout, greenlet hops and result processing, which were most of the service's
CPU per booking. Those functions take the pool instead of a connection.

Every state change is one conditional UPDATE (`WHERE state = <what the caller saw>`), so two
actors racing on one booking cannot both win; the loser re-reads. State changes and their bus
events commit together: in one transaction with `publish`, or, on the booking hot path, in one
statement whose CTE writes the outbox row (`settle`).

The hot statements are built once, with bound parameters: SQLAlchemy then compiles them once and
each call pays only for execution. States are written as SQL literals, never as parameters, so
PostgreSQL matches them against the partial indexes even with prepared (generic) plans.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from google.protobuf.message import Message
from psycopg.rows import tuple_row
from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Interval,
    Row,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import LargeBinary, Text, Uuid

from services.bookings import models
from services.bookings.rules import (
    ACTIVE_STATES,
    MAY_HOLD_STATES,
    Actor,
    Booking,
    BookingDraft,
    EventFacts,
    Settlement,
    State,
)
from services.runtime.bus import envelope_for, publish
from services.runtime.rawsql import Compiled, RawPool

SOURCE = "bookings"

# First key of the advisory lock under which one event's waitlist places are handed out.
WAITLIST_LOCK = 0x5EA7_0B0D

bookings = models.bookings
_c = bookings.c
_peer = bookings.alias("peer")


def _is(column: Any, *states: State) -> ColumnElement[bool]:
    literals = [literal_column(f"'{state.value}'", Text) for state in states]
    return column == literals[0] if len(literals) == 1 else column.in_(literals)


def _state_value(state: State) -> ColumnElement[str]:
    return literal_column(f"'{state.value}'", Text)


_ACTIVE = sorted(ACTIVE_STATES)
_MAY_HOLD = sorted(MAY_HOLD_STATES)


def _seconds(name: str) -> ColumnElement[Any]:
    # Constants as SQL literals: one parameter to send instead of seven.
    return bindparam(name, type_=Float) * literal_column("interval '1 second'", Interval)


# 1 is next in line. Counting those strictly ahead (plus one) is right both in a SELECT and in the
# RETURNING of the UPDATE that put the booking in line (whose snapshot does not see it there yet).
_position = case(
    (
        _is(_c.state, State.WAITLISTED),
        select(func.count())
        .select_from(_peer)
        .where(
            _peer.c.event_id == _c.event_id,
            _is(_peer.c.state, State.WAITLISTED),
            _peer.c.waitlist_seq < _c.waitlist_seq,
        )
        .correlate(bookings)
        .scalar_subquery()
        + 1,
    ),
    else_=0,
).label("waitlist_position")

_FIELDS = [field.name for field in dataclasses.fields(Booking) if field.name != "waitlist_position"]
COLUMNS: list[Any] = [*(_c[name] for name in _FIELDS), _position]


def _booking(row: Row[Any]) -> Booking:
    values = row._mapping
    return Booking(
        **{name: values[name] for name in _FIELDS if name != "state"},
        state=State(values["state"]),
        waitlist_position=values["waitlist_position"],
    )


def _optional(row: Row[Any] | None) -> Booking | None:
    return None if row is None else _booking(row)


_STATE_AT = _FIELDS.index("state")


def _raw_booking(row: Sequence[Any]) -> Booking:
    """A raw row of COLUMNS: Booking's fields in their order, the waitlist position last."""
    values = list(row)
    values[_STATE_AT] = State(values[_STATE_AT])
    return Booking(*values)


def _first(rows: Sequence[Sequence[Any]]) -> Booking | None:
    return _raw_booking(rows[0]) if rows else None


async def _rows(pool: RawPool, statement: Compiled, **values: Any) -> list[tuple[Any, ...]]:
    """The rows of a statement that returns rows, as plain tuples.

    Not `RawPool.execute`: asking the cursor whether there are rows builds its whole description,
    a measurable part of the statement's CPU for our two dozen columns.
    """
    async with pool.connection() as connection:
        cursor = connection.cursor(row_factory=tuple_row)
        await cursor.execute(statement.sql, statement.params(**values))
        return await cursor.fetchall()


def constraint_name(error: psycopg.IntegrityError) -> str:
    """The constraint that refused a write of the raw pool (partial unique indexes included)."""
    diag = getattr(error, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


# -- create -------------------------------------------------------------------------------------

INSERT_PENDING = (
    pg_insert(bookings)
    .values(
        id=bindparam("p_id", type_=Uuid),
        user_id=bindparam("p_user_id", type_=Text),
        request_id=bindparam("p_request_id", type_=Text),
        event_id=bindparam("p_event_id", type_=Text),
        host_id=bindparam("p_host_id", type_=Text),
        seats=bindparam("p_seats", type_=Integer),
        join_waitlist=bindparam("p_join_waitlist", type_=Boolean),
        state=_state_value(State.PENDING),
        event_title=bindparam("p_title", type_=Text),
        event_start_time=bindparam("p_start", type_=DateTime(timezone=True)),
        event_end_time=bindparam("p_end", type_=DateTime(timezone=True)),
        event_time_zone=bindparam("p_time_zone", type_=Text),
        event_city=bindparam("p_city", type_=Text),
        event_venue=bindparam("p_venue", type_=Text),
        event_updated_at=bindparam("p_updated", type_=DateTime(timezone=True)),
        # If this process dies before events answers, the reconciler takes over from here.
        retry_at=func.now() + _seconds("p_after"),
    )
    .on_conflict_do_nothing(
        index_elements=["user_id", "request_id"], index_where=text("request_id IS NOT NULL")
    )
    .returning(*COLUMNS[:-1], literal_column("0", Integer).label("waitlist_position"))
)


async def insert_pending(
    pool: RawPool,
    *,
    booking_id: uuid.UUID,
    user_id: str,
    draft: BookingDraft,
    event: EventFacts,
    reconcile_after: float,
) -> Booking | None:
    """The booking as PENDING, or None when this user already sent this request_id.

    Raises psycopg.IntegrityError when a uniqueness rule refuses it (see `constraint_name`).
    """
    rows = await _rows(
        pool,
        _INSERT_PENDING,
        p_id=booking_id,
        p_user_id=user_id,
        p_request_id=draft.request_id,
        p_event_id=draft.event_id,
        p_host_id=event.organizer_id,
        p_seats=draft.seats,
        p_join_waitlist=draft.join_waitlist,
        p_title=event.title,
        p_start=event.start_time,
        p_end=event.end_time,
        p_time_zone=event.time_zone,
        p_city=event.city,
        p_venue=event.venue,
        p_updated=event.update_time,
        p_after=reconcile_after,
    )
    return _first(rows)


FIND_BY_REQUEST = select(*COLUMNS).where(
    _c.user_id == bindparam("p_user_id", type_=Text), _c.request_id == bindparam("p_request_id", type_=Text)
)


async def find_by_request(pool: RawPool, user_id: str, request_id: str) -> Booking | None:
    return _first(await _rows(pool, _FIND_BY_REQUEST, p_user_id=user_id, p_request_id=request_id))


FIND_ACTIVE_FOR_USER = select(*COLUMNS).where(
    _c.user_id == bindparam("p_user_id", type_=Text),
    _is(_c.state, *_ACTIVE),
    or_(
        _c.event_id == bindparam("p_event_id", type_=Text),
        _c.event_start_time == bindparam("p_start", type_=DateTime(timezone=True)),
    ),
)


async def find_active_for_user(
    pool: RawPool, user_id: str, *, event_id: str, start_time: datetime
) -> list[Booking]:
    """The user's active bookings of this event or at this start time (why an insert was refused)."""
    rows = await _rows(
        pool, _FIND_ACTIVE_FOR_USER, p_user_id=user_id, p_event_id=event_id, p_start=start_time
    )
    return [_raw_booking(row) for row in rows]


GET = select(*COLUMNS).where(_c.id == bindparam("p_id", type_=Uuid))


async def get(connection: AsyncConnection, booking_id: uuid.UUID) -> Booking | None:
    """The booking, read in the caller's transaction."""
    return _optional((await connection.execute(GET, {"p_id": booking_id})).first())


async def fetch(pool: RawPool, booking_id: uuid.UUID) -> Booking | None:
    """The booking, read on its own (no transaction around it)."""
    return _first(await _rows(pool, _GET, p_id=booking_id))


# -- settle -------------------------------------------------------------------------------------


def _event_copy() -> dict[str, Any]:
    """SET clauses that refresh a booking's copy of its event from bound parameters (e_*).

    A copy newer than the one given (a later EventUpdated got here first) stays as it is. When the
    event moved onto the start time of another active booking of the same guest, the booking
    becomes `schedule_exempt` (see `apply_event_update`).
    """
    start = bindparam("e_start", type_=DateTime(timezone=True))
    updated = bindparam("e_updated", type_=DateTime(timezone=True))
    moved_into_conflict = exists(
        select(1)
        .select_from(_peer)
        .where(
            _peer.c.user_id == _c.user_id,
            _peer.c.id != _c.id,
            _peer.c.event_start_time == start,
            _is(_peer.c.state, *_ACTIVE),
            _peer.c.schedule_exempt == false(),
        )
    )
    newer = or_(updated.is_(None), _c.event_updated_at.is_(None), _c.event_updated_at <= updated)
    values: dict[str, Any] = {
        "event_title": bindparam("e_title", type_=Text),
        "event_start_time": start,
        "event_end_time": bindparam("e_end", type_=DateTime(timezone=True)),
        "event_time_zone": bindparam("e_time_zone", type_=Text),
        "event_city": bindparam("e_city", type_=Text),
        "event_venue": bindparam("e_venue", type_=Text),
        "schedule_exempt": case(
            (_c.event_start_time == start, _c.schedule_exempt), else_=moved_into_conflict
        ),
    }
    copied = {name: case((newer, value), else_=_c[name]) for name, value in values.items()}
    copied["event_updated_at"] = func.greatest(_c.event_updated_at, updated)
    return copied


def _event_params(event: EventFacts) -> dict[str, Any]:
    return {
        "e_title": event.title,
        "e_start": event.start_time,
        "e_end": event.end_time,
        "e_time_zone": event.time_zone,
        "e_city": event.city,
        "e_venue": event.venue,
        "e_updated": event.update_time,
    }


_SETTLED = {
    "state": bindparam("s_state", type_=Text),
    "hold_expire_time": bindparam("s_hold", type_=DateTime(timezone=True)),
    "reject_cause": bindparam("s_cause", type_=Text),
    "retry_at": null(),
    "update_time": func.now(),
}


def _settle_statement(*, with_event: bool) -> Any:
    """UPDATE the PENDING booking and INSERT its bus event into the outbox, as one statement."""
    values = {**_SETTLED, **(_event_copy() if with_event else {})}
    settled = (
        update(bookings)
        .where(_c.id == bindparam("s_id", type_=Uuid), _is(_c.state, State.PENDING))
        .values(**values)
        .returning(*COLUMNS)
        .cte("settled")
    )
    published = (
        insert(models.outbox)
        .from_select(
            ["event_id", "type", "envelope"],
            select(
                bindparam("o_event_id", type_=Uuid),
                bindparam("o_type", type_=Text),
                bindparam("o_envelope", type_=LargeBinary),
            ).select_from(settled),
        )
        .cte("published")
    )
    return select(settled).add_cte(published)


SETTLE_WITH_EVENT = _settle_statement(with_event=True)
SETTLE = _settle_statement(with_event=False)


async def settle(
    pool: RawPool,
    booking_id: uuid.UUID,
    settlement: Settlement,
    event: EventFacts | None,
    message: Message,
) -> Booking | None:
    """Settle a PENDING booking and write its bus event, in one statement; None if not PENDING.

    The bus event is built before the row is written, so this is for settlements whose event does
    not depend on the written row (`waitlist` puts bookings in line: their events carry positions).
    """
    assert not settlement.waitlist
    envelope = envelope_for(message, source=SOURCE)
    params: dict[str, Any] = {
        "s_id": booking_id,
        "s_state": settlement.state.value,
        "s_hold": settlement.hold_expire_time,
        "s_cause": settlement.cause.value if settlement.cause else None,
        "o_event_id": uuid.UUID(envelope.event_id),
        "o_type": envelope.type,
        "o_envelope": envelope.SerializeToString(),
    }
    if event is None:
        return _first(await _rows(pool, _SETTLE, **params))
    return _first(await _rows(pool, _SETTLE_WITH_EVENT, **params, **_event_params(event)))


WAITLIST_LOCK_STATEMENT = select(
    func.pg_advisory_xact_lock(WAITLIST_LOCK, func.hashtext(bindparam("w_event_id", type_=Text)))
)
_ids = bindparam("w_ids", type_=ARRAY(Uuid))
WAITLIST = (
    update(bookings)
    .where(_c.id == func.any(_ids), _is(_c.state, State.PENDING))
    .values(
        state=_state_value(State.WAITLISTED),
        waitlist_seq=func.coalesce(_c.waitlist_seq, models.waitlist_sequence.next_value()),
        hold_expire_time=null(),
        reject_cause=null(),
        retry_at=null(),
        update_time=func.now(),
    )
    .returning(_c.id)
)
GET_MANY = select(*COLUMNS).where(_c.id == func.any(_ids))


async def waitlist(
    connection: AsyncConnection, event_id: str, booking_ids: Sequence[uuid.UUID]
) -> list[Booking]:
    """Put PENDING bookings of one event in its waitlist; returns those it put there.

    Call inside a transaction. Joins of one event's waitlist take turns (a transaction-scoped
    advisory lock) and the positions are read after the places were handed out, so the position
    each booking is told is exact when told. A booking that had a place (a promotion that did not
    fit) keeps it.
    """
    await connection.execute(WAITLIST_LOCK_STATEMENT, {"w_event_id": event_id})
    placed = set((await connection.execute(WAITLIST, {"w_ids": list(booking_ids)})).scalars())
    if not placed:
        return []
    rows = await connection.execute(GET_MANY, {"w_ids": list(placed)})
    return [_booking(row) for row in rows]


# -- changes by people: cancel, approve, reject -------------------------------------------------


async def transition(connection: AsyncConnection, booking: Booking, values: dict[str, Any]) -> Booking | None:
    """Change a booking that is still in the state the caller saw; None when it changed meanwhile."""
    statement = (
        update(bookings)
        .where(_c.id == booking.id, _is(_c.state, booking.state))
        .values(**values, update_time=func.now())
        .returning(*COLUMNS)
    )
    return _optional((await connection.execute(statement)).first())


def _after(seconds: float) -> ColumnElement[Any]:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, float(seconds))


def cancel_values(previous: State, actor: Actor, reason: str, reconcile_after: float) -> dict[str, Any]:
    may_hold = previous in MAY_HOLD_STATES
    return {
        "state": State.CANCELLED.value,
        "cancelled_by": actor.value,
        "end_reason": reason,
        "release_pending": may_hold,
        # The canceller releases at once; the reconciler only if that did not go through.
        "retry_at": _after(reconcile_after) if may_hold else None,
    }


def reject_values(reason: str, reconcile_after: float) -> dict[str, Any]:
    return {
        "state": State.REJECTED.value,
        "reject_cause": "HOST_REJECTED",
        "end_reason": reason,
        "release_pending": True,
        "retry_at": _after(reconcile_after),
    }


def approve_values() -> dict[str, Any]:
    return {"state": State.CONFIRMED.value, "hold_expire_time": None}


MARK_RELEASED = (
    update(bookings)
    .where(_c.id == bindparam("p_id", type_=Uuid), _c.release_pending == true())
    .values(release_pending=False, retry_at=null(), attempts=0)
)


async def mark_released(pool: RawPool, booking_id: uuid.UUID) -> None:
    await pool.execute(_MARK_RELEASED, p_id=booking_id)


# The statements of the raw pool, as SQL text (compiled once, at import).
_INSERT_PENDING = Compiled.of(INSERT_PENDING)
_FIND_BY_REQUEST = Compiled.of(FIND_BY_REQUEST)
_FIND_ACTIVE_FOR_USER = Compiled.of(FIND_ACTIVE_FOR_USER)
_GET = Compiled.of(GET)
_SETTLE = Compiled.of(SETTLE)
_SETTLE_WITH_EVENT = Compiled.of(SETTLE_WITH_EVENT)
_MARK_RELEASED = Compiled.of(MARK_RELEASED)


# -- the reconciler, expiry and the waitlist ----------------------------------------------------

_due = (
    select(_c.id)
    .where(or_(_is(_c.state, State.PENDING), _c.release_pending == true()), _c.retry_at <= func.now())
    .order_by(_c.retry_at)
    .limit(bindparam("r_limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_backoff = func.least(
    bindparam("r_base", type_=Float) * func.power(2, func.least(_c.attempts, 10)),
    bindparam("r_max", type_=Float),
)
CLAIM_UNSETTLED = (
    update(bookings)
    .where(_c.id.in_(_due))
    .values(
        retry_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, _backoff),
        attempts=func.least(_c.attempts + 1, 1000),
    )
    .returning(*COLUMNS)
)


async def claim_unsettled(
    connection: AsyncConnection, *, limit: int, base_delay: float, max_delay: float
) -> list[Booking]:
    """PENDING bookings and unconfirmed releases that are due, leased to this process.

    Moving `retry_at` forward is the lease: other replicas skip the locked rows now and find them
    not due afterwards; if this process dies, the rows come due again.
    """
    params = {"r_limit": limit, "r_base": base_delay, "r_max": max_delay}
    return [_booking(row) for row in await connection.execute(CLAIM_UNSETTLED, params)]


def _end_many(chosen: Any, values: dict[str, Any]) -> Any:
    """UPDATE the rows `chosen` selects (id, previous_state), returning each with its previous state."""
    previous = chosen.subquery("previous")
    return (
        update(bookings)
        .where(_c.id == previous.c.id)
        .values(**values, update_time=func.now())
        .returning(*COLUMNS, previous.c.previous_state)
    )


def _lapsed(condition: ColumnElement[bool]) -> Any:
    return (
        select(_c.id, _c.state.label("previous_state"))
        .where(condition)
        .limit(bindparam("x_limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )


_EXPIRED = {"state": _state_value(State.EXPIRED)}
# Approval requests nobody answered in time (the hold ran out, or the event started).
EXPIRE_APPROVALS = _end_many(
    _lapsed(
        and_(
            _is(_c.state, State.AWAITING_APPROVAL),
            or_(_c.hold_expire_time <= func.now(), _c.event_start_time <= func.now()),
        )
    ),
    {**_EXPIRED, "release_pending": true(), "retry_at": func.now()},
)
# Waitlist entries of events that started.
EXPIRE_WAITLIST = _end_many(
    _lapsed(and_(_is(_c.state, State.WAITLISTED), _c.event_start_time <= func.now())), _EXPIRED
)


async def expire_lapsed(connection: AsyncConnection, *, limit: int) -> list[tuple[Booking, State]]:
    ended = []
    for statement in (EXPIRE_APPROVALS, EXPIRE_WAITLIST):
        rows = await connection.execute(statement, {"x_limit": limit})
        ended.extend((_booking(row), State(row.previous_state)) for row in rows)
    return ended


async def cancel_event_bookings(
    connection: AsyncConnection, event_id: str, reason: str
) -> list[tuple[Booking, State]]:
    chosen = (
        select(_c.id, _c.state.label("previous_state"))
        .where(_c.event_id == event_id, _is(_c.state, *_ACTIVE))
        .with_for_update()
    )
    may_hold = _is(_c.state, *_MAY_HOLD)
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
    return [(_booking(row), State(row.previous_state)) for row in await connection.execute(statement)]


async def events_with_waitlist(connection: AsyncConnection, *, limit: int = 1000) -> list[str]:
    statement = select(_c.event_id).where(_is(_c.state, State.WAITLISTED)).group_by(_c.event_id).limit(limit)
    return list((await connection.execute(statement)).scalars())


async def next_in_line(
    connection: AsyncConnection, event_id: str, seats_available: int | None
) -> Booking | None:
    """The first waitlisted booking of the event whose seat count fits (any, when unknown)."""
    statement = (
        select(*COLUMNS)
        .where(_c.event_id == event_id, _is(_c.state, State.WAITLISTED))
        .order_by(_c.waitlist_seq)
        .limit(1)
    )
    if seats_available is not None:
        statement = statement.where(_c.seats <= seats_available)
    return _optional((await connection.execute(statement)).first())


async def begin_promotion(
    connection: AsyncConnection, booking: Booking, reconcile_after: float
) -> Booking | None:
    """WAITLISTED -> PENDING: from here the saga (or the reconciler) settles it like a new booking."""
    return await transition(
        connection,
        booking,
        {"state": State.PENDING.value, "retry_at": _after(reconcile_after), "attempts": 0},
    )


# -- what the bus tells about events ------------------------------------------------------------

APPLY_EVENT_UPDATE = (
    update(bookings)
    .where(_c.event_id == bindparam("e_id", type_=Text))
    .values(**_event_copy(), update_time=func.now())
)


async def apply_event_update(connection: AsyncConnection, event: EventFacts) -> None:
    """Copy an event's new title, times, zone and place onto its bookings.

    Moving an event can put it on the start time of another active booking of the same guest.
    Neither booking is the guest's fault, so neither is cancelled: the moved one is marked
    `schedule_exempt` (out of the schedule index; the guest hears of the move and chooses), and
    loses the mark if the event moves again to a free time.
    """
    await connection.execute(APPLY_EVENT_UPDATE, {"e_id": event.id, **_event_params(event)})


async def mark_completed(connection: AsyncConnection, event_id: str) -> None:
    await connection.execute(
        pg_insert(models.completed_events).values(event_id=event_id).on_conflict_do_nothing()
    )


async def is_completed(connection: AsyncConnection, event_id: str) -> bool:
    statement = select(exists().where(models.completed_events.c.event_id == event_id))
    return bool(await connection.scalar(statement))


# -- lists --------------------------------------------------------------------------------------


async def list_bookings(
    connection: AsyncConnection,
    *,
    host: bool,
    user_id: str,
    state: State | None,
    event_id: str,
    upcoming_only: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Booking]:
    """Newest first; `after` is the (create_time, id) of the last row of the previous page."""
    owner = _c.host_id if host else _c.user_id
    statement = (
        select(*COLUMNS).where(owner == user_id).order_by(_c.create_time.desc(), _c.id.desc()).limit(limit)
    )
    if state is not None:
        statement = statement.where(_is(_c.state, state))
    if event_id:
        statement = statement.where(_c.event_id == event_id)
    if upcoming_only:
        statement = statement.where(_c.event_start_time > func.now())
    if after is not None:
        statement = statement.where(tuple_(_c.create_time, _c.id) < tuple_(*after))
    return [_booking(row) for row in await connection.execute(statement)]


# -- reviews ------------------------------------------------------------------------------------


async def insert_review(
    connection: AsyncConnection, booking: Booking, event_rating: int, host_rating: int, comment: str
) -> Row[Any] | None:
    """The review, or None when this booking was reviewed before."""
    statement = (
        pg_insert(models.reviews)
        .values(
            booking_id=booking.id,
            event_id=booking.event_id,
            guest_id=booking.user_id,
            host_id=booking.host_id,
            event_rating=event_rating,
            host_rating=host_rating,
            comment=comment,
        )
        .on_conflict_do_nothing(index_elements=["booking_id"])
        .returning(*models.reviews.c)
    )
    return (await connection.execute(statement)).first()


async def insert_guest_rating(connection: AsyncConnection, booking: Booking, rating: int) -> Row[Any] | None:
    """The rating, or None when this booking's guest was rated before."""
    statement = (
        pg_insert(models.guest_ratings)
        .values(
            booking_id=booking.id,
            event_id=booking.event_id,
            guest_id=booking.user_id,
            host_id=booking.host_id,
            rating=rating,
        )
        .on_conflict_do_nothing(index_elements=["booking_id"])
        .returning(*models.guest_ratings.c)
    )
    return (await connection.execute(statement)).first()


async def publish_event(connection: AsyncConnection, message: Message) -> None:
    """One bus event, in the caller's transaction."""
    await publish(connection, models.outbox, message, source=SOURCE)


async def publish_all(connection: AsyncConnection, messages: Iterable[Message]) -> None:
    """Several bus events in one INSERT (an event cancelled with thousands of bookings)."""
    rows = []
    for message in messages:
        envelope = envelope_for(message, source=SOURCE)
        rows.append(
            {
                "event_id": uuid.UUID(envelope.event_id),
                "type": envelope.type,
                "envelope": envelope.SerializeToString(),
            }
        )
    if rows:
        await connection.execute(insert(models.outbox), rows)
