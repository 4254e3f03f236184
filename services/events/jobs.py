"""Periodic background work of the events service: completing events whose end time passed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.events.availability import availability_message
from services.events.cache import EventCache
from services.events.convert import event_completed
from services.events.store import EventStore
from services.runtime.loops import every

log = logging.getLogger(__name__)


@dataclass
class CompletionJob:
    """Marks ended events COMPLETED (emitting EventCompleted). Safe with any number of replicas:
    each batch locks its rows with SKIP LOCKED, so two replicas never complete the same event."""

    store: EventStore
    cache: EventCache
    redis_prefix: str
    interval: float
    batch: int

    async def run(self) -> None:
        await every(self.interval, self.complete_all_due, what="completion job")

    async def complete_all_due(self) -> None:
        """Batch after batch until a batch comes back short: a backlog drains in one round."""
        while await self.complete_once() == self.batch:
            pass

    async def complete_once(self) -> int:
        async with self.store.transaction() as tx:
            completed = await tx.complete_due(self.batch)
            await tx.publish_all(event_completed(event) for event in completed)
            if completed:
                tx.after_commit(
                    self.cache.invalidate,
                    [str(event.id) for event in completed],
                    lists=True,
                    messages=[availability_message(self.redis_prefix, event) for event in completed],
                )
        if completed:
            log.info("events completed", extra={"count": len(completed)})
        return len(completed)
