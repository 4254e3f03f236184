"""Background work of the bookings service, safe with any number of replicas.

- `Reconciler` (every `reconcile_interval`): expires approval requests and waitlist entries that
  ran out of time; settles every booking whose reservation outcome is unknown and retries every
  release events has not confirmed (rows are leased with FOR UPDATE SKIP LOCKED); now and then
  looks for waitlisted events with free seats (e.g. capacity grew).
- `Promoter`: promotes an event's waitlist as soon as seats of it were released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.bookings import messages, store
from services.bookings.inventory import EventsUnavailable
from services.bookings.rules import Announce, Booking, State
from services.bookings.saga import Saga
from services.bookings.settings import BookingsSettings

log = logging.getLogger(__name__)

# Rows the reconciler takes per round, and how many of them it works on at once.
CLAIM_BATCH = 100
CONCURRENCY = 16
# The longest a failing reservation or release waits before its next try.
MAX_RETRY_DELAY = 30.0


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    wake.clear()


class Promoter:
    """Per process: one event's waitlist at a time, each requested event soon after its request."""

    def __init__(self, saga: Saga, *, busy_retry: float = 0.3) -> None:
        self.saga = saga
        self.busy_retry = busy_retry
        self._due: set[str] = set()
        self._wake = asyncio.Event()

    def request(self, event_id: str) -> None:
        self._due.add(event_id)
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._due:
                event_id = self._due.pop()
                try:
                    done = await self.saga.promote(event_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The reconciler's sweep comes back to it.
                    log.exception("waitlist promotion failed", extra={"event_id": event_id})
                    continue
                if not done:
                    # Another replica is promoting this event; look again when it is likely done,
                    # so seats it did not see freed are not left idle.
                    loop.call_later(self.busy_retry, self.request, event_id)


class Reconciler:
    def __init__(self, saga: Saga, promoter: Promoter, settings: BookingsSettings) -> None:
        self.saga = saga
        self.promoter = promoter
        self.settings = settings
        self.sweep_every = max(5.0, settings.reconcile_interval * 5)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        last_sweep = 0.0
        while True:
            await _sleep_or_wake(self._wake, self.settings.reconcile_interval)
            for step in (self.expire_lapsed, self.settle_unsettled):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning(
                        "reconciler step failed; retrying", exc_info=True, extra={"step": step.__name__}
                    )
            if time.monotonic() - last_sweep > self.sweep_every:
                last_sweep = time.monotonic()
                try:
                    await self.sweep_waitlists()
                except EventsUnavailable:
                    pass
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("waitlist sweep failed", exc_info=True)

    async def expire_lapsed(self) -> int:
        """Unanswered approval requests and waitlist entries of started events -> EXPIRED."""
        total = 0
        while True:
            async with self.saga.engine.begin() as connection:
                ended = await store.expire_lapsed(connection, limit=500)
                await store.publish_all(
                    connection, [messages.announcement(booking, Announce.EXPIRED) for booking, _ in ended]
                )
            total += len(ended)
            if any(previous == State.AWAITING_APPROVAL for _, previous in ended):
                # Their seats are to be released now.
                self.wake()
            if len(ended) < 500:
                return total

    async def settle_unsettled(self) -> int:
        """Re-send the reservation of every PENDING booking that is due, and every pending release."""
        total = 0
        limit = asyncio.Semaphore(CONCURRENCY)

        async def finish(booking: Booking) -> None:
            async with limit:
                if booking.release_pending:
                    await self.saga.release(booking)
                elif booking.state == State.PENDING:
                    await self.saga.reserve(booking)

        while True:
            async with self.saga.autocommit.connect() as connection:
                due = await store.claim_unsettled(
                    connection,
                    limit=CLAIM_BATCH,
                    base_delay=self.settings.reconcile_after,
                    max_delay=MAX_RETRY_DELAY,
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
        async with self.saga.autocommit.connect() as connection:
            event_ids = await store.events_with_waitlist(connection)
        if not event_ids:
            return
        for event in await self.saga.gateway.batch_get(event_ids):
            if event.seats_available > 0:
                self.promoter.request(event.id)
