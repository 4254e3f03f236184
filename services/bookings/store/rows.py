"""What every statement of the store shares: the columns a booking is read with (its waitlist
position computed in SQL), states written as SQL literals, the SET clauses that copy an event onto
its bookings, and rows turned into domain types.

States are written as SQL literals, never as parameters, so PostgreSQL matches them against the
partial indexes even with prepared (generic) plans.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Interval,
    Text,
    Uuid,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    update,
)

from services.bookings import tables
from services.bookings.domain import (
    ACTIVE_STATES,
    MAY_HOLD_STATES,
    Booking,
    BookingDraft,
    EventFacts,
    State,
    Terms,
    terms_for,
)
from services.runtime.money import Amount

bookings = tables.bookings
c = bookings.c
peer = bookings.alias("peer")

ACTIVE = sorted(ACTIVE_STATES)
MAY_HOLD = sorted(MAY_HOLD_STATES)


def state_is(column: ColumnElement[Any], *states: State) -> ColumnElement[bool]:
    literals = [literal_column(f"'{state.value}'", Text) for state in states]
    return column == literals[0] if len(literals) == 1 else column.in_(literals)


def state_value(state: State) -> ColumnElement[str]:
    return literal_column(f"'{state.value}'", Text)


def seconds(name: str) -> ColumnElement[Any]:
    """A bound number of seconds as an interval."""
    return bindparam(name, type_=Float) * literal_column("interval '1 second'", Interval)


def after(delay: float) -> ColumnElement[Any]:
    """now() plus a delay known when the statement is built."""
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, float(delay))


# 1 is next in line. Counting those strictly ahead (plus one) is right both in a SELECT and in the
# RETURNING of the UPDATE that put the booking in line (whose snapshot does not see it there yet).
_position = case(
    (
        state_is(c.state, State.WAITLISTED),
        select(func.count())
        .select_from(peer)
        .where(
            peer.c.event_id == c.event_id,
            state_is(peer.c.state, State.WAITLISTED),
            peer.c.waitlist_seq < c.waitlist_seq,
        )
        .correlate(bookings)
        .scalar_subquery()
        + 1,
    ),
    else_=0,
).label("waitlist_position")

# Booking's fields kept in a column of the same name; its terms are four columns.
_FIELDS = [
    field.name for field in dataclasses.fields(Booking) if field.name not in ("waitlist_position", "terms")
]
_TERMS = ["amount_minor", "currency", "refund_full_until_hours", "payment_hold_seconds"]
# Booking's fields in their order, then its terms' columns, the waitlist position last.
COLUMNS: list[Any] = [*(c[name] for name in _FIELDS), *(c[name] for name in _TERMS), _position]
_NAMES = [*_FIELDS, *_TERMS, "waitlist_position"]


def booking(row: Sequence[Any]) -> Booking:
    """A row that starts with COLUMNS (more columns after them are left out)."""
    values = dict(zip(_NAMES, row[: len(COLUMNS)], strict=True))
    amount, currency = values.pop("amount_minor"), values.pop("currency")
    refund_policy, hold_seconds = values.pop("refund_full_until_hours"), values.pop("payment_hold_seconds")
    terms = (
        Terms(Amount(amount, currency), refund_policy, timedelta(seconds=hold_seconds))
        if amount is not None
        else None
    )
    return Booking(**{**values, "state": State(values["state"]), "terms": terms})


def terms_params(terms: Terms | None, prefix: str) -> dict[str, Any]:
    """Bound values of a booking's terms columns (`<prefix>amount`, ...)."""
    return {
        f"{prefix}amount": terms.amount.minor if terms else None,
        f"{prefix}currency": terms.amount.currency if terms else None,
        f"{prefix}refund_hours": terms.refund_policy if terms else None,
        f"{prefix}hold_seconds": int(terms.payment_hold.total_seconds()) if terms else None,
    }


def terms_values(prefix: str) -> dict[str, Any]:
    """SET clauses of a booking's terms columns from the parameters of `terms_params`."""
    return {
        "amount_minor": bindparam(f"{prefix}amount", type_=BigInteger),
        "currency": bindparam(f"{prefix}currency", type_=Text),
        "refund_full_until_hours": bindparam(f"{prefix}refund_hours", type_=Integer),
        "payment_hold_seconds": bindparam(f"{prefix}hold_seconds", type_=Integer),
    }


def new_booking_values() -> dict[str, Any]:
    """VALUES of a new booking from the parameters of `new_booking_params` (its state and what
    goes with it are the statement's own)."""
    return {
        "id": bindparam("p_id", type_=Uuid),
        # Its own id, until a late payment takes seats again under a new one.
        "reservation_id": bindparam("p_id", type_=Uuid),
        "user_id": bindparam("p_user_id", type_=Text),
        "request_id": bindparam("p_request_id", type_=Text),
        "event_id": bindparam("p_event_id", type_=Text),
        "host_id": bindparam("p_host_id", type_=Text),
        "seats": bindparam("p_seats", type_=Integer),
        "join_waitlist": bindparam("p_join_waitlist", type_=Boolean),
        "event_title": bindparam("p_title", type_=Text),
        "event_start_time": bindparam("p_start", type_=DateTime(timezone=True)),
        "event_end_time": bindparam("p_end", type_=DateTime(timezone=True)),
        "event_time_zone": bindparam("p_time_zone", type_=Text),
        "event_city": bindparam("p_city", type_=Text),
        "event_venue": bindparam("p_venue", type_=Text),
        "event_updated_at": bindparam("p_updated", type_=DateTime(timezone=True)),
        # What it would cost now; a reservation prices it by the event as events answers.
        **terms_values("p_"),
    }


def new_booking_params(
    booking_id: uuid.UUID, user_id: str, draft: BookingDraft, event: EventFacts
) -> dict[str, Any]:
    return {
        "p_id": booking_id,
        "p_user_id": user_id,
        "p_request_id": draft.request_id,
        "p_event_id": draft.event_id,
        "p_host_id": event.organizer_id,
        "p_seats": draft.seats,
        "p_join_waitlist": draft.join_waitlist,
        "p_title": event.title,
        "p_start": event.start_time,
        "p_end": event.end_time,
        "p_time_zone": event.time_zone,
        "p_city": event.city,
        "p_venue": event.venue,
        "p_updated": event.update_time,
        **terms_params(terms_for(event, draft.seats), "p_"),
    }


def first_booking(rows: Sequence[Sequence[Any]]) -> Booking | None:
    return booking(rows[0]) if rows else None


def transition(current: Booking, values: dict[str, Any]) -> Any:
    """UPDATE a booking that is still in the state the caller saw, returning it (no row when it
    changed meanwhile): two actors racing on one booking cannot both win; the loser re-reads."""
    return (
        update(bookings)
        .where(c.id == current.id, state_is(c.state, current.state))
        .values(**values, update_time=func.now())
        .returning(*COLUMNS)
    )


def event_copy() -> dict[str, Any]:
    """SET clauses that refresh a booking's copy of its event from bound parameters (e_*).

    A copy newer than the one given (a later EventUpdated got here first) stays as it is. When the
    event moved onto the start time of another active booking of the same guest, the booking
    becomes `schedule_exempt` (see `BookingTransaction.apply_event_update`).
    """
    start = bindparam("e_start", type_=DateTime(timezone=True))
    updated = bindparam("e_updated", type_=DateTime(timezone=True))
    moved_into_conflict = exists(
        select(1)
        .select_from(peer)
        .where(
            peer.c.user_id == c.user_id,
            peer.c.id != c.id,
            peer.c.event_start_time == start,
            state_is(peer.c.state, *ACTIVE),
            peer.c.schedule_exempt == false(),
        )
    )
    newer = or_(updated.is_(None), c.event_updated_at.is_(None), c.event_updated_at <= updated)
    values: dict[str, Any] = {
        "event_title": bindparam("e_title", type_=Text),
        "event_start_time": start,
        "event_end_time": bindparam("e_end", type_=DateTime(timezone=True)),
        "event_time_zone": bindparam("e_time_zone", type_=Text),
        "event_city": bindparam("e_city", type_=Text),
        "event_venue": bindparam("e_venue", type_=Text),
        "schedule_exempt": case((c.event_start_time == start, c.schedule_exempt), else_=moved_into_conflict),
    }
    copied: dict[str, Any] = {name: case((newer, value), else_=c[name]) for name, value in values.items()}
    copied["event_updated_at"] = func.greatest(c.event_updated_at, updated)
    return copied


def event_params(event: EventFacts) -> dict[str, Any]:
    return {
        "e_title": event.title,
        "e_start": event.start_time,
        "e_end": event.end_time,
        "e_time_zone": event.time_zone,
        "e_city": event.city,
        "e_venue": event.venue,
        "e_updated": event.update_time,
    }
