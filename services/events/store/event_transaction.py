"""EventTransaction: the writes that run inside one unit of work, together with the outbox rows
they announce (`publish`) and what must wait for the commit (`after_commit`)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import DateTime

from services.events.domain import EventFields, EventRecord, ReviewRecord, State
from services.events.store.records import EVENT_COLUMNS, event_record
from services.events.tables import events, reservations, reviews
from services.runtime.database import Statement, Transaction

# What an organizer writes: the fields of EventFields, each a column of the same name but the
# price (two columns), the refund policy (its hours) and the payment hold (seconds), as parameters
# `p_<column>`: never named like the columns, because SQLAlchemy would take a column's name given
# to an UPDATE as a value to SET.
_STORED_OTHERWISE = ("price", "refund_policy", "payment_hold")
_FIELD_NAMES = tuple(
    field.name for field in dataclasses.fields(EventFields) if field.name not in _STORED_OTHERWISE
)
_COLUMNS_WRITTEN = (
    *_FIELD_NAMES,
    "price_minor",
    "price_currency",
    "refund_full_until_hours",
    "payment_hold_seconds",
)
_FIELDS = {name: bindparam(f"p_{name}", type_=events.c[name].type) for name in _COLUMNS_WRITTEN}
_event_id = bindparam("p_event_id", type_=Uuid)
# Every edit and state change moves the etag (version) and orders availability updates (seats_version).
_CHANGED = {
    "version": events.c.version + 1,
    "seats_version": events.c.seats_version + 1,
    "update_time": func.now(),
}

INSERT_EVENT = Statement.of(
    pg_insert(events)
    .values(
        id=bindparam("p_id", type_=Uuid),
        organizer_id=bindparam("p_organizer_id", type_=Text),
        request_id=bindparam("p_request_id", type_=Text),
        request_fingerprint=bindparam("p_request_fingerprint", type_=Text),
        **_FIELDS,
    )
    .on_conflict_do_nothing(constraint="uq_events_organizer_id_request_id")
    .returning(*EVENT_COLUMNS)
)
# The lock an edit takes (reservations of the event wait meanwhile, reads do not), and the stronger
# one of a delete, which also keeps new reservation rows from pointing at the event.
LOCK_EVENT = Statement.of(
    select(*EVENT_COLUMNS).where(events.c.id == _event_id).with_for_update(key_share=True)
)
LOCK_EVENT_FOR_DELETE = Statement.of(
    select(*EVENT_COLUMNS).where(events.c.id == _event_id).with_for_update(key_share=False)
)
WRITE_FIELDS = Statement.of(
    update(events).where(events.c.id == _event_id).values(**_FIELDS, **_CHANGED).returning(*EVENT_COLUMNS)
)
CANCEL = Statement.of(
    update(events)
    .where(events.c.id == _event_id)
    .values(state=State.CANCELLED.value, cancel_reason=bindparam("p_reason", type_=Text), **_CHANGED)
    .returning(*EVENT_COLUMNS)
)
HAS_RESERVATIONS = Statement.of(
    select(literal(True)).where(exists().where(reservations.c.event_id == _event_id))
)
DELETE_EVENT = Statement.of(delete(events).where(events.c.id == _event_id))
NOW = Statement.of(select(func.now()))

# Ended, still scheduled events -> COMPLETED, at most `p_limit`, skipping rows another replica has
# locked. The state is a literal so the planner can use the partial index `ix_events_due`.
_scheduled: ColumnElement[str] = literal_column("'SCHEDULED'")
_due = (
    select(events.c.id)
    .where(events.c.state == _scheduled, events.c.end_time <= func.now())
    .order_by(events.c.end_time)
    .limit(bindparam("p_limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
COMPLETE_DUE = Statement.of(
    update(events)
    .where(events.c.id == _due.c.id, events.c.state == _scheduled)
    .values(state=State.COMPLETED.value, **_CHANGED)
    .returning(*EVENT_COLUMNS)
)

# A review of a known event, once per booking (the unique booking_id): RETURNING nothing otherwise.
INSERT_REVIEW = Statement.of(
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
            bindparam("p_id", type_=Uuid),
            events.c.id,
            bindparam("p_booking_id", type_=Text),
            bindparam("p_author_id", type_=Text),
            bindparam("p_event_rating", type_=Integer),
            bindparam("p_host_rating", type_=Integer),
            bindparam("p_comment", type_=Text),
            bindparam("p_create_time", type_=DateTime(timezone=True)),
        ).where(events.c.id == _event_id),
    )
    .on_conflict_do_nothing(index_elements=[reviews.c.booking_id])
    .returning(reviews.c.id)
)
ADD_RATING = Statement.of(
    update(events)
    .where(events.c.id == _event_id)
    .values(
        rating_sum=events.c.rating_sum + bindparam("p_rating", type_=Integer),
        rating_count=events.c.rating_count + 1,
    )
    .returning(*EVENT_COLUMNS)
)


def _field_params(fields: EventFields) -> dict[str, Any]:
    # Filled by normalize_fields (create) or taken from the event (update).
    assert fields.payment_hold is not None
    values = {name: getattr(fields, name) for name in _FIELD_NAMES}
    values.update(
        tags=list(fields.tags),
        price_minor=fields.price.minor if fields.price is not None else None,
        price_currency=fields.price.currency if fields.price is not None else None,
        refund_full_until_hours=fields.refund_policy,
        payment_hold_seconds=int(fields.payment_hold.total_seconds()),
    )
    return {f"p_{name}": value for name, value in values.items()}


class EventTransaction(Transaction):
    """Statements that commit together, with the bus events they announce."""

    async def insert_event(
        self, organizer_id: str, fields: EventFields, request_id: str | None, fingerprint: str | None
    ) -> EventRecord | None:
        """The new event; None when (organizer, request_id) exists already."""
        row = await self.row(
            INSERT_EVENT,
            p_id=uuid.uuid4(),
            p_organizer_id=organizer_id,
            p_request_id=request_id,
            p_request_fingerprint=fingerprint,
            **_field_params(fields),
        )
        return event_record(row) if row is not None else None

    async def lock_event(self, event_id: uuid.UUID, *, for_delete: bool = False) -> EventRecord | None:
        """The event, locked until the transaction ends (reservations of it wait meanwhile)."""
        row = await self.row(LOCK_EVENT_FOR_DELETE if for_delete else LOCK_EVENT, p_event_id=event_id)
        return event_record(row) if row is not None else None

    async def write_fields(self, event_id: uuid.UUID, fields: EventFields) -> EventRecord:
        return event_record(await self.row(WRITE_FIELDS, p_event_id=event_id, **_field_params(fields)))

    async def cancel(self, event_id: uuid.UUID, reason: str) -> EventRecord:
        return event_record(await self.row(CANCEL, p_event_id=event_id, p_reason=reason))

    async def has_reservations(self, event_id: uuid.UUID) -> bool:
        return bool(await self.scalar(HAS_RESERVATIONS, p_event_id=event_id))

    async def delete(self, event_id: uuid.UUID) -> bool:
        """False when a reservation points at the event: its foreign key has the last word."""
        try:
            # A savepoint, so the refusal leaves this transaction usable.
            async with self.connection.transaction():
                await self.execute(DELETE_EVENT, p_event_id=event_id)
        except psycopg.errors.ForeignKeyViolation:
            return False
        return True

    async def now(self) -> datetime:
        """The database's clock (the transaction's start), the one its rows were stamped with."""
        value: datetime = await self.scalar(NOW)
        return value

    async def complete_due(self, limit: int) -> list[EventRecord]:
        """Marks up to `limit` ended events COMPLETED; replicas skip each other's rows."""
        return [event_record(row) for row in await self.rows(COMPLETE_DUE, p_limit=limit)]

    async def add_review(self, review: ReviewRecord) -> EventRecord | None:
        """Stores a review once per booking and adds it to the event's sums.

        None when the booking was reviewed before or the event is unknown.
        """
        inserted = await self.row(
            INSERT_REVIEW,
            p_id=review.id,
            p_event_id=review.event_id,
            p_booking_id=review.booking_id,
            p_author_id=review.author_id,
            p_event_rating=review.event_rating,
            p_host_rating=review.host_rating,
            p_comment=review.comment,
            p_create_time=review.create_time,
        )
        if inserted is None:
            return None
        rated = await self.row(ADD_RATING, p_event_id=review.event_id, p_rating=review.event_rating)
        return event_record(rated)
