"""Bus events in, in-app notifications and emails out: one real notifications service, real
PostgreSQL, Redis and an aiosmtpd SMTP server; a fake users directory."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.notifications.v1 import notifications_pb2
from services.notifications.clients.users import UsersClient
from services.notifications.codes import CodeOpener
from services.notifications.consumers import NotificationConsumers
from services.notifications.content import Links
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain.rules import ReminderOffsets
from services.notifications.mailer import EmailRenderer, SmtpMailer
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import ConsoleSms
from services.notifications.store import NotificationStore
from services.notifications.tables import messages
from services.runtime.bus.envelopes import envelope_for
from services.runtime.database import Database
from tests.integration.test_notifications_helpers import (
    SECRET,
    Harness,
    booking_details,
    code_issued,
    event_message,
    eventually,
    later,
    publish,
    running_notifications,
    stamp,
    xadd,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory


@pytest.fixture(scope="module")
async def harness(engines: Engines, tokens: TokenFactory) -> AsyncIterator[Harness]:
    async with running_notifications(engines, tokens) as running:
        yield running


async def test_verification_code_is_emailed_with_the_code(harness: Harness) -> None:
    person = harness.users.add(display_name="Ada")
    await publish(
        harness.redis,
        harness.prefix,
        "users",
        code_issued(
            person,
            "493817",
            email="new-address@example.com",
            display_name="Ada",
            expire_time=stamp(later(minutes=15)),
        ),
    )
    await eventually(lambda: harness.mail.messages("new-address@example.com"), what="verification email")
    [mail] = harness.mail.messages("new-address@example.com")
    assert "493817" in mail.subject
    assert "493817" in mail.text
    assert "493817" in mail.html
    assert "Hi Ada" in mail.text
    assert re.fullmatch(r"<[0-9a-f-]{36}@[\w.-]+>", mail.message_id)
    # Security mail is not an in-app notification.
    assert not (await harness.inbox(person.id).list()).notifications
    # The plain code is kept only until its email is out.
    await harness.settle()
    database = Database(harness.service.settings.database_url, source="notifications", pool_size=1)
    await database.open()
    try:
        stored = [row.content for row in await database.rows(select(messages.c.content))]
    finally:
        await database.close()
    assert not [content for content in stored if "493817" in json.dumps(content)]


async def test_confirmed_booking_reaches_the_guest_in_app_and_by_email(harness: Harness) -> None:
    guest, host = harness.users.add(display_name="Grace"), harness.users.add()
    start = datetime(2031, 12, 5, 17, 0, tzinfo=UTC)  # 18:00 in Berlin
    details = booking_details(guest, host, start=start, seats=2, title="Jazz & <Blues>")
    await publish(harness.redis, harness.prefix, "bookings", bookings_bus.BookingConfirmed(booking=details))

    await eventually(lambda: harness.mail.messages(guest.email), what="confirmation email")
    [mail] = harness.mail.messages(guest.email)
    assert mail.subject == "Booking confirmed: Jazz & <Blues>"
    assert "Hi Grace" in mail.text
    assert "Friday, 5 December 2031, 18:00–21:00 CET (Europe/Berlin)" in mail.text
    assert "2 seats" in mail.text
    assert f"/v1/bookings/{details.booking_id}" in mail.text
    assert "Jazz &amp; &lt;Blues&gt;" in mail.html
    assert "<Blues>" not in mail.html

    [notification] = (await harness.inbox(guest.id).list()).notifications
    assert notification.kind == notifications_pb2.KIND_BOOKING_CONFIRMED
    assert notification.title == "Booking confirmed: Jazz & <Blues>"
    assert "18:00" in notification.body
    assert not notification.read
    assert notification.link.endswith(f"/v1/bookings/{details.booking_id}")
    # The host is not told about plain confirmations.
    assert not harness.mail.messages(host.email)
    assert not (await harness.inbox(host.id).list()).notifications


async def test_approval_request_reaches_the_host_and_the_guest_hears_it_was_sent(harness: Harness) -> None:
    guest, host = harness.users.add(), harness.users.add(display_name="Hostess")
    details = booking_details(guest, host, state=bookings_pb2.Booking.AWAITING_APPROVAL)
    await publish(
        harness.redis,
        harness.prefix,
        "bookings",
        bookings_bus.BookingAwaitingApproval(booking=details, expire_time=stamp(later(days=2))),
    )
    await eventually(lambda: harness.mail.messages(host.email) and harness.mail.messages(guest.email))
    [to_host] = harness.mail.messages(host.email)
    assert to_host.subject.startswith("New booking request")
    assert f"/v1/bookings/{details.booking_id}" in to_host.text
    [host_note] = (await harness.inbox(host.id).list()).notifications
    assert host_note.kind == notifications_pb2.KIND_APPROVAL_REQUESTED
    [guest_note] = (await harness.inbox(guest.id).list()).notifications
    assert guest_note.kind == notifications_pb2.KIND_BOOKING_AWAITING_APPROVAL


async def test_a_redelivered_bus_message_notifies_once(harness: Harness) -> None:
    guest, host = harness.users.add(), harness.users.add()
    envelope = envelope_for(
        bookings_bus.BookingConfirmed(booking=booking_details(guest, host)), source="bookings"
    )
    for _ in range(3):
        await xadd(harness.redis, harness.prefix, "bookings", envelope)
    await eventually(lambda: harness.mail.messages(guest.email))
    # A later message to the same guest proves the duplicates were handled (and dropped) before it.
    await publish(
        harness.redis,
        harness.prefix,
        "bookings",
        bookings_bus.BookingWaitlisted(
            booking=booking_details(guest, host, state=bookings_pb2.Booking.WAITLISTED)
        ),
    )
    await eventually(lambda: len(harness.mail.messages(guest.email)) == 2)
    subjects = sorted(mail.subject for mail in harness.mail.messages(guest.email))
    assert [subject.split(":")[0] for subject in subjects] == ["Booking confirmed", "On the waitlist"]
    assert len((await harness.inbox(guest.id).list()).notifications) == 2


async def test_an_event_change_reaches_every_active_and_waitlisted_guest_with_the_change(
    harness: Harness,
) -> None:
    host = harness.users.add()
    event_id = str(uuid.uuid4())
    start = datetime(2031, 6, 1, 16, 0, tzinfo=UTC)
    guests = {state: harness.users.add() for state in ("CONFIRMED", "AWAITING_APPROVAL", "WAITLISTED")}
    for state, guest in guests.items():
        await harness.book(guest, host, event_id, bookings_pb2.Booking.State.Value(state), start=start)
    gone = harness.users.add()
    cancelled_booking = await harness.book(gone, host, event_id, bookings_pb2.Booking.CONFIRMED, start=start)
    await publish(
        harness.redis,
        harness.prefix,
        "bookings",
        bookings_bus.BookingCancelled(
            booking=booking_details(gone, host, event_id=event_id, booking_id=cancelled_booking, start=start),
            cancelled_by=bookings_bus.BookingCancelled.GUEST,
            previous_state=bookings_pb2.Booking.CONFIRMED,
        ),
    )
    await eventually(lambda: len(harness.mail.messages(gone.email)) == 2)

    moved = start + timedelta(days=1, hours=1)
    event = event_message(event_id, host.id, start=moved, venue="Philharmonie")
    await publish(
        harness.redis,
        harness.prefix,
        "events",
        events_bus.EventUpdated(
            event=event,
            changed_fields=["start_time", "end_time", "venue"],
            previous_start_time=stamp(start),
            previous_end_time=stamp(start + timedelta(hours=3)),
            previous_venue="Tiergarten",
        ),
    )
    for guest in guests.values():
        await eventually(
            lambda guest=guest: len(harness.mail.messages(guest.email)) == 2, what="change email"
        )
        change = next(
            mail for mail in harness.mail.messages(guest.email) if mail.subject.startswith("Event changed")
        )
        assert (
            "Time: Sunday, 1 June 2031, 18:00–21:00 CEST (Europe/Berlin) → "
            "Monday, 2 June 2031, 19:00–22:00 CEST (Europe/Berlin)"
        ) in change.text
        assert "Venue: Tiergarten → Philharmonie" in change.text
        kinds = [note.kind for note in (await harness.inbox(guest.id).list()).notifications]
        assert kinds[0] == notifications_pb2.KIND_EVENT_UPDATED
    # The guest who had cancelled is not told.
    assert len(harness.mail.messages(gone.email)) == 2


async def test_event_cancellation_reaches_each_guest_once_however_the_news_arrives(harness: Harness) -> None:
    host = harness.users.add()
    event_id = str(uuid.uuid4())
    guests = [harness.users.add() for _ in range(3)]
    bookings = {
        guest.id: await harness.book(guest, host, event_id, bookings_pb2.Booking.CONFIRMED)
        for guest in guests
    }
    # Events' EventCancelled and bookings' BookingCancelled(EVENT_CANCELLED) for each booking race
    # on two streams: each guest gets one "event cancelled" notification.
    await asyncio.gather(
        publish(
            harness.redis,
            harness.prefix,
            "events",
            events_bus.EventCancelled(event=event_message(event_id, host.id), reason="Storm warning"),
        ),
        *(
            publish(
                harness.redis,
                harness.prefix,
                "bookings",
                bookings_bus.BookingCancelled(
                    booking=booking_details(guest, host, event_id=event_id, booking_id=bookings[guest.id]),
                    cancelled_by=bookings_bus.BookingCancelled.EVENT_CANCELLED,
                    previous_state=bookings_pb2.Booking.CONFIRMED,
                ),
            )
            for guest in guests
        ),
    )
    for guest in guests:
        await eventually(
            lambda guest=guest: len(harness.mail.messages(guest.email)) >= 2, what="cancel email"
        )
    await harness.settle()
    for guest in guests:
        subjects = [mail.subject for mail in harness.mail.messages(guest.email)]
        assert sorted(subject.split(":")[0] for subject in subjects) == [
            "Booking confirmed",
            "Event cancelled",
        ]
        kinds = [note.kind for note in (await harness.inbox(guest.id).list()).notifications]
        assert kinds.count(notifications_pb2.KIND_EVENT_CANCELLED) == 1


async def test_completed_event_asks_attendees_to_rate_it(harness: Harness) -> None:
    host = harness.users.add()
    event_id = str(uuid.uuid4())
    attendee, waitlisted = harness.users.add(), harness.users.add()
    await harness.book(attendee, host, event_id, bookings_pb2.Booking.CONFIRMED)
    await harness.book(waitlisted, host, event_id, bookings_pb2.Booking.WAITLISTED)
    await publish(
        harness.redis,
        harness.prefix,
        "events",
        events_bus.EventCompleted(event=event_message(event_id, host.id)),
    )
    await eventually(lambda: len(harness.mail.messages(attendee.email)) == 2, what="rate email")
    rate = harness.mail.messages(attendee.email)[-1]
    assert rate.subject == "How was Jazz in the park?"
    await harness.settle()
    assert len(harness.mail.messages(waitlisted.email)) == 1


async def test_several_workers_racing_send_each_email_once(harness: Harness) -> None:
    settings = harness.service.settings
    assert isinstance(settings, NotificationsSettings)
    database = Database(settings.database_url, source="notifications", pool_size=4)
    await database.open()
    channel = grpc.aio.insecure_channel(settings.users_address)
    rivals = [
        DeliveryWorker(
            store=NotificationStore(database),
            settings=settings,
            users=UsersClient(channel),
            mailer=SmtpMailer(settings),
            renderer=EmailRenderer(sender=settings.smtp_from, public_url=settings.public_url),
            sms=ConsoleSms(reveal_codes=False),
            codes=CodeOpener(SECRET),
        )
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(rival.run()) for rival in rivals]
    try:
        host = harness.users.add()
        guests = [harness.users.add() for _ in range(30)]
        for guest in guests:
            await harness.publish(
                "bookings", bookings_bus.BookingConfirmed(booking=booking_details(guest, host))
            )
            await harness.publish("users", code_issued(guest, "777888"))
        for guest in guests:
            await eventually(
                lambda guest=guest: len(harness.mail.messages(guest.email)) >= 2, what="two emails"
            )
        await harness.settle()
        for guest in guests:
            assert len(harness.mail.messages(guest.email)) == 2
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.close()
        await database.close()


async def test_concurrent_cancellation_paths_notify_each_guest_once(harness: Harness) -> None:
    """EventCancelled and the BookingCancelled messages it causes, handled in parallel
    transactions (as by several consumers): one notification and one email per guest."""
    host = harness.users.add()
    event_id = str(uuid.uuid4())
    guests = [harness.users.add() for _ in range(5)]
    bookings = {
        guest.id: await harness.book(guest, host, event_id, bookings_pb2.Booking.CONFIRMED)
        for guest in guests
    }
    settings = harness.service.settings
    database = Database(settings.database_url, source="notifications", pool_size=8)
    await database.open()
    store = NotificationStore(database)
    consumers = NotificationConsumers(
        links=Links(settings.public_url),
        offsets=ReminderOffsets(timedelta(hours=24), timedelta(hours=1), timedelta(minutes=5)),
    )

    async def handle(handler: Any, message: Any, source: str) -> None:
        async with store.transaction() as tx:
            await handler(tx, envelope_for(message, source=source), message)

    try:
        cancelled = events_bus.EventCancelled(event=event_message(event_id, host.id), reason="Flood")
        await asyncio.gather(
            handle(consumers.on_event_cancelled, cancelled, "events"),
            handle(consumers.on_event_cancelled, cancelled, "events"),
            *(
                handle(
                    consumers.on_booking_cancelled,
                    bookings_bus.BookingCancelled(
                        booking=booking_details(
                            guest, host, event_id=event_id, booking_id=bookings[guest.id]
                        ),
                        cancelled_by=bookings_bus.BookingCancelled.EVENT_CANCELLED,
                        previous_state=bookings_pb2.Booking.CONFIRMED,
                        reason="Flood",
                    ),
                    "bookings",
                )
                for guest in guests
            ),
        )
    finally:
        await database.close()
    for guest in guests:
        await eventually(
            lambda guest=guest: len(harness.mail.messages(guest.email)) == 2, what="cancel email"
        )
    await harness.settle()
    for guest in guests:
        assert len(harness.mail.messages(guest.email)) == 2
        notes = await harness.inbox(guest.id).all()
        assert [note.kind for note in notes].count(notifications_pb2.KIND_EVENT_CANCELLED) == 1
