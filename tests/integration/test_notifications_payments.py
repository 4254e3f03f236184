"""Payment notifications from the bus to the inbox and the SMTP server: "payment due" with where to
pay, the reminder shortly before a hold ends (and its disappearance when the booking is paid or
over), receipts and refund notices, each exactly once however often its news is delivered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from google.protobuf.message import Message
from google.type import money_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2 as pb
from seatmesh.payments.v1 import bus_pb2 as payments_bus
from seatmesh.payments.v1 import payments_pb2
from services.runtime.migrations import libpq_conninfo
from tests.integration.test_notifications_helpers import (
    Harness,
    Person,
    booking_details,
    eventually,
    later,
    running_notifications,
    stamp,
    xadd,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

# Seconds stand in for minutes: a guest is reminded this long before their hold ends.
BEFORE_HOLD_END = 4.0
HOST = "2f1a4d7e-5a53-4d8e-9d5f-0c7d7a1d0001"


@pytest.fixture(scope="module")
async def harness(engines: Engines, tokens: TokenFactory) -> AsyncIterator[Harness]:
    async with running_notifications(
        engines, tokens, payment_reminder_offset=BEFORE_HOLD_END, reminder_poll_interval=0.2
    ) as running:
        yield running


class Purchase:
    """One guest's paid booking of one event, and the bus messages bookings and payments publish
    about it."""

    def __init__(
        self,
        guest: Person,
        *,
        hold: timedelta = timedelta(hours=1),
        amount: money_pb2.Money | None = None,
        seats: int = 2,
        checkout_url: str = "https://checkout.example/c/pay/cs_first",
        provider: str = "stripe",
    ) -> None:
        self.guest = guest
        self.booking = booking_details(
            guest, HOST, seats=seats, state=bookings_pb2.Booking.AWAITING_PAYMENT, title="Paid jazz"
        )
        self.payment_id = str(uuid.uuid4())
        self.amount = amount or money_pb2.Money(currency_code="EUR", units=25 * seats)
        self.hold_end = later(seconds=hold.total_seconds())
        self.checkout_url = checkout_url
        self.provider = provider

    def details(
        self, state: int = payments_pb2.Payment.PENDING, **fields: Any
    ) -> payments_bus.PaymentDetails:
        paid = state == payments_pb2.Payment.SUCCEEDED
        zero = money_pb2.Money(currency_code=self.amount.currency_code)
        return payments_bus.PaymentDetails(
            payment_id=self.payment_id,
            booking_id=self.booking.booking_id,
            event_id=self.booking.event_id,
            buyer_id=self.guest.id,
            organizer_id=HOST,
            event_title=self.booking.event_title,
            seats=self.booking.seats,
            amount=self.amount,
            captured=fields.pop("captured", self.amount if paid else zero),
            refunded=fields.pop("refunded", zero),
            state=state,  # type: ignore[arg-type]
            provider=self.provider,
            refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=24),
            full_refund_deadline=stamp(self.start - timedelta(hours=24)),
            event_start_time=self.booking.event_start_time,
            event_time_zone=self.booking.event_time_zone,
            checkout_url=fields.pop("checkout_url", self.checkout_url if not paid else ""),
            hold_expire_time=stamp(self.hold_end),
            **fields,
        )

    @property
    def start(self) -> datetime:
        return self.booking.event_start_time.ToDatetime(tzinfo=UTC)

    def awaiting_payment(self) -> bookings_bus.BookingAwaitingPayment:
        return bookings_bus.BookingAwaitingPayment(
            booking=self.booking,
            expire_time=stamp(self.hold_end),
            origin=bookings_bus.BookingAwaitingPayment.BOOKED,
        )

    def opened(self, **fields: Any) -> payments_bus.PaymentOpened:
        return payments_bus.PaymentOpened(payment=self.details(**fields))

    def succeeded(self) -> payments_bus.PaymentSucceeded:
        return payments_bus.PaymentSucceeded(
            payment=self.details(payments_pb2.Payment.SUCCEEDED), capture_time=stamp(later())
        )

    def booking_as(self, state: int) -> bookings_bus.BookingDetails:
        booking = bookings_bus.BookingDetails()
        booking.CopyFrom(self.booking)
        booking.state = state  # type: ignore[assignment]
        booking.payment_id = self.payment_id
        return booking


async def send(harness: Harness, source: str, message: Message) -> envelope_pb2.Envelope:
    return await harness.publish(source, message)


async def inbox_kinds(harness: Harness, person: Person) -> list[int]:
    return sorted(entry.kind for entry in await harness.inbox(person.id).all())


def subjects(harness: Harness, person: Person) -> list[str]:
    return sorted(mail.subject for mail in harness.mail.messages(person.email))


async def arrived(harness: Harness, person: Person, subject: str) -> Any:
    """The email to `person` with this subject, once it came."""
    found: list[Any] = []

    def came() -> bool:
        found[:] = [mail for mail in harness.mail.messages(person.email) if mail.subject == subject]
        return bool(found)

    await eventually(came, what=f"email {subject!r}")
    return found[0]


async def handled_so_far(harness: Harness) -> None:
    """Everything published to the payments and bookings streams before now has been handled: a
    marker on each stream (a receipt, a confirmation) has been delivered, and so has every email."""
    marker = Purchase(harness.users.add())
    await send(harness, "payments", marker.succeeded())
    await send(
        harness,
        "bookings",
        bookings_bus.BookingConfirmed(booking=marker.booking_as(bookings_pb2.Booking.CONFIRMED)),
    )
    await eventually(lambda: len(harness.mail.messages(marker.guest.email)) == 2, what="markers handled")
    await harness.settle()


async def test_a_guest_is_told_where_to_pay_then_gets_one_receipt(harness: Harness) -> None:
    ada = harness.users.add(display_name="Ada")
    purchase = Purchase(ada)
    await send(harness, "bookings", purchase.awaiting_payment())
    opened = await send(harness, "payments", purchase.opened())

    due = await arrived(harness, ada, "Payment due: Paid jazz")
    assert "Pay 50.00 EUR by then to keep them" in due.text
    assert "Pay now: https://checkout.example/c/pay/cs_first" in due.text
    assert "Where:   Tiergarten, Berlin" in due.text

    # The buyer left the checkout page and came back: a checkout opened anew is not news.
    await send(harness, "payments", purchase.opened(checkout_url="https://checkout.example/c/pay/cs_second"))
    succeeded = await send(harness, "payments", purchase.succeeded())
    receipt = await arrived(harness, ada, "Receipt: Paid jazz")
    assert "Thank you: we received your payment of 50.00 EUR for 2 seats at Paid jazz." in receipt.text
    assert "Refund policy: If you cancel at least 24 hours before the start" in receipt.text
    assert f"Payment: {purchase.payment_id}" in receipt.text
    assert "With:    Card or another method, at Stripe's checkout" in receipt.text

    # The same news again (redelivered): nothing new for anyone.
    for envelope in (opened, succeeded):
        await xadd(harness.redis, harness.prefix, "payments", envelope)
    deliveries_before = len(await harness.deliveries())
    await handled_so_far(harness)
    assert subjects(harness, ada) == ["Payment due: Paid jazz", "Receipt: Paid jazz"]
    assert await inbox_kinds(harness, ada) == [pb.KIND_PAYMENT_DUE, pb.KIND_PAYMENT_RECEIPT]
    receipts = [delivery for delivery in await harness.deliveries() if delivery.recipient_id == ada.id]
    assert sorted(delivery.kind for delivery in receipts) == [pb.KIND_PAYMENT_DUE, pb.KIND_PAYMENT_RECEIPT]
    # Only the markers' own deliveries were added.
    assert len(await harness.deliveries()) == deliveries_before + 2


async def test_zero_decimal_currencies_and_manual_payments(harness: Harness) -> None:
    kenji = harness.users.add()
    purchase = Purchase(
        kenji,
        amount=money_pb2.Money(currency_code="JPY", units=3000),
        seats=1,
        checkout_url="",
        provider="manual",
    )
    await send(harness, "bookings", purchase.awaiting_payment())
    await send(harness, "payments", purchase.opened())
    due = await arrived(harness, kenji, "Payment due: Paid jazz")
    assert "Pay 3,000 JPY by then to keep it" in due.text
    assert f"quoting payment number {purchase.payment_id}" in due.text
    await send(harness, "payments", purchase.succeeded())
    receipt = await arrived(harness, kenji, "Receipt: Paid jazz")
    assert "we received your payment of 3,000 JPY for 1 seat" in receipt.text
    assert "With:    Bank transfer or cash, to the organizer" in receipt.text


async def test_a_reminder_before_the_hold_ends_goes_only_to_who_still_has_to_pay(harness: Harness) -> None:
    hold = timedelta(seconds=BEFORE_HOLD_END + 4)
    unpaid, paid, expired, cancelled, confirmed_first = (harness.users.add() for _ in range(5))
    purchases = {person.id: Purchase(person, hold=hold) for person in (unpaid, paid, expired, cancelled)}
    for purchase in purchases.values():
        await send(harness, "bookings", purchase.awaiting_payment())
        await send(harness, "payments", purchase.opened())
    for purchase in purchases.values():
        await arrived(harness, purchase.guest, "Payment due: Paid jazz")
    # The unpaid guest's checkout closes and opens again: the reminder points at the new one.
    await send(
        harness,
        "payments",
        purchases[unpaid.id].opened(checkout_url="https://checkout.example/c/pay/cs_reopened"),
    )
    await send(harness, "payments", purchases[paid.id].succeeded())
    await send(
        harness,
        "bookings",
        bookings_bus.BookingExpired(booking=purchases[expired.id].booking_as(bookings_pb2.Booking.EXPIRED)),
    )
    await send(
        harness,
        "bookings",
        bookings_bus.BookingCancelled(
            booking=purchases[cancelled.id].booking_as(bookings_pb2.Booking.CANCELLED),
            cancelled_by=bookings_bus.BookingCancelled.GUEST,
            previous_state=bookings_pb2.Booking.AWAITING_PAYMENT,
        ),
    )
    # News of a checkout that comes after the booking was paid (the streams are read side by side).
    late_news = Purchase(confirmed_first, hold=hold)
    await send(
        harness,
        "bookings",
        bookings_bus.BookingConfirmed(booking=late_news.booking_as(bookings_pb2.Booking.CONFIRMED)),
    )
    await arrived(harness, confirmed_first, "Booking confirmed: Paid jazz")
    await send(harness, "payments", late_news.opened())

    reminder = await arrived(harness, unpaid, f"{BEFORE_HOLD_END:.0f} seconds left to pay: Paid jazz")
    assert "we have not received your payment yet. Pay 50.00 EUR before then" in reminder.text
    assert "Pay now: https://checkout.example/c/pay/cs_reopened" in reminder.text
    expired_mail = await arrived(harness, expired, "Time to pay ran out: Paid jazz")
    assert "Nothing was charged." in expired_mail.text

    # Past the hold's end: one reminder, to the one guest who still had to pay.
    await asyncio.sleep(max(0.0, (purchases[unpaid.id].hold_end - later()).total_seconds()) + 0.5)
    await handled_so_far(harness)
    assert await inbox_kinds(harness, unpaid) == [pb.KIND_PAYMENT_DUE, pb.KIND_PAYMENT_REMINDER]
    assert await inbox_kinds(harness, paid) == [pb.KIND_PAYMENT_DUE, pb.KIND_PAYMENT_RECEIPT]
    assert await inbox_kinds(harness, expired) == [pb.KIND_BOOKING_EXPIRED, pb.KIND_PAYMENT_DUE]
    assert await inbox_kinds(harness, cancelled) == [pb.KIND_BOOKING_CANCELLED, pb.KIND_PAYMENT_DUE]
    assert await inbox_kinds(harness, confirmed_first) == [pb.KIND_BOOKING_CONFIRMED]
    conninfo = libpq_conninfo(harness.service.settings.database_url)
    async with await psycopg.AsyncConnection.connect(conninfo) as connection:
        left = await connection.execute(
            "SELECT count(*) FROM reminders WHERE kind = 'PAYMENT_REMINDER' AND booking_id = ANY(%s)",
            ([uuid.UUID(purchase.booking.booking_id) for purchase in (*purchases.values(), late_news)],),
        )
        assert await left.fetchone() == (0,)


async def test_refund_notices_once_each_and_a_refused_payment_said_plainly(harness: Harness) -> None:
    ada, bob, cleo = harness.users.add(), harness.users.add(), harness.users.add()

    # The organizer gives Ada part of her yen back.
    yen = Purchase(ada, amount=money_pb2.Money(currency_code="JPY", units=9000), seats=3)
    first = payments_bus.PaymentRefunded(
        payment=yen.details(
            payments_pb2.Payment.SUCCEEDED, refunded=money_pb2.Money(currency_code="JPY", units=2000)
        ),
        refund=payments_pb2.Refund(
            id=str(uuid.uuid4()),
            amount=money_pb2.Money(currency_code="JPY", units=2000),
            reason="the support act cancelled",
            state=payments_pb2.Refund.SUCCEEDED,
            initiated_by=payments_pb2.Refund.ORGANIZER,
        ),
    )
    envelope = await send(harness, "payments", first)
    part = await arrived(harness, ada, "Refund of 2,000 JPY: Paid jazz")
    assert "Part of your payment is refunded: 2,000 JPY of the 9,000 JPY you paid." in part.text
    assert "Reason given: the support act cancelled" in part.text
    await xadd(harness.redis, harness.prefix, "payments", envelope)

    # Bob's payment came after his hold ended and the seats were gone: bookings refuses it, and
    # payments refunds it. He hears it once, in plain words, from whichever news comes first.
    late = Purchase(bob)
    await send(
        harness,
        "bookings",
        bookings_bus.BookingPaymentRefused(
            booking=late.booking_as(bookings_pb2.Booking.EXPIRED),
            payment_id=late.payment_id,
            reason=bookings_bus.BookingPaymentRefused.SOLD_OUT,
            amount=late.amount,
        ),
    )
    refused = await arrived(harness, bob, "Refund of 50.00 EUR: Paid jazz")
    assert "the seats had gone to other guests meanwhile, so we could not seat you." in refused.text
    assert "All of your payment, 50.00 EUR, is refunded." in refused.text
    await send(
        harness,
        "payments",
        payments_bus.PaymentRefunded(
            payment=late.details(payments_pb2.Payment.SUCCEEDED, refunded=late.amount),
            refund=payments_pb2.Refund(
                id=str(uuid.uuid4()),
                amount=late.amount,
                reason="paid after the hold ended, and the seats had gone to others",
                state=payments_pb2.Refund.SUCCEEDED,
                initiated_by=payments_pb2.Refund.PAYMENT_REFUSED,
            ),
        ),
    )

    # Cleo's event is cancelled: everything back.
    called_off = Purchase(cleo)
    await send(
        harness,
        "payments",
        payments_bus.PaymentRefunded(
            payment=called_off.details(payments_pb2.Payment.SUCCEEDED, refunded=called_off.amount),
            refund=payments_pb2.Refund(
                id=str(uuid.uuid4()),
                amount=called_off.amount,
                reason="storm",
                state=payments_pb2.Refund.SUCCEEDED,
                initiated_by=payments_pb2.Refund.EVENT_CANCELLATION,
            ),
        ),
    )
    whole = await arrived(harness, cleo, "Refund of 50.00 EUR: Paid jazz")
    assert "The event was cancelled." in whole.text
    assert "All of your payment, 50.00 EUR, is refunded." in whole.text

    await handled_so_far(harness)
    assert await inbox_kinds(harness, ada) == [pb.KIND_PAYMENT_REFUNDED]
    assert await inbox_kinds(harness, bob) == [pb.KIND_PAYMENT_REFUNDED]
    assert await inbox_kinds(harness, cleo) == [pb.KIND_PAYMENT_REFUNDED]
    for person in (ada, bob, cleo):
        assert len(harness.mail.messages(person.email)) == 1
