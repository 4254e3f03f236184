"""Event facts per process (`EventFactsCache`), so a flash sale does not ask events about one event
thousands of times.

Entries live a few seconds; concurrent misses share one BatchGetEvents; and the bus (EventUpdated,
EventCancelled, EventCompleted on events' stream, read by every process, not through a consumer
group) forgets entries as soon as their event changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis import asyncio as aioredis

from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from services.bookings.clients.events import EventsClient
from services.bookings.domain import EventFacts
from services.runtime.bus.consumer import StreamFields
from services.runtime.bus.envelopes import read_envelope, unpack
from services.runtime.clients import PeerUnavailable
from services.runtime.loops import supervise
from services.runtime.redis import as_text

log = logging.getLogger(__name__)

# The changes of an event that make its facts stale.
_CHANGES = frozenset(
    {
        events_bus_pb2.EventUpdated.DESCRIPTOR.full_name,
        events_bus_pb2.EventCancelled.DESCRIPTOR.full_name,
        events_bus_pb2.EventCompleted.DESCRIPTOR.full_name,
    }
)


class EventFactsCache:
    """Event facts per process, for at most `ttl` seconds, forgotten when the bus says they changed.

    Correctness never rests on it: events re-checks bookability and seats in ReserveSeats, and the
    booking takes the event's current title, times and approval rule from ReserveSeats' answer.
    What the cache decides alone is the organizer (never changes) and the per-booking seat limit
    (as of a few seconds ago at worst).
    """

    BATCH_LIMIT = 1000

    def __init__(self, events: EventsClient, *, ttl: float) -> None:
        self.events = events
        self.ttl = ttl
        self._entries: dict[str, tuple[EventFacts | None, float]] = {}
        self._waiting: dict[str, asyncio.Future[EventFacts | None]] = {}
        self._flush_scheduled = False

    def put(self, facts: EventFacts) -> None:
        if self.ttl > 0:
            self._entries[facts.id] = (facts, time.monotonic() + self.ttl)

    def forget(self, event_id: str) -> None:
        self._entries.pop(event_id, None)

    def clear(self) -> None:
        self._entries.clear()

    async def get(self, event_id: str) -> EventFacts | None:
        """The event, or None when events does not know it. Raises PeerUnavailable."""
        entry = self._entries.get(event_id)
        if entry is not None:
            if entry[1] > time.monotonic():
                return entry[0]
            del self._entries[event_id]
        waiting = self._waiting.get(event_id)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[event_id] = waiting
            if not self._flush_scheduled:
                # Misses of this loop turn (a flash sale, a page of bookings) share one call.
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._start_flush)
        return await asyncio.shield(waiting)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        batch = dict(list(self._waiting.items())[: self.BATCH_LIMIT])
        for event_id in batch:
            del self._waiting[event_id]
        if self._waiting:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        task = asyncio.ensure_future(self._fetch(batch))
        task.add_done_callback(_log_failure)

    async def _fetch(self, batch: dict[str, asyncio.Future[EventFacts | None]]) -> None:
        try:
            found = {facts.id: facts for facts in await self.events.batch_get(batch)}
        except BaseException as error:
            for future in batch.values():
                if not future.done():
                    future.set_exception(PeerUnavailable(str(error)))
                    # Retrieved or not, the waiter already has it; don't warn about it at exit.
                    future.exception()
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        expires = time.monotonic() + self.ttl
        for event_id, future in batch.items():
            facts = found.get(event_id)
            if self.ttl > 0 and facts is not None:
                self._entries[event_id] = (facts, expires)
            if not future.done():
                future.set_result(facts)

    async def follow(self, redis: aioredis.Redis, stream: str) -> None:
        """Forget entries on every change events publishes to `stream` (each process reads it all).

        Changes published while the stream could not be read are unknown: the cache starts clean.
        """
        await supervise(
            lambda: self._follow(redis, stream), what="following event changes", on_failure=self.clear
        )

    async def _follow(self, redis: aioredis.Redis, stream: str) -> None:
        # Start after the newest message; "$" on every call would skip what arrives between.
        newest: Any = await redis.xrevrange(stream, count=1)
        last_id = as_text(newest[0][0]) if newest else "0-0"
        while True:
            # Shorter than the client's socket timeout, so a quiet stream is not an error.
            replies: Any = await redis.xread({stream: last_id}, count=500, block=1000)
            for _, entries in replies or []:
                for message_id, fields in entries:
                    last_id = as_text(message_id)
                    self._forget_changed(fields)

    def _forget_changed(self, fields: StreamFields) -> None:
        envelope = read_envelope(fields)
        if envelope is None or envelope.type not in _CHANGES:
            return
        event = getattr(unpack(envelope), "event", None)
        if event is not None and event.id:
            self.forget(event.id)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("event lookup failed", exc_info=task.exception())
