"""Shared helpers of the notifications tests (imported by the test_notifications_* modules).

- `MailServer`: a real aiosmtpd SMTP server on a free port that keeps every message, can refuse
  chosen addresses (4xx or 5xx), hold messages before accepting them, close connections that
  carried a message (as after an idle timeout), or stop and start again.
- `FakeUsers`: the users service's internal RPCs notifications calls (JWKS, service token,
  BatchGetUsers), for tests that run notifications without the real users service.
- `publish`: what the relays do — an envelope XADDed to `<prefix>bus:<source>`.
- `code_issued`, `phone_code_issued`: what users publishes to have a code sent, sealed with `SECRET`
  (the service secret every notifications under test is given).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import grpc
from aiosmtpd.controller import Controller
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from redis import asyncio as aioredis

from scripts.embedded import free_port
from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from seatmesh.users.v1 import bus_pb2 as users_bus
from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.auth import Role
from services.runtime.bus.envelopes import envelope_for, stream_name
from services.runtime.redis import create_redis
from services.runtime.sealing import Sealer
from services.runtime.server import SERVER_OPTIONS
from tests.support.engines import Engines
from tests.support.services import ServiceUnderTest, serve_service
from tests.support.tokens import TokenFactory, bearer

# -- SMTP ---------------------------------------------------------------------------------------------


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""  # type: ignore[union-attr]

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""  # type: ignore[union-attr]


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.server.close_used_connections and session in self.server.sessions:
            # What a server does to a connection that sat idle too long: it is gone when the next
            # message comes.
            server.transport.close()
            return "421 4.4.2 idle timeout, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.server.refuse_permanently:
            return "550 5.1.1 no such mailbox"
        if address in self.server.refuse_temporarily:
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Past `hold_after` accepted messages, new ones wait here, before being accepted; when the
        # client dies meanwhile, aiosmtpd cancels this coroutine and the message is never accepted.
        # (Polling: the limit is changed from the test's thread.)
        while self.server.hold_after is not None and len(self.server.received) >= self.server.hold_after:
            self.server.held += 1
            try:
                await asyncio.sleep(0.02)
            finally:
                self.server.held -= 1
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.server.lock:
            self.server.received.append(Received(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            if session not in self.server.sessions:
                self.server.sessions.append(session)
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.refuse_permanently: set[str] = set()
        self.refuse_temporarily: set[str] = set()
        # Accept this many messages, then hold the rest until it is set back to None.
        self.hold_after: int | None = None
        # How many messages are waiting at the hold right now.
        self.held = 0
        # The connections (aiosmtpd sessions) that delivered at least one message.
        self.sessions: list[Any] = []
        # Close a connection that delivered a message when it starts another one.
        self.close_used_connections = False
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self, to: str | None = None) -> list[Received]:
        with self.lock:
            found = list(self.received)
        return [item for item in found if to is None or to in item.recipients]


@asynccontextmanager
async def mail_server() -> AsyncIterator[MailServer]:
    server = MailServer()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


# -- users --------------------------------------------------------------------------------------------


@dataclass
class Person:
    id: str
    email: str
    display_name: str = "Test Person"
    phone: str = ""
    phone_verified: bool = False


@dataclass
class FakeUsers(users_pb2_grpc.UserServiceServicer):
    tokens: TokenFactory
    people: dict[str, Person] = field(default_factory=dict)
    batch_calls: int = 0

    def add(
        self,
        *,
        display_name: str = "Test Person",
        phone: str = "",
        phone_verified: bool = False,
        email_address: str = "",
    ) -> Person:
        user_id = str(uuid.uuid4())
        email = email_address or f"u-{user_id[:8]}@example.com"
        person = Person(user_id, email, display_name, phone, phone_verified)
        self.people[user_id] = person
        return person

    async def GetJwks(self, request: Any, context: Any) -> httpbody_pb2.HttpBody:
        document = {"keys": [self.tokens.key.public_jwk()]}
        return httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(document).encode())

    async def IssueServiceToken(self, request: Any, context: Any) -> users_pb2.AuthTokens:
        token = self.tokens.service_token(request.service_name)
        return users_pb2.AuthTokens(access_token=token, expires_in=900, token_type="Bearer")

    async def BatchGetUsers(self, request: Any, context: Any) -> users_pb2.BatchGetUsersResponse:
        self.batch_calls += 1
        return users_pb2.BatchGetUsersResponse(
            users=[
                users_pb2.User(
                    id=person.id,
                    email=person.email,
                    display_name=person.display_name,
                    phone=person.phone,
                    phone_verified=person.phone_verified,
                )
                for user_id in request.user_ids
                if (person := self.people.get(user_id)) is not None
            ]
        )


@asynccontextmanager
async def fake_users(tokens: TokenFactory) -> AsyncIterator[tuple[FakeUsers, str]]:
    servicer = FakeUsers(tokens)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    users_pb2_grpc.add_UserServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


# -- bus ----------------------------------------------------------------------------------------------


async def publish(redis: aioredis.Redis, prefix: str, source: str, message: Message) -> envelope_pb2.Envelope:
    envelope = envelope_for(message, source=source)
    await xadd(redis, prefix, source, envelope)
    return envelope


async def xadd(redis: aioredis.Redis, prefix: str, source: str, envelope: envelope_pb2.Envelope) -> None:
    await redis.xadd(stream_name(prefix, source), {"e": envelope.SerializeToString()})


# The service secret of every notifications under test: codes on the bus are sealed with it.
SECRET = "notifications-tests-service-secret-0123456789"


def sealed(message_type: type[Message], code: str, user_id: str) -> bytes:
    """A code as users seals it for `message_type` (the purpose is named in users/v1/bus.proto)."""
    purpose = f"{message_type.DESCRIPTOR.full_name}.sealed_code"
    return Sealer(SECRET, purpose).seal(code, user_id)


def code_issued(person: Person, code: str, **fields: Any) -> users_bus.VerificationCodeIssued:
    """A code for `person`'s email address (or `email=`), as users publishes it."""
    return users_bus.VerificationCodeIssued(
        user_id=person.id,
        email=fields.pop("email", person.email),
        sealed_code=sealed(users_bus.VerificationCodeIssued, code, person.id),
        **fields,
    )


def phone_code_issued(person: Person, code: str, phone: str, **fields: Any) -> users_bus.PhoneCodeIssued:
    return users_bus.PhoneCodeIssued(
        user_id=person.id,
        phone=phone,
        sealed_code=sealed(users_bus.PhoneCodeIssued, code, person.id),
        **fields,
    )


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(moment)
    return result


def later(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)


def booking_details(
    guest: Person | str,
    host: Person | str,
    *,
    event_id: str | None = None,
    booking_id: str | None = None,
    title: str = "Jazz in the park",
    start: datetime | None = None,
    seats: int = 2,
    state: int = bookings_pb2.Booking.CONFIRMED,
    time_zone: str = "Europe/Berlin",
) -> bookings_bus.BookingDetails:
    start = start or later(days=7)
    return bookings_bus.BookingDetails(
        booking_id=booking_id or str(uuid.uuid4()),
        event_id=event_id or str(uuid.uuid4()),
        guest_id=guest if isinstance(guest, str) else guest.id,
        host_id=host if isinstance(host, str) else host.id,
        seats=seats,
        state=state,  # type: ignore[arg-type]
        event_title=title,
        event_start_time=stamp(start),
        event_end_time=stamp(start + timedelta(hours=3)),
        event_time_zone=time_zone,
        event_city="Berlin",
        event_venue="Tiergarten",
    )


def event_message(
    event_id: str,
    organizer_id: str,
    *,
    title: str = "Jazz in the park",
    start: datetime | None = None,
    venue: str = "Tiergarten",
    time_zone: str = "Europe/Berlin",
) -> events_pb2.Event:
    start = start or later(days=7)
    event = events_pb2.Event(
        id=event_id,
        organizer_id=organizer_id,
        title=title,
        start_time=stamp(start),
        end_time=stamp(start + timedelta(hours=3)),
        time_zone=time_zone,
        city="Berlin",
        venue=venue,
        capacity=100,
    )
    event.update_time.GetCurrentTime()
    return event


# -- the service under test ---------------------------------------------------------------------------

FAST_RETRIES: dict[str, Any] = {
    "service_secret": SECRET,
    "delivery_retry_base": 0.2,
    "delivery_retry_max": 1.0,
    "delivery_max_attempts": 3,
    "delivery_poll_interval": 0.2,
    "reminder_poll_interval": 0.3,
}


@dataclass
class Harness:
    service: ServiceUnderTest
    mail: MailServer
    users: FakeUsers
    redis: aioredis.Redis
    stub: notifications_pb2_grpc.NotificationServiceStub
    tokens: TokenFactory
    engines: Engines

    @property
    def prefix(self) -> str:
        return self.service.settings.redis_prefix

    def inbox(self, user_id: str, role: Role = Role.PARTICIPANT) -> Inbox:
        return Inbox(self.stub, self.tokens.token(user_id, role))

    def admin(self) -> Inbox:
        return self.inbox(str(uuid.uuid4()), Role.ADMIN)

    async def publish(self, source: str, message: Message) -> envelope_pb2.Envelope:
        return await publish(self.redis, self.prefix, source, message)

    async def book(self, guest: Person, host: Person, event_id: str, state: int, **details: Any) -> str:
        """A booking in `state` as bookings announces it; returns once the guest got its email."""
        message_type = {
            bookings_pb2.Booking.CONFIRMED: bookings_bus.BookingConfirmed,
            bookings_pb2.Booking.AWAITING_APPROVAL: bookings_bus.BookingAwaitingApproval,
            bookings_pb2.Booking.WAITLISTED: bookings_bus.BookingWaitlisted,
        }[state]
        booking = booking_details(guest, host, event_id=event_id, state=state, **details)
        before = len(self.mail.messages(guest.email))
        await self.publish("bookings", message_type(booking=booking))
        await eventually(lambda: len(self.mail.messages(guest.email)) > before, what="booking email")
        return booking.booking_id

    async def deliveries(self, state: int = 0) -> list[notifications_pb2.Delivery]:
        admin = self.admin()
        found: list[notifications_pb2.Delivery] = []
        token = ""
        while True:
            page = await self.stub.ListDeliveries(
                notifications_pb2.ListDeliveriesRequest(state=state, page_token=token, page_size=100),  # type: ignore[arg-type]
                metadata=admin.metadata,
            )
            found.extend(page.deliveries)
            token = page.next_page_token
            if not token:
                return found

    async def settle(self) -> None:
        """Wait until nothing is left to send (every delivery has an outcome)."""

        async def idle() -> bool:
            return not await self.deliveries(notifications_pb2.Delivery.PENDING)

        await eventually(idle, what="all deliveries settled")


@asynccontextmanager
async def running_notifications(
    engines: Engines, tokens: TokenFactory, **settings: Any
) -> AsyncIterator[Harness]:
    """A notifications service with its own SMTP server and users directory."""
    async with (
        mail_server() as mail,
        fake_users(tokens) as (users, users_address),
        serve_service(
            "notifications",
            tokens,
            engines,
            users_address=users_address,
            smtp_port=mail.port,
            **{**FAST_RETRIES, **settings},
        ) as service,
    ):
        redis = create_redis(engines.redis_url)
        try:
            async with grpc.aio.insecure_channel(service.address) as channel:
                stub = notifications_pb2_grpc.NotificationServiceStub(channel)
                yield Harness(service, mail, users, redis, stub, tokens, engines)
        finally:
            await redis.aclose()


# -- clients ------------------------------------------------------------------------------------------


class Inbox:
    """NotificationService as one user (or admin) sees it."""

    def __init__(self, stub: notifications_pb2_grpc.NotificationServiceStub, token: str) -> None:
        self.stub = stub
        self.metadata = bearer(token)

    async def list(self, **request: Any) -> notifications_pb2.ListNotificationsResponse:
        return await self.stub.ListNotifications(
            notifications_pb2.ListNotificationsRequest(**request), metadata=self.metadata
        )

    async def all(self, **request: Any) -> list[notifications_pb2.Notification]:
        found: list[notifications_pb2.Notification] = []
        token = ""
        while True:
            page = await self.list(page_token=token, **request)
            found.extend(page.notifications)
            token = page.next_page_token
            if not token:
                return found


async def eventually(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    within: float = 15.0,
    what: str = "condition",
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{what} not reached within {within}s"
        await asyncio.sleep(0.05)
