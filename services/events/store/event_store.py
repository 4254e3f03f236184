"""EventStore: what runs as single statements in autocommit (reads, and the seat inventory), and
the unit of work for everything else (`transaction()`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Uuid, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from services.events.domain import (
    EventRecord,
    ListQuery,
    ReleaseOutcome,
    ReserveOutcome,
    ReserveStatus,
    ReviewRecord,
    TagCount,
    why_not_reservable,
)
from services.events.domain.listing import SortKey
from services.events.store import inventory
from services.events.store.event_transaction import EventTransaction
from services.events.store.listing import list_statement, reviews_statement, tags_statement
from services.events.store.records import EVENT_COLUMNS, event_record, review_record
from services.events.tables import events
from services.runtime.batching import Batcher
from services.runtime.database import Database, Statement

T = TypeVar("T")

_event_id = bindparam("p_event_id", type_=Uuid)

GET_EVENT = Statement.of(select(*EVENT_COLUMNS).where(events.c.id == _event_id))
GET_EVENTS = Statement.of(
    select(*EVENT_COLUMNS).where(events.c.id == func.any(bindparam("p_event_ids", type_=ARRAY(Uuid))))
)
FIND_BY_REQUEST = Statement.of(
    select(*EVENT_COLUMNS, events.c.request_fingerprint).where(
        events.c.organizer_id == bindparam("p_organizer_id"),
        events.c.request_id == bindparam("p_request_id"),
    )
)
EVENT_EXISTS = Statement.of(select(literal(True)).where(events.c.id == _event_id))

# More than one round only when the row changed between an attempt and the look at why it failed
# (seats freed meanwhile, a duplicate committed first).
_INVENTORY_ROUNDS = 5


@dataclass(frozen=True)
class _ReservationState:
    """What RESERVATION_STATE found: the reservation id's row (if any) and its event."""

    exists: bool
    event_id: uuid.UUID | None
    seats: int
    released: bool
    event: EventRecord | None
    now: datetime


async def _settled(calls: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    """Each call's result, or the exception it raised (for that caller alone)."""
    results: list[T | BaseException] = await asyncio.gather(*calls, return_exceptions=True)
    return results


class EventStore:
    def __init__(self, database: Database, inventory: Database) -> None:
        self.database = database
        # Connections kept for ReserveSeats/ReleaseSeats, so a flood of reads never makes a
        # reservation wait for a connection. Each of their statements is its own transaction.
        self.inventory = inventory
        self._reservations: Batcher[uuid.UUID, tuple[uuid.UUID, int], ReserveOutcome] = Batcher(
            self._reserve_batch
        )

    def transaction(self) -> contextlib.AbstractAsyncContextManager[EventTransaction]:
        return self.database.transaction(EventTransaction)

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, event_id: uuid.UUID) -> EventRecord | None:
        row = await self.database.row(GET_EVENT, p_event_id=event_id)
        return event_record(row) if row is not None else None

    async def get_many(self, event_ids: Sequence[uuid.UUID]) -> list[EventRecord]:
        if not event_ids:
            return []
        rows = await self.database.rows(GET_EVENTS, p_event_ids=list(event_ids))
        return [event_record(row) for row in rows]

    async def find_by_request(self, organizer_id: str, request_id: str) -> tuple[EventRecord, str] | None:
        """The event an organizer created with this request id, and that request's fingerprint."""
        row = await self.database.row(FIND_BY_REQUEST, p_organizer_id=organizer_id, p_request_id=request_id)
        return (event_record(row), row.request_fingerprint or "") if row is not None else None

    async def list_events(self, query: ListQuery, after: SortKey | None, limit: int) -> list[EventRecord]:
        rows = await self.database.rows(list_statement(query, after, limit))
        return [event_record(row) for row in rows]

    async def list_tags(self, after: tuple[int, str] | None, limit: int) -> list[TagCount]:
        rows = await self.database.rows(tags_statement(after, limit))
        return [TagCount(name=row.tag, event_count=row.event_count) for row in rows]

    async def list_reviews(
        self, event_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ReviewRecord]:
        rows = await self.database.rows(reviews_statement(event_id, after, limit))
        return [review_record(row) for row in rows]

    async def event_exists(self, event_id: uuid.UUID) -> bool:
        return bool(await self.database.scalar(EVENT_EXISTS, p_event_id=event_id))

    # -- the inventory -----------------------------------------------------------------------------

    async def reserve(self, event_id: uuid.UUID, seats: int, reservation_id: uuid.UUID) -> ReserveOutcome:
        """Take `seats` under `reservation_id` (idempotent); reservations of one event arriving
        together are taken by one statement (inventory.RESERVE_MANY)."""
        return await self._reservations.submit(event_id, (reservation_id, seats))

    async def _reserve_batch(
        self, event_id: uuid.UUID, wanted: list[tuple[uuid.UUID, int]]
    ) -> list[ReserveOutcome | BaseException]:
        if len(wanted) == 1:
            return list(await _settled([self._reserve_one(event_id, *wanted[0])]))
        # A repeated id in one batch goes the one-by-one way (it would collide with itself).
        first = {reservation_id: index for index, (reservation_id, _) in reversed(list(enumerate(wanted)))}
        batch = [
            (reservation_id, seats)
            for index, (reservation_id, seats) in enumerate(wanted)
            if first[reservation_id] == index
        ]
        try:
            row = await self.inventory.row(
                inventory.RESERVE_MANY,
                p_event_id=event_id,
                p_reservation_ids=[reservation_id for reservation_id, _ in batch],
                p_seat_counts=[seats for _, seats in batch],
                p_positions=list(range(len(batch))),
            )
        except (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation):
            # A concurrent request with one of these ids won, or the arithmetic raced: one by one.
            row = None
        taken = set(row.reserved_ids or ()) if row is not None else set()
        event = event_record(row) if row is not None else None
        outcomes: dict[int, ReserveOutcome | BaseException] = {}
        rest: list[int] = []
        for index, (reservation_id, _) in enumerate(wanted):
            if event is not None and reservation_id in taken and first[reservation_id] == index:
                outcomes[index] = ReserveOutcome(ReserveStatus.RESERVED, event)
            else:
                rest.append(index)
        settled = await _settled([self._reserve_one(event_id, *wanted[index]) for index in rest])
        outcomes.update(zip(rest, settled, strict=True))
        return [outcomes[index] for index in range(len(wanted))]

    async def _reserve_one(
        self, event_id: uuid.UUID, reservation_id: uuid.UUID, seats: int
    ) -> ReserveOutcome:
        params = {"p_event_id": event_id, "p_seats": seats, "p_reservation_id": reservation_id}
        for _ in range(_INVENTORY_ROUNDS):
            try:
                row = await self.inventory.row(inventory.RESERVE, **params)
            except psycopg.errors.UniqueViolation:
                row = None  # a concurrent request with this id won; read its outcome below
            if row is not None:
                return ReserveOutcome(ReserveStatus.RESERVED, event_record(row))
            state = await self._reservation_state(params)
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
        params: dict[str, Any] = {"p_reservation_id": reservation_id, "p_event_id": None}
        for _ in range(_INVENTORY_ROUNDS):
            row = await self.inventory.row(inventory.RELEASE, **params)
            if row is not None:
                return ReleaseOutcome(row.released_seats, event_record(row))
            if await self.inventory.row(inventory.FENCE, **params) is not None:
                return ReleaseOutcome(0, None)
            # The row exists: released before, or reserved by a transaction that committed
            # after our first statement looked (then the next round releases it).
            state = await self._reservation_state(params)
            if state.released:
                return ReleaseOutcome(0, state.event)
        raise RuntimeError("the release kept racing with other writes")

    async def _reservation_state(self, params: dict[str, Any]) -> _ReservationState:
        row = await self.inventory.row(inventory.RESERVATION_STATE, **params)
        assert row is not None  # an outer join from one row
        return _ReservationState(
            exists=row.reserved_seats is not None,
            event_id=row.reserved_event_id,
            seats=row.reserved_seats or 0,
            released=row.released_at is not None,
            event=event_record(row) if row.id is not None else None,
            now=row.now,
        )
