"""Paid bookings with the real payments service beside events and bookings (manual provider: the
organizer marks the money as arrived), all three on real PostgreSQL and one Redis bus.

What bookings promises payments, end to end: a booking awaiting payment gets its checkout, a
payment confirms it, a payment after the hold expired confirms it while seats are free and is
refunded in full when they are not, and every succeeded payment ends kept by a CONFIRMED booking or
refunded in full.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.type import money_pb2
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import payments_pb2, payments_pb2_grpc
from services.runtime.auth import Role
from services.runtime.database import Database
from services.runtime.money import to_minor
from tests.integration.test_bookings_service import (
    BOOKINGS_SETTINGS,
    EVENTS_SETTINGS,
    Mesh,
    User,
    eventually,
    mesh_clients,
)
from tests.support.engines import Engines
from tests.support.services import serve_service
from tests.support.tokens import TokenFactory

Booking = bookings_pb2.Booking
Payment = payments_pb2.Payment
PRICE = money_pb2.Money(currency_code="EUR", units=20)


@dataclass
class Mesh3:
    mesh: Mesh
    payments: payments_pb2_grpc.PaymentServiceStub
    payments_db: Database

    async def mark_paid(self, host: User, payment_id: str) -> payments_pb2.Payment:
        paid: payments_pb2.Payment = await self.payments.MarkPaid(
            payments_pb2.MarkPaidRequest(payment_id=payment_id), metadata=host.auth, timeout=15
        )
        return paid

    async def payment(self, host: User, payment_id: str) -> payments_pb2.Payment:
        found: payments_pb2.Payment = await self.payments.GetPayment(
            payments_pb2.GetPaymentRequest(payment_id=payment_id), metadata=host.auth, timeout=15
        )
        return found

    async def state(self, booking_id: str) -> str:
        return str(
            await self.mesh.bookings_db.scalar(
                text("SELECT state FROM bookings WHERE id = :id"), id=uuid.UUID(booking_id)
            )
        )

    async def reach(self, booking_id: str, state: str) -> None:
        async def there() -> bool:
            return await self.state(booking_id) == state

        await eventually(there, what=f"booking {booking_id} {state}")

    async def expire_hold(self, booking_id: str) -> None:
        await self.mesh.bookings_db.execute(
            text("UPDATE bookings SET hold_expire_time = now() - interval '1 second' WHERE id = :id"),
            id=uuid.UUID(booking_id),
        )

    async def assert_money_invariant(self, host: User, booking_ids: list[str]) -> None:
        """Every succeeded payment of these bookings is the payment of a CONFIRMED booking, or was
        refunded in full; and every CONFIRMED booking's payment succeeded for its amount."""
        for booking_id in booking_ids:
            listed = await self.payments.ListPayments(
                payments_pb2.ListPaymentsRequest(perspective=payments_pb2.ListPaymentsRequest.ORGANIZER),
                metadata=host.auth,
                timeout=15,
            )
            mine = [payment for payment in listed.payments if payment.booking_id == booking_id]
            row = await self.mesh.bookings_db.row(
                text("SELECT state, payment_id, amount_minor FROM bookings WHERE id = :id"),
                id=uuid.UUID(booking_id),
            )
            assert row is not None
            for payment in mine:
                if payment.state != Payment.SUCCEEDED:
                    continue
                kept = row.state == "CONFIRMED" and row.payment_id == payment.id
                assert kept or payment.refunded == payment.captured, (row, payment)
            if row.state == "CONFIRMED":
                [paying] = [payment for payment in mine if payment.id == row.payment_id]
                assert paying.state == Payment.SUCCEEDED
                assert to_minor(paying.captured).minor == row.amount_minor


@contextlib.asynccontextmanager
async def three_services(tokens: TokenFactory, engines: Engines) -> AsyncIterator[Mesh3]:
    prefix = engines.new_redis_prefix()
    async with (
        serve_service("events", tokens, engines, redis_prefix=prefix, **EVENTS_SETTINGS) as events,
        serve_service(
            "payments", tokens, engines, redis_prefix=prefix, refund_retry_interval=0.2
        ) as payments,
    ):
        settings: dict[str, Any] = {**BOOKINGS_SETTINGS, "payments_address": payments.address}
        async with (
            serve_service(
                "bookings", tokens, engines, redis_prefix=prefix, events_address=events.address, **settings
            ) as bookings,
            mesh_clients(
                tokens,
                events_address=events.address,
                events_database=events.settings.database_url,
                bookings_address=bookings.address,
                bookings_database=bookings.settings.database_url,
            ) as mesh,
            grpc.aio.insecure_channel(payments.address) as channel,
        ):
            database = Database(payments.settings.database_url, source="tests", pool_size=2)
            await database.open()
            try:
                yield Mesh3(mesh, payments_pb2_grpc.PaymentServiceStub(channel), database)
            finally:
                await database.close()


@pytest.fixture(scope="module")
async def three(tokens: TokenFactory, engines: Engines) -> AsyncIterator[Mesh3]:
    async with three_services(tokens, engines) as running:
        yield running


async def test_a_paid_booking_is_confirmed_by_its_payment(three: Mesh3) -> None:
    host = three.mesh.user(Role.ORGANIZER)
    event = await three.mesh.new_event(host, capacity=5, price=PRICE)
    booking = await three.mesh.book(three.mesh.user(), event.id, seats=2)
    assert booking.state == Booking.AWAITING_PAYMENT
    assert booking.payment_id

    opened = await three.payment(host, booking.payment_id)
    assert (opened.state, opened.amount) == (Payment.PENDING, money_pb2.Money(currency_code="EUR", units=40))
    assert opened.hold_expire_time == booking.hold_expire_time
    await three.mark_paid(host, booking.payment_id)
    await three.reach(booking.id, "CONFIRMED")
    await three.mesh.assert_invariant(event.id)
    await three.assert_money_invariant(host, [booking.id])


async def test_late_payments_take_free_seats_and_are_refunded_when_they_are_gone(three: Mesh3) -> None:
    host = three.mesh.user(Role.ORGANIZER)
    event = await three.mesh.new_event(host, capacity=2, price=PRICE)
    in_time = await three.mesh.book(three.mesh.user(), event.id)
    too_late = await three.mesh.book(three.mesh.user(), event.id)
    for booking in (in_time, too_late):
        await three.expire_hold(booking.id)
        await three.reach(booking.id, "EXPIRED")

    # Seats are free again: a payment after the hold confirms the booking all the same.
    await three.mark_paid(host, in_time.payment_id)
    await three.reach(in_time.id, "CONFIRMED")
    # The other expired booking's seat goes to someone else before its money arrives.
    taker = await three.mesh.book(three.mesh.user(), event.id)
    assert taker.state == Booking.AWAITING_PAYMENT
    await three.mark_paid(host, too_late.payment_id)

    async def refunded() -> bool:
        payment = await three.payment(host, too_late.payment_id)
        return payment.state == Payment.SUCCEEDED and payment.refunded == payment.captured

    await eventually(refunded, what="the late payment refunded in full")
    assert await three.state(too_late.id) == "EXPIRED"
    await three.mesh.assert_invariant(event.id)
    await three.assert_money_invariant(host, [in_time.id, too_late.id, taker.id])


async def test_an_event_called_off_refunds_the_paid_and_expires_the_unpaid(three: Mesh3) -> None:
    host = three.mesh.user(Role.ORGANIZER)
    event = await three.mesh.new_event(host, capacity=5, price=PRICE)
    paid = await three.mesh.book(three.mesh.user(), event.id)
    unpaid = await three.mesh.book(three.mesh.user(), event.id)
    await three.mark_paid(host, paid.payment_id)
    await three.reach(paid.id, "CONFIRMED")
    await three.mesh.events_stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id), metadata=host.auth
    )
    for booking in (paid, unpaid):
        await three.reach(booking.id, "CANCELLED")

    async def settled() -> bool:
        refunded = await three.payment(host, paid.payment_id)
        expired = await three.payment(host, unpaid.payment_id)
        return refunded.refunded == refunded.captured and expired.state == Payment.EXPIRED

    await eventually(settled, what="the paid payment refunded in full, the open one expired")
    await three.mesh.assert_invariant(event.id)
    await three.assert_money_invariant(host, [paid.id, unpaid.id])
