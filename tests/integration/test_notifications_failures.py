"""When sending fails: an SMTP server that is away, addresses that are refused, an SMS gateway."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.notifications.v1 import notifications_pb2 as pb
from tests.integration.test_notifications_helpers import (
    booking_details,
    code_issued,
    eventually,
    running_notifications,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

OUTAGE_SECONDS = 30


async def test_mail_waits_out_an_smtp_outage_and_refused_addresses_end_failed(
    engines: Engines, tokens: TokenFactory
) -> None:
    async with running_notifications(engines, tokens, delivery_max_attempts=3) as harness:
        await asyncio.to_thread(harness.mail.stop)
        people = [harness.users.add() for _ in range(4)]
        host = harness.users.add()
        for person in people:
            await harness.publish(
                "bookings", bookings_bus.BookingConfirmed(booking=booking_details(person, host))
            )
            await harness.publish(
                "users",
                code_issued(person, "246810"),
            )

        async def tried_while_down() -> bool:
            waiting = await harness.deliveries(pb.Delivery.PENDING)
            return len(waiting) == 8 and all("unreachable" in item.last_error for item in waiting)

        await eventually(tried_while_down, what="attempts against the refusing server")
        await asyncio.sleep(OUTAGE_SECONDS)
        # Nothing was given up while the server was away, and no attempt was spent on it.
        waiting = await harness.deliveries(pb.Delivery.PENDING)
        assert len(waiting) == 8
        assert {item.attempts for item in waiting} == {0}
        await asyncio.to_thread(harness.mail.start)

        for person in people:
            await eventually(
                lambda person=person: len(harness.mail.messages(person.email)) == 2, what="emails"
            )
        await harness.settle()
        sent = await harness.deliveries(pb.Delivery.SENT)
        assert len(sent) == 8
        assert {item.attempts for item in sent} == {1}

        busy, gone = harness.users.add(), harness.users.add()
        harness.mail.refuse_temporarily.add(busy.email)
        harness.mail.refuse_permanently.add(gone.email)
        for person in (busy, gone):
            await harness.publish(
                "bookings", bookings_bus.BookingConfirmed(booking=booking_details(person, host))
            )

        async def both_failed() -> bool:
            return len(await harness.deliveries(pb.Delivery.FAILED)) == 2

        await eventually(both_failed, what="two failed deliveries")
        failed = {item.recipient_id: item for item in await harness.deliveries(pb.Delivery.FAILED)}
        assert set(failed) == {busy.id, gone.id}
        # 4xx: retried until the configured attempts are spent; 5xx: permanent at once.
        assert failed[busy.id].attempts == 3
        assert "450" in failed[busy.id].last_error
        assert failed[busy.id].address == busy.email
        assert failed[gone.id].attempts == 1
        assert "550" in failed[gone.id].last_error
        assert not harness.mail.messages(busy.email)
        # The in-app notification does not depend on email.
        assert len(await harness.inbox(busy.id).all()) == 1


async def test_connections_are_reused_and_one_the_server_closed_meanwhile_is_replaced(
    engines: Engines, tokens: TokenFactory
) -> None:
    # Kept long enough that a slow machine can't make this test about idle expiry.
    async with running_notifications(engines, tokens, smtp_idle_timeout=120) as harness:
        host = harness.users.add()

        async def burst(count: int) -> None:
            people = [harness.users.add() for _ in range(count)]
            for person in people:
                await harness.publish(
                    "bookings", bookings_bus.BookingConfirmed(booking=booking_details(person, host))
                )
            for person in people:
                await eventually(lambda person=person: harness.mail.messages(person.email), what="email")

        await burst(12)
        await burst(12)
        # Not one connection per message or per batch: at most one per concurrent lane.
        assert len(harness.mail.sessions) <= harness.service.settings.delivery_concurrency  # type: ignore[attr-defined]

        def waiting() -> float:
            labels = {"channel": "EMAIL", "outcome": "waiting"}
            return REGISTRY.get_sample_value("seatmesh_notification_deliveries_total", labels) or 0.0

        before = waiting()
        harness.mail.close_used_connections = True
        await burst(3)
        # The kept connections were dead; that is no outage: nothing waited, all went at once.
        assert waiting() == before
        await harness.settle()
        sent = await harness.deliveries(pb.Delivery.SENT)
        assert len(sent) == 27
        assert {item.attempts for item in sent} == {1}


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    failures_left: int
    # Numbers it refuses, quoting the message back (as some gateways do).
    refused: set[str]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["idempotency_key"] = self.headers.get("Idempotency-Key")
        body["authorization"] = self.headers.get("Authorization")
        server = self.server
        if body["to"] in server.refused:  # type: ignore[attr-defined]
            answer = f"cannot deliver {body['text']!r} to {body['to']}".encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        if server.failures_left > 0:  # type: ignore[attr-defined]
            server.failures_left -= 1  # type: ignore[attr-defined]
            self.send_response(503)
            self.end_headers()
            return
        server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def sms_gateway(failures: int) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    server.received = []  # type: ignore[attr-defined]
    server.failures_left = failures  # type: ignore[attr-defined]
    server.refused = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_sms_goes_through_the_http_gateway_when_the_user_asks_for_it(
    engines: Engines, tokens: TokenFactory
) -> None:
    with sms_gateway(failures=1) as gateway:
        url = f"http://127.0.0.1:{gateway.server_address[1]}/messages"
        async with running_notifications(
            engines, tokens, sms_provider="http", sms_gateway_url=url, sms_gateway_token="s3cret"
        ) as harness:
            person = harness.users.add(phone="+491701234567", phone_verified=True)
            no_phone = harness.users.add()
            host = harness.users.add()
            for who in (person, no_phone):
                inbox = harness.inbox(who.id)
                await inbox.stub.UpdateNotificationPreferences(
                    pb.UpdateNotificationPreferencesRequest(
                        preferences=pb.NotificationPreferences(
                            kinds=[pb.KindPreference(kind=pb.KIND_BOOKING_CONFIRMED, in_app=True, sms=True)]
                        )
                    ),
                    metadata=inbox.metadata,
                )
                await harness.publish(
                    "bookings", bookings_bus.BookingConfirmed(booking=booking_details(who, host))
                )

            async def all_sms_done() -> bool:
                finished = [
                    item
                    for item in await harness.deliveries()
                    if item.channel == pb.CHANNEL_SMS and item.state != pb.Delivery.PENDING
                ]
                return len(finished) == 2

            await eventually(all_sms_done, what="both SMS deliveries to finish")
            received: list[dict[str, Any]] = gateway.received  # type: ignore[attr-defined]
            [sms] = received
            assert sms["to"] == "+491701234567"
            assert sms["text"].startswith("seatmesh: Booking confirmed: Jazz in the park http")
            assert sms["idempotency_key"] == sms["id"]
            assert sms["authorization"] == "Bearer s3cret"
            deliveries = {(item.recipient_id, item.channel): item for item in await harness.deliveries()}
            sent = deliveries[(person.id, pb.CHANNEL_SMS)]
            assert sent.state == pb.Delivery.SENT
            assert sent.id == sms["id"]
            # A gateway answering 503 is an outage, not the recipient's fault: no attempt spent.
            assert sent.attempts == 1
            refused = deliveries[(no_phone.id, pb.CHANNEL_SMS)]
            assert refused.state == pb.Delivery.FAILED
            assert "no phone number" in refused.last_error
            # Email was off for that kind.
            assert (person.id, pb.CHANNEL_EMAIL) not in deliveries
            assert uuid.UUID(sent.id)
