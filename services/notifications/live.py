"""Live in-app notifications: one PostgreSQL LISTEN connection per process, fanned out to streams.

A trigger NOTIFYs "<recipient> <notification id>" for every new in-app notification; NOTIFY is
delivered at commit, so a stream never sees a row that could still roll back, and every replica
hears every notification. The same connection hears new deliveries and wakes the delivery worker.
If the connection drops, open streams end with UNAVAILABLE (clients list to catch up and watch
again) rather than silently missing notifications.

The connection is one of the database pool's, held for as long as the feed runs. Streams are
bounded per user and per process (TOO_MANY_STREAMS): each holds a coroutine and a queue for as
long as its client keeps it open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from services.runtime.database import Database
from services.runtime.errors import ServiceError, resource_exhausted, unavailable
from services.runtime.loops import Backoff, supervise

log = logging.getLogger(__name__)

INBOX_CHANNEL = "seatmesh_inbox"
DELIVERIES_CHANNEL = "seatmesh_deliveries"

# Put in a subscriber's queue when the feed was interrupted.
INTERRUPTED = ""


# How long a client refused a stream should wait before trying again (RetryInfo).
RETRY_AFTER = 5.0


class LiveFeed:
    def __init__(self, database: Database, *, max_streams: int, max_streams_per_user: int) -> None:
        self.database = database
        # Streams hold a coroutine and a queue each for as long as the client keeps them open: a
        # few clients must not hold what the process has for everyone.
        self.max_streams = max_streams
        self.max_streams_per_user = max_streams_per_user
        self.deliveries_wake = asyncio.Event()
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._streams = 0
        self._ready = asyncio.Event()
        self._backoff = Backoff(initial=0.2, maximum=5.0)

    async def run(self) -> None:
        await supervise(self._listen, what="live feed", backoff=self._backoff)

    async def _listen(self) -> None:
        try:
            async with self.database.connection() as connection:
                try:
                    await connection.execute(f"LISTEN {INBOX_CHANNEL}")
                    await connection.execute(f"LISTEN {DELIVERIES_CHANNEL}")
                    self._ready.set()
                    self._backoff.reset()
                    # Deliveries committed while we were not listening are due now.
                    self.deliveries_wake.set()
                    async for notice in connection.notifies():
                        if notice.channel == DELIVERIES_CHANNEL:
                            self.deliveries_wake.set()
                            continue
                        recipient, _, notification_id = notice.payload.partition(" ")
                        for queue in self._subscribers.get(recipient, ()):
                            queue.put_nowait(notification_id)
                finally:
                    # The connection goes back to the pool: it must not keep listening there.
                    with contextlib.suppress(Exception):
                        await connection.execute("UNLISTEN *")
        finally:
            self._ready.clear()
            self._interrupt_all()

    def _interrupt_all(self) -> None:
        for queues in self._subscribers.values():
            for queue in queues:
                queue.put_nowait(INTERRUPTED)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, user_id: str, *, ready_timeout: float = 5.0
    ) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of this user's new notification ids (INTERRUPTED when the feed broke).

        RESOURCE_EXHAUSTED (TOO_MANY_STREAMS) when the user, or this process, holds as many streams
        as allowed.
        """
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=ready_timeout)
        except TimeoutError:
            raise unavailable(
                "LIVE_FEED_UNAVAILABLE", "live notifications are not available right now"
            ) from None
        # Counted and taken with no await in between, so concurrent subscribers cannot overshoot.
        if len(self._subscribers.get(user_id, ())) >= self.max_streams_per_user:
            raise _too_many(f"at most {self.max_streams_per_user} live streams per user", "user")
        if self._streams >= self.max_streams:
            raise _too_many("this server holds as many live streams as it can", "server")
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers[user_id].add(queue)
        self._streams += 1
        try:
            yield queue
        finally:
            self._streams -= 1
            queues = self._subscribers.get(user_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[user_id]


def _too_many(message: str, limit: str) -> ServiceError:
    error = resource_exhausted("TOO_MANY_STREAMS", f"{message}; try again later", retry_after=RETRY_AFTER)
    error.metadata = {"limit": limit}
    return error
