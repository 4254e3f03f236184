"""The payments service under test: real server in the test's event loop, its own database and
Redis namespace, optionally the stripe provider against the fake Stripe (scripts/fake_stripe.py).

- `PaymentsHarness`: stubs with the caller's token, the bus (publish what bookings and events would),
  and a look into the database.
- `WebhookBridge`: what Envoy does for Stripe's webhooks, in a thread: an HTTP endpoint that hands
  the raw body and the Stripe-Signature header to ReceiveStripeWebhook and answers with its status.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from redis import asyncio as aioredis
from sqlalchemy import text

from scripts.fake_stripe import FakeStripe
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import payments_pb2, payments_pb2_grpc
from services.runtime.auth import Role
from services.runtime.bus.envelopes import envelope_for, stream_name
from services.runtime.database import Database
from services.runtime.money import from_minor
from services.runtime.redis import create_redis
from tests.support.engines import Engines
from tests.support.services import serve_service
from tests.support.tokens import TokenFactory, bearer

WEBHOOK_SECRET = "whsec_test_seatmesh"
# Background work at test speed.
FAST: dict[str, Any] = {"refund_retry_interval": 0.2, "stripe_deadline": 5.0}


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.05)


@dataclass
class Person:
    id: str
    token: str

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.token)


class WebhookBridge:
    """HTTP in, gRPC out: Stripe's webhooks to ReceiveStripeWebhook, as the edge passes them."""

    def __init__(self, target: str) -> None:
        channel = grpc.insecure_channel(target)
        stub = payments_pb2_grpc.PaymentServiceStub(channel)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = payments_pb2.ReceiveStripeWebhookRequest(
                    payload=httpbody_pb2.HttpBody(content_type="application/json", data=body)
                )
                metadata = [("stripe-signature", self.headers.get("Stripe-Signature", ""))]
                try:
                    stub.ReceiveStripeWebhook(request, metadata=metadata, timeout=10)
                    status = 200
                except grpc.RpcError as error:
                    status = 400 if error.code() == grpc.StatusCode.INVALID_ARGUMENT else 503
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.channel = channel
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/payments/webhooks/stripe"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.channel.close()


@dataclass
class PaymentsHarness:
    tokens: TokenFactory
    stub: payments_pb2_grpc.PaymentServiceStub
    database: Database
    redis: aioredis.Redis
    prefix: str
    fake_stripe: FakeStripe | None

    @property
    def service(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.service_token("bookings"))

    def person(self, role: Role = Role.PARTICIPANT) -> Person:
        subject = str(uuid.uuid4())
        return Person(subject, self.tokens.token(subject, role))

    async def publish(self, source: str, message: Message, *, occurred_at: datetime | None = None) -> str:
        """What `source`'s relay does: the envelope of `message` onto its stream. The event id."""
        envelope = envelope_for(message, source=source)
        if occurred_at is not None:
            envelope.occurred_at.FromDatetime(occurred_at)
        await self.redis.xadd(stream_name(self.prefix, source), {"e": envelope.SerializeToString()})
        return envelope.event_id

    def checkout_booking(
        self,
        buyer: Person,
        organizer: Person,
        *,
        amount_minor: int = 2500,
        currency: str = "EUR",
        seats: int = 2,
        hold: timedelta = timedelta(minutes=15),
        starts_in: timedelta = timedelta(days=10),
        refund_hours: int = 48,
        event_id: str | None = None,
    ) -> payments_pb2.CheckoutBooking:
        now = datetime.now(UTC)
        return payments_pb2.CheckoutBooking(
            booking_id=str(uuid.uuid4()),
            event_id=event_id or str(uuid.uuid4()),
            event_title="Jazz night",
            buyer_id=buyer.id,
            organizer_id=organizer.id,
            seats=seats,
            amount=from_minor(amount_minor, currency),
            hold_expire_time=stamp(now + hold),
            event_start_time=stamp(now + starts_in),
            refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=refund_hours),
            event_time_zone="Europe/Berlin",
        )

    async def open_checkout(
        self, booking: payments_pb2.CheckoutBooking, request_id: str = ""
    ) -> payments_pb2.Payment:
        request = payments_pb2.OpenCheckoutRequest(booking=booking, request_id=request_id)
        reply: payments_pb2.Payment = await self.stub.OpenCheckout(request, metadata=self.service)
        return reply

    async def payment(self, payment_id: str, who: Person) -> payments_pb2.Payment:
        reply: payments_pb2.Payment = await self.stub.GetPayment(
            payments_pb2.GetPaymentRequest(payment_id=payment_id), metadata=who.auth
        )
        return reply

    async def outbox(self, type_suffix: str) -> list[bytes]:
        """Envelopes of the outbox rows whose type ends with `type_suffix`."""
        rows = await self.database.rows(
            text("SELECT envelope FROM outbox WHERE type LIKE :pattern ORDER BY id"),
            pattern=f"%{type_suffix}",
        )
        return [bytes(row.envelope) for row in rows]


@asynccontextmanager
async def payments_service(
    tokens: TokenFactory, engines: Engines, *, stripe: bool = False, **settings: Any
) -> AsyncIterator[PaymentsHarness]:
    """Payments on a fresh database; with `stripe`, on the fake Stripe whose webhooks come back in
    through a WebhookBridge."""
    prefix = engines.new_redis_prefix()
    values: dict[str, Any] = {**FAST, "redis_prefix": prefix, **settings}
    fake = bridge = None
    if stripe:
        # The bridge needs the service's port, the service the fake's URL: the fake learns where its
        # webhooks go once the service runs.
        fake = FakeStripe.start("http://127.0.0.1:9/unset", WEBHOOK_SECRET)
        values.update(
            payments_provider="stripe",
            stripe_api_key="sk_test_seatmesh",
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake.url,
            public_url="http://127.0.0.1:8080",
        )
    redis = create_redis(engines.redis_url)
    try:
        async with serve_service("payments", tokens, engines, **values) as running:
            if fake is not None:
                bridge = WebhookBridge(running.address)
                fake.state.webhook_url = bridge.url
            database = Database(running.settings.database_url, source="test", pool_size=2)
            await database.open()
            async with grpc.aio.insecure_channel(running.address) as channel:
                try:
                    yield PaymentsHarness(
                        tokens=tokens,
                        stub=payments_pb2_grpc.PaymentServiceStub(channel),
                        database=database,
                        redis=redis,
                        prefix=prefix,
                        fake_stripe=fake,
                    )
                finally:
                    await database.close()
    finally:
        if bridge is not None:
            bridge.stop()
        if fake is not None:
            fake.stop()
        await redis.aclose()


def organizer_and_buyer(harness: PaymentsHarness) -> tuple[Person, Person]:
    return harness.person(Role.ORGANIZER), harness.person()
