"""The seat-reservation saga (README, "The booking protocol"): the process manager between a
booking and the seats events holds for it.

1. The booking is written PENDING (its id is the reservation id) after the rules bookings owns.
2. events.ReserveSeats(reservation_id = booking id), with a deadline and retries; idempotent, so
   re-sending it later (reconciler, a repeated request, a waitlist promotion) is always safe.
3. The answer settles the booking (CONFIRMED, AWAITING_APPROVAL, AWAITING_PAYMENT for a paid event,
   WAITLISTED, REJECTED, or EXPIRED for a waitlist entry whose event is gone) together with its bus
   event. No answer: it stays PENDING and the reconciler settles it.
4. A booking that stops holding seats is marked `release_pending` in the same transaction; the
   release (ReleaseSeats with the same id) follows at once, or from the reconciler until events
   confirms it. A release can free seats for the waitlist, which is promoted first-come-first-served.
5. Paid events: a booking AWAITING_PAYMENT gets its checkout from payments.OpenCheckout right after
   it settled (or after its approval), else from the reconciler; PaymentSucceeded confirms it
   (consumers.py). When the hold expired first, the payment is late: once the old reservation's
   release is confirmed, the booking asks for seats again under a new reservation id (PENDING) and
   ends CONFIRMED, or EXPIRED with its payment refused (BookingPaymentRefused: refunded in full).

Once a reservation or a release is sent, its step runs to its end whatever the caller does: a client
that hangs up, or an RPC cut at shutdown, does not leave a booking PENDING with seats held until the
reconciler's next pass (`ShieldedSteps`; the process waits for them before it lets go of events and
its database). The reconciler remains the backstop for a process that dies.

Bookings never writes seat counts. For every event, once settled:
seats_taken == sum(seats of its CONFIRMED + AWAITING_APPROVAL + AWAITING_PAYMENT bookings).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.bookings import convert, domain, metrics
from services.bookings.availability import KnownAvailability
from services.bookings.cache import EventFactsCache
from services.bookings.clients.events import EventsClient
from services.bookings.clients.payments import PaymentsClient
from services.bookings.domain import (
    Announce,
    Booking,
    BookingDraft,
    EventFacts,
    InTheWay,
    NotBookable,
    Outcome,
    RefusalReason,
    Reserved,
    Settlement,
    SoldOut,
    State,
    Unknown,
)
from services.bookings.store import BookingStore, NewEntry
from services.runtime.batching import Batcher
from services.runtime.clients import PeerUnavailable
from services.runtime.errors import ServiceError
from services.runtime.idempotency import request_id_reused

log = logging.getLogger(__name__)

# How often CreateBooking writes its booking again when the booking in its way ended meanwhile.
INSERT_ATTEMPTS = 3

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Saga:
    def __init__(
        self,
        store: BookingStore,
        events: EventsClient,
        payments: PaymentsClient,
        facts: EventFactsCache,
        availability: KnownAvailability,
        *,
        hold: timedelta,
        reconcile_after: float,
        seats_freed: Callable[[str], None],
    ) -> None:
        self.store = store
        self.events = events
        self.payments = payments
        self.facts = facts
        self.availability = availability
        # How long a booking may wait for the host's answer.
        self.hold = hold
        # How long a PENDING booking waits for this process before the reconciler takes it over.
        self.reconcile_after = reconcile_after
        # Called with an event id when seats of it may have become free (the waitlist promoter).
        self.seats_freed = seats_freed
        self.waitlist = WaitlistJoins(store)
        self.steps = ShieldedSteps()

    # -- CreateBooking ----------------------------------------------------------------------------

    async def create(
        self, user_id: str, draft: BookingDraft, event: EventFacts, *, budget: float | None = None
    ) -> Booking:
        """Write, reserve, settle. Raises the ServiceError the client should see, if any.

        Runs to its end even if the caller hangs up meanwhile: a booking written PENDING is settled
        now, not by the reconciler seconds later.

        When the event is known to have fewer seats left than asked for (availability.py), nothing
        is reserved: a request that will wait is written WAITLISTED at once, one that will not is
        refused at once, each with the answer the full path would give.
        """
        return await self.steps.run(self._create(user_id, draft, event, budget))

    async def _create(
        self, user_id: str, draft: BookingDraft, event: EventFacts, budget: float | None
    ) -> Booking:
        seats_left = self.availability.seats_left(draft.event_id)
        if seats_left is not None and seats_left < draft.seats:
            if draft.join_waitlist:
                placed = await self.waitlist.join_new(user_id, draft, event)
                if placed is not None:
                    metrics.count_early_answer(State.WAITLISTED)
                    return placed
                # A unique rule refused it (a repeated request, another booking in the way): the
                # full path finds out which.
            else:
                return await self._refuse_sold_out(user_id, draft, event, seats_left, budget)
        for _ in range(INSERT_ATTEMPTS):
            written = await self.store.insert_pending(
                booking_id=uuid.uuid4(),
                user_id=user_id,
                draft=draft,
                event=event,
                reconcile_after=self.reconcile_after,
            )
            if isinstance(written, Booking):
                settled, outcome = await self.reserve(written, budget=budget)
                return answer(settled, outcome)
            first = await self._first_of_request(user_id, draft)
            if first is not None:
                return await self.repeat(first, draft, budget=budget)
            if isinstance(written, InTheWay):
                await self._explain_refusal(user_id, draft, event)
            # The booking in the way ended meanwhile: try again.
        raise domain.concurrent_bookings()

    async def _refuse_sold_out(
        self, user_id: str, draft: BookingDraft, event: EventFacts, seats_left: int, budget: float | None
    ) -> Booking:
        """SOLD_OUT without writing anything, unless this request was answered before (then that
        answer) or another booking of the guest is in the way (then the error that names it)."""
        found = await self.store.find_in_the_way(user_id, draft, start_time=event.start_time)
        for first in found:
            if draft.request_id is not None and first.request_id == draft.request_id:
                return await self.repeat(first, draft, budget=budget)
        for other in found:
            if other.event_id == draft.event_id:
                raise domain.already_booked(str(other.id))
        for other in found:
            raise domain.schedule_conflict(str(other.id))
        metrics.count_early_answer(State.REJECTED)
        raise domain.sold_out(draft.event_id, seats_left)

    async def _first_of_request(self, user_id: str, draft: BookingDraft) -> Booking | None:
        """The booking this request made before (a concurrent copy of it may be what is in the way)."""
        if draft.request_id is None:
            return None
        return await self.store.find_by_request(user_id, draft.request_id)

    async def _explain_refusal(self, user_id: str, draft: BookingDraft, event: EventFacts) -> None:
        """Raise the error of the active booking that refused this one, if it is still there."""
        blocking = await self.store.find_active_for_user(
            user_id, event_id=draft.event_id, start_time=event.start_time
        )
        for other in blocking:
            if other.event_id == draft.event_id:
                raise domain.already_booked(str(other.id))
        for other in blocking:
            raise domain.schedule_conflict(str(other.id))

    async def repeat(self, first: Booking, draft: BookingDraft, *, budget: float | None) -> Booking:
        """A request_id seen before: the first booking, driven to its outcome if still PENDING."""
        if not domain.same_draft(first, draft):
            raise request_id_reused()
        outcome = None
        if first.state == State.PENDING:
            first, outcome = await self.reserve(first, budget=budget)
        return answer(first, outcome)

    # -- reserve and settle -----------------------------------------------------------------------

    async def reserve(self, booking: Booking, *, budget: float | None = None) -> tuple[Booking, Outcome]:
        """Send the booking's (idempotent) reservation and settle it by the answer, to the end even
        if the caller is cancelled meanwhile."""
        return await self.steps.run(self._reserve_and_settle(booking, budget))

    async def _reserve_and_settle(self, booking: Booking, budget: float | None) -> tuple[Booking, Outcome]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await self.events.reserve(
            event_id=booking.event_id,
            seats=booking.seats,
            reservation_id=str(booking.reservation),
            budget=budget,
        )
        if isinstance(outcome, Unknown):
            return booking, outcome
        if isinstance(outcome, Reserved):
            self.facts.put(outcome.event)
        elif isinstance(outcome, SoldOut) and outcome.seats_version is not None:
            self.availability.learn(booking.event_id, outcome.seats_version, outcome.seats_available)
        settled = await self.settle(booking, outcome)
        if settled.needs_checkout:
            left = None if budget is None else max(budget - (loop.time() - started), 0.05)
            settled = await self._open_checkout(settled, left)
        return settled, outcome

    async def settle(self, booking: Booking, outcome: Reserved | SoldOut | NotBookable) -> Booking:
        settlement = domain.settle(booking, outcome, hold=self.hold, now=utcnow())
        settled: Booking | None
        if settlement.waitlist:
            settled = await self.waitlist.join(booking, settlement.announce)
        else:
            event = outcome.event if isinstance(outcome, Reserved) else None
            message = convert.announcement(expected(booking, settlement, event), settlement.announce)
            assert message is not None
            settled = await self.store.settle(
                booking.id, settlement, event, message, reconcile_after=self.reconcile_after
            )
        if settled is None:
            # Settled by someone else meanwhile (a repeat, the reconciler) or cancelled.
            current = await self.store.get(booking.id)
            return current or booking
        metrics.count_settlement(booking, settled)
        return settled

    # -- payments ---------------------------------------------------------------------------------

    async def open_checkout(self, booking: Booking, *, budget: float | None = None) -> Booking:
        """Open the checkout of a booking awaiting payment: the booking with its payment and where to
        pay, or as it was when payments did not open one (the reconciler asks again)."""
        return await self.steps.run(self._open_checkout(booking, budget))

    async def _open_checkout(self, booking: Booking, budget: float | None) -> Booking:
        checkout = await self.payments.open_checkout(booking, budget=budget)
        if checkout is None:
            return booking
        opened = await self.store.record_checkout(booking.id, checkout.payment_id, checkout.checkout_url)
        if opened is None:
            # Paid, cancelled or expired meanwhile.
            return await self.store.get(booking.id) or booking
        return opened

    async def retake(self, booking: Booking) -> Booking:
        """A late payment's booking asks events for its seats again, under a new reservation id (its
        old one is released and fenced for good), and settles by the answer: CONFIRMED, or EXPIRED
        with the payment refused."""
        started = await self.store.begin_retake(booking.id, uuid.uuid4(), self.reconcile_after)
        if isinstance(started, InTheWay):
            # The guest booked the event (or another at its time) again meanwhile: one booking is
            # enough, and the one they made since stands.
            await self.refuse_late_payment(booking, RefusalReason.BOOKED_AGAIN)
            return booking
        if started is None:
            # Not ready (its old reservation's release is not confirmed yet) or handled meanwhile.
            return booking
        settled, _ = await self.reserve(started)
        return settled

    async def refuse_late_payment(self, booking: Booking, reason: RefusalReason) -> None:
        """The late payment will not take seats: refused (refunded in full), once."""
        async with self.store.transaction() as tx:
            given_up = await tx.give_up_retake(booking.id)
            if given_up is not None:
                await tx.publish(convert.accepted_payment_refused(given_up, reason))

    # -- releases ---------------------------------------------------------------------------------

    async def release(self, booking: Booking, *, budget: float | None = None) -> bool:
        """Give the booking's seats back; False when events did not confirm (the reconciler retries).
        Runs to the end even if the caller is cancelled meanwhile, so freed seats are not left held."""
        return await self.steps.run(self._release(booking, budget))

    async def _release(self, booking: Booking, budget: float | None) -> bool:
        try:
            released = await self.events.release(str(booking.reservation), budget=budget)
        except PeerUnavailable:
            log.warning(
                "release not confirmed; the reconciler retries", extra={"booking_id": str(booking.id)}
            )
            return False
        await self.store.mark_released(booking.id)
        if released.seats_available > 0:
            self.seats_freed(booking.event_id)
        return True

    # -- the waitlist -----------------------------------------------------------------------------

    async def promote(self, event_id: str) -> bool:
        """Promote the event's waitlist, first come first served, where the seat count fits.

        One process at a time per event (a transaction-scoped advisory lock, released if this
        process dies), so the order holds across replicas. False when another process holds it.
        """
        async with self.store.transaction() as lock:
            if not await lock.lock_promotion(event_id):
                return False
            await self._promote_locked(event_id)
        return True

    async def _promote_locked(self, event_id: str) -> None:
        seats_available: int | None = None
        while seats_available is None or seats_available > 0:
            candidate = await self.store.next_in_line(event_id, seats_available)
            if candidate is None:
                return
            pending = await self.store.begin_promotion(candidate, self.reconcile_after)
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


class ShieldedSteps:
    """Saga steps that run to their end once started, whoever stops waiting for them.

    Each step is a task of its own; its caller awaits it through a shield, so cancelling the caller
    (the client hung up, the server's grace period ran out) cancels only the waiting. On shutdown
    `wait` holds the process until the steps in flight are done; each is bounded by its call
    deadline to events and its statements.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    async def run(self, step: Coroutine[Any, Any, T]) -> T:
        task = asyncio.create_task(step)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # Nobody is left to hear how the step ends: it tells the log if it fails.
            task.add_done_callback(_log_unattended_failure)
            raise

    async def wait(self) -> None:
        """Until every step in flight (and any step those start) is done."""
        while self._running:
            await asyncio.wait(set(self._running))


def _log_unattended_failure(task: asyncio.Task[Any]) -> None:
    # A refusal (sold out, already booked...) is an answer nobody stayed to hear, not a failure.
    if task.cancelled() or task.exception() is None or isinstance(task.exception(), ServiceError):
        return
    log.warning(
        "a saga step failed after its caller left; the reconciler finishes the booking",
        exc_info=task.exception(),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Join:
    """One booking to put in line: a PENDING one (`booking`), or a new one written WAITLISTED at
    once (`new`: its guest, request and event)."""

    booking_id: uuid.UUID
    announce: Announce
    booking: Booking | None = None
    new: NewEntry | None = None


class WaitlistJoins:
    """Puts sold-out bookings in their event's waitlist, many per transaction.

    Joins of one event take turns (so each is told its exact position); doing them one
    transaction each would make a flash sale's thousands of waitlisted buyers queue for the lock
    while holding database connections. Instead, per process, joins of one event that arrive while
    a batch is being written go together in the next batch (a `Batcher` keyed by the event).
    """

    BATCH = 500

    def __init__(self, store: BookingStore) -> None:
        self.store = store
        self._batches: Batcher[str, _Join, Booking | None] = Batcher(self._write, max_batch=self.BATCH)

    async def join(self, booking: Booking, announce: Announce) -> Booking | None:
        """The booking in line (with its position), or None if it was no longer PENDING."""
        return await self._batches.submit(booking.event_id, _Join(booking.id, announce, booking=booking))

    async def join_new(self, user_id: str, draft: BookingDraft, event: EventFacts) -> Booking | None:
        """A new booking written in line at once, or None when a unique rule refused it."""
        booking_id = uuid.uuid4()
        new = NewEntry(booking_id, user_id, draft, event)
        return await self._batches.submit(draft.event_id, _Join(booking_id, Announce.WAITLISTED, new=new))

    async def _write(self, event_id: str, batch: list[_Join]) -> list[Booking | None]:
        """One transaction for the batch: every join in it is placed, or (if it raises) none is."""
        async with self.store.transaction() as tx:
            placed = await tx.waitlist(
                event_id,
                [join.booking for join in batch if join.booking is not None],
                [join.new for join in batch if join.new is not None],
            )
            by_id = {booking.id: booking for booking in placed}
            # One announcement per booking placed, even if it was asked to join twice.
            announce = {join.booking_id: join.announce for join in batch if join.booking_id in by_id}
            news = [convert.announcement(by_id[booking_id], kind) for booking_id, kind in announce.items()]
            await tx.publish_all(message for message in news if message is not None)
        # Known only once committed; None for a join that was not placed.
        return [by_id.get(join.booking_id) for join in batch]


def expected(booking: Booking, settlement: Settlement, event: EventFacts | None) -> Booking:
    """The booking as `BookingStore.settle` will write it, for the bus event written in the same
    statement."""
    changes: dict[str, object] = {
        "state": settlement.state,
        "hold_expire_time": settlement.hold_expire_time,
        "reject_cause": settlement.cause.value if settlement.cause else None,
        "terms": settlement.terms,
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


def answer(booking: Booking, outcome: Outcome | None) -> Booking:
    """What CreateBooking answers for a booking: itself, or the error of its outcome."""
    if booking.state == State.PENDING:
        raise domain.events_unavailable(str(booking.id))
    seats_available = outcome.seats_available if isinstance(outcome, SoldOut) else 0
    refusal = domain.refusal(booking, seats_available)
    if refusal is not None:
        raise refusal
    return booking
