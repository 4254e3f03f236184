"""The seat-reservation saga (DESIGN.md, "The booking protocol").

1. The booking is written PENDING (its id is the reservation id) after the rules bookings owns.
2. events.ReserveSeats(reservation_id = booking id), with a deadline and retries; idempotent, so
   re-sending it later (reconciler, a repeated request, a waitlist promotion) is always safe.
3. The answer settles the booking (CONFIRMED, AWAITING_APPROVAL, WAITLISTED, REJECTED, or EXPIRED
   for a waitlist entry whose event is gone) together with its bus event. No answer: it stays
   PENDING and the reconciler settles it.
4. A booking that stops holding seats is marked `release_pending` in the same transaction; the
   release (ReleaseSeats with the same id) follows at once, or from the reconciler until events
   confirms it. A release can free seats for the waitlist, which is promoted first-come-first-served.

Bookings never writes seat counts. For every event, once settled:
seats_taken == sum(seats of its CONFIRMED + AWAITING_APPROVAL bookings).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.bookings import messages, models, rules, store
from services.bookings.inventory import EventCache, EventsGateway, EventsUnavailable
from services.bookings.rules import (
    Announce,
    Booking,
    BookingDraft,
    EventFacts,
    NotBookable,
    Reserved,
    Settlement,
    SoldOut,
    State,
    Unknown,
)
from services.bookings.settings import BookingsSettings
from services.runtime.errors import aborted
from services.runtime.rawsql import RawPool

log = logging.getLogger(__name__)

# First key of the advisory lock that lets one process at a time promote an event's waitlist.
PROMOTION_LOCK = 0x5EA7_0B0C

CRASH_AFTER_RESERVE = "crash_after_reserve"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Saga:
    def __init__(
        self,
        engine: AsyncEngine,
        autocommit: AsyncEngine,
        hot: RawPool,
        gateway: EventsGateway,
        cache: EventCache,
        settings: BookingsSettings,
    ) -> None:
        # Transactions (several statements that commit together) use `engine`; other single
        # statements use `autocommit` (one round trip, no BEGIN/COMMIT); those of the booking hot
        # path run on `hot`, raw connections in autocommit (see store.py).
        self.engine = engine
        self.autocommit = autocommit
        self.hot = hot
        self.gateway = gateway
        self.cache = cache
        self.settings = settings
        self.hold = settings.approval_hold
        self.waitlist = WaitlistJoins(engine)
        # Called with an event id when seats of it may have become free (the waitlist promoter).
        self.on_seats_freed: Callable[[str], None] = lambda event_id: None

    # -- CreateBooking ----------------------------------------------------------------------------

    async def create(
        self, user_id: str, draft: BookingDraft, event: EventFacts, *, budget: float | None = None
    ) -> Booking:
        """Write, reserve, settle. Raises the ServiceError the client should see, if any."""
        booking: Booking | None = None
        for _ in range(3):
            try:
                booking = await store.insert_pending(
                    self.hot,
                    booking_id=uuid.uuid4(),
                    user_id=user_id,
                    draft=draft,
                    event=event,
                    reconcile_after=self.settings.reconcile_after,
                )
            except psycopg.IntegrityError as error:
                repeat = await self._explain_refusal(user_id, draft, event, error)
                if repeat is not None:
                    return await self.repeat(repeat, draft, budget=budget)
                # The booking in the way ended meanwhile: try again.
                continue
            if booking is None:
                assert draft.request_id is not None
                first = await store.find_by_request(self.hot, user_id, draft.request_id)
                if first is None:
                    continue
                return await self.repeat(first, draft, budget=budget)
            break
        if booking is None:
            raise aborted("CONCURRENT_CHANGE", "your bookings changed while this one was made; try again")
        crash = self.settings.fault == CRASH_AFTER_RESERVE
        settled, outcome = await self.reserve(booking, budget=budget, crash_after_reserve=crash)
        return answer(settled, outcome)

    async def _explain_refusal(
        self, user_id: str, draft: BookingDraft, event: EventFacts, error: psycopg.IntegrityError
    ) -> Booking | None:
        """Which rule refused the insert: raises its error, or returns the first booking of a repeat."""
        name = store.constraint_name(error)
        if draft.request_id:
            # A concurrent copy of this very request may be what is in the way.
            first = await store.find_by_request(self.hot, user_id, draft.request_id)
            if first is not None:
                return first
        if name not in (models.UQ_ACTIVE_EVENT, models.UQ_ACTIVE_START):
            raise error
        blocking = await store.find_active_for_user(
            self.hot, user_id, event_id=draft.event_id, start_time=event.start_time
        )
        for other in blocking:
            if other.event_id == draft.event_id:
                raise rules.already_booked(str(other.id))
        for other in blocking:
            raise rules.schedule_conflict(str(other.id))
        return None

    async def repeat(self, first: Booking, draft: BookingDraft, *, budget: float | None) -> Booking:
        """A request_id seen before: the first booking, driven to its outcome if still PENDING."""
        if not rules.same_draft(first, draft):
            raise rules.request_id_reused()
        outcome = None
        if first.state == State.PENDING:
            first, outcome = await self.reserve(first, budget=budget)
        return answer(first, outcome)

    # -- reserve and settle -----------------------------------------------------------------------

    async def reserve(
        self, booking: Booking, *, budget: float | None = None, crash_after_reserve: bool = False
    ) -> tuple[Booking, rules.Outcome]:
        """Send the booking's (idempotent) reservation and settle it by the answer."""
        outcome = await self.gateway.reserve(
            event_id=booking.event_id, seats=booking.seats, reservation_id=str(booking.id), budget=budget
        )
        if isinstance(outcome, Unknown):
            return booking, outcome
        if crash_after_reserve and isinstance(outcome, Reserved):
            # Test-only fault injection: die with seats taken and the booking still PENDING.
            log.warning("fault injection: killing this process after ReserveSeats")
            os.kill(os.getpid(), signal.SIGKILL)
        if isinstance(outcome, Reserved):
            self.cache.put(outcome.event)
        settled = await self.settle(booking, outcome)
        return settled, outcome

    async def settle(self, booking: Booking, outcome: Reserved | SoldOut | NotBookable) -> Booking:
        settlement = rules.settle(booking, outcome, hold=self.hold, now=utcnow())
        settled: Booking | None
        if settlement.waitlist:
            settled = await self.waitlist.join(booking, settlement.announce)
        else:
            event = outcome.event if isinstance(outcome, Reserved) else None
            message = messages.announcement(expected(booking, settlement, event), settlement.announce)
            assert message is not None
            try:
                settled = await store.settle(self.hot, booking.id, settlement, event, message)
            except psycopg.IntegrityError:
                # The event moved onto another booking's start time while that booking was being
                # made; a second attempt sees it and marks this one schedule-exempt.
                settled = await store.settle(self.hot, booking.id, settlement, event, message)
        if settled is None:
            # Settled by someone else meanwhile (a repeat, the reconciler) or cancelled.
            current = await store.fetch(self.hot, booking.id)
            return current or booking
        return settled

    # -- releases ---------------------------------------------------------------------------------

    async def release(self, booking: Booking, *, budget: float | None = None) -> bool:
        """Give the booking's seats back; False when events did not confirm (the reconciler retries)."""
        try:
            released = await self.gateway.release(str(booking.id), budget=budget)
        except EventsUnavailable:
            log.warning(
                "release not confirmed; the reconciler retries", extra={"booking_id": str(booking.id)}
            )
            return False
        await store.mark_released(self.hot, booking.id)
        if released.seats_available > 0:
            self.on_seats_freed(booking.event_id)
        return True

    # -- the waitlist -----------------------------------------------------------------------------

    async def promote(self, event_id: str) -> bool:
        """Promote the event's waitlist, first come first served, where the seat count fits.

        One process at a time per event (a transaction-scoped advisory lock, released if this
        process dies), so the order holds across replicas. False when another process holds it.
        """
        async with self.engine.begin() as lock:
            taken = await lock.scalar(
                select(func.pg_try_advisory_xact_lock(PROMOTION_LOCK, func.hashtext(event_id)))
            )
            if not taken:
                return False
            await self._promote_locked(event_id)
        return True

    async def _promote_locked(self, event_id: str) -> None:
        seats_available: int | None = None
        while seats_available is None or seats_available > 0:
            async with self.autocommit.connect() as connection:
                candidate = await store.next_in_line(connection, event_id, seats_available)
                if candidate is None:
                    return
                pending = await store.begin_promotion(connection, candidate, self.settings.reconcile_after)
            if pending is None:
                continue
            settled, outcome = await self.reserve(pending)
            if isinstance(outcome, SoldOut):
                seats_available = outcome.seats_available
            elif isinstance(outcome, Reserved):
                seats_available = outcome.seats_available
                log.info("waitlist promoted", extra={"booking_id": str(settled.id), "state": settled.state})
            else:
                # No answer (the reconciler finishes this one) or the event is gone (entries expire).
                return


class WaitlistJoins:
    """Puts sold-out bookings in their event's waitlist, many per transaction.

    Joins of one event take turns (so each is told its exact position); doing them one
    transaction each would make a flash sale's thousands of waitlisted buyers queue for the lock
    while holding database connections. Instead, per process, joins of one event that arrive while
    a batch is being written go together in the next batch.
    """

    BATCH = 500

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queued: dict[str, list[tuple[Booking, Announce, asyncio.Future[Booking | None]]]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def join(self, booking: Booking, announce: Announce) -> Booking | None:
        """The booking in line (with its position), or None if it was no longer PENDING."""
        future: asyncio.Future[Booking | None] = asyncio.get_running_loop().create_future()
        queue = self._queued.get(booking.event_id)
        if queue is None:
            self._queued[booking.event_id] = [(booking, announce, future)]
            writer = asyncio.create_task(self._write(booking.event_id))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        else:
            queue.append((booking, announce, future))
        return await asyncio.shield(future)

    async def _write(self, event_id: str) -> None:
        # Let the joins that arrive in this same moment catch the first batch.
        await asyncio.sleep(0)
        while True:
            queue = self._queued.get(event_id)
            if not queue:
                self._queued.pop(event_id, None)
                return
            batch, self._queued[event_id] = queue[: self.BATCH], queue[self.BATCH :]
            try:
                async with self.engine.begin() as connection:
                    placed = await store.waitlist(
                        connection, event_id, [booking.id for booking, _, _ in batch]
                    )
                    by_id = {booking.id: booking for booking in placed}
                    news = [
                        messages.announcement(by_id[booking.id], announce)
                        for booking, announce, _ in batch
                        if booking.id in by_id
                    ]
                    await store.publish_all(connection, [message for message in news if message is not None])
            except Exception as error:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for booking, _, future in batch:
                if not future.done():
                    future.set_result(by_id.get(booking.id))


def expected(booking: Booking, settlement: Settlement, event: EventFacts | None) -> Booking:
    """The booking as `store.settle` will write it, for the bus event written in the same statement."""
    changes: dict[str, object] = {
        "state": settlement.state,
        "hold_expire_time": settlement.hold_expire_time,
        "reject_cause": settlement.cause.value if settlement.cause else None,
        "update_time": utcnow(),
    }
    if event is not None:
        changes.update(
            event_title=event.title,
            event_start_time=event.start_time,
            event_end_time=event.end_time,
            event_time_zone=event.time_zone,
            event_city=event.city,
            event_venue=event.venue,
        )
    return dataclasses.replace(booking, **changes)  # type: ignore[arg-type]


def answer(booking: Booking, outcome: rules.Outcome | None) -> Booking:
    """What CreateBooking answers for a booking: itself, or the error of its outcome."""
    if booking.state == State.PENDING:
        raise rules.events_unavailable(str(booking.id))
    seats_available = outcome.seats_available if isinstance(outcome, SoldOut) else 0
    refusal = rules.refusal(booking, seats_available)
    if refusal is not None:
        raise refusal
    return booking
