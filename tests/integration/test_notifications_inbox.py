"""The in-app inbox and the RPCs around it: list and mark only your own, live watch, preferences,
organizer and admin messages, and what admins see of deliveries and dead letters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.notifications.v1 import notifications_pb2 as pb
from services.runtime.auth import Role
from services.runtime.bus.envelopes import DEAD_LETTER_STREAM, stream_name
from services.runtime.errors import error_reason, status_details
from tests.integration.test_notifications_helpers import (
    Harness,
    booking_details,
    code_issued,
    event_message,
    eventually,
    running_notifications,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory


@pytest.fixture(scope="module")
async def harness(engines: Engines, tokens: TokenFactory) -> AsyncIterator[Harness]:
    async with running_notifications(engines, tokens) as running:
        yield running


async def _notify(harness: Harness, user_id: str, count: int = 1) -> None:
    """`count` in-app notifications for the user (booking confirmations)."""
    host = harness.users.add()
    for _ in range(count):
        await harness.publish(
            "bookings", bookings_bus.BookingConfirmed(booking=booking_details(user_id, host))
        )
    inbox = harness.inbox(user_id)

    async def arrived() -> bool:
        return len(await inbox.all()) == count

    await eventually(arrived, what="notifications")


async def test_users_list_and_mark_only_their_own(harness: Harness) -> None:
    alice, bob = harness.users.add(), harness.users.add()
    await _notify(harness, alice.id, 5)
    await _notify(harness, bob.id, 1)
    alice_inbox, bob_inbox = harness.inbox(alice.id), harness.inbox(bob.id)

    pages = [await alice_inbox.list(page_size=2)]
    while pages[-1].next_page_token:
        pages.append(await alice_inbox.list(page_size=2, page_token=pages[-1].next_page_token))
    assert [len(page.notifications) for page in pages] == [2, 2, 1]
    listed = [note for page in pages for note in page.notifications]
    assert len({note.id for note in listed}) == 5
    times = [note.create_time.ToDatetime() for note in listed]
    assert times == sorted(times, reverse=True)

    [bobs] = (await bob_inbox.list()).notifications
    # Bob cannot read or mark Alice's notifications: they look like missing ones.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await bob_inbox.stub.MarkNotificationRead(
            pb.MarkNotificationReadRequest(notification_id=listed[0].id), metadata=bob_inbox.metadata
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await bob_inbox.stub.MarkNotificationRead(
            pb.MarkNotificationReadRequest(notification_id="not-a-uuid"), metadata=bob_inbox.metadata
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    marked = await alice_inbox.stub.MarkNotificationRead(
        pb.MarkNotificationReadRequest(notification_id=listed[1].id), metadata=alice_inbox.metadata
    )
    assert marked.read
    assert marked.id == listed[1].id
    unread = await alice_inbox.all(unread_only=True)
    assert [note.id for note in unread] == [note.id for note in listed if note.id != listed[1].id]

    all_read = await alice_inbox.stub.MarkAllNotificationsRead(
        pb.MarkAllNotificationsReadRequest(), metadata=alice_inbox.metadata
    )
    assert all_read.marked_count == 4
    assert not await alice_inbox.all(unread_only=True)
    # Bob's stays unread.
    assert [note.id for note in await bob_inbox.all(unread_only=True)] == [bobs.id]

    # A page token belongs to its query.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await alice_inbox.list(page_size=2, page_token=pages[0].next_page_token, unread_only=True)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_receives_a_new_notification_within_a_second(harness: Harness) -> None:
    person, other = harness.users.add(), harness.users.add()
    inbox = harness.inbox(person.id)
    stream = inbox.stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=inbox.metadata)
    received: asyncio.Queue[tuple[float, pb.Notification]] = asyncio.Queue()

    async def read() -> None:
        async for note in stream:
            await received.put((time.monotonic(), note))

    reader = asyncio.create_task(read())
    host = harness.users.add()
    try:
        # Probe until the stream is live (the server has subscribed): a waitlisted booking each time.
        while True:
            waitlisted = booking_details(person, host, state=bookings_pb2.Booking.WAITLISTED)
            await harness.publish("bookings", bookings_bus.BookingWaitlisted(booking=waitlisted))
            try:
                _, probe = await asyncio.wait_for(received.get(), timeout=2)
                break
            except TimeoutError:
                continue
        assert probe.kind == pb.KIND_BOOKING_WAITLISTED

        # Someone else's notification is not seen; the caller's own arrives within a second of
        # being published (the bus hop included: stream -> consumer -> commit -> NOTIFY -> stream).
        await harness.publish("bookings", bookings_bus.BookingConfirmed(booking=booking_details(other, host)))
        guest_booking = booking_details(person, host)
        published = time.monotonic()
        await harness.publish("bookings", bookings_bus.BookingConfirmed(booking=guest_booking))
        while True:
            arrived, note = await asyncio.wait_for(received.get(), timeout=10)
            if note.kind != pb.KIND_BOOKING_WAITLISTED:  # a late probe
                break
        assert note.kind == pb.KIND_BOOKING_CONFIRMED
        assert note.link.endswith(guest_booking.booking_id)
        assert arrived - published < 1.0
    finally:
        stream.cancel()
        reader.cancel()


async def test_preferences_default_and_decide_the_channels(harness: Harness) -> None:
    person, host = harness.users.add(), harness.users.add()
    inbox = harness.inbox(person.id)
    defaults = await inbox.stub.GetNotificationPreferences(
        pb.GetNotificationPreferencesRequest(), metadata=inbox.metadata
    )
    by_kind = {entry.kind: entry for entry in defaults.kinds}
    assert pb.KIND_VERIFICATION_CODE not in by_kind
    assert pb.KIND_UNSPECIFIED not in by_kind
    assert all(entry.in_app and entry.email and not entry.sms for entry in defaults.kinds)
    assert len(by_kind) == len(pb.Kind.values()) - 2

    updated = await inbox.stub.UpdateNotificationPreferences(
        pb.UpdateNotificationPreferencesRequest(
            preferences=pb.NotificationPreferences(
                kinds=[pb.KindPreference(kind=pb.KIND_BOOKING_CONFIRMED, in_app=True, email=False, sms=False)]
            )
        ),
        metadata=inbox.metadata,
    )
    changed = {entry.kind: entry for entry in updated.kinds}[pb.KIND_BOOKING_CONFIRMED]
    assert (changed.in_app, changed.email, changed.sms) == (True, False, False)

    for bad in (pb.KIND_VERIFICATION_CODE, pb.KIND_UNSPECIFIED):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await inbox.stub.UpdateNotificationPreferences(
                pb.UpdateNotificationPreferencesRequest(
                    preferences=pb.NotificationPreferences(kinds=[pb.KindPreference(kind=bad, email=False)])
                ),
                metadata=inbox.metadata,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    await harness.publish("bookings", bookings_bus.BookingConfirmed(booking=booking_details(person, host)))
    await harness.publish(
        "bookings",
        bookings_bus.BookingWaitlisted(
            booking=booking_details(person, host, state=bookings_pb2.Booking.WAITLISTED)
        ),
    )
    await eventually(lambda: harness.mail.messages(person.email), what="waitlist email")

    async def both_in_app() -> bool:
        return len(await inbox.all()) == 2

    await eventually(both_in_app)
    await harness.settle()
    # Email was off for confirmations only.
    assert [mail.subject.split(":")[0] for mail in harness.mail.messages(person.email)] == ["On the waitlist"]

    # Security mail ignores preferences even when every kind is switched off.
    await inbox.stub.UpdateNotificationPreferences(
        pb.UpdateNotificationPreferencesRequest(
            preferences=pb.NotificationPreferences(kinds=[pb.KindPreference(kind=kind) for kind in by_kind])
        ),
        metadata=inbox.metadata,
    )
    await harness.publish("users", code_issued(person, "111222"))
    await eventually(lambda: any("111222" in mail.subject for mail in harness.mail.messages(person.email)))


async def test_organizers_write_only_to_their_own_events_attendees(harness: Harness) -> None:
    host, stranger = harness.users.add(), harness.users.add()
    event_id = str(uuid.uuid4())
    attendees = [harness.users.add() for _ in range(3)]
    for guest in attendees:
        await harness.book(guest, host, event_id, bookings_pb2.Booking.CONFIRMED)
    waitlisted = harness.users.add()
    await harness.book(waitlisted, host, event_id, bookings_pb2.Booking.WAITLISTED)

    organizer = harness.inbox(host.id, Role.ORGANIZER)
    request = pb.SendNotificationRequest(
        event_id=event_id, title="Doors open at 17:30", body="Bring your ticket.", request_id="r-1"
    )
    # Several identical requests at once send once and all answer the same.
    replies = await asyncio.gather(
        *(organizer.stub.SendNotification(request, metadata=organizer.metadata) for _ in range(5))
    )
    assert {reply.recipient_count for reply in replies} == {3}
    for guest in attendees:
        await eventually(lambda guest=guest: len(harness.mail.messages(guest.email)) == 2, what="message")
        note = (await harness.inbox(guest.id).list()).notifications[0]
        assert note.kind == pb.KIND_ORGANIZER_MESSAGE
        assert note.title == "Jazz in the park: Doors open at 17:30"
    await harness.settle()
    assert all(len(harness.mail.messages(guest.email)) == 2 for guest in attendees)
    assert len(harness.mail.messages(waitlisted.email)) == 1

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await organizer.stub.SendNotification(
            pb.SendNotificationRequest(event_id=event_id, title="Other", body="Text", request_id="r-1"),
            metadata=organizer.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(raised.value) == "REQUEST_ID_REUSED"

    other_organizer = harness.inbox(stranger.id, Role.ORGANIZER)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await other_organizer.stub.SendNotification(
            pb.SendNotificationRequest(event_id=event_id, title="Spam", body="Buy now"),
            metadata=other_organizer.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(raised.value) == "NOT_EVENT_ORGANIZER"

    participant = harness.inbox(attendees[0].id, Role.PARTICIPANT)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await participant.stub.SendNotification(
            pb.SendNotificationRequest(event_id=event_id, title="Hi", body="all"),
            metadata=participant.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await organizer.stub.SendNotification(
            pb.SendNotificationRequest(title="", body="x" * 5001, channels=[pb.CHANNEL_UNSPECIFIED]),
            metadata=organizer.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {violation.field for violation in _violations(raised.value)}
    assert fields == {"title", "body", "channels[0]", "event_id"}


async def test_an_organizer_can_write_to_an_event_known_only_from_the_events_bus(harness: Harness) -> None:
    host = harness.users.add()
    event_id = str(uuid.uuid4())
    await harness.publish("events", events_bus.EventCreated(event=event_message(event_id, host.id)))
    organizer = harness.inbox(host.id, Role.ORGANIZER)

    async def accepted() -> bool:
        try:
            reply = await organizer.stub.SendNotification(
                pb.SendNotificationRequest(event_id=event_id, title="Hello", body="Soon!", request_id="x"),
                metadata=organizer.metadata,
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.recipient_count == 0

    await eventually(accepted, what="the event to be known")


async def test_admins_broadcast_to_everyone_known_and_see_deliveries_and_dead_letters(
    harness: Harness,
) -> None:
    admin = harness.admin()
    people = [harness.users.add() for _ in range(3)]
    for person in people:
        await _notify(harness, person.id)
    reply = await admin.stub.SendNotification(
        pb.SendNotificationRequest(
            title="Maintenance tonight", body="We'll be back by 02:00.", channels=[pb.CHANNEL_IN_APP]
        ),
        metadata=admin.metadata,
    )
    assert reply.recipient_count >= 3
    for person in people:
        notes = await harness.inbox(person.id).all()
        assert notes[0].kind == pb.KIND_ANNOUNCEMENT
        assert notes[0].body == "We'll be back by 02:00."

    # Deliveries and dead letters are for admins only.
    participant = harness.inbox(people[0].id)
    for call, request in (
        (participant.stub.ListDeliveries, pb.ListDeliveriesRequest()),
        (participant.stub.ListDeadLetters, pb.ListDeadLettersRequest()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=participant.metadata)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    await harness.settle()
    sent = await harness.deliveries(pb.Delivery.SENT)
    confirmation = [item for item in sent if item.recipient_id == people[0].id]
    assert [(item.kind, item.channel, item.address, item.attempts) for item in confirmation] == [
        (pb.KIND_BOOKING_CONFIRMED, pb.CHANNEL_EMAIL, people[0].email, 1)
    ]

    # A message nobody can read goes to the dead-letter stream at once and is listed.
    await harness.redis.xadd(stream_name(harness.prefix, "bookings"), {"e": b"\x00garbage"})

    async def dead_letters() -> list[pb.DeadLetter]:
        page = await admin.stub.ListDeadLetters(
            pb.ListDeadLettersRequest(page_size=10), metadata=admin.metadata
        )
        return list(page.dead_letters)

    await eventually(dead_letters, what="a dead letter")
    [letter] = await dead_letters()
    assert letter.stream == stream_name(harness.prefix, "bookings")
    assert "unreadable" in letter.error
    assert await harness.redis.xlen(harness.prefix + DEAD_LETTER_STREAM) == 1


def _violations(error: grpc.aio.AioRpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = status_details(error)
    assert status is not None
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return list(bad_request.field_violations)
    return []
