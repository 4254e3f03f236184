"""Payments with the manual provider, on real PostgreSQL and Redis: checkouts, who may see and move
money, MarkPaid, refunds (partial, bounded, idempotent) and the lists."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.payments.v1 import bus_pb2, payments_pb2
from services.runtime.auth import Role
from services.runtime.errors import error_metadata, error_reason
from services.runtime.money import from_minor
from tests.support.engines import Engines
from tests.support.payments import PaymentsHarness, Person, organizer_and_buyer, payments_service
from tests.support.tokens import TokenFactory

Payment = payments_pb2.Payment


@pytest.fixture
async def payments(tokens: TokenFactory, engines: Engines) -> AsyncIterator[PaymentsHarness]:
    async with payments_service(tokens, engines) as harness:
        yield harness


async def _refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_open_checkout_is_idempotent_and_internal(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer, amount_minor=5000)
    first = await payments.open_checkout(booking, request_id="r1")
    assert first.state == Payment.PENDING
    assert first.provider == "manual"
    assert first.checkout_url == ""
    assert first.amount == from_minor(5000, "EUR")
    assert first.refund_policy.full_refund_until_hours_before_start == 48
    assert (await payments.open_checkout(booking, request_id="r1")).id == first.id
    # Another request for the same booking while it is open: the open payment, not a second one.
    assert (await payments.open_checkout(booking, request_id="r2")).id == first.id
    assert (await payments.open_checkout(booking)).id == first.id
    changed = payments_pb2.CheckoutBooking()
    changed.CopyFrom(booking)
    changed.seats = 3
    refused = await _refusal(payments.open_checkout(changed, request_id="r1"))
    assert error_reason(refused) == "REQUEST_ID_REUSED"
    # People cannot open checkouts: bookings does (the edge refuses it too).
    refused = await _refusal(
        payments.stub.OpenCheckout(payments_pb2.OpenCheckoutRequest(booking=booking), metadata=buyer.auth)
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    opened = await payments.outbox("PaymentOpened")
    assert len(opened) == 1


async def test_open_checkout_validates_every_field(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer)
    booking.booking_id = "nope"
    refused = await _refusal(payments.open_checkout(booking))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    booking = payments.checkout_booking(buyer, organizer)
    booking.amount.nanos = 1  # not a whole cent
    refused = await _refusal(payments.open_checkout(booking))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "booking.amount.nanos" in refused.details()
    booking = payments.checkout_booking(buyer, organizer, amount_minor=0)
    refused = await _refusal(payments.open_checkout(booking))
    assert "booking.amount" in refused.details()
    booking = payments.checkout_booking(buyer, organizer, seats=0)
    booking.event_title = ""
    refused = await _refusal(payments.open_checkout(booking))
    assert "booking.seats" in refused.details()
    assert "booking.event_title" in refused.details()
    booking = payments.checkout_booking(buyer, organizer)
    booking.hold_expire_time.seconds -= 3600
    refused = await _refusal(payments.open_checkout(booking))
    assert error_reason(refused) == "HOLD_EXPIRED"


async def test_who_sees_a_payment(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    stranger = payments.person()
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer))
    assert (await payments.payment(opened.id, buyer)).id == opened.id
    assert (await payments.payment(opened.id, organizer)).id == opened.id
    assert (await payments.payment(opened.id, payments.person(Role.ADMIN))).id == opened.id
    refused = await _refusal(payments.payment(opened.id, stranger))
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    refused = await _refusal(payments.payment(str(uuid.uuid4()), buyer))
    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_create_checkout_is_the_buyers_open_payment(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer)
    request = payments_pb2.CreateCheckoutRequest(booking_id=booking.booking_id)
    refused = await _refusal(payments.stub.CreateCheckout(request, metadata=buyer.auth))
    assert error_reason(refused) == "CHECKOUT_NOT_OPEN"
    opened = await payments.open_checkout(booking)
    assert (await payments.stub.CreateCheckout(request, metadata=buyer.auth)).id == opened.id
    refused = await _refusal(payments.stub.CreateCheckout(request, metadata=organizer.auth))
    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_mark_paid_by_the_organizer_only_and_once(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer, amount_minor=4200))
    request = payments_pb2.MarkPaidRequest(payment_id=opened.id)
    refused = await _refusal(payments.stub.MarkPaid(request, metadata=buyer.auth))
    assert error_reason(refused) == "NOT_EVENT_OWNER"
    paid = await payments.stub.MarkPaid(request, metadata=organizer.auth)
    assert paid.state == Payment.SUCCEEDED
    assert paid.captured == from_minor(4200, "EUR")
    again = await payments.stub.MarkPaid(request, metadata=organizer.auth)
    assert again.etag == paid.etag
    succeeded = await payments.outbox("PaymentSucceeded")
    assert len(succeeded) == 1
    envelope = envelope_pb2.Envelope.FromString(succeeded[0])
    message = bus_pb2.PaymentSucceeded()
    envelope.payload.Unpack(message)
    assert message.payment.payment_id == opened.id
    assert message.payment.booking_id == opened.booking_id
    assert message.payment.captured == from_minor(4200, "EUR")
    assert message.payment.event_title == "Jazz night"
    assert message.payment.refund_policy.full_refund_until_hours_before_start == 48


async def _paid(payments: PaymentsHarness, amount_minor: int = 10_000) -> tuple[Payment, Person, Person]:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(
        payments.checkout_booking(buyer, organizer, amount_minor=amount_minor)
    )
    paid = await payments.stub.MarkPaid(
        payments_pb2.MarkPaidRequest(payment_id=opened.id), metadata=organizer.auth
    )
    return paid, organizer, buyer


async def test_refunds_are_bounded_by_the_capture(payments: PaymentsHarness) -> None:
    paid, organizer, buyer = await _paid(payments)

    def refund(amount: int | None, request_id: str, reason: str = "") -> payments_pb2.RefundPaymentRequest:
        request = payments_pb2.RefundPaymentRequest(payment_id=paid.id, request_id=request_id, reason=reason)
        if amount is not None:
            request.amount.CopyFrom(from_minor(amount, "EUR"))
        return request

    refused = await _refusal(payments.stub.RefundPayment(refund(100, "b1"), metadata=buyer.auth))
    assert error_reason(refused) == "NOT_EVENT_OWNER"
    partial = await payments.stub.RefundPayment(refund(3000, "r1", "broken chair"), metadata=organizer.auth)
    assert partial.refunded == from_minor(3000, "EUR")
    assert [r.state for r in partial.refunds] == [payments_pb2.Refund.SUCCEEDED]
    assert partial.refunds[0].initiated_by == payments_pb2.Refund.ORGANIZER
    assert partial.refunds[0].reason == "broken chair"
    refused = await _refusal(payments.stub.RefundPayment(refund(7001, "r2"), metadata=organizer.auth))
    assert error_reason(refused) == "REFUND_EXCEEDS_CAPTURED"
    assert error_metadata(refused)["refundable"] == "70.00 EUR"
    wrong_currency = refund(100, "r3")
    wrong_currency.amount.currency_code = "USD"
    refused = await _refusal(payments.stub.RefundPayment(wrong_currency, metadata=organizer.auth))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    rest = await payments.stub.RefundPayment(refund(None, "r4"), metadata=organizer.auth)
    assert rest.refunded == rest.captured
    refused = await _refusal(payments.stub.RefundPayment(refund(None, "r5"), metadata=organizer.auth))
    assert error_reason(refused) == "REFUND_EXCEEDS_CAPTURED"
    refunded = await payments.outbox("PaymentRefunded")
    assert len(refunded) == 2


async def test_a_refund_of_an_unpaid_payment_is_refused(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    opened = await payments.open_checkout(payments.checkout_booking(buyer, organizer))
    request = payments_pb2.RefundPaymentRequest(payment_id=opened.id, request_id="r1")
    refused = await _refusal(payments.stub.RefundPayment(request, metadata=organizer.auth))
    assert error_reason(refused) == "PAYMENT_NOT_CAPTURED"
    request.request_id = ""
    refused = await _refusal(payments.stub.RefundPayment(request, metadata=organizer.auth))
    assert "request_id" in refused.details()


async def test_one_request_id_twice_at_once_refunds_once(payments: PaymentsHarness) -> None:
    paid, organizer, _ = await _paid(payments)
    request = payments_pb2.RefundPaymentRequest(payment_id=paid.id, request_id="same", reason="twice")
    request.amount.CopyFrom(from_minor(2500, "EUR"))
    answers = await asyncio.gather(
        *(payments.stub.RefundPayment(request, metadata=organizer.auth) for _ in range(10))
    )
    assert {answer.refunded.units for answer in answers} == {25}
    assert {len(answer.refunds) for answer in answers} == {1}
    other = payments_pb2.RefundPaymentRequest(payment_id=paid.id, request_id="same", reason="another body")
    refused = await _refusal(payments.stub.RefundPayment(other, metadata=organizer.auth))
    assert error_reason(refused) == "REQUEST_ID_REUSED"
    final = await payments.payment(paid.id, organizer)
    assert final.refunded == from_minor(2500, "EUR")
    assert len(final.refunds) == 1


async def test_lists_by_perspective_with_pages(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    other_buyer = payments.person()
    mine = [await payments.open_checkout(payments.checkout_booking(buyer, organizer)) for _ in range(3)]
    theirs = await payments.open_checkout(payments.checkout_booking(other_buyer, organizer))
    first = await payments.stub.ListPayments(
        payments_pb2.ListPaymentsRequest(page_size=2), metadata=buyer.auth
    )
    assert [p.id for p in first.payments] == [mine[2].id, mine[1].id]
    second = await payments.stub.ListPayments(
        payments_pb2.ListPaymentsRequest(page_size=2, page_token=first.next_page_token), metadata=buyer.auth
    )
    assert [p.id for p in second.payments] == [mine[0].id]
    assert second.next_page_token == ""
    as_organizer = await payments.stub.ListPayments(
        payments_pb2.ListPaymentsRequest(perspective=payments_pb2.ListPaymentsRequest.ORGANIZER),
        metadata=organizer.auth,
    )
    assert {p.id for p in as_organizer.payments} == {p.id for p in [*mine, theirs]}
    booking_only = await payments.stub.ListPayments(
        payments_pb2.ListPaymentsRequest(
            booking_id=theirs.booking_id, perspective=payments_pb2.ListPaymentsRequest.ORGANIZER
        ),
        metadata=organizer.auth,
    )
    assert [p.id for p in booking_only.payments] == [theirs.id]
    paid_only = await payments.stub.ListPayments(
        payments_pb2.ListPaymentsRequest(state=Payment.SUCCEEDED), metadata=buyer.auth
    )
    assert list(paid_only.payments) == []
    refused = await _refusal(
        payments.stub.ListPayments(
            payments_pb2.ListPaymentsRequest(page_token=first.next_page_token, state=Payment.PENDING),
            metadata=buyer.auth,
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
