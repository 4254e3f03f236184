"""What this process knows of events' free seats, so a flash sale's losers hear SOLD_OUT at once.

Events publishes every seat change after it committed (Redis pub/sub `<prefix>availability:<event
id>`, a seats_version and an `Availability`; events/availability.py) and answers a reservation that
does not fit with SOLD_OUT and the same two numbers. Bookings follows the channel of every event
(PSUBSCRIBE) and keeps, per event, the newest version it heard of. A request for more seats than the
event is known to have left is answered at once (or written WAITLISTED at once), without a PENDING
row and a ReserveSeats round trip; events still decides every seat taken, so this can refuse but
never oversell.

Why pub/sub and not the bus: it already carries every reservation and release, in a message of a
few bytes, within a millisecond of the commit; the bus has no per-reservation event, and adding
one would cost an outbox row, a relay round and a stream entry per booking, the opposite of what
this is for. Pub/sub may lose messages (Redis restarts, a reconnect). So what is known is trusted
for `window` seconds only (`SEATMESH_SOLD_OUT_WINDOW`, 1 s by default), then the next request asks
events again and its answer renews it: a sold-out answer never outlives freed seats by more than
the window, whatever is lost. Messages arrive in any order: an older version never replaces a newer
one. Reconnecting forgets everything (what was published meanwhile is unknown).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable

from redis import asyncio as aioredis

from seatmesh.events.v1 import events_pb2
from services.runtime.loops import supervise

log = logging.getLogger(__name__)

_VERSION = struct.Struct(">q")
# Past this many entries, those no longer trusted are dropped.
PRUNE_AT = 10_000
# Seconds after it stopped being trusted that what was heard of an event may be forgotten.
STALE_AFTER = 60.0


class KnownAvailability:
    def __init__(
        self,
        *,
        window: float,
        seats_may_be_free: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        # Called when an event known to be sold out has seats again (its waitlist may move up).
        self.seats_may_be_free = seats_may_be_free
        self.clock = clock
        # event id -> (seats_version, seats available, trusted until)
        self._known: dict[str, tuple[int, int, float]] = {}

    def seats_left(self, event_id: str) -> int | None:
        """Free seats of the event as last heard, if heard within the window; None: ask events."""
        known = self._known.get(event_id)
        if known is None:
            return None
        if known[2] < self.clock():
            # Kept, untrusted: its version still turns away older news that arrives late.
            return None
        return known[1]

    def learn(self, event_id: str, version: int, seats_available: int) -> None:
        """Events said `seats_available` at `seats_version` (an equal version, heard again, is as
        good as new: nothing changed since)."""
        known = self._known.get(event_id)
        if known is not None and version < known[0]:
            return
        if len(self._known) >= PRUNE_AT:
            self._prune()
        self._known[event_id] = (version, seats_available, self.clock() + self.window)
        if known is not None and known[1] <= 0 < seats_available:
            self.seats_may_be_free(event_id)

    def forget_all(self) -> None:
        self._known.clear()

    def _prune(self) -> None:
        # Only what stopped being trusted long ago: a refusal slower than this is not waited for.
        stale = self.clock() - STALE_AFTER
        for event_id in [event_id for event_id, known in self._known.items() if known[2] < stale]:
            del self._known[event_id]

    # -- following events' channel ------------------------------------------------------------------

    async def follow(self, redis: aioredis.Redis, prefix: str) -> None:
        """Background task: every availability message of every event, for as long as it runs."""
        await supervise(
            lambda: self._follow(redis, prefix), what="following availability", on_failure=self.forget_all
        )

    async def _follow(self, redis: aioredis.Redis, prefix: str) -> None:
        channels = f"{prefix}availability:*".encode()
        start = len(channels) - 1
        async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.psubscribe(channels)
            # Whatever was published before the subscription is unknown.
            self.forget_all()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "pmessage":
                    continue
                payload = message["data"]
                try:
                    (version,) = _VERSION.unpack_from(payload)
                    availability = events_pb2.Availability.FromString(payload[_VERSION.size :])
                except Exception:
                    log.warning("unreadable availability message")
                    continue
                event_id = message["channel"][start:].decode()
                if availability.state != events_pb2.Event.SCHEDULED:
                    # Nothing is answered early for an event that no longer takes bookings: the
                    # full path says why (cancelled, completed), and writes nothing in line.
                    self._known.pop(event_id, None)
                    continue
                self.learn(event_id, version, availability.seats_available)
