"""Background work of the bookings service, safe with any number of replicas (on runtime.loops).

- `Reconciler`: every `interval`, expires approval requests, payment holds and waitlist entries that
  ran out of time, and settles every booking whose reservation outcome is unknown, retries every
  release events has not confirmed, opens the checkout payments did not open, and lets late
  payments take their seats again (rows are leased with FOR UPDATE SKIP LOCKED; woken at once when
  releases are due); now and then looks for waitlisted events with free seats (e.g. capacity grew).
- `Promoter`: promotes an event's waitlist as soon as seats of it were released (`DueWaitlists`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.bookings import convert, metrics
from services.bookings.clients.events import EventsClient
from services.bookings.domain import Booking, State, waits_for_seats_again
from services.bookings.saga import Saga
from services.bookings.store import BookingStore
from services.runtime.clients import PeerUnavailable
from services.runtime.loops import every

log = logging.getLogger(__name__)

# Rows the reconciler takes per round, and how many of them it works on at once.
CLAIM_BATCH = 100
CONCURRENCY = 16
# The longest a failing reservation or release waits before its next try.
MAX_RETRY_DELAY = 30.0
# Lapsed bookings ended per transaction.
EXPIRY_BATCH = 500
# The promoter looks at its queue this often even when nobody woke it.
PROMOTER_IDLE = 5.0
# Bookings that held seats until they expired: their release is due.
HELD = frozenset({State.AWAITING_APPROVAL, State.AWAITING_PAYMENT})


class DueWaitlists:
    """Events whose waitlist may move up now (seats were released, capacity grew), per process."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self._due: set[str] = set()

    def add(self, event_id: str) -> None:
        self._due.add(event_id)
        self.wake.set()

    def take(self) -> set[str]:
        due, self._due = self._due, set()
        return due


class Promoter:
    """Per process: one event's waitlist at a time, each due event soon after it became due."""

    def __init__(self, saga: Saga, due: DueWaitlists, *, busy_retry: float = 0.3) -> None:
        self.saga = saga
        self.due = due
        self.busy_retry = busy_retry

    async def run(self) -> None:
        await every(
            PROMOTER_IDLE, self.promote_due, what="waitlist promoter", wake=self.due.wake, first_delay=True
        )

    async def promote_due(self) -> None:
        for event_id in self.due.take():
            try:
                done = await self.saga.promote(event_id)
            except Exception:
                # One event's failure does not hold up the others; the reconciler's sweep comes back to it.
                log.exception("waitlist promotion failed", extra={"event_id": event_id})
                continue
            if not done:
                # Another replica is promoting this event; look again when it is likely done, so
                # seats it did not see freed are not left idle.
                asyncio.get_running_loop().call_later(self.busy_retry, self.due.add, event_id)


class Reconciler:
    def __init__(
        self,
        store: BookingStore,
        saga: Saga,
        events: EventsClient,
        *,
        seats_may_be_free: Callable[[str], None],
        interval: float,
        reconcile_after: float,
    ) -> None:
        self.store = store
        self.saga = saga
        self.events = events
        self.seats_may_be_free = seats_may_be_free
        self.interval = interval
        self.reconcile_after = reconcile_after
        self.sweep_every = max(5.0, interval * 5)
        self._releases_due = asyncio.Event()

    async def releases_due(self) -> None:
        """Releases are due now (bookings ended and committed): settle them without waiting for the
        interval. An after-commit callback (`tx.after_commit(reconciler.releases_due)`)."""
        self._releases_due.set()

    async def run_expiry(self) -> None:
        await every(self.interval, self.expire_lapsed, what="expiry", first_delay=True)

    async def run_settlement(self) -> None:
        await every(
            self.interval, self.settle_unsettled, what="reconciler", wake=self._releases_due, first_delay=True
        )

    async def run_sweep(self) -> None:
        await every(self.sweep_every, self.sweep_waitlists, what="waitlist sweep", first_delay=True)

    async def expire_lapsed(self) -> int:
        """Unanswered approval requests, unpaid payment holds and waitlist entries of started events
        -> EXPIRED."""
        total = 0
        while True:
            async with self.store.transaction() as tx:
                ended = await tx.expire_lapsed(limit=EXPIRY_BATCH)
                await tx.publish_all(convert.booking_expired(booking) for booking, _ in ended)
                if any(previous in HELD for _, previous in ended):
                    # Their seats are to be released now.
                    tx.after_commit(self.releases_due)
                tx.after_commit(metrics.count_hold_expiries, [previous for _, previous in ended])
            total += len(ended)
            if len(ended) < EXPIRY_BATCH:
                return total

    async def settle_unsettled(self) -> int:
        """Re-send the reservation of every PENDING booking that is due and every pending release,
        open the checkouts not open yet, and let late payments take their seats again."""
        total = 0
        limit = asyncio.Semaphore(CONCURRENCY)

        async def finish(booking: Booking) -> None:
            async with limit:
                if booking.release_pending:
                    # First: a late payment takes seats again only once the old ones are released.
                    await self.saga.release(booking)
                elif booking.state == State.PENDING:
                    await self.saga.reserve(booking)
                elif booking.needs_checkout:
                    await self.saga.open_checkout(booking)
                elif waits_for_seats_again(booking):
                    await self.saga.retake(booking)

        while True:
            due = await self.store.claim_unsettled(
                limit=CLAIM_BATCH, base_delay=self.reconcile_after, max_delay=MAX_RETRY_DELAY
            )
            if not due:
                return total
            results = await asyncio.gather(*(finish(booking) for booking in due), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.warning("could not settle a booking; retrying later", exc_info=result)
            total += len(due)
            if len(due) < CLAIM_BATCH:
                return total

    async def sweep_waitlists(self) -> None:
        """Waitlisted events with free seats that no release announced (capacity raised, lost wake-up)."""
        event_ids = await self.store.events_with_waitlist()
        if not event_ids:
            return
        try:
            free = await self.events.seats_available(event_ids)
        except PeerUnavailable:
            # Events is away; the next sweep looks again.
            return
        for event_id, seats in free.items():
            if seats > 0:
                self.seats_may_be_free(event_id)
