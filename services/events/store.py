"""SQL of the events service (SQLAlchemy Core on the async engine).

The seat inventory statements are single statements run in autocommit (on the raw connections of
pgpool.py), so each is one transaction and one round trip, and the event row's lock is held only
while the statement commits:

    reserve:  UPDATE events SET seats_taken = seats_taken + n
              WHERE id = ? AND state = 'SCHEDULED' AND start_time > now()
                AND seats_taken + n <= capacity AND <no row for this reservation id yet>
              RETURNING ...
              + INSERT INTO reservations (the id is the primary key) from the updated row
    release:  UPDATE reservations SET released_at = now() WHERE id = ? AND released_at IS NULL
              + UPDATE events SET seats_taken = seats_taken - seats (from that row)

If a concurrent duplicate slips past the "no row yet" test, its INSERT hits the primary key and
the whole statement, seat increment included, rolls back. `CHECK (seats_taken BETWEEN 0 AND
capacity)` backs the arithmetic. No read-then-write, no application lock.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from google.protobuf import message as protobuf_message
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Update,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import DateTime, Integer, Text

from services.events.models import SEARCH_CONFIG, events, outbox, reservations, reviews
from services.events.rules import (
    EventFields,
    EventRecord,
    ListQuery,
    Order,
    ReviewRecord,
    State,
    why_not_reservable,
)
from services.runtime import bus
from services.runtime.rawsql import Compiled, RawPool

SOURCE = "events"

EVENT_COLUMNS = (
    events.c.id,
    events.c.organizer_id,
    events.c.title,
    events.c.description,
    events.c.start_time,
    events.c.end_time,
    events.c.time_zone,
    events.c.city,
    events.c.venue,
    events.c.capacity,
    events.c.seats_taken,
    events.c.max_seats_per_booking,
    events.c.tags,
    events.c.requires_approval,
    events.c.state,
    events.c.rating_average,
    events.c.rating_count,
    events.c.version,
    events.c.seats_version,
    events.c.create_time,
    events.c.update_time,
)


def _record(row: Row[Any] | Any) -> EventRecord:
    return EventRecord(
        id=row.id,
        organizer_id=row.organizer_id,
        title=row.title,
        description=row.description,
        start_time=row.start_time,
        end_time=row.end_time,
        time_zone=row.time_zone,
        city=row.city,
        venue=row.venue,
        capacity=row.capacity,
        seats_taken=row.seats_taken,
        max_seats_per_booking=row.max_seats_per_booking,
        tags=tuple(row.tags),
        requires_approval=row.requires_approval,
        state=State(row.state),
        rating_average=row.rating_average,
        rating_count=row.rating_count,
        version=row.version,
        seats_version=row.seats_version,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _review(row: Row[Any]) -> ReviewRecord:
    return ReviewRecord(
        id=row.id,
        event_id=row.event_id,
        booking_id=row.booking_id,
        author_id=row.author_id,
        event_rating=row.event_rating,
        host_rating=row.host_rating,
        comment=row.comment,
        create_time=row.create_time,
    )


def _field_values(fields: EventFields) -> dict[str, Any]:
    return {
        "title": fields.title,
        "description": fields.description,
        "start_time": fields.start_time,
        "end_time": fields.end_time,
        "time_zone": fields.time_zone,
        "city": fields.city,
        "venue": fields.venue,
        "capacity": fields.capacity,
        "max_seats_per_booking": fields.max_seats_per_booking,
        "tags": list(fields.tags),
        "requires_approval": fields.requires_approval,
    }


# -- the inventory statements (Core, compiled once to SQL text for the raw pool) ---------------------

# Parameter names differ from column names: SQLAlchemy would take `event_id=...` given to an
# UPDATE as a value to SET.
_event_id = bindparam("p_event_id", type_=Uuid)
_reservation_id = bindparam("p_reservation_id", type_=Uuid)
_seats = bindparam("p_seats", type_=Integer)

_taken = (
    update(events)
    .where(
        events.c.id == _event_id,
        events.c.state == State.SCHEDULED.value,
        events.c.start_time > func.now(),
        events.c.seats_taken + _seats <= events.c.capacity,
        ~exists().where(reservations.c.reservation_id == _reservation_id),
    )
    .values(seats_taken=events.c.seats_taken + _seats, seats_version=events.c.seats_version + 1)
    .returning(*EVENT_COLUMNS)
    .cte("taken")
)
_recorded = (
    insert(reservations)
    .from_select(["reservation_id", "event_id", "seats"], select(_reservation_id, _taken.c.id, _seats))
    .cte("recorded")
)
RESERVE = select(_taken).add_cte(_recorded)

# What the reservation id and the event look like now: why a reserve took nothing.
_one = select(literal(1).label("one")).subquery("one")
RESERVATION_STATE = select(
    reservations.c.event_id.label("reserved_event_id"),
    reservations.c.seats.label("reserved_seats"),
    reservations.c.released_at,
    func.now().label("now"),
    *EVENT_COLUMNS,
).select_from(
    _one.outerjoin(reservations, reservations.c.reservation_id == _reservation_id).outerjoin(
        events, events.c.id == func.coalesce(reservations.c.event_id, _event_id)
    )
)

_released = (
    update(reservations)
    .where(
        reservations.c.reservation_id == _reservation_id,
        reservations.c.released_at.is_(None),
        reservations.c.event_id.is_not(None),
    )
    .values(released_at=func.now())
    .returning(reservations.c.event_id, reservations.c.seats)
    .cte("released")
)
RELEASE = (
    update(events)
    .where(events.c.id == _released.c.event_id)
    .values(
        seats_taken=events.c.seats_taken - _released.c.seats,
        seats_version=events.c.seats_version + 1,
    )
    .returning(_released.c.seats.label("released_seats"), *EVENT_COLUMNS)
)
FENCE = (
    pg_insert(reservations)
    .values(
        reservation_id=_reservation_id, event_id=null(), seats=literal_column("0"), released_at=func.now()
    )
    .on_conflict_do_nothing(index_elements=[reservations.c.reservation_id])
    .returning(reservations.c.reservation_id)
)


class ReserveStatus(enum.Enum):
    RESERVED = "reserved"
    # The same reservation id, event and seats were reserved before: the first outcome stands.
    ALREADY_RESERVED = "already_reserved"
    # Released (or fenced by a release that came first): it can never take seats.
    RELEASED = "released"
    # The id is taken by a reservation of another event or seat count.
    ID_REUSED = "id_reused"
    # Nothing taken; `event` (None when unknown) and `now` say why.
    REFUSED = "refused"


@dataclass(frozen=True)
class ReserveOutcome:
    status: ReserveStatus
    event: EventRecord | None
    now: datetime | None = None


@dataclass(frozen=True)
class ReleaseOutcome:
    seats_released: int
    # None for a fence (the id was never reserved).
    event: EventRecord | None


@dataclass(frozen=True)
class ReservationState:
    exists: bool
    event_id: uuid.UUID | None
    seats: int
    released: bool
    event: EventRecord | None
    now: datetime


# -- listing -------------------------------------------------------------------------------------

_ORDER_COLUMNS: dict[Order, tuple[ColumnElement[Any], bool]] = {
    # order -> (first sort column, descending)
    Order.START_TIME: (events.c.start_time, False),
    Order.START_TIME_DESC: (events.c.start_time, True),
    Order.RATING_DESC: (events.c.rating_average, True),
    Order.CREATE_TIME_DESC: (events.c.create_time, True),
}


def list_statement(query: ListQuery, after: tuple[Any, uuid.UUID] | None, limit: int) -> Select[Any]:
    """ListEvents' query: filters, then keyset order (sort column, id) in one direction."""
    conditions: list[ColumnElement[bool]] = []
    if query.city:
        conditions.append(func.lower(events.c.city) == query.city)
    if query.tags:
        conditions.append(events.c.tags.overlap(bindparam("tags", list(query.tags), type_=ARRAY(Text))))
    if query.state is not None:
        conditions.append(events.c.state == query.state.value)
    if query.start_time_after is not None:
        conditions.append(events.c.start_time >= query.start_time_after)
    if query.start_time_before is not None:
        conditions.append(events.c.start_time < query.start_time_before)
    if query.has_available_seats:
        conditions.append(events.c.seats_taken < events.c.capacity)
    if query.min_rating > 0:
        conditions.append(events.c.rating_average >= query.min_rating)
    if query.organizer_id:
        conditions.append(events.c.organizer_id == query.organizer_id)
    if query.query:
        conditions.append(events.c.search.op("@@")(func.websearch_to_tsquery(SEARCH_CONFIG, query.query)))
    column, descending = _ORDER_COLUMNS[query.order]
    if after is not None:
        position = tuple_(column, events.c.id)
        boundary = tuple_(literal(after[0], type_=column.type), literal(after[1], type_=Uuid))
        conditions.append(position < boundary if descending else position > boundary)
    ordering = [column.desc(), events.c.id.desc()] if descending else [column.asc(), events.c.id.asc()]
    return select(*EVENT_COLUMNS).where(*conditions).order_by(*ordering).limit(limit)


def complete_due_statement(limit: int) -> Update:
    """Ended, still scheduled events -> COMPLETED, at most `limit`, skipping rows another replica
    has locked. The state is a literal so the planner can use the partial index `ix_events_due`."""
    scheduled = literal_column("'SCHEDULED'")
    due = (
        select(events.c.id)
        .where(events.c.state == scheduled, events.c.end_time <= func.now())
        .order_by(events.c.end_time)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    return (
        update(events)
        .where(events.c.id == due.c.id, events.c.state == scheduled)
        .values(
            state=State.COMPLETED.value,
            version=events.c.version + 1,
            seats_version=events.c.seats_version + 1,
            update_time=func.now(),
        )
        .returning(*EVENT_COLUMNS)
    )


class EventStore:
    def __init__(self, engine: AsyncEngine, inventory: RawPool) -> None:
        self.engine = engine
        # Reads are single statements: autocommit spares them BEGIN/ROLLBACK round trips.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        # Reserve/release run in autocommit too: each statement is its own transaction.
        self.inventory = inventory

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[EventWriter]:
        async with self.engine.begin() as connection:
            yield EventWriter(connection)

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, event_id: uuid.UUID) -> EventRecord | None:
        async with self._autocommit.connect() as connection:
            row = (await connection.execute(select(*EVENT_COLUMNS).where(events.c.id == event_id))).first()
        return _record(row) if row is not None else None

    async def get_many(self, event_ids: Sequence[uuid.UUID]) -> list[EventRecord]:
        if not event_ids:
            return []
        async with self._autocommit.connect() as connection:
            rows = await connection.execute(
                select(*EVENT_COLUMNS).where(
                    events.c.id == func.any(bindparam("ids", list(event_ids), type_=ARRAY(Uuid)))
                )
            )
            return [_record(row) for row in rows]

    async def find_by_request(self, organizer_id: str, request_id: str) -> tuple[EventRecord, str] | None:
        async with self._autocommit.connect() as connection:
            row = (
                await connection.execute(
                    select(*EVENT_COLUMNS, events.c.request_fingerprint).where(
                        events.c.organizer_id == organizer_id, events.c.request_id == request_id
                    )
                )
            ).first()
        return (_record(row), row.request_fingerprint or "") if row is not None else None

    async def list_events(
        self, query: ListQuery, after: tuple[Any, uuid.UUID] | None, limit: int
    ) -> list[EventRecord]:
        async with self._autocommit.connect() as connection:
            rows = await connection.execute(list_statement(query, after, limit))
            return [_record(row) for row in rows]

    async def list_tags(self, after: tuple[int, str] | None, limit: int) -> list[tuple[str, int]]:
        """Tags of scheduled events, most used first, then by name."""
        tagged = (
            select(func.unnest(events.c.tags).label("tag"))
            .where(events.c.state == State.SCHEDULED.value)
            .subquery("tagged")
        )
        count = func.count().label("event_count")
        statement = select(tagged.c.tag, count).group_by(tagged.c.tag)
        if after is not None:
            after_count, after_name = after
            statement = statement.having(
                (func.count() < after_count) | ((func.count() == after_count) & (tagged.c.tag > after_name))
            )
        statement = statement.order_by(count.desc(), tagged.c.tag.asc()).limit(limit)
        async with self._autocommit.connect() as connection:
            return [(row.tag, row.event_count) for row in await connection.execute(statement)]

    async def list_reviews(
        self, event_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ReviewRecord]:
        conditions: list[ColumnElement[bool]] = [reviews.c.event_id == event_id]
        if after is not None:
            boundary = tuple_(literal(after[0], type_=DateTime(timezone=True)), literal(after[1], type_=Uuid))
            conditions.append(tuple_(reviews.c.create_time, reviews.c.id) < boundary)
        statement = (
            select(reviews)
            .where(*conditions)
            .order_by(reviews.c.create_time.desc(), reviews.c.id.desc())
            .limit(limit)
        )
        async with self._autocommit.connect() as connection:
            return [_review(row) for row in await connection.execute(statement)]

    async def event_exists(self, event_id: uuid.UUID) -> bool:
        async with self._autocommit.connect() as connection:
            found = await connection.scalar(select(literal(True)).where(events.c.id == event_id))
        return bool(found)

    # -- the inventory -----------------------------------------------------------------------------

    async def reserve(self, event_id: uuid.UUID, seats: int, reservation_id: uuid.UUID) -> ReserveOutcome:
        params = {"p_event_id": event_id, "p_seats": seats, "p_reservation_id": reservation_id}
        async with self.inventory.connection() as connection:
            # More than one round only when the row changed between the attempt and the look at
            # why it failed (seats freed meanwhile, a duplicate committed first).
            for _ in range(5):
                try:
                    cursor = await connection.execute(_RESERVE.sql, _RESERVE.params(**params))
                    row = await cursor.fetchone()
                except psycopg.errors.UniqueViolation:
                    row = None  # a concurrent request with this id won; read its outcome below
                if row is not None:
                    return ReserveOutcome(ReserveStatus.RESERVED, _record(row))
                state = await _reservation_state(connection, params)
                if state.exists:
                    if state.released:
                        return ReserveOutcome(ReserveStatus.RELEASED, state.event)
                    if state.event_id != event_id or state.seats != seats:
                        return ReserveOutcome(ReserveStatus.ID_REUSED, state.event)
                    return ReserveOutcome(ReserveStatus.ALREADY_RESERVED, state.event)
                if why_not_reservable(state.event, seats, state.now) is not None:
                    return ReserveOutcome(ReserveStatus.REFUSED, state.event, state.now)
        raise RuntimeError("the reservation kept racing with other writes")

    async def release(self, reservation_id: uuid.UUID) -> ReleaseOutcome:
        params = {"p_reservation_id": reservation_id, "p_event_id": None}
        async with self.inventory.connection() as connection:
            for _ in range(5):
                cursor = await connection.execute(_RELEASE.sql, _RELEASE.params(**params))
                row = await cursor.fetchone()
                if row is not None:
                    return ReleaseOutcome(row.released_seats, _record(row))
                cursor = await connection.execute(_FENCE.sql, _FENCE.params(**params))
                if await cursor.fetchone() is not None:
                    return ReleaseOutcome(0, None)
                # The row exists: released before, or reserved by a transaction that committed
                # after our first statement looked (then the next round releases it).
                state = await _reservation_state(connection, params)
                if state.released:
                    return ReleaseOutcome(0, state.event)
        raise RuntimeError("the release kept racing with other writes")


_RESERVE = Compiled.of(RESERVE)
_RELEASE = Compiled.of(RELEASE)
_FENCE = Compiled.of(FENCE)
_RESERVATION_STATE = Compiled.of(RESERVATION_STATE)


async def _reservation_state(
    connection: psycopg.AsyncConnection[Any], params: dict[str, Any]
) -> ReservationState:
    cursor = await connection.execute(_RESERVATION_STATE.sql, _RESERVATION_STATE.params(**params))
    row = await cursor.fetchone()
    assert row is not None  # an outer join from one row
    return ReservationState(
        exists=row.reserved_seats is not None,
        event_id=row.reserved_event_id,
        seats=row.reserved_seats or 0,
        released=row.released_at is not None,
        event=_record(row) if row.id is not None else None,
        now=row.now,
    )


class EventWriter:
    """Statements that run inside one transaction the caller holds (with its outbox events)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def publish(self, message: protobuf_message.Message) -> None:
        await bus.publish(self.connection, outbox, message, source=SOURCE)

    async def insert_event(
        self, organizer_id: str, fields: EventFields, request_id: str | None, fingerprint: str | None
    ) -> EventRecord | None:
        """The new event; None when (organizer, request_id) exists already."""
        row = (
            await self.connection.execute(
                pg_insert(events)
                .values(
                    id=uuid.uuid4(),
                    organizer_id=organizer_id,
                    request_id=request_id,
                    request_fingerprint=fingerprint,
                    **_field_values(fields),
                )
                .on_conflict_do_nothing(constraint="uq_events_organizer_id_request_id")
                .returning(*EVENT_COLUMNS)
            )
        ).first()
        return _record(row) if row is not None else None

    async def lock_event(self, event_id: uuid.UUID, *, for_delete: bool = False) -> EventRecord | None:
        """The event, locked until the transaction ends (reservations of it wait meanwhile)."""
        statement = select(*EVENT_COLUMNS).where(events.c.id == event_id)
        statement = (
            statement.with_for_update(key_share=False)
            if for_delete
            else statement.with_for_update(key_share=True)
        )
        row = (await self.connection.execute(statement)).first()
        return _record(row) if row is not None else None

    async def write_fields(self, event_id: uuid.UUID, fields: EventFields) -> EventRecord:
        row = (
            await self.connection.execute(
                update(events)
                .where(events.c.id == event_id)
                .values(
                    **_field_values(fields),
                    version=events.c.version + 1,
                    seats_version=events.c.seats_version + 1,
                    update_time=func.now(),
                )
                .returning(*EVENT_COLUMNS)
            )
        ).one()
        return _record(row)

    async def cancel(self, event_id: uuid.UUID, reason: str) -> EventRecord:
        row = (
            await self.connection.execute(
                update(events)
                .where(events.c.id == event_id)
                .values(
                    state=State.CANCELLED.value,
                    cancel_reason=reason,
                    version=events.c.version + 1,
                    seats_version=events.c.seats_version + 1,
                    update_time=func.now(),
                )
                .returning(*EVENT_COLUMNS)
            )
        ).one()
        return _record(row)

    async def has_reservations(self, event_id: uuid.UUID) -> bool:
        found = await self.connection.scalar(
            select(literal(True)).where(exists().where(reservations.c.event_id == event_id))
        )
        return bool(found)

    async def delete(self, event_id: uuid.UUID) -> None:
        """Raises IntegrityError when a reservation points at it (the foreign key refuses)."""
        await self.connection.execute(delete(events).where(events.c.id == event_id))

    async def now(self) -> datetime:
        value = await self.connection.scalar(select(func.now()))
        assert value is not None
        return value

    async def complete_due(self, limit: int) -> list[EventRecord]:
        """Marks up to `limit` ended events COMPLETED; replicas skip each other's rows."""
        rows = await self.connection.execute(complete_due_statement(limit))
        return [_record(row) for row in rows]

    async def add_review(self, review: ReviewRecord) -> EventRecord | None:
        """Stores a review once per booking and adds it to the event's sums.

        None when the booking was reviewed before or the event is unknown.
        """
        inserted = (
            await self.connection.execute(
                pg_insert(reviews)
                .from_select(
                    [
                        "id",
                        "event_id",
                        "booking_id",
                        "author_id",
                        "event_rating",
                        "host_rating",
                        "comment",
                        "create_time",
                    ],
                    select(
                        literal(review.id, type_=Uuid),
                        events.c.id,
                        literal(review.booking_id, type_=Text),
                        literal(review.author_id, type_=Text),
                        literal(review.event_rating, type_=Integer),
                        literal(review.host_rating, type_=Integer),
                        literal(review.comment, type_=Text),
                        literal(review.create_time),
                    ).where(events.c.id == review.event_id),
                )
                .on_conflict_do_nothing(index_elements=[reviews.c.booking_id])
                .returning(reviews.c.id)
            )
        ).first()
        if inserted is None:
            return None
        row = (
            await self.connection.execute(
                update(events)
                .where(events.c.id == review.event_id)
                .values(
                    rating_sum=events.c.rating_sum + review.event_rating,
                    rating_count=events.c.rating_count + 1,
                )
                .returning(*EVENT_COLUMNS)
            )
        ).one()
        return _record(row)
