"""`BookingStore`: the store's single statements, each one round trip in autocommit (no BEGIN/COMMIT),
and the door to its unit of work (`transaction()`, see transaction.py).

The booking hot path (write the PENDING booking, settle it, look it up, mark a release done) is
single statements by design: each is atomic alone, and sparing each the BEGIN/COMMIT round trips
and the async engine's overhead was most of the service's CPU per booking. Settling writes its bus
event in the same statement: a CTE inserts the outbox row, so the state change and its event still
commit together. Under load, PENDING bookings and settlements that arrive together are written by
one pipelined transaction per batch (`_write`): a fraction of the round trips and commits each.
The reconciler's lease (`claim_unsettled`) and the steps of a waitlist promotion are single
statements too.

The static statements are built once, with bound parameters, and compiled once at import: each
call pays only for execution.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

import psycopg
from google.protobuf.message import Message
from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
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

from services.bookings import tables
from services.bookings.domain import (
    Booking,
    BookingDraft,
    EventFacts,
    InTheWay,
    Settlement,
    State,
)
from services.bookings.store.rows import (
    ACTIVE,
    COLUMNS,
    after,
    booking,
    bookings,
    c,
    event_copy,
    event_params,
    first_booking,
    new_booking_params,
    new_booking_values,
    seconds,
    state_is,
    state_value,
    terms_params,
    terms_values,
    transition,
)
from services.bookings.store.transaction import GET, RECORD_CHECKOUT, BookingTransaction
from services.runtime.batching import Batcher
from services.runtime.bus.envelopes import envelope_for
from services.runtime.database import Database, Row, Statement, outbox_values

# -- create -------------------------------------------------------------------------------------

INSERT_PENDING = Statement.of(
    pg_insert(bookings)
    .values(
        **new_booking_values(),
        state=state_value(State.PENDING),
        # If this process dies before events answers, the reconciler takes over from here.
        retry_at=func.now() + seconds("p_after"),
    )
    .on_conflict_do_nothing(
        index_elements=["user_id", "request_id"], index_where=text("request_id IS NOT NULL")
    )
    .returning(*COLUMNS[:-1], literal_column("0", Integer).label("waitlist_position"))
)

# The partial unique indexes that refuse a booking when another active one is in its way.
_ACTIVE_RULES = frozenset({tables.UQ_ACTIVE_EVENT, tables.UQ_ACTIVE_START})

FIND_BY_REQUEST = Statement.of(
    select(*COLUMNS).where(
        c.user_id == bindparam("p_user_id", type_=Text), c.request_id == bindparam("p_request_id", type_=Text)
    )
)

FIND_ACTIVE_FOR_USER = Statement.of(
    select(*COLUMNS).where(
        c.user_id == bindparam("p_user_id", type_=Text),
        state_is(c.state, *ACTIVE),
        or_(
            c.event_id == bindparam("p_event_id", type_=Text),
            c.event_start_time == bindparam("p_start", type_=DateTime(timezone=True)),
        ),
    )
)

# What may answer requests before their bookings are written (their event is known to be sold out),
# many at once: per request (`asked.position`), the booking its request_id made before, and the
# guest's active bookings that would refuse it.
_asked = select(
    func.unnest(bindparam("a_positions", type_=ARRAY(Integer))).label("position"),
    func.unnest(bindparam("a_users", type_=ARRAY(Text))).label("user_id"),
    func.unnest(bindparam("a_requests", type_=ARRAY(Text))).label("request_id"),
    func.unnest(bindparam("a_events", type_=ARRAY(Text))).label("event_id"),
    func.unnest(bindparam("a_starts", type_=ARRAY(DateTime(timezone=True)))).label("start_time"),
).cte("asked")
FIND_IN_THE_WAY = Statement.of(
    select(*COLUMNS, _asked.c.position.label("asked_position")).join_from(
        bookings,
        _asked,
        and_(
            c.user_id == _asked.c.user_id,
            or_(
                c.request_id == _asked.c.request_id,
                and_(
                    state_is(c.state, *ACTIVE),
                    or_(
                        c.event_id == _asked.c.event_id,
                        # As UQ_ACTIVE_START: an exempt booking is in nobody's way.
                        and_(c.event_start_time == _asked.c.start_time, c.schedule_exempt == false()),
                    ),
                ),
            ),
        ),
    )
)

# -- settle -------------------------------------------------------------------------------------

_SETTLED = {
    "state": bindparam("s_state", type_=Text),
    "hold_expire_time": bindparam("s_hold", type_=DateTime(timezone=True)),
    "reject_cause": bindparam("s_cause", type_=Text),
    **terms_values("s_"),
    # NULL but for a payment hold: its checkout is opened next, by the reconciler if this process
    # dies first.
    "retry_at": func.now() + seconds("s_retry"),
    "update_time": func.now(),
}


def _settle_statement(*, with_event: bool) -> Statement:
    """UPDATE the PENDING booking and INSERT its bus event into the outbox, as one statement."""
    values = {**_SETTLED, **(event_copy() if with_event else {})}
    settled = (
        update(bookings)
        .where(c.id == bindparam("s_id", type_=Uuid), state_is(c.state, State.PENDING))
        .values(**values)
        .returning(*COLUMNS)
        .cte("settled")
    )
    published = (
        insert(tables.outbox)
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
    return Statement.of(select(settled).add_cte(published))


SETTLE_WITH_EVENT = _settle_statement(with_event=True)
SETTLE = _settle_statement(with_event=False)

MARK_RELEASED = Statement.of(
    update(bookings)
    .where(c.id == bindparam("p_id", type_=Uuid), c.release_pending == true())
    .values(
        release_pending=False,
        # A late payment waits for this release before it takes seats again: due now.
        retry_at=case(
            (and_(state_is(c.state, State.EXPIRED), c.paid_at.is_not(None)), func.now()), else_=null()
        ),
        attempts=0,
    )
)

# A late payment takes seats again: EXPIRED -> PENDING under a new reservation id, once the old
# one's release is confirmed (two live ids would let a retried release free the new seats).
BEGIN_RETAKE = Statement.of(
    update(bookings)
    .where(
        c.id == bindparam("p_id", type_=Uuid),
        state_is(c.state, State.EXPIRED),
        c.paid_at.is_not(None),
        c.release_pending == false(),
        c.retry_at.is_not(None),
    )
    .values(
        state=state_value(State.PENDING),
        reservation_id=bindparam("p_reservation_id", type_=Uuid),
        reject_cause=null(),
        retry_at=func.now() + seconds("p_after"),
        attempts=0,
        update_time=func.now(),
    )
    .returning(*COLUMNS)
)


# -- the reconciler and the waitlist ------------------------------------------------------------

_due = (
    select(c.id)
    .where(
        # tables.RECONCILE_SQL, term for term (the partial index's predicate).
        or_(
            state_is(c.state, State.PENDING),
            c.release_pending == true(),
            and_(state_is(c.state, State.AWAITING_PAYMENT), c.payment_id.is_(None)),
            and_(state_is(c.state, State.EXPIRED), c.paid_at.is_not(None)),
        ),
        c.retry_at <= func.now(),
    )
    .order_by(c.retry_at)
    .limit(bindparam("r_limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_backoff = func.least(
    bindparam("r_base", type_=Float) * func.power(2, func.least(c.attempts, 10)),
    bindparam("r_max", type_=Float),
)
CLAIM_UNSETTLED = Statement.of(
    update(bookings)
    .where(c.id.in_(_due))
    .values(
        retry_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, _backoff),
        attempts=func.least(c.attempts + 1, 1000),
    )
    .returning(*COLUMNS)
)

EVENTS_WITH_WAITLIST = Statement.of(
    select(c.event_id)
    .where(state_is(c.state, State.WAITLISTED))
    .group_by(c.event_id)
    .limit(bindparam("w_limit", type_=Integer))
)


class BookingStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        # The hot path's writes (PENDING bookings, settlements) that arrive together commit
        # together: one round trip and one commit per batch (runtime/batching.py).
        self._writes: Batcher[str, tuple[Statement, dict[str, Any]], list[Row]] = Batcher(
            self._write_together
        )
        self._lookups: Batcher[None, tuple[str, BookingDraft, datetime], list[Booking]] = Batcher(
            self._find_in_the_way_together
        )

    async def _write(self, statement: Statement, params: dict[str, Any]) -> list[Row]:
        return await self._writes.submit(statement.sql, (statement, params))

    async def _write_together(
        self, sql: str, batch: list[tuple[Statement, dict[str, Any]]]
    ) -> list[list[Row] | BaseException]:
        written = batch[0][0]
        try:
            return list(await self.database.write_each(written, [params for _, params in batch]))
        except (psycopg.IntegrityError, psycopg.errors.TransactionRollback):
            if len(batch) == 1:
                raise
        # One of them broke a rule, or the batch lost a deadlock that single statements cannot have
        # (and none was written): each alone, to know which, and so nobody pays for another.
        results: list[list[Row] | BaseException] = []
        for _, params in batch:
            try:
                results.append(await self.database.rows(written, **params))
            except psycopg.IntegrityError as error:
                results.append(error)
        return results

    def transaction(self) -> contextlib.AbstractAsyncContextManager[BookingTransaction]:
        return self.database.transaction(BookingTransaction)

    # -- create -----------------------------------------------------------------------------------

    async def insert_pending(
        self,
        *,
        booking_id: uuid.UUID,
        user_id: str,
        draft: BookingDraft,
        event: EventFacts,
        reconcile_after: float,
    ) -> Booking | InTheWay | None:
        """The booking as PENDING; InTheWay when another active booking of the user refused it; or
        None when this user already sent this request_id."""
        try:
            rows = await self._write(
                INSERT_PENDING,
                {**new_booking_params(booking_id, user_id, draft, event), "p_after": reconcile_after},
            )
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name not in _ACTIVE_RULES:
                raise
            return InTheWay()
        return first_booking(rows)

    async def find_by_request(self, user_id: str, request_id: str) -> Booking | None:
        return first_booking(
            await self.database.rows(FIND_BY_REQUEST, p_user_id=user_id, p_request_id=request_id)
        )

    async def find_active_for_user(
        self, user_id: str, *, event_id: str, start_time: datetime
    ) -> list[Booking]:
        """The user's active bookings of this event or at this start time (why an insert was refused)."""
        rows = await self.database.rows(
            FIND_ACTIVE_FOR_USER, p_user_id=user_id, p_event_id=event_id, p_start=start_time
        )
        return [booking(row) for row in rows]

    async def find_in_the_way(
        self, user_id: str, draft: BookingDraft, *, start_time: datetime
    ) -> list[Booking]:
        """The booking this request_id made before, and the guest's active bookings of this event or
        at its start time: what answers a request before a booking for it is written. Lookups
        that arrive together share one statement."""
        return await self._lookups.submit(None, (user_id, draft, start_time))

    async def _find_in_the_way_together(
        self, _: None, asked: list[tuple[str, BookingDraft, datetime]]
    ) -> list[list[Booking]]:
        rows = await self.database.rows(
            FIND_IN_THE_WAY,
            a_positions=list(range(len(asked))),
            a_users=[user_id for user_id, _, _ in asked],
            a_requests=[draft.request_id for _, draft, _ in asked],
            a_events=[draft.event_id for _, draft, _ in asked],
            a_starts=[start for _, _, start in asked],
        )
        found: list[list[Booking]] = [[] for _ in asked]
        for row in rows:
            found[row.asked_position].append(booking(row))
        return found

    async def get(self, booking_id: uuid.UUID) -> Booking | None:
        return first_booking(await self.database.rows(GET, p_id=booking_id))

    # -- settle -----------------------------------------------------------------------------------

    async def settle(
        self,
        booking_id: uuid.UUID,
        settlement: Settlement,
        event: EventFacts | None,
        message: Message,
        *,
        reconcile_after: float,
    ) -> Booking | None:
        """Settle a PENDING booking and write its bus event, in one statement; None if not PENDING.

        The bus event is built before the row is written, so this is for settlements whose event
        does not depend on the written row (`BookingTransaction.waitlist` puts bookings in line:
        their events carry positions).
        """
        assert not settlement.waitlist
        envelope = envelope_for(message, source=self.database.source)
        params: dict[str, Any] = {
            "s_id": booking_id,
            "s_state": settlement.state.value,
            "s_hold": settlement.hold_expire_time,
            "s_cause": settlement.cause.value if settlement.cause else None,
            "s_retry": reconcile_after if settlement.state == State.AWAITING_PAYMENT else None,
            **terms_params(settlement.terms, "s_"),
            **{f"o_{name}": value for name, value in outbox_values(envelope).items()},
        }
        statement = SETTLE
        if event is not None:
            statement = SETTLE_WITH_EVENT
            params.update(event_params(event))
        try:
            return first_booking(await self._write(statement, params))
        except psycopg.IntegrityError:
            # The event moved onto another booking's start time while this booking was being made;
            # a second attempt sees it and marks this one schedule-exempt.
            return first_booking(await self.database.rows(statement, **params))

    async def mark_released(self, booking_id: uuid.UUID) -> None:
        await self.database.execute(MARK_RELEASED, p_id=booking_id)

    # -- payments ---------------------------------------------------------------------------------

    async def record_checkout(
        self, booking_id: uuid.UUID, payment_id: str, checkout_url: str
    ) -> Booking | None:
        """The booking with its open checkout; None when it no longer waits for a payment."""
        return first_booking(
            await self.database.rows(
                RECORD_CHECKOUT, p_id=booking_id, p_payment_id=payment_id, p_checkout_url=checkout_url or None
            )
        )

    async def begin_retake(
        self, booking_id: uuid.UUID, reservation_id: uuid.UUID, reconcile_after: float
    ) -> Booking | InTheWay | None:
        """A late payment's booking PENDING again under `reservation_id`; InTheWay when its guest
        holds another active booking of the event (or at its start time) meanwhile; None when it is
        not (or not yet) a late payment ready to take seats."""
        try:
            rows = await self.database.rows(
                BEGIN_RETAKE, p_id=booking_id, p_reservation_id=reservation_id, p_after=reconcile_after
            )
        except psycopg.errors.UniqueViolation as error:
            if error.diag.constraint_name not in _ACTIVE_RULES:
                raise
            return InTheWay()
        return first_booking(rows)

    # -- the reconciler and the waitlist ----------------------------------------------------------

    async def claim_unsettled(self, *, limit: int, base_delay: float, max_delay: float) -> list[Booking]:
        """PENDING bookings and unconfirmed releases that are due, leased to this process.

        Moving `retry_at` forward is the lease: other replicas skip the locked rows now and find them
        not due afterwards; if this process dies, the rows come due again.
        """
        rows = await self.database.rows(CLAIM_UNSETTLED, r_limit=limit, r_base=base_delay, r_max=max_delay)
        return [booking(row) for row in rows]

    async def events_with_waitlist(self, *, limit: int = 1000) -> list[str]:
        return [row.event_id for row in await self.database.rows(EVENTS_WITH_WAITLIST, w_limit=limit)]

    async def next_in_line(self, event_id: str, seats_available: int | None) -> Booking | None:
        """The first waitlisted booking of the event whose seat count fits (any, when unknown)."""
        statement = (
            select(*COLUMNS)
            .where(c.event_id == event_id, state_is(c.state, State.WAITLISTED))
            .order_by(c.waitlist_seq)
            .limit(1)
        )
        if seats_available is not None:
            statement = statement.where(c.seats <= seats_available)
        return first_booking(await self.database.rows(statement))

    async def begin_promotion(self, waiting: Booking, reconcile_after: float) -> Booking | None:
        """WAITLISTED -> PENDING: from here the saga (or the reconciler) settles it like a new booking."""
        values = {"state": State.PENDING.value, "retry_at": after(reconcile_after), "attempts": 0}
        return first_booking(await self.database.rows(transition(waiting, values)))

    # -- lists ------------------------------------------------------------------------------------

    async def list_bookings(
        self,
        *,
        host: bool,
        user_id: str,
        state: State | None,
        event_id: str,
        upcoming_only: bool,
        after_key: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Booking]:
        """Newest first; `after_key` is the (create_time, id) of the last row of the previous page."""
        owner = c.host_id if host else c.user_id
        statement = (
            select(*COLUMNS).where(owner == user_id).order_by(c.create_time.desc(), c.id.desc()).limit(limit)
        )
        if state is not None:
            statement = statement.where(state_is(c.state, state))
        if event_id:
            statement = statement.where(c.event_id == event_id)
        if upcoming_only:
            statement = statement.where(c.event_start_time > func.now())
        if after_key is not None:
            statement = statement.where(tuple_(c.create_time, c.id) < tuple_(*after_key))
        return [booking(row) for row in await self.database.rows(statement)]
