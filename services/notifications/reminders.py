"""The reminder scheduler: sends due reminders once, safe with several replicas.

Each pass locks due schedule rows (FOR UPDATE SKIP LOCKED, so replicas split the work), turns them
into one message per (event, kind, start time) for the guests concerned, and deletes the rows in
the same transaction. The message key includes the start time, so a reminder is sent once per
booking and start time even if a row were processed twice; a moved event gets new rows and a new
key. Rows found after their event started (the mesh was down at due time) are dropped unsent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifications import content, store
from services.notifications.content import Links
from services.notifications.rules import ReminderOffsets, kind_number, reminder_still_useful

log = logging.getLogger(__name__)


def reminder_key(event_id: str, kind: str, start_epoch: int) -> str:
    return f"reminder:{event_id}:{kind}:{start_epoch}"


class ReminderScheduler:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        links: Links,
        offsets: ReminderOffsets,
        poll_interval: float,
        batch_size: int = 500,
    ) -> None:
        self.engine = engine
        self.links = links
        self.offsets = dict(offsets.items())
        self.poll_interval = poll_interval
        self.batch_size = batch_size

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once() >= self.batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reminder scheduler pass failed; retrying", exc_info=True)
            await asyncio.sleep(self.poll_interval)

    async def run_once(self) -> int:
        """Handle one batch of due reminders; returns how many rows were handled."""
        async with self.engine.begin() as connection:
            due = await store.claim_due_reminders(connection, self.batch_size)
            if not due:
                return 0
            now = await connection.scalar(select(func.now()))
            groups: dict[tuple[str, str, int], list[store.DueReminder]] = defaultdict(list)
            for item in due:
                groups[(str(item.event_id), item.kind, int(item.start_time.timestamp()))].append(item)
            sent = late = 0
            for (event_id, kind, start_epoch), items in groups.items():
                event = items[0].event
                if event is None or not reminder_still_useful(items[0].start_time, now):
                    late += len(items)
                    continue
                await store.notify(
                    connection,
                    source_key=reminder_key(event_id, kind, start_epoch),
                    content=content.reminder(
                        event, kind_number(kind), self.offsets.get(kind, timedelta(0)), self.links
                    ),
                    recipients=store.recipients_by_id([str(item.guest_id) for item in items]),
                )
                sent += len(items)
            await store.delete_reminders(connection, [(item.booking_id, item.kind) for item in due])
        if late:
            log.info("reminders dropped: their event already started", extra={"count": late})
        if sent:
            log.info("reminders sent", extra={"count": sent})
        return len(due)
