"""Periodic work of notifications: the reminder scheduler, which sends due reminders once, safe
with several replicas.

Each pass locks due schedule rows (FOR UPDATE SKIP LOCKED, so replicas split the work), turns them
into one message per (event, kind, start time) for the guests concerned, and deletes the rows in
the same transaction. The message key includes the start time, so a reminder is sent once per
booking and start time even if a row were processed twice; a moved event gets new rows and a new
key. Rows found after their event started (the mesh was down at due time) are dropped unsent.

A payment reminder is a message of its own per booking (its payment, amount and checkout), keyed by
the booking and its hold's end; it is dropped unsent once the hold ended or the booking no longer
awaits its payment.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from services.notifications import content
from services.notifications.content import Links
from services.notifications.domain.messages import PaymentDue
from services.notifications.domain.records import DueReminder, ToUsers
from services.notifications.domain.rules import (
    ReminderOffsets,
    payment_reminder_key,
    payment_reminder_still_useful,
    reminder_key,
    reminder_still_useful,
)
from services.notifications.store import NotificationStore, NotificationTransaction
from services.runtime.loops import every

log = logging.getLogger(__name__)


class ReminderScheduler:
    def __init__(
        self,
        *,
        store: NotificationStore,
        links: Links,
        offsets: ReminderOffsets,
        poll_interval: float,
        batch_size: int = 500,
    ) -> None:
        self.store = store
        self.links = links
        self.offsets = dict(offsets.items())
        self.before_hold_end = offsets.before_hold_end
        self.poll_interval = poll_interval
        self.batch_size = batch_size

    async def run(self) -> None:
        await every(self.poll_interval, self._drain, what="reminder scheduler pass")

    async def _drain(self) -> None:
        """Batches until the due reminders are done (a full batch means there may be more)."""
        while await self.run_once() >= self.batch_size:
            pass

    async def run_once(self) -> int:
        """Handle one batch of due reminders; returns how many rows were handled."""
        async with self.store.transaction() as tx:
            due = await tx.claim_due_reminders(self.batch_size)
            if not due:
                return 0
            now = await tx.now()
            sent = late = 0
            # One message per reminder key (event, kind, start time) for all its guests.
            groups: dict[str, list[DueReminder]] = defaultdict(list)
            for item in due:
                if item.payment is None:
                    groups[reminder_key(str(item.event_id), item.kind, item.start_time)].append(item)
                elif await self._remind_to_pay(tx, item, item.payment, now):
                    sent += 1
                else:
                    late += 1
            for key, items in groups.items():
                first = items[0]
                if first.event is None or not reminder_still_useful(first.start_time, now):
                    late += len(items)
                    continue
                offset = self.offsets.get(first.kind, timedelta(0))
                await tx.notify(
                    source_key=key,
                    content=content.reminder(first.event, first.kind, offset, self.links),
                    recipients=ToUsers(tuple(str(item.guest_id) for item in items)),
                )
                sent += len(items)
            await tx.delete_reminders(due)
        if late:
            log.info(
                "reminders dropped: their event started, or the hold they remind of is over",
                extra={"count": late},
            )
        if sent:
            log.info("reminders sent", extra={"count": sent})
        return len(due)

    async def _remind_to_pay(
        self, tx: NotificationTransaction, item: DueReminder, payment: PaymentDue, now: datetime
    ) -> bool:
        """Remind the guest of a booking to pay before its hold ends; False when it is too late."""
        if not payment_reminder_still_useful(item.booking_state, payment.hold_expire_time, now):
            return False
        await tx.notify(
            source_key=payment_reminder_key(payment.booking_id, payment.hold_expire_time),
            content=content.payment_reminder(
                payment, item.event or payment.event, self.before_hold_end, self.links
            ),
            recipients=ToUsers((str(item.guest_id),)),
        )
        return True
