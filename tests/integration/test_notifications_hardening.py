"""Issue 11 (hardening), through a running notifications service: every defect the security review
found on notifications' side, each as a client or a producer on the bus would meet it."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from sqlalchemy import select

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.notifications.v1 import notifications_pb2 as pb
from seatmesh.users.v1 import bus_pb2 as users_bus
from seatmesh.users.v1 import users_pb2
from services.notifications.tables import deliveries, events, messages, notifications, reminders
from services.runtime.auth import Role
from services.runtime.bus.envelopes import DEAD_LETTER_STREAM
from services.runtime.database import Database
from services.runtime.errors import error_metadata, error_reason, status_details
from tests.integration.test_notifications_failures import sms_gateway
from tests.integration.test_notifications_helpers import (
    Harness,
    Inbox,
    Person,
    booking_details,
    code_issued,
    event_message,
    eventually,
    later,
    phone_code_issued,
    running_notifications,
    stamp,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

SEND_LIMITS = {"send_max_per_sender": 3, "send_max_per_event": 2, "send_window_seconds": 600}


@pytest.fixture(scope="module")
async def harness(engines: Engines, tokens: TokenFactory) -> AsyncIterator[Harness]:
    async with running_notifications(engines, tokens, **SEND_LIMITS) as running:
        yield running


def _violations(error: grpc.aio.AioRpcError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    status = status_details(error)
    assert status is not None
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return list(bad_request.field_violations)
    return []


async def _dead_letters(harness: Harness) -> list[dict[bytes, bytes]]:
    entries = await harness.redis.xrange(harness.prefix + DEAD_LETTER_STREAM)
    return [fields for _, fields in entries]


async def _handled(harness: Harness, person: Person) -> None:
    """Everything published on the users stream before now has been handled: a verification code
    published after it, to an address of its own, has been emailed (one consumer reads the stream
    in order)."""
    marker = f"marker-{uuid.uuid4()}@example.com"
    await harness.publish("users", code_issued(person, "123456", email=marker))
    await eventually(lambda: harness.mail.messages(marker), what="the marker email")


# -- defect 4: an event at the end of time ----------------------------------------------------------


async def test_an_event_ending_in_year_9999_east_of_utc_is_notified_not_dead_lettered(
    harness: Harness,
) -> None:
    guest, host = harness.users.add(), harness.users.add()
    details = booking_details(
        guest, host, start=datetime(9999, 12, 31, 18, 0, tzinfo=UTC), time_zone="Asia/Tokyo"
    )
    envelope = await harness.publish("bookings", bookings_bus.BookingConfirmed(booking=details))

    await eventually(lambda: harness.mail.messages(guest.email), what="the confirmation email")
    [mail] = harness.mail.messages(guest.email)
    # Its end (year 10000 in Tokyo) cannot be shown on Tokyo's clock: the whole span is in UTC.
    assert "Friday, 31 December 9999, 18:00–21:00 UTC" in mail.text
    [note] = (await harness.inbox(guest.id).list()).notifications
    assert note.kind == pb.KIND_BOOKING_CONFIRMED
    assert not [
        letter for letter in await _dead_letters(harness) if letter[b"event_id"] == envelope.event_id.encode()
    ]


# -- defect 5: the welcome waits for a verified address ---------------------------------------------


async def _welcomes(harness: Harness, person: Person) -> tuple[list[pb.Notification], list[str]]:
    notes = [note for note in await harness.inbox(person.id).all() if note.kind == pb.KIND_WELCOME]
    mails = [mail.subject for mail in harness.mail.messages(person.email) if "Welcome" in mail.subject]
    return notes, mails


async def test_the_welcome_goes_out_once_the_address_is_verified_and_only_once(harness: Harness) -> None:
    person = harness.users.add()
    await harness.publish(
        "users",
        users_bus.UserRegistered(user_id=person.id, email=person.email, role=users_pb2.ROLE_ORGANIZER),
    )
    await _handled(harness, person)
    # Registered, not verified: the address may be anybody's, so nothing is sent to it.
    assert await _welcomes(harness, person) == ([], [])

    verified = await harness.publish("users", users_bus.EmailVerified(user_id=person.id, email=person.email))

    async def welcomed() -> bool:
        notes, mails = await _welcomes(harness, person)
        return bool(notes and mails)

    await eventually(welcomed, what="the welcome")
    [note], _ = await _welcomes(harness, person)
    assert "Publish your first event" in note.body

    # The same event again, and the address verified again later (a new one): still one welcome.
    await harness.publish("users", users_bus.EmailVerified(user_id=person.id, email="new@example.com"))
    await harness.redis.xadd(f"{harness.prefix}bus:users", {"e": verified.SerializeToString()})
    await _handled(harness, person)
    await harness.settle()
    notes, mails = await _welcomes(harness, person)
    assert (len(notes), len(mails)) == (1, 1)


async def test_the_welcome_follows_whichever_of_registration_and_verification_comes_last(
    harness: Harness,
) -> None:
    person = harness.users.add()
    await harness.publish("users", users_bus.EmailVerified(user_id=person.id, email=person.email))
    await _handled(harness, person)
    assert await _welcomes(harness, person) == ([], [])
    await harness.publish("users", users_bus.UserRegistered(user_id=person.id, email=person.email))

    async def welcomed() -> bool:
        notes, mails = await _welcomes(harness, person)
        return bool(notes and mails)

    await eventually(welcomed, what="the welcome")
    [note], _ = await _welcomes(harness, person)
    assert "book your seats" in note.body


async def test_an_account_known_only_from_before_is_not_welcomed_again(harness: Harness) -> None:
    """Accounts this service knew before welcomes waited for verification were welcomed when they
    registered; verifying a new address later must not welcome them twice."""
    guest = harness.users.add()
    await harness.book(guest, harness.users.add(), str(uuid.uuid4()), bookings_pb2.Booking.CONFIRMED)
    await harness.publish("users", users_bus.EmailVerified(user_id=guest.id, email=guest.email))
    await _handled(harness, guest)
    await harness.settle()
    assert await _welcomes(harness, guest) == ([], [])


# -- defect 10: a repeated field a thousand entries long ----------------------------------------------


async def test_a_thousand_duplicate_preferences_make_one_small_error(harness: Harness) -> None:
    inbox = harness.inbox(harness.users.add().id)
    request = pb.UpdateNotificationPreferencesRequest(
        preferences=pb.NotificationPreferences(kinds=[pb.KindPreference(kind=pb.KIND_WELCOME)] * 1000)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inbox.stub.UpdateNotificationPreferences(request, metadata=inbox.metadata)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [violation.field for violation in _violations(raised.value)] == ["preferences.kinds"]
    trailer = dict(raised.value.trailing_metadata() or ())["grpc-status-details-bin"]
    assert len(trailer) < 1000


# -- defect 2: page tokens this service did not issue -------------------------------------------------


def _forged_tokens(genuine: str) -> list[str]:
    def unsigned(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    raw = base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4))
    payload, mac = raw[:-16], raw[-16:]
    flipped = bytes([mac[0] ^ 1]) + mac[1:]
    return [
        # The case: the old, unsigned form with a sort key of the wrong types.
        unsigned({"k": ["2030-01-01T00:00:00+00:00", 1]}),
        unsigned(["2030-01-01T00:00:00+00:00", 1]),
        unsigned([10**30, "x"]),
        # A genuine key with a broken signature, and a genuine token cut short.
        base64.urlsafe_b64encode(payload + flipped).decode().rstrip("="),
        genuine[:-3],
        "%%%not base64%%%",
        "A" * 10_000,
    ]


async def test_forged_page_tokens_are_invalid_arguments_on_every_list(harness: Harness) -> None:
    person = harness.users.add()
    for _ in range(2):
        await harness.publish(
            "bookings", bookings_bus.BookingConfirmed(booking=booking_details(person, harness.users.add()))
        )
    inbox = harness.inbox(person.id)

    async def two() -> bool:
        return len((await inbox.list()).notifications) == 2

    await eventually(two, what="two notifications")
    await harness.settle()
    admin = harness.admin()
    # One dead letter and another, so the list has a second page.
    for _ in range(2):
        await harness.redis.xadd(f"{harness.prefix}bus:bookings", {"e": b"\x00garbage"})

    async def two_dead_letters() -> bool:
        return len(await _dead_letters(harness)) >= 2

    await eventually(two_dead_letters, what="two dead letters")

    lists = [
        (inbox, inbox.stub.ListNotifications, pb.ListNotificationsRequest),
        (admin, admin.stub.ListDeliveries, pb.ListDeliveriesRequest),
        (admin, admin.stub.ListDeadLetters, pb.ListDeadLettersRequest),
    ]
    for caller, call, request_type in lists:
        first = await call(request_type(page_size=1), metadata=caller.metadata)
        assert first.next_page_token, request_type.__name__
        await call(request_type(page_size=1, page_token=first.next_page_token), metadata=caller.metadata)
        for forged in _forged_tokens(first.next_page_token):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(request_type(page_size=1, page_token=forged), metadata=caller.metadata)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (request_type.__name__, forged)
            assert [violation.field for violation in _violations(raised.value)] == ["page_token"]
    # A token of one list is no token of another.
    notes = await inbox.list(page_size=1)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await admin.stub.ListDeliveries(
            pb.ListDeliveriesRequest(page_size=1, page_token=notes.next_page_token), metadata=admin.metadata
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- defect 7: what a sender may send -----------------------------------------------------------------


async def _known_event(harness: Harness, host: Person) -> str:
    """An event of `host`'s that this service has heard of on the bus (it has no events service)."""
    event_id = str(uuid.uuid4())
    await harness.publish("events", events_bus.EventCreated(event=event_message(event_id, host.id)))
    database = Database(harness.service.settings.database_url, source="notifications", pool_size=1)
    await database.open()
    try:

        async def known() -> bool:
            return (
                await database.row(select(events.c.event_id).where(events.c.event_id == event_id)) is not None
            )

        await eventually(known, what="the event to be known")
    finally:
        await database.close()
    return event_id


async def test_sends_are_limited_per_sender_and_per_event(harness: Harness) -> None:
    host = harness.users.add()
    organizer = harness.inbox(host.id, Role.ORGANIZER)
    first_event, second_event, third_event = [await _known_event(harness, host) for _ in range(3)]

    async def send(event_id: str, request_id: str) -> pb.SendNotificationResponse:
        return await organizer.stub.SendNotification(
            pb.SendNotificationRequest(event_id=event_id, title="News", body="Hello", request_id=request_id),
            metadata=organizer.metadata,
        )

    await send(first_event, "a")
    await send(first_event, "b")
    # A repeat of a send sends nothing, so it counts nothing either.
    await send(first_event, "a")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await send(first_event, "c")
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(raised.value) == "TOO_MANY_MESSAGES"
    status = status_details(raised.value)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert 0 < retry.retry_delay.seconds <= SEND_LIMITS["send_window_seconds"]

    # Another event of the same organizer: its own limit, but the sender's is nearly spent.
    await send(second_event, "d")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await send(third_event, "e")
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A refused send did not take its request id: nothing was sent under it.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await send(third_event, "e")
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    # Other organizers are not held up by this one.
    other = harness.users.add()
    other_organizer = harness.inbox(other.id, Role.ORGANIZER)
    other_event = await _known_event(harness, other)
    await other_organizer.stub.SendNotification(
        pb.SendNotificationRequest(event_id=other_event, title="News", body="Hello"),
        metadata=other_organizer.metadata,
    )


async def test_an_sms_body_is_far_shorter_than_an_email_body(harness: Harness) -> None:
    host = harness.users.add()
    organizer = harness.inbox(host.id, Role.ORGANIZER)
    event_id = await _known_event(harness, host)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await organizer.stub.SendNotification(
            pb.SendNotificationRequest(
                event_id=event_id, title="News", body="x" * 161, channels=[pb.CHANNEL_IN_APP, pb.CHANNEL_SMS]
            ),
            metadata=organizer.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = _violations(raised.value)
    assert (violation.field, violation.description) == ("body", "must be 1–160 characters when sent by SMS")
    await organizer.stub.SendNotification(
        pb.SendNotificationRequest(event_id=event_id, title="News", body="x" * 5000),
        metadata=organizer.metadata,
    )


# -- defect 8: verification codes stay sealed at rest -------------------------------------------------


async def _stored_text(harness: Harness) -> str:
    """Every row of the tables a message or delivery rests in, as text."""
    database = Database(harness.service.settings.database_url, source="notifications", pool_size=1)
    await database.open()
    try:
        rows = [
            *await database.rows(select(messages)),
            *await database.rows(select(deliveries)),
            *await database.rows(select(notifications)),
        ]
    finally:
        await database.close()
    return "\n".join(repr(tuple(row)) for row in rows)


async def test_a_sealed_code_is_opened_only_to_send_it_and_never_stored(harness: Harness) -> None:
    person = harness.users.add(display_name="Ada")
    code = "493817"
    # Hold the email at the SMTP server, so the delivery is caught between stored and sent.
    harness.mail.hold_after = len(harness.mail.received)
    try:
        envelope = await harness.publish(
            "users",
            code_issued(
                person,
                code,
                email="pending@example.com",
                display_name="Ada",
                expire_time=stamp(later(minutes=15)),
            ),
        )

        async def in_flight() -> bool:
            return harness.mail.held > 0 and "pending@example.com" in await _stored_text(harness)

        await eventually(in_flight, what="the email in flight")
        assert code not in await _stored_text(harness)
    finally:
        harness.mail.hold_after = None
    await eventually(lambda: harness.mail.messages("pending@example.com"), what="the verification email")
    [mail] = harness.mail.messages("pending@example.com")
    assert mail.subject == f"{code} is your seatmesh verification code"
    assert code in mail.text
    assert code in mail.html
    await harness.settle()
    # Once sent, not even the sealed code is kept.
    database = Database(harness.service.settings.database_url, source="notifications", pool_size=1)
    await database.open()
    try:
        [content] = await database.rows(
            select(messages.c.content).where(messages.c.source_key == envelope.event_id)
        )
    finally:
        await database.close()
    assert content.content["sealed_code"] == ""


async def test_a_code_sealed_for_someone_else_is_not_sent(harness: Harness) -> None:
    person, other = harness.users.add(), harness.users.add()
    # Sealed for another user: replayed into this user's message, it does not open.
    replayed = code_issued(other, "111333")
    replayed.user_id = person.id
    replayed.email = person.email
    await harness.publish("users", replayed)

    async def failed() -> bool:
        return any(
            item.recipient_id == person.id and item.state == pb.Delivery.FAILED
            for item in await harness.deliveries()
        )

    await eventually(failed, what="the delivery to fail")
    assert not harness.mail.messages(person.email)
    [delivery] = [item for item in await harness.deliveries() if item.recipient_id == person.id]
    assert "code" in delivery.last_error


async def test_a_dead_lettered_code_message_reveals_no_code(harness: Harness) -> None:
    person = harness.users.add()
    code = "864209"
    # A message notifications cannot store (PostgreSQL refuses NUL in JSON): it is dead-lettered
    # with the error, which quotes the message content, and the message itself.
    envelope = await harness.publish("users", code_issued(person, code, display_name="Eve\x00"))

    async def dead() -> list[dict[bytes, bytes]]:
        return [
            letter
            for letter in await _dead_letters(harness)
            if letter[b"event_id"] == envelope.event_id.encode()
        ]

    await eventually(dead, within=60, what="the dead letter")
    [letter] = await dead()
    assert b"JSON" in letter[b"error"]
    assert all(code.encode() not in value for value in letter.values())
    admin = harness.admin()
    listed = await admin.stub.ListDeadLetters(
        pb.ListDeadLettersRequest(page_size=100), metadata=admin.metadata
    )
    assert all(code not in item.error for item in listed.dead_letters)
    assert code not in await _stored_text(harness)


# -- defect 7: SMS only to verified numbers -----------------------------------------------------------


async def test_sms_go_only_to_verified_numbers_but_the_code_that_verifies_one(
    engines: Engines, tokens: TokenFactory
) -> None:
    with sms_gateway(failures=0) as gateway:
        url = f"http://127.0.0.1:{gateway.server_address[1]}/messages"
        async with running_notifications(
            engines, tokens, sms_provider="http", sms_gateway_url=url
        ) as harness:
            verified = harness.users.add(phone="+491701111111", phone_verified=True)
            unverified = harness.users.add(phone="+491702222222")
            host = harness.users.add()
            for who in (verified, unverified):
                inbox = harness.inbox(who.id)
                await inbox.stub.UpdateNotificationPreferences(
                    pb.UpdateNotificationPreferencesRequest(
                        preferences=pb.NotificationPreferences(
                            kinds=[pb.KindPreference(kind=pb.KIND_BOOKING_CONFIRMED, sms=True)]
                        )
                    ),
                    metadata=inbox.metadata,
                )
                await harness.publish(
                    "bookings", bookings_bus.BookingConfirmed(booking=booking_details(who, host))
                )
            # The code that verifies a number goes to that number (not yet the account's).
            await harness.publish("users", phone_code_issued(unverified, "246813", "+491703333333"))
            # A gateway that refuses a number quoting the message: the code is not recorded.
            gateway.refused.add("+491704444444")  # type: ignore[attr-defined]
            await harness.publish("users", phone_code_issued(verified, "975311", "+491704444444"))

            async def settled() -> bool:
                done = [item for item in await harness.deliveries() if item.state != pb.Delivery.PENDING]
                return len(done) == 4

            await eventually(settled, what="four SMS deliveries to finish")
            received: list[dict[str, Any]] = gateway.received  # type: ignore[attr-defined]
            assert sorted((sms["to"], sms["text"].split(" ")[0]) for sms in received) == [
                ("+491701111111", "seatmesh:"),
                ("+491703333333", "246813"),
            ]
            deliveries = {(item.recipient_id, item.kind): item for item in await harness.deliveries()}
            skipped = deliveries[(unverified.id, pb.KIND_BOOKING_CONFIRMED)]
            # Visible to admins: not sent, and why.
            assert skipped.state == pb.Delivery.FAILED
            assert skipped.address == "+491702222222"
            assert "not verified" in skipped.last_error
            code = deliveries[(unverified.id, pb.KIND_VERIFICATION_CODE)]
            assert (code.state, code.channel, code.address) == (
                pb.Delivery.SENT,
                pb.CHANNEL_SMS,
                "+491703333333",
            )
            refused = deliveries[(verified.id, pb.KIND_VERIFICATION_CODE)]
            assert refused.state == pb.Delivery.FAILED
            assert "'[code] is your seatmesh verification code.'" in refused.last_error
            stored = await _stored_text(harness)
            assert "246813" not in stored
            assert "975311" not in stored


# -- defect 13: a deleted event is forgotten ----------------------------------------------------------


async def test_a_deleted_events_reminders_never_go_out(engines: Engines, tokens: TokenFactory) -> None:
    async with running_notifications(
        engines, tokens, reminder_24h_offset=6.0, reminder_1h_offset=4.0, reminder_poll_interval=0.2
    ) as harness:
        host = harness.users.add()
        start = datetime.now(UTC) + timedelta(seconds=10)
        kept, deleted = harness.users.add(), harness.users.add()
        kept_event, deleted_event = str(uuid.uuid4()), str(uuid.uuid4())
        for guest, event_id in ((kept, kept_event), (deleted, deleted_event)):
            await harness.publish(
                "events", events_bus.EventCreated(event=event_message(event_id, host.id, start=start))
            )
            await harness.book(guest, host, event_id, bookings_pb2.Booking.CONFIRMED, start=start)
        await harness.publish(
            "events",
            events_bus.EventDeleted(
                event=event_message(deleted_event, host.id, start=start), deleted_by=host.id
            ),
        )

        def reminded(person: Person) -> list[str]:
            return [
                mail.subject
                for mail in harness.mail.messages(person.email)
                if mail.subject.startswith("Reminder")
            ]

        await eventually(lambda: len(reminded(kept)) == 2, within=30, what="both reminders of the kept event")
        assert reminded(deleted) == []
        database = Database(harness.service.settings.database_url, source="notifications", pool_size=1)
        await database.open()
        try:
            for table, column in ((events, events.c.event_id), (reminders, reminders.c.event_id)):
                assert not await database.rows(select(table).where(column == deleted_event))
            assert await database.rows(select(events).where(events.c.event_id == kept_event))
        finally:
            await database.close()


# -- siblings: what else reached people who never confirmed anything, or had no bound ---------------


async def test_an_announcement_reaches_only_verified_accounts(harness: Harness) -> None:
    """Like the welcome: an address nobody confirmed gets no announcement either."""
    unconfirmed, confirmed = harness.users.add(), harness.users.add()
    for person in (unconfirmed, confirmed):
        await harness.publish("users", users_bus.UserRegistered(user_id=person.id, email=person.email))
    await harness.publish("users", users_bus.EmailVerified(user_id=confirmed.id, email=confirmed.email))
    await _handled(harness, confirmed)
    admin = harness.admin()
    await admin.stub.SendNotification(
        pb.SendNotificationRequest(title="Maintenance tonight", body="Back by 02:00."),
        metadata=admin.metadata,
    )

    async def announced() -> bool:
        return any(note.kind == pb.KIND_ANNOUNCEMENT for note in await harness.inbox(confirmed.id).all())

    await eventually(announced, what="the announcement")
    await harness.settle()
    assert not [
        note for note in await harness.inbox(unconfirmed.id).all() if note.kind == pb.KIND_ANNOUNCEMENT
    ]
    assert not [mail for mail in harness.mail.messages(unconfirmed.email) if "Maintenance" in mail.subject]


async def test_live_streams_are_bounded_per_user_and_in_all(engines: Engines, tokens: TokenFactory) -> None:
    async with running_notifications(
        engines, tokens, watch_max_streams=3, watch_max_streams_per_user=2
    ) as harness:
        first, second = harness.inbox(harness.users.add().id), harness.inbox(harness.users.add().id)
        open_streams = []

        async def watch(inbox: Inbox) -> grpc.aio.UnaryStreamCall:
            stream = inbox.stub.WatchNotifications(pb.WatchNotificationsRequest(), metadata=inbox.metadata)
            open_streams.append(stream)
            return stream

        async def refused(inbox: Inbox, limit: str) -> None:
            stream = await watch(inbox)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await asyncio.wait_for(stream.read(), timeout=5)
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error_reason(raised.value) == "TOO_MANY_STREAMS"
            assert error_metadata(raised.value)["limit"] == limit

        async def admitted(stream: grpc.aio.UnaryStreamCall) -> None:
            # Open until it ends: a stream that was let in waits for notifications.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stream.read()), timeout=0.5)

        try:
            kept = [await watch(first), await watch(first)]
            for stream in kept:
                await admitted(stream)
            await refused(first, "user")
            await admitted(await watch(second))
            await refused(second, "server")
            # A stream that ends gives its slot back.
            kept[0].cancel()

            async def slot_back() -> bool:
                stream = await watch(first)
                try:
                    await asyncio.wait_for(asyncio.shield(stream.read()), timeout=0.3)
                except TimeoutError:
                    return True
                except grpc.aio.AioRpcError:
                    return False
                return False

            await eventually(slot_back, what="the slot to be free again")
        finally:
            for stream in open_streams:
                stream.cancel()
