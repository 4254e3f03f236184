"""Bookings and events as the bus described them: what a message needs to know without calling back.

A bookings message updates the booking's state only when it is newer than what is known (its
`occurred_at`), so a late message notifies no one; an events message replaces the event only with
a newer version. Events first heard of through a booking are kept from the booking's copy until
the events service describes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, literal, or_, select, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.types import Uuid

from services.notifications.domain.kinds import BookingState, EventState
from services.notifications.domain.messages import EventSummary
from services.notifications.domain.records import AppliedBooking, BookingNews, KnownEvent
from services.notifications.tables import bookings, events, known_users
from services.runtime.database import Database, Executor, Statement

# What the events projection holds of an event, as parameters named like its columns.
_EVENT_VALUES: dict[str, Any] = {
    name: bindparam(name)
    for name in ("event_id", "title", "start_time", "end_time", "time_zone", "city", "venue")
}

_booking_row = insert(bookings).values(
    booking_id=bindparam("booking_id"),
    event_id=bindparam("event_id"),
    guest_id=bindparam("guest_id"),
    host_id=bindparam("host_id"),
    seats=bindparam("seats"),
    state=bindparam("state"),
    changed_at=bindparam("changed_at"),
)
_applied = _booking_row.on_conflict_do_update(
    index_elements=[bookings.c.booking_id],
    set_={
        "state": _booking_row.excluded.state,
        "seats": _booking_row.excluded.seats,
        "changed_at": _booking_row.excluded.changed_at,
    },
    where=bookings.c.changed_at <= _booking_row.excluded.changed_at,
).returning(bookings.c.booking_id)
# What a booking says about its event, kept only when the events service told us nothing yet.
_learned = insert(events).values(**_EVENT_VALUES, organizer_id=bindparam("host_id")).on_conflict_do_nothing()
_remembered = (
    insert(known_users)
    .from_select(
        ["user_id"],
        union(select(bindparam("guest_id", type_=Uuid)), select(bindparam("host_id", type_=Uuid))),
    )
    .on_conflict_do_nothing()
)


def _apply_booking() -> Any:
    """One statement for a booking message: learn its event and users, record its new state.

    It reads as the database was before the statement (data-modifying CTEs don't see each
    other), which is what the caller needs: the booking's previous state, whether this message
    was fresh (its state was applied), and the events service's view of the event if we have one.
    """
    applied = _applied.cte("applied")
    one = select(literal(1).label("one")).subquery("one")
    previous = select(bookings.c.state).where(bookings.c.booking_id == bindparam("booking_id"))
    return (
        select(
            select(applied.c.booking_id).exists().label("fresh"),
            previous.scalar_subquery().label("previous_state"),
            events.c.event_id,
            events.c.title,
            events.c.start_time,
            events.c.end_time,
            events.c.time_zone,
            events.c.city,
            events.c.venue,
        )
        .select_from(one.outerjoin(events, events.c.event_id == bindparam("event_id")))
        .add_cte(_learned.cte("learned"), _remembered.cte("remembered"))
    )


_APPLY_BOOKING = Statement.of(_apply_booking())

_event_row = insert(events).values(
    **_EVENT_VALUES,
    organizer_id=bindparam("organizer_id"),
    state=bindparam("state"),
    version=bindparam("version"),
)
_APPLY_EVENT = Statement.of(
    _event_row.on_conflict_do_update(
        index_elements=[events.c.event_id],
        set_={
            name: _event_row.excluded[name]
            for name in (
                "organizer_id",
                "title",
                "start_time",
                "end_time",
                "time_zone",
                "city",
                "venue",
                "state",
                "version",
            )
        },
        where=or_(events.c.version.is_(None), events.c.version <= _event_row.excluded.version),
    ).returning(events.c.event_id)
)

_EVENT = Statement.of(select(events).where(events.c.event_id == bindparam("event_id", type_=Uuid)))
_FORGET_EVENT = Statement.of(delete(events).where(events.c.event_id == bindparam("event_id", type_=Uuid)))
_FORGET_BOOKINGS = Statement.of(
    delete(bookings).where(bookings.c.event_id == bindparam("event_id", type_=Uuid))
)
_BOOKING_STATE = Statement.of(
    select(bookings.c.state).where(bookings.c.booking_id == bindparam("booking_id", type_=Uuid))
)


def event_summary(row: Any) -> EventSummary:
    """The event of a row with the events projection's columns."""
    return EventSummary(
        event_id=str(row.event_id),
        title=row.title,
        start_time=row.start_time,
        end_time=row.end_time,
        time_zone=row.time_zone,
        city=row.city,
        venue=row.venue,
    )


def _event_values(event: EventSummary) -> dict[str, Any]:
    """The values of `_EVENT_VALUES`."""
    return {
        "event_id": event.event_id,
        "title": event.title,
        "start_time": event.start_time,
        "end_time": event.end_time,
        "time_zone": event.time_zone,
        "city": event.city,
        "venue": event.venue,
    }


class Projections(Executor):
    """The writes that keep the projections (part of NotificationTransaction)."""

    async def apply_booking(
        self, booking: BookingNews, *, state: BookingState, changed_at: datetime
    ) -> AppliedBooking:
        """Record a booking's new state (and, if still unknown, its event and users)."""
        # Ids go as text (the statement casts them): PostgreSQL checks them as it would UUIDs.
        [row] = await self.rows(
            _APPLY_BOOKING,
            **_event_values(booking.event),
            booking_id=booking.booking_id,
            guest_id=booking.guest_id,
            host_id=booking.host_id,
            seats=booking.seats,
            state=state,
            changed_at=changed_at,
        )
        return AppliedBooking(
            fresh=row.fresh,
            previous_state=BookingState(row.previous_state) if row.previous_state is not None else None,
            event=event_summary(row) if row.event_id is not None else None,
        )

    async def apply_event(self, event: KnownEvent, *, state: EventState, version: datetime) -> bool:
        """Record the events service's view of an event; False when a newer version is known."""
        applied = await self.row(
            _APPLY_EVENT,
            **_event_values(event.summary),
            organizer_id=event.organizer_id,
            state=state,
            version=version,
        )
        return applied is not None

    async def booking_state(self, booking_id: str) -> BookingState | None:
        """The booking's state as the bus last told it; None when it was not heard of."""
        state = await self.scalar(_BOOKING_STATE, booking_id=booking_id)
        return BookingState(state) if state is not None else None

    async def known_event(self, event_id: str) -> EventSummary | None:
        """The event as the events projection holds it; None when it was not heard of."""
        row = await self.row(_EVENT, event_id=event_id)
        return event_summary(row) if row is not None else None

    async def forget_event(self, event_id: str) -> None:
        """The event is gone for good: its projection and the bookings of it we heard of."""
        await self.execute(_FORGET_EVENT, event_id=event_id)
        await self.execute(_FORGET_BOOKINGS, event_id=event_id)


class EventReads:
    """Reads of the events projection (part of NotificationStore)."""

    database: Database

    async def event(self, event_id: str) -> KnownEvent | None:
        """The event as the bus described it (or a booking of it did), if it was heard of."""
        row = await self.database.row(_EVENT, event_id=event_id)
        if row is None:
            return None
        return KnownEvent(
            summary=event_summary(row),
            organizer_id=str(row.organizer_id),
            state=EventState(row.state),
            version=row.version,
        )
