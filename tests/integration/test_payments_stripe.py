"""Payments with the stripe provider against the fake Stripe (scripts/fake_stripe.py), whose signed
webhooks come back through a bridge as Envoy passes them, on real PostgreSQL and Redis.

Webhooks are delivered as Stripe does (late, twice, out of order) and raced against the hold
expiring; the outcome is always one: money captured counts once, and is never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.payments.v1 import payments_pb2
from services.runtime.errors import error_reason
from services.runtime.money import from_minor
from tests.support.engines import Engines
from tests.support.payments import (
    PaymentsHarness,
    eventually,
    organizer_and_buyer,
    payments_service,
)
from tests.support.tokens import TokenFactory

Payment = payments_pb2.Payment


@pytest.fixture
async def payments(tokens: TokenFactory, engines: Engines) -> AsyncIterator[PaymentsHarness]:
    async with payments_service(tokens, engines, stripe=True) as harness:
        yield harness


async def _refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def _fake(payments: PaymentsHarness) -> str:
    assert payments.fake_stripe is not None
    return payments.fake_stripe.url


async def _post(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url)


async def _events(payments: PaymentsHarness, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        listed = (await client.get(f"{_fake(payments)}/_test/events")).json()["data"]
    return [event for event in listed if event["session"] == session_id]


async def _deliver(payments: PaymentsHarness, event_id: str) -> int:
    response = await _post(f"{_fake(payments)}/_test/events/{event_id}/deliver")
    return int(response.json()["status"])


def _session_id(payment: payments_pb2.Payment) -> str:
    return payment.checkout_url.rsplit("/", 1)[1]


async def _state(payments: PaymentsHarness, payment_id: str, who: Any, state: int) -> None:
    async def reached() -> bool:
        return (await payments.payment(payment_id, who)).state == state

    await eventually(reached, what=f"payment {payment_id} in state {state}")


async def test_pay_at_the_checkout_and_the_signed_webhook_counts(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer, amount_minor=3750))
    assert opened.provider == "stripe"
    assert opened.checkout_url.startswith(f"{_fake(payments)}/pay/cs_test_")
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(opened.checkout_url)
    assert "Pay" in page.text
    assert "Jazz night (2 seats)" in page.text
    paid = await _post(opened.checkout_url + "/complete")
    assert paid.status_code == 303
    await _state(payments, opened.id, buyer, Payment.SUCCEEDED)
    final = await payments.payment(opened.id, buyer)
    assert final.captured == from_minor(3750, "EUR")
    assert final.checkout_url == ""
    assert len(await payments.outbox("PaymentSucceeded")) == 1


async def test_the_same_webhook_twice_and_a_stale_one_after_it_count_once(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer))
    session = _session_id(opened)
    await _post(f"{opened.checkout_url}/complete?hold=1")
    await _post(f"{_fake(payments)}/_test/sessions/{session}/emit?type=checkout.session.expired")
    await _post(f"{_fake(payments)}/_test/sessions/{session}/emit?type=checkout.session.async_payment_failed")
    completed, expired, failed = await _events(payments, session)
    assert completed["type"] == "checkout.session.completed"
    # Out of order: the stale expiry first, then the capture twice, then the stale failure.
    assert await _deliver(payments, expired["id"]) == 200
    assert (await payments.payment(opened.id, buyer)).state == Payment.PENDING
    assert await _deliver(payments, completed["id"]) == 200
    assert await _deliver(payments, completed["id"]) == 200
    assert await _deliver(payments, failed["id"]) == 200
    final = await payments.payment(opened.id, buyer)
    assert final.state == Payment.SUCCEEDED
    assert len(await payments.outbox("PaymentSucceeded")) == 1
    assert await payments.outbox("PaymentFailed") == []


async def test_a_webhook_without_a_valid_signature_is_refused(payments: PaymentsHarness) -> None:
    request = payments_pb2.ReceiveStripeWebhookRequest(
        payload=httpbody_pb2.HttpBody(content_type="application/json", data=b'{"id": "evt_1"}')
    )
    for signature in ("", "t=1,v1=00"):
        refused = await _refusal(
            payments.stub.ReceiveStripeWebhook(request, metadata=(("stripe-signature", signature),))
        )
        assert error_reason(refused) == "WEBHOOK_SIGNATURE_INVALID"


async def test_a_capture_and_the_hold_expiring_at_once_count_the_money_once(
    payments: PaymentsHarness,
) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    for _ in range(5):
        booking = payments.checkout_booking(buyer, organizer)
        opened = await payments.open_checkout(booking)
        session = _session_id(opened)
        await _post(f"{opened.checkout_url}/complete?hold=1")
        (completed,) = await _events(payments, session)
        before = len(await payments.outbox("PaymentSucceeded"))
        expiry = bookings_bus.BookingExpired(
            booking=bookings_bus.BookingDetails(
                booking_id=booking.booking_id,
                event_id=booking.event_id,
                seats=booking.seats,
                state=bookings_pb2.Booking.EXPIRED,
                payment_id=opened.id,
            )
        )
        await asyncio.gather(_deliver(payments, completed["id"]), payments.publish("bookings", expiry))
        await _state(payments, opened.id, buyer, Payment.SUCCEEDED)
        # Wait for the expiry to be handled too, whichever came first.
        await eventually(
            lambda booking_id=booking.booking_id: _booking_seen(payments, booking_id),
            what="the expiry reached the read model",
        )
        final = await payments.payment(opened.id, buyer)
        assert final.state == Payment.SUCCEEDED
        assert final.captured == booking.amount
        assert len(await payments.outbox("PaymentSucceeded")) == before + 1


async def _booking_seen(payments: PaymentsHarness, booking_id: str) -> bool:
    row = await payments.database.row(
        text("SELECT state FROM report_bookings WHERE booking_id = CAST(:id AS uuid)"), id=booking_id
    )
    return row is not None


async def test_refunds_go_through_stripe_once(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer, amount_minor=8000))
    await _post(opened.checkout_url + "/complete")
    await _state(payments, opened.id, buyer, Payment.SUCCEEDED)
    request = payments_pb2.RefundPaymentRequest(
        payment_id=opened.id, request_id="partial", reason="late start"
    )
    request.amount.CopyFrom(from_minor(3000, "EUR"))
    answers = await asyncio.gather(
        *(payments.stub.RefundPayment(request, metadata=organizer.auth) for _ in range(4))
    )
    assert {len(answer.refunds) for answer in answers} == {1}
    await eventually(
        lambda: _refund_state(payments, opened.id, organizer, payments_pb2.Refund.SUCCEEDED),
        what="the refund confirmed by Stripe",
    )
    assert payments.fake_stripe is not None
    (intent,) = payments.fake_stripe.state.payment_intents.values()
    assert intent["amount_refunded"] == 3000
    assert len(payments.fake_stripe.state.refunds) == 1
    assert len(await payments.outbox("PaymentRefunded")) == 1


async def _refund_state(payments: PaymentsHarness, payment_id: str, who: Any, state: int) -> bool:
    found = await payments.payment(payment_id, who)
    return bool(found.refunds) and all(refund.state == state for refund in found.refunds)


async def test_a_closed_checkout_is_opened_anew_while_the_hold_runs(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer)
    opened = await payments.open_checkout(booking)
    await _post(f"{_fake(payments)}/_test/sessions/{_session_id(opened)}/expire")

    async def closed() -> bool:
        return (await payments.payment(opened.id, buyer)).checkout_url == ""

    await eventually(closed, what="the closed checkout noticed")
    request = payments_pb2.CreateCheckoutRequest(booking_id=booking.booking_id)
    renewed = await payments.stub.CreateCheckout(request, metadata=buyer.auth)
    assert renewed.id == opened.id
    assert renewed.checkout_url not in ("", opened.checkout_url)
    assert len(await payments.outbox("PaymentOpened")) == 2
    await _post(renewed.checkout_url + "/complete")
    await _state(payments, opened.id, buyer, Payment.SUCCEEDED)


async def test_a_failed_payment_may_be_tried_again(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer)
    opened = await payments.open_checkout(booking)
    await _post(opened.checkout_url + "/fail")
    await _state(payments, opened.id, buyer, Payment.FAILED)
    assert (await payments.payment(opened.id, buyer)).failure_reason
    assert len(await payments.outbox("PaymentFailed")) == 1
    request = payments_pb2.CreateCheckoutRequest(booking_id=booking.booking_id)
    again = await payments.stub.CreateCheckout(request, metadata=buyer.auth)
    assert again.id != opened.id
    assert again.state == Payment.PENDING
    assert again.checkout_url
    await _post(again.checkout_url + "/complete")
    await _state(payments, again.id, buyer, Payment.SUCCEEDED)


async def test_stripe_away_is_unavailable_and_the_payment_waits(
    tokens: TokenFactory, engines: Engines
) -> None:
    async with payments_service(tokens, engines, stripe=True, stripe_deadline=1.0) as payments:
        assert payments.fake_stripe is not None
        payments.fake_stripe.stop()
        organizer, buyer = organizer_and_buyer(payments)
        booking = payments.checkout_booking(buyer, organizer)
        refused = await _refusal(payments.open_checkout(booking))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        assert error_reason(refused) == "PAYMENT_PROVIDER_UNAVAILABLE"
        listed = await payments.stub.ListPayments(payments_pb2.ListPaymentsRequest(), metadata=buyer.auth)
        assert [(p.state, p.checkout_url) for p in listed.payments] == [(Payment.PENDING, "")]
        assert await payments.outbox("PaymentOpened") == []
