"""What payments does with bookings' and events' bus events (real PostgreSQL and Redis; the bus
messages are published as the other services' relays would): refunds by the policy, in full, or
not at all; open payments expiring; a refused payment refunded exactly once; and the sales report
built from the read model, matching the payments."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import payments_pb2
from services.runtime.auth import Role
from services.runtime.errors import error_reason
from services.runtime.money import from_minor
from tests.support.engines import Engines
from tests.support.payments import (
    PaymentsHarness,
    Person,
    eventually,
    organizer_and_buyer,
    payments_service,
    stamp,
)
from tests.support.tokens import TokenFactory

Booking = bookings_pb2.Booking
Payment = payments_pb2.Payment
Cancelled = bookings_bus.BookingCancelled


@pytest.fixture
async def payments(tokens: TokenFactory, engines: Engines) -> AsyncIterator[PaymentsHarness]:
    async with payments_service(tokens, engines) as harness:
        yield harness


async def _refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def details(
    booking: payments_pb2.CheckoutBooking, state: int, payment_id: str = "", organizer: str = ""
) -> bookings_bus.BookingDetails:
    return bookings_bus.BookingDetails(
        booking_id=booking.booking_id,
        event_id=booking.event_id,
        guest_id=booking.buyer_id,
        host_id=organizer or booking.organizer_id,
        seats=booking.seats,
        state=state,
        payment_id=payment_id,
        amount=booking.amount,
    )


async def _paid(
    payments: PaymentsHarness, organizer: Person, buyer: Person, **booking_fields: Any
) -> tuple[payments_pb2.CheckoutBooking, payments_pb2.Payment]:
    booking = payments.checkout_booking(buyer, organizer, **booking_fields)
    opened = await payments.open_checkout(booking)
    paid = await payments.stub.MarkPaid(
        payments_pb2.MarkPaidRequest(payment_id=opened.id), metadata=organizer.auth
    )
    return booking, paid


async def _until(payments: PaymentsHarness, payment_id: str, who: Person, check: Any, what: str) -> Payment:
    found: list[Payment] = []

    async def reached() -> bool:
        found[:] = [await payments.payment(payment_id, who)]
        return bool(check(found[0]))

    await eventually(reached, what=what)
    return found[0]


async def _handled(payments: PaymentsHarness, event_id: str) -> bool:
    row = await payments.database.row(
        text("SELECT 1 FROM inbox WHERE event_id = CAST(:id AS uuid)"), id=event_id
    )
    return row is not None


async def test_a_guest_cancelling_in_time_gets_everything_back(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking, paid = await _paid(payments, organizer, buyer, starts_in=timedelta(days=10), refund_hours=48)
    await payments.publish(
        "bookings",
        Cancelled(
            booking=details(booking, Booking.CANCELLED, paid.id),
            cancelled_by=Cancelled.GUEST,
            previous_state=Booking.CONFIRMED,
        ),
    )
    refunded = await _until(
        payments,
        paid.id,
        buyer,
        lambda p: p.refunds and p.refunds[0].state == payments_pb2.Refund.SUCCEEDED,
        "the guest's refund",
    )
    assert refunded.refunded == refunded.captured
    assert refunded.refunds[0].initiated_by == payments_pb2.Refund.GUEST_CANCELLATION
    assert len(await payments.outbox("PaymentRefunded")) == 1


async def test_a_guest_cancelling_too_late_gets_nothing_back(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking, paid = await _paid(payments, organizer, buyer, starts_in=timedelta(days=1), refund_hours=48)
    event_id = await payments.publish(
        "bookings",
        Cancelled(
            booking=details(booking, Booking.CANCELLED, paid.id),
            cancelled_by=Cancelled.GUEST,
            previous_state=Booking.CONFIRMED,
        ),
    )
    await eventually(lambda: _handled(payments, event_id), what="the cancellation handled")
    final = await payments.payment(paid.id, buyer)
    assert final.refunds == []
    assert final.refunded.units == 0


async def test_when_the_guest_cancelled_decides_not_when_the_news_arrived(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking, paid = await _paid(payments, organizer, buyer, starts_in=timedelta(days=1), refund_hours=48)
    await payments.publish(
        "bookings",
        Cancelled(
            booking=details(booking, Booking.CANCELLED, paid.id),
            cancelled_by=Cancelled.GUEST,
            previous_state=Booking.CONFIRMED,
        ),
        # Cancelled three days ago, before the deadline (the message was slow).
        occurred_at=datetime.now(UTC) - timedelta(days=3),
    )
    await _until(payments, paid.id, buyer, lambda p: p.refunded == p.captured, "the timely guest's refund")


async def test_an_event_cancelled_refunds_everyone_in_full(payments: PaymentsHarness) -> None:
    organizer = payments.person(Role.ORGANIZER)
    event_id = str(uuid.uuid4())
    paid_ones = []
    for _ in range(3):
        buyer = payments.person()
        booking, paid = await _paid(
            payments, organizer, buyer, event_id=event_id, starts_in=timedelta(hours=5), refund_hours=48
        )
        paid_ones.append((buyer, paid))
        await payments.publish(
            "bookings",
            Cancelled(
                booking=details(booking, Booking.CANCELLED, paid.id),
                cancelled_by=Cancelled.EVENT_CANCELLED,
                previous_state=Booking.CONFIRMED,
            ),
        )
    for buyer, paid in paid_ones:
        final = await _until(payments, paid.id, buyer, lambda p: p.refunded == p.captured, "a full refund")
        assert final.refunds[0].initiated_by == payments_pb2.Refund.EVENT_CANCELLATION


async def test_an_unpaid_hold_that_ends_expires_its_payment(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    expiring = payments.checkout_booking(buyer, organizer)
    cancelled = payments.checkout_booking(buyer, organizer)
    first = await payments.open_checkout(expiring)
    second = await payments.open_checkout(cancelled)
    await payments.publish(
        "bookings", bookings_bus.BookingExpired(booking=details(expiring, Booking.EXPIRED))
    )
    await payments.publish(
        "bookings",
        Cancelled(
            booking=details(cancelled, Booking.CANCELLED),
            cancelled_by=Cancelled.GUEST,
            previous_state=Booking.AWAITING_PAYMENT,
        ),
    )
    for opened in (first, second):
        await _until(payments, opened.id, buyer, lambda p: p.state == Payment.EXPIRED, "the payment expired")
    assert len(await payments.outbox("PaymentExpired")) == 2
    refused = await _refusal(
        payments.stub.CreateCheckout(
            payments_pb2.CreateCheckoutRequest(booking_id=expiring.booking_id), metadata=buyer.auth
        )
    )
    assert error_reason(refused) == "HOLD_EXPIRED"


async def test_a_late_payment_bookings_refuses_is_refunded_once(payments: PaymentsHarness) -> None:
    organizer, buyer = organizer_and_buyer(payments)
    booking = payments.checkout_booking(buyer, organizer)
    opened = await payments.open_checkout(booking)
    await payments.publish("bookings", bookings_bus.BookingExpired(booking=details(booking, Booking.EXPIRED)))
    await _until(payments, opened.id, buyer, lambda p: p.state == Payment.EXPIRED, "the payment expired")
    # The transfer arrives after the hold: the money counts all the same.
    late = await payments.stub.MarkPaid(
        payments_pb2.MarkPaidRequest(payment_id=opened.id), metadata=organizer.auth
    )
    assert late.state == Payment.SUCCEEDED
    refusal = bookings_bus.BookingPaymentRefused(
        booking=details(booking, Booking.EXPIRED),
        payment_id=opened.id,
        reason=bookings_bus.BookingPaymentRefused.SOLD_OUT,
        amount=late.captured,
    )
    # Delivered twice as two messages (a republished event): one refund.
    await payments.publish("bookings", refusal)
    second = await payments.publish("bookings", refusal)
    await eventually(lambda: _handled(payments, second), what="both refusals handled")
    final = await _until(payments, opened.id, buyer, lambda p: p.refunded == p.captured, "the refund")
    assert len(final.refunds) == 1
    assert final.refunds[0].initiated_by == payments_pb2.Refund.PAYMENT_REFUSED
    assert "seats had gone" in final.refunds[0].reason


async def _event_news(payments: PaymentsHarness, organizer: Person, event_id: str, **fields: Any) -> None:
    start = datetime.now(UTC) + timedelta(days=10)
    event = events_pb2.Event(
        id=event_id,
        organizer_id=organizer.id,
        title=fields.get("title", "Jazz night"),
        start_time=stamp(start),
        end_time=stamp(start + timedelta(hours=3)),
        capacity=fields.get("capacity", 10),
        state=fields.get("state", events_pb2.Event.SCHEDULED),
    )
    await payments.publish("events", fields.get("kind", events_bus.EventCreated)(event=event))


async def test_the_sales_report_is_built_from_the_bus_and_matches_the_payments(
    payments: PaymentsHarness,
) -> None:
    organizer, other_organizer = payments.person(Role.ORGANIZER), payments.person(Role.ORGANIZER)
    event_id = str(uuid.uuid4())
    await _event_news(payments, organizer, event_id, capacity=10)
    await _event_news(payments, other_organizer, str(uuid.uuid4()))
    sold: list[tuple[payments_pb2.CheckoutBooking, payments_pb2.Payment]] = []
    for seats in (2, 3):
        buyer = payments.person()
        booking, paid = await _paid(
            payments, organizer, buyer, event_id=event_id, seats=seats, amount_minor=1500 * seats
        )
        sold.append((booking, paid))
        await payments.publish(
            "bookings", bookings_bus.BookingConfirmed(booking=details(booking, Booking.CONFIRMED, paid.id))
        )
    waiting = payments.checkout_booking(payments.person(), organizer, event_id=event_id)
    await payments.publish(
        "bookings", bookings_bus.BookingWaitlisted(booking=details(waiting, Booking.WAITLISTED))
    )
    # The organizer gives 10.00 back on the first sale.
    refund = payments_pb2.RefundPaymentRequest(payment_id=sold[0][1].id, request_id="goodwill")
    refund.amount.CopyFrom(from_minor(1000, "EUR"))
    await payments.stub.RefundPayment(refund, metadata=organizer.auth)
    # The second booking is cancelled by its guest, out of time: no refund, and no seats sold.
    last = await payments.publish(
        "bookings",
        Cancelled(
            booking=details(sold[1][0], Booking.CANCELLED, sold[1][1].id),
            cancelled_by=Cancelled.GUEST,
            previous_state=Booking.CONFIRMED,
        ),
        occurred_at=datetime.now(UTC) + timedelta(days=9, hours=12),
    )
    await eventually(lambda: _handled(payments, last), what="the bus read")

    report = await payments.stub.GetSalesReport(payments_pb2.GetSalesReportRequest(), metadata=organizer.auth)
    (sales,) = report.events
    assert sales.event_id == event_id
    assert sales.capacity == 10
    assert sales.seats_sold == 2
    assert sales.fill_rate == pytest.approx(0.2)
    assert sales.waitlist_length == 1
    assert sales.captured == from_minor(7500, "EUR")
    assert sales.refunded == from_minor(1000, "EUR")
    assert sales.revenue == from_minor(6500, "EUR")
    assert sales.refund_count == 1
    (today,) = sales.days
    assert (today.bookings, today.seats) == (2, 5)
    assert today.captured == from_minor(7500, "EUR")
    (totals,) = report.totals
    assert totals.revenue == from_minor(6500, "EUR")
    assert totals.seats_sold == 2
    # What the payments say, summed per event, is the report's revenue.
    row = await payments.database.row(
        text(
            "SELECT sum(captured_minor) - sum(refunded_minor) AS revenue FROM payments"
            " WHERE event_id = CAST(:id AS uuid)"
        ),
        id=event_id,
    )
    assert row is not None
    assert from_minor(int(row.revenue), "EUR") == sales.revenue

    # Another organizer sees nothing of it; an admin sees both organizers' events.
    refused = await _refusal(
        payments.stub.GetSalesReport(
            payments_pb2.GetSalesReportRequest(event_id=event_id), metadata=other_organizer.auth
        )
    )
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    admin = payments.person(Role.ADMIN)
    everyone = await payments.stub.GetSalesReport(payments_pb2.GetSalesReportRequest(), metadata=admin.auth)
    assert len(everyone.events) == 2
    one_page = await payments.stub.GetSalesReport(
        payments_pb2.GetSalesReportRequest(page_size=1), metadata=admin.auth
    )
    assert len(one_page.events) == 1
    rest = await payments.stub.GetSalesReport(
        payments_pb2.GetSalesReportRequest(page_size=1, page_token=one_page.next_page_token),
        metadata=admin.auth,
    )
    assert len(rest.events) == 1
    assert rest.next_page_token == ""
    # A period that ended before anything was sold.
    past = payments_pb2.GetSalesReportRequest(end_time=stamp(datetime.now(UTC) - timedelta(days=1)))
    (quiet,) = (await payments.stub.GetSalesReport(past, metadata=organizer.auth)).events
    assert (quiet.seats_sold, list(quiet.days), quiet.HasField("captured")) == (0, [], False)
    refused = await _refusal(payments.stub.GetSalesReport(past, metadata=payments.person().auth))
    assert error_reason(refused) == "ROLE_REQUIRED"


async def test_the_read_model_follows_the_newest_news(payments: PaymentsHarness) -> None:
    organizer = payments.person(Role.ORGANIZER)
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await _event_news(payments, organizer, event_id, capacity=10)
    await payments.publish(
        "events",
        events_bus.EventUpdated(
            event=events_pb2.Event(
                id=event_id,
                organizer_id=organizer.id,
                title="Jazz night (moved)",
                start_time=stamp(now + timedelta(days=11)),
                capacity=20,
                state=events_pb2.Event.SCHEDULED,
            )
        ),
        occurred_at=now + timedelta(seconds=2),
    )
    booking = payments.checkout_booking(payments.person(), organizer, event_id=event_id, seats=4)
    # Out of order: the cancellation (newer) first, the confirmation (older) after it.
    await payments.publish(
        "bookings",
        Cancelled(booking=details(booking, Booking.CANCELLED), cancelled_by=Cancelled.GUEST),
        occurred_at=now + timedelta(seconds=5),
    )
    last = await payments.publish(
        "bookings",
        bookings_bus.BookingConfirmed(booking=details(booking, Booking.CONFIRMED)),
        occurred_at=now,
    )
    await eventually(lambda: _handled(payments, last), what="the bus read")
    report = await payments.stub.GetSalesReport(payments_pb2.GetSalesReportRequest(), metadata=organizer.auth)
    (sales,) = report.events
    assert (sales.event_title, sales.capacity) == ("Jazz night (moved)", 20)
    assert sales.seats_sold == 0
    # Confirmed that day, cancelled since: still a booking of that day.
    assert [(day.bookings, day.seats) for day in sales.days] == [(1, 4)]
    await payments.publish(
        "events",
        events_bus.EventDeleted(event=events_pb2.Event(id=event_id, organizer_id=organizer.id)),
        occurred_at=now + timedelta(seconds=9),
    )

    async def forgotten() -> bool:
        reply = await payments.stub.GetSalesReport(
            payments_pb2.GetSalesReportRequest(), metadata=organizer.auth
        )
        return not reply.events

    await eventually(forgotten, what="the deleted event forgotten")
