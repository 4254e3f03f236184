"""Reminders before an event, with offsets shortened to seconds: once each, moved with the event,
gone with the booking or the event, late only while the event hasn't started."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from services.notifications.content import Links
from services.notifications.domain.rules import ReminderOffsets
from services.notifications.jobs import ReminderScheduler
from services.notifications.store import NotificationStore
from services.runtime.bus.envelopes import envelope_for
from services.runtime.database import Database
from tests.integration.test_notifications_helpers import (
    Harness,
    Person,
    booking_details,
    event_message,
    eventually,
    running_notifications,
    stamp,
    xadd,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

# Seconds stand in for hours; the gaps leave several seconds of slack for a slow machine.
BEFORE_24H, BEFORE_1H = 8.0, 4.0


def reminders(harness: Harness, person: Person) -> list[str]:
    return sorted(
        mail.subject for mail in harness.mail.messages(person.email) if mail.subject.startswith("Reminder")
    )


async def confirm(
    harness: Harness,
    guest: Person,
    host: Person,
    *,
    start: datetime,
    event_id: str,
    at: datetime | None = None,
) -> str:
    details = booking_details(guest, host, start=start, event_id=event_id)
    envelope = envelope_for(bookings_bus.BookingConfirmed(booking=details), source="bookings")
    if at is not None:
        envelope.occurred_at.CopyFrom(stamp(at))
    await xadd(harness.redis, harness.prefix, "bookings", envelope)
    await eventually(lambda: harness.mail.messages(guest.email), what="confirmation")
    return details.booking_id


async def test_reminders_fire_once_move_with_the_event_and_vanish_with_cancellations(
    engines: Engines, tokens: TokenFactory
) -> None:
    async with running_notifications(
        engines,
        tokens,
        reminder_24h_offset=BEFORE_24H,
        reminder_1h_offset=BEFORE_1H,
        reminder_poll_interval=0.2,
    ) as harness:
        # A second scheduler on the same database races the service's own, as a replica would.
        database = Database(harness.service.settings.database_url, source="notifications", pool_size=2)
        await database.open()
        rival = ReminderScheduler(
            store=NotificationStore(database),
            links=Links("http://example.test"),
            offsets=ReminderOffsets(
                timedelta(seconds=BEFORE_24H), timedelta(seconds=BEFORE_1H), timedelta(minutes=5)
            ),
            poll_interval=0.05,
        )
        racing = asyncio.create_task(rival.run())
        try:
            host = harness.users.add()
            now = datetime.now(UTC)
            start = now + timedelta(seconds=15)

            on_time = harness.users.add()
            await confirm(harness, on_time, host, start=start, event_id=str(uuid.uuid4()))

            # Its event moves from next month to the same 15 s from now: the reminders follow.
            moved, moved_event = harness.users.add(), str(uuid.uuid4())
            await confirm(harness, moved, host, start=now + timedelta(days=30), event_id=moved_event)
            await harness.publish(
                "events",
                events_bus.EventUpdated(
                    event=event_message(moved_event, host.id, start=start),
                    changed_fields=["start_time", "end_time"],
                    previous_start_time=stamp(now + timedelta(days=30)),
                ),
            )
            await eventually(lambda: len(harness.mail.messages(moved.email)) == 2, what="change email")

            # A cancelled booking, and a booking of a cancelled event, get none.
            cancelled, cancelled_event = harness.users.add(), str(uuid.uuid4())
            booking = await confirm(harness, cancelled, host, start=start, event_id=cancelled_event)
            await harness.publish(
                "bookings",
                bookings_bus.BookingCancelled(
                    booking=booking_details(
                        cancelled, host, event_id=cancelled_event, booking_id=booking, start=start
                    ),
                    cancelled_by=bookings_bus.BookingCancelled.GUEST,
                    previous_state=bookings_pb2.Booking.CONFIRMED,
                ),
            )
            called_off, called_off_event = harness.users.add(), str(uuid.uuid4())
            await confirm(harness, called_off, host, start=start, event_id=called_off_event)
            await harness.publish(
                "events",
                events_bus.EventCancelled(event=event_message(called_off_event, host.id, start=start)),
            )
            await eventually(lambda: len(harness.mail.messages(cancelled.email)) == 2, what="cancel email")
            await eventually(
                lambda: len(harness.mail.messages(called_off.email)) == 2, what="event cancel email"
            )

            # Confirmed an hour ago (the bus was backed up): the 24 h reminder is already late and
            # goes out at once; the event starts in 7 s, so the 1 h reminder is still ahead.
            late = harness.users.add()
            await confirm(
                harness,
                late,
                host,
                start=datetime.now(UTC) + timedelta(seconds=7),
                event_id=str(uuid.uuid4()),
                at=now - timedelta(hours=1),
            )
            # Confirmed an hour ago for an event that has already started: nothing is sent any more.
            too_late = harness.users.add()
            await confirm(
                harness,
                too_late,
                host,
                start=now - timedelta(seconds=1),
                event_id=str(uuid.uuid4()),
                at=now - timedelta(hours=1),
            )

            expected = [f"Reminder: Jazz in the park starts in {n} seconds" for n in (4, 8)]
            for person in (on_time, moved, late):
                await eventually(
                    lambda person=person: reminders(harness, person) == expected, within=30, what="reminders"
                )
            moved_reminder = next(
                mail for mail in harness.mail.messages(moved.email) if mail.subject.startswith("Reminder")
            )
            assert f"{start.astimezone(ZoneInfo('Europe/Berlin')):%H:%M}" in moved_reminder.text

            # Every due time has passed: one more pass of our own handles anything left.
            last_due = start - timedelta(seconds=BEFORE_1H) + timedelta(seconds=0.5)
            await asyncio.sleep(max(0.0, (last_due - datetime.now(UTC)).total_seconds()))
            await rival.run_once()
            await harness.settle()
            for person in (on_time, moved, late):
                assert reminders(harness, person) == expected
            for person in (cancelled, called_off, too_late):
                assert reminders(harness, person) == []
        finally:
            racing.cancel()
            await asyncio.gather(racing, return_exceptions=True)
            await database.close()
