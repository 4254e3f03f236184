"""The seat inventory's statements: the heart of the seat invariant.

Each is a single statement run in autocommit (on the inventory's own connections), so it is one
transaction and one round trip, and the event row's lock is held only while the statement commits:

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

Reservations of one event that arrive together are taken by one statement (RESERVE_MANY): the
event row is locked once, the new ids are taken smallest first (then in arrival order) as long as
they fit, one UPDATE adds their seats and one INSERT records them, all in one commit. Smallest first
makes the batch take exactly what one-by-one reservations in that order would, so nobody is
refused while their seats are free. Ids it does not take (seen before, or no room) go the one-by-one
way, which says why.
"""

from __future__ import annotations

from sqlalchemy import (
    Integer,
    Uuid,
    bindparam,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.events.domain import State
from services.events.store.records import EVENT_COLUMNS
from services.events.tables import events, reservations
from services.runtime.database import Statement

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
RESERVE = Statement.of(select(_taken).add_cte(_recorded))

_requested = select(
    func.unnest(bindparam("p_reservation_ids", type_=ARRAY(Uuid))).label("reservation_id"),
    func.unnest(bindparam("p_seat_counts", type_=ARRAY(Integer))).label("seats"),
    func.unnest(bindparam("p_positions", type_=ARRAY(Integer))).label("position"),
).cte("requested")
_new = (
    select(_requested)
    .where(~exists().where(reservations.c.reservation_id == _requested.c.reservation_id))
    .cte("new")
)
_running = select(
    _new.c.reservation_id,
    _new.c.seats,
    func.sum(_new.c.seats).over(order_by=(_new.c.seats, _new.c.position)).label("running"),
).cte("running")
# The event row, locked: its newest version, whoever committed since this statement began.
_room = (
    select(events.c.id, (events.c.capacity - events.c.seats_taken).label("free"))
    .where(
        events.c.id == _event_id,
        events.c.state == State.SCHEDULED.value,
        events.c.start_time > func.now(),
    )
    .with_for_update()
    .cte("room")
)
_fitting = (
    select(_running.c.reservation_id, _running.c.seats)
    .select_from(_running.join(_room, _running.c.running <= _room.c.free))
    .cte("fitting")
)
_taken_many = (
    update(events)
    .where(events.c.id == _event_id, exists(select(_fitting.c.seats)))
    .values(
        seats_taken=events.c.seats_taken + select(func.sum(_fitting.c.seats)).scalar_subquery(),
        seats_version=events.c.seats_version + 1,
    )
    .returning(*EVENT_COLUMNS)
    .cte("taken_many")
)
_recorded_many = (
    insert(reservations)
    .from_select(
        ["reservation_id", "event_id", "seats"],
        select(_fitting.c.reservation_id, _taken_many.c.id, _fitting.c.seats).select_from(
            _fitting.join(_taken_many, true())
        ),
    )
    .returning(reservations.c.reservation_id)
    .cte("recorded_many")
)
RESERVE_MANY = Statement.of(
    select(
        _taken_many,
        select(func.array_agg(_recorded_many.c.reservation_id)).scalar_subquery().label("reserved_ids"),
    )
)

# What the reservation id and the event look like now: why a reserve took nothing.
_one = select(literal(1).label("one")).subquery("one")
RESERVATION_STATE = Statement.of(
    select(
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
RELEASE = Statement.of(
    update(events)
    .where(events.c.id == _released.c.event_id)
    .values(
        seats_taken=events.c.seats_taken - _released.c.seats,
        seats_version=events.c.seats_version + 1,
    )
    .returning(_released.c.seats.label("released_seats"), *EVENT_COLUMNS)
)
FENCE = Statement.of(
    pg_insert(reservations)
    .values(
        reservation_id=_reservation_id, event_id=null(), seats=literal_column("0"), released_at=func.now()
    )
    .on_conflict_do_nothing(index_elements=[reservations.c.reservation_id])
    .returning(reservations.c.reservation_id)
)
