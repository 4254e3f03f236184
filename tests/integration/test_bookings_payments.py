"""Paid bookings against the real events service on real PostgreSQL and Redis, with a stand-in for
the payments service: a gRPC server answering OpenCheckout, and payments' bus events published to
its stream by the test, so every order and repeat can be chosen.

Checked after each test: the seat invariant (AWAITING_PAYMENT holds seats), and the money rule on
the bookings side: every succeeded payment is kept by exactly one CONFIRMED booking or refused
(BookingPaymentRefused, which payments refunds in full), never both, never neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.type import money_pb2
from redis import asyncio as aioredis
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2, bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import bus_pb2 as payments_bus_pb2
from seatmesh.payments.v1 import payments_pb2, payments_pb2_grpc
from services.runtime.auth import Role
from services.runtime.bus.envelopes import envelope_for, stream_fields, stream_name, unpack
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
Refused = bus_pb2.BookingPaymentRefused
EUR_12_50 = money_pb2.Money(currency_code="EUR", units=12, nanos=500_000_000)


def euros(cents: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", units=cents // 100, nanos=cents % 100 * 10_000_000)


class FakePayments(payments_pb2_grpc.PaymentServiceServicer):  # type: ignore[misc]
    """OpenCheckout as the payments service answers it: one payment per booking, where to pay."""

    def __init__(self) -> None:
        self.requests: list[payments_pb2.OpenCheckoutRequest] = []
        self.payment_ids: dict[str, str] = {}
        self.down = False

    async def OpenCheckout(
        self, request: payments_pb2.OpenCheckoutRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "payments is down")
        self.requests.append(request)
        payment_id = self.payment_ids.setdefault(request.booking.booking_id, str(uuid.uuid4()))
        return payments_pb2.Payment(
            id=payment_id,
            booking_id=request.booking.booking_id,
            amount=request.booking.amount,
            state=payments_pb2.Payment.PENDING,
            checkout_url=f"https://pay.example/{payment_id}",
        )

    def asked_for(self, booking_id: str) -> list[payments_pb2.OpenCheckoutRequest]:
        return [request for request in self.requests if request.booking.booking_id == booking_id]


@dataclass
class PaidMesh:
    mesh: Mesh
    payments: FakePayments
    redis: aioredis.Redis
    prefix: str
    published: list[str] = field(default_factory=list)

    async def paid_event(
        self, host: User, *, price: money_pb2.Money = EUR_12_50, capacity: int = 10, **fields: Any
    ) -> events_pb2.Event:
        return await self.mesh.new_event(host, capacity=capacity, price=price, **fields)

    async def publish(self, message: Message, *, times: int = 1) -> str:
        """Put a payments bus event on payments' stream, as its relay would (`times` > 1: the same
        envelope again, as a relay that crashed before recording its progress sends it); its id."""
        envelope = envelope_for(message, source="payments")
        for _ in range(times):
            await self.redis.xadd(stream_name(self.prefix, "payments"), stream_fields(envelope))  # type: ignore[arg-type]
        if not isinstance(message, payments_bus_pb2.PaymentFailed):
            # Bookings has no handler for it: only acknowledged, never in the inbox.
            self.published.append(envelope.event_id)
        return envelope.event_id

    async def succeeded(
        self, booking: bookings_pb2.Booking, payment_id: str = "", *, times: int = 1, **overrides: Any
    ) -> str:
        details = self.details(booking, payment_id, state=payments_pb2.Payment.SUCCEEDED, **overrides)
        details.captured.CopyFrom(details.amount)
        return await self.publish(payments_bus_pb2.PaymentSucceeded(payment=details), times=times)

    async def failed(self, booking: bookings_pb2.Booking, payment_id: str = "") -> str:
        details = self.details(booking, payment_id, state=payments_pb2.Payment.FAILED)
        return await self.publish(payments_bus_pb2.PaymentFailed(payment=details, reason="card declined"))

    def details(
        self, booking: bookings_pb2.Booking, payment_id: str, **overrides: Any
    ) -> payments_bus_pb2.PaymentDetails:
        values: dict[str, Any] = {
            "payment_id": payment_id or self.payments.payment_ids[booking.id],
            "booking_id": booking.id,
            "event_id": booking.event_id,
            "buyer_id": booking.user_id,
            "seats": booking.seats,
            "amount": booking.amount,
            "provider": "stripe",
        }
        values.update(overrides)
        return payments_bus_pb2.PaymentDetails(**values)

    async def handled(self) -> None:
        """Until bookings processed every bus event this test published that it handles (its inbox
        says so); the stream is read in order, so whatever came before was read too."""

        async def all_in() -> bool:
            rows = await self.mesh.bookings_db.rows(
                text("SELECT count(*) AS n FROM inbox WHERE event_id = ANY(:ids)"),
                ids=[uuid.UUID(event_id) for event_id in self.published],
            )
            return int(rows[0].n) == len(self.published)

        await eventually(all_in, what="bookings handled every payments event")

    async def row(self, booking_id: str) -> Any:
        row = await self.mesh.bookings_db.row(
            text(
                "SELECT state, reservation_id, release_pending, retry_at, paid_at, payment_id, checkout_url,"
                " hold_expire_time FROM bookings WHERE id = :id"
            ),
            id=uuid.UUID(booking_id),
        )
        assert row is not None
        return row

    async def reach(self, booking_id: str, state: int, *, released: bool = False) -> None:
        async def there() -> bool:
            row = await self.row(booking_id)
            return Booking.State.Value(row.state) == state and not (released and row.release_pending)

        await eventually(there, what=f"{booking_id} is {Booking.State.Name(state)}")

    async def expire_hold(self, booking_id: str, at: str = "now() - interval '1 second'") -> None:
        await self.mesh.bookings_db.execute(
            text(f"UPDATE bookings SET hold_expire_time = {at} WHERE id = :id"), id=uuid.UUID(booking_id)
        )

    async def news(self, booking_id: str) -> list[Message]:
        """The bus events bookings wrote about one booking, in order."""
        rows = await self.mesh.bookings_db.rows(text("SELECT envelope FROM outbox ORDER BY id"))
        found = []
        for (raw,) in rows:
            message = unpack(envelope_pb2.Envelope.FromString(raw))
            inner = getattr(message, "booking", None)
            if message is not None and inner is not None and inner.booking_id == booking_id:
                found.append(message)
        return found

    async def kinds(self, booking_id: str) -> list[str]:
        return [message.DESCRIPTOR.name for message in await self.news(booking_id)]

    async def refusals(self, booking_id: str) -> list[Refused]:
        return [message for message in await self.news(booking_id) if isinstance(message, Refused)]

    async def assert_money_rule(self, booking_id: str) -> None:
        """A paid-for booking is CONFIRMED with one BookingConfirmed and no refusal, or not
        confirmed and its payment refused exactly once."""
        kinds = await self.kinds(booking_id)
        state = (await self.row(booking_id)).state
        if state == "CONFIRMED":
            assert (kinds.count("BookingConfirmed"), kinds.count("BookingPaymentRefused")) == (1, 0), kinds
        else:
            assert (kinds.count("BookingConfirmed"), kinds.count("BookingPaymentRefused")) == (0, 1), (
                state,
                kinds,
            )


@contextlib.asynccontextmanager
async def paid_mesh(tokens: TokenFactory, engines: Engines) -> AsyncIterator[PaidMesh]:
    fake = FakePayments()
    server = grpc.aio.server()
    payments_pb2_grpc.add_PaymentServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    prefix = engines.new_redis_prefix()
    redis = aioredis.from_url(engines.redis_url)
    try:
        async with serve_service("events", tokens, engines, redis_prefix=prefix, **EVENTS_SETTINGS) as events:
            settings = {
                **BOOKINGS_SETTINGS,
                "payments_address": f"127.0.0.1:{port}",
                "payments_deadline": 1.0,
            }
            async with (
                serve_service(
                    "bookings",
                    tokens,
                    engines,
                    redis_prefix=prefix,
                    events_address=events.address,
                    **settings,
                ) as bookings,
                mesh_clients(
                    tokens,
                    events_address=events.address,
                    events_database=events.settings.database_url,
                    bookings_address=bookings.address,
                    bookings_database=bookings.settings.database_url,
                ) as mesh,
            ):
                yield PaidMesh(mesh, fake, redis, prefix)
    finally:
        await redis.aclose()
        await server.stop(0)


@pytest.fixture(scope="module")
async def paid(tokens: TokenFactory, engines: Engines) -> AsyncIterator[PaidMesh]:
    async with paid_mesh(tokens, engines) as running:
        yield running


@pytest.fixture
def host(paid: PaidMesh) -> User:
    return paid.mesh.user(Role.ORGANIZER)


def close_to(moment: datetime, expected: datetime, within: timedelta = timedelta(seconds=30)) -> bool:
    return abs(moment - expected) <= within


# -- the hold and the payment ---------------------------------------------------------------------


async def test_a_paid_booking_holds_its_seats_until_its_payment_confirms_it(
    paid: PaidMesh, host: User
) -> None:
    mesh = paid.mesh
    event = await paid.paid_event(
        host,
        title="Opera",
        refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=48),
        payment_hold=duration_pb2.Duration(seconds=600),
    )
    guest = mesh.user()
    booking = await mesh.book(guest, event.id, seats=2)

    assert booking.state == Booking.AWAITING_PAYMENT
    assert booking.amount == euros(2500)
    payment_id = paid.payments.payment_ids[booking.id]
    assert (booking.payment_id, booking.checkout_url) == (payment_id, f"https://pay.example/{payment_id}")
    hold_end = booking.hold_expire_time.ToDatetime(tzinfo=UTC)
    assert close_to(hold_end, datetime.now(UTC) + timedelta(minutes=10))
    [asked] = paid.payments.asked_for(booking.id)
    assert asked.request_id == booking.id
    checkout = asked.booking
    assert (checkout.event_id, checkout.event_title, checkout.buyer_id, checkout.organizer_id) == (
        event.id,
        "Opera",
        guest.id,
        host.id,
    )
    assert (checkout.seats, checkout.amount) == (2, euros(2500))
    assert checkout.refund_policy.full_refund_until_hours_before_start == 48
    assert checkout.hold_expire_time == booking.hold_expire_time
    assert checkout.event_start_time == event.start_time
    # Held seats count: the seat invariant holds with the booking still unpaid.
    assert await mesh.seats_taken(event.id) == (2, 10)
    await mesh.assert_invariant(event.id)
    [awaiting] = await paid.news(booking.id)
    assert isinstance(awaiting, bus_pb2.BookingAwaitingPayment)
    assert awaiting.origin == bus_pb2.BookingAwaitingPayment.BOOKED
    assert awaiting.expire_time == booking.hold_expire_time
    assert awaiting.booking.amount == euros(2500)

    await paid.succeeded(booking)
    await paid.reach(booking.id, Booking.CONFIRMED)
    confirmed = await mesh.get(guest, booking.id)
    assert (confirmed.payment_id, confirmed.checkout_url) == (payment_id, "")
    assert not confirmed.HasField("hold_expire_time")
    assert confirmed.amount == euros(2500)
    news = await paid.news(booking.id)
    assert [message.DESCRIPTOR.name for message in news] == ["BookingAwaitingPayment", "BookingConfirmed"]
    assert news[1].booking.payment_id == payment_id  # type: ignore[attr-defined]
    await mesh.assert_invariant(event.id)
    await paid.assert_money_rule(booking.id)


async def test_a_free_event_books_as_it_always_did(paid: PaidMesh, host: User) -> None:
    event = await paid.mesh.new_event(host)
    booking = await paid.mesh.book(paid.mesh.user(), event.id)
    assert booking.state == Booking.CONFIRMED
    assert not booking.HasField("amount")
    assert (booking.payment_id, booking.checkout_url) == ("", "")
    assert paid.payments.asked_for(booking.id) == []
    assert await paid.kinds(booking.id) == ["BookingConfirmed"]


async def test_the_same_success_twice_and_a_failure_out_of_order_confirm_once(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host)
    twice = await paid.mesh.book(paid.mesh.user(), event.id)
    # The same message redelivered, then the same payment announced anew, then its failure late.
    await paid.succeeded(twice, times=2)
    await paid.succeeded(twice)
    await paid.failed(twice)
    # A failure that arrives before the success of the same payment changes nothing either.
    failed_first = await paid.mesh.book(paid.mesh.user(), event.id)
    await paid.failed(failed_first)
    await paid.succeeded(failed_first)
    await paid.handled()
    for booking in (twice, failed_first):
        assert (await paid.row(booking.id)).state == "CONFIRMED"
        assert await paid.kinds(booking.id) == ["BookingAwaitingPayment", "BookingConfirmed"]
        await paid.assert_money_rule(booking.id)
    await paid.mesh.assert_invariant(event.id)


async def test_a_second_payment_of_a_paid_booking_is_refused(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(host)
    booking = await paid.mesh.book(paid.mesh.user(), event.id)
    await paid.succeeded(booking)
    other = str(uuid.uuid4())
    await paid.succeeded(booking, other)
    await paid.handled()
    [refused] = await paid.refusals(booking.id)
    assert (refused.payment_id, refused.reason, refused.amount) == (other, Refused.ALREADY_PAID, EUR_12_50)
    assert (await paid.row(booking.id)).payment_id == paid.payments.payment_ids[booking.id]


async def test_a_payment_of_the_wrong_amount_is_refused_and_the_hold_stays(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host)
    booking = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    await paid.succeeded(booking, amount=EUR_12_50)
    await paid.handled()
    [refused] = await paid.refusals(booking.id)
    assert (refused.reason, refused.amount) == (Refused.AMOUNT_MISMATCH, EUR_12_50)
    assert (await paid.row(booking.id)).state == "AWAITING_PAYMENT"
    await paid.mesh.assert_invariant(event.id)


async def test_a_newer_checkout_replaces_the_one_the_booking_shows(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(host)
    guest = paid.mesh.user()
    booking = await paid.mesh.book(guest, event.id)
    renewed = str(uuid.uuid4())
    details = paid.details(
        booking, renewed, state=payments_pb2.Payment.PENDING, checkout_url="https://pay.example/again"
    )
    await paid.publish(payments_bus_pb2.PaymentOpened(payment=details))
    await paid.handled()
    shown = await paid.mesh.get(guest, booking.id)
    assert (shown.payment_id, shown.checkout_url) == (renewed, "https://pay.example/again")


async def test_when_payments_is_down_the_hold_stands_and_the_reconciler_opens_the_checkout(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host)
    guest = paid.mesh.user()
    paid.payments.down = True
    try:
        booking = await paid.mesh.book(guest, event.id)
    finally:
        paid.payments.down = False
    assert booking.state == Booking.AWAITING_PAYMENT
    assert (booking.payment_id, booking.checkout_url) == ("", "")

    async def opened() -> bool:
        return bool((await paid.mesh.get(guest, booking.id)).checkout_url)

    await eventually(opened, what="the reconciler opened the checkout")
    assert (await paid.mesh.get(guest, booking.id)).payment_id == paid.payments.payment_ids[booking.id]
    await paid.mesh.assert_invariant(event.id)


# -- approval, cancellation -----------------------------------------------------------------------


async def test_approval_comes_first_then_the_payment_hold(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(
        host, requires_approval=True, payment_hold=duration_pb2.Duration(seconds=300)
    )
    guest = paid.mesh.user()
    request = await paid.mesh.book(guest, event.id)
    assert request.state == Booking.AWAITING_APPROVAL
    assert request.amount == EUR_12_50
    assert paid.payments.asked_for(request.id) == []

    approved = await paid.mesh.bookings_stub.ApproveBooking(
        bookings_pb2.ApproveBookingRequest(booking_id=request.id), metadata=host.auth
    )
    assert approved.state == Booking.AWAITING_PAYMENT
    assert approved.checkout_url
    assert close_to(
        approved.hold_expire_time.ToDatetime(tzinfo=UTC), datetime.now(UTC) + timedelta(minutes=5)
    )
    news = await paid.news(request.id)
    assert [message.DESCRIPTOR.name for message in news] == [
        "BookingAwaitingApproval",
        "BookingAwaitingPayment",
    ]
    assert news[1].origin == bus_pb2.BookingAwaitingPayment.APPROVED  # type: ignore[attr-defined]

    await paid.succeeded(approved)
    await paid.reach(request.id, Booking.CONFIRMED)
    await paid.mesh.assert_invariant(event.id)
    await paid.assert_money_rule(request.id)


async def test_cancelling_an_unpaid_hold_releases_it_and_a_payment_after_is_refused(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host, capacity=3)
    guest = paid.mesh.user()
    booking = await paid.mesh.book(guest, event.id, seats=3)
    cancelled = await paid.mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=booking.id), metadata=guest.auth
    )
    assert cancelled.state == Booking.CANCELLED
    await paid.mesh.assert_invariant(event.id)
    assert await paid.mesh.seats_taken(event.id) == (0, 3)
    said = (await paid.news(booking.id))[-1]
    assert isinstance(said, bus_pb2.BookingCancelled)
    assert said.previous_state == Booking.AWAITING_PAYMENT
    assert said.booking.payment_id == paid.payments.payment_ids[booking.id]

    await paid.succeeded(booking)
    await paid.handled()
    [refused] = await paid.refusals(booking.id)
    assert (refused.reason, refused.payment_id) == (
        Refused.BOOKING_ENDED,
        paid.payments.payment_ids[booking.id],
    )
    assert (await paid.row(booking.id)).state == "CANCELLED"


async def test_a_cancelled_event_cancels_held_and_paid_bookings_alike(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(host)
    unpaid = await paid.mesh.book(paid.mesh.user(), event.id)
    settled = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    await paid.succeeded(settled)
    await paid.reach(settled.id, Booking.CONFIRMED)
    await paid.mesh.events_stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id), metadata=host.auth
    )
    for booking, previous in ((unpaid, Booking.AWAITING_PAYMENT), (settled, Booking.CONFIRMED)):
        await paid.reach(booking.id, Booking.CANCELLED, released=True)
        said = (await paid.news(booking.id))[-1]
        assert isinstance(said, bus_pb2.BookingCancelled)
        assert (said.cancelled_by, said.previous_state) == (
            bus_pb2.BookingCancelled.EVENT_CANCELLED,
            previous,
        )
        assert said.booking.payment_id == paid.payments.payment_ids[booking.id]
    await paid.mesh.assert_invariant(event.id)
    assert await paid.mesh.seats_taken(event.id) == (0, 10)


# -- expiry and late payments ---------------------------------------------------------------------


async def test_an_unpaid_hold_expires_and_the_waitlist_gets_a_hold_of_its_own(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host, capacity=2)
    first = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    waiting = await paid.mesh.book(paid.mesh.user(), event.id, seats=1, waitlist=True)
    assert waiting.state == Booking.WAITLISTED

    await paid.expire_hold(first.id)
    await paid.reach(first.id, Booking.EXPIRED, released=True)
    expired = (await paid.news(first.id))[-1]
    assert isinstance(expired, bus_pb2.BookingExpired)
    assert expired.booking.payment_id == paid.payments.payment_ids[first.id]

    await paid.reach(waiting.id, Booking.AWAITING_PAYMENT)

    async def checkout_opened() -> bool:
        return (await paid.row(waiting.id)).payment_id is not None

    await eventually(checkout_opened, what="the promoted booking's checkout")
    promoted = (await paid.news(waiting.id))[-1]
    assert isinstance(promoted, bus_pb2.BookingAwaitingPayment)
    assert promoted.origin == bus_pb2.BookingAwaitingPayment.PROMOTED
    assert close_to(promoted.expire_time.ToDatetime(tzinfo=UTC), datetime.now(UTC) + timedelta(minutes=15))
    assert paid.payments.asked_for(waiting.id)[0].booking.amount == EUR_12_50
    await paid.mesh.assert_invariant(event.id)
    assert await paid.mesh.seats_taken(event.id) == (1, 2)


async def test_a_late_payment_takes_free_seats_again_under_a_new_reservation(
    paid: PaidMesh, host: User
) -> None:
    event = await paid.paid_event(host, capacity=4)
    booking = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    await paid.expire_hold(booking.id)
    await paid.reach(booking.id, Booking.EXPIRED, released=True)
    assert await paid.mesh.seats_taken(event.id) == (0, 4)

    await paid.succeeded(booking)
    await paid.reach(booking.id, Booking.CONFIRMED)
    row = await paid.row(booking.id)
    assert row.reservation_id != uuid.UUID(booking.id)
    reservations = await paid.mesh.events_db.rows(
        text(
            "SELECT reservation_id, seats, released_at IS NOT NULL AS released FROM reservations"
            " WHERE event_id = :id"
        ),
        id=uuid.UUID(event.id),
    )
    assert {(r.reservation_id, r.seats, r.released) for r in reservations} == {
        (uuid.UUID(booking.id), 2, True),
        (row.reservation_id, 2, False),
    }
    assert await paid.kinds(booking.id) == ["BookingAwaitingPayment", "BookingExpired", "BookingConfirmed"]
    await paid.mesh.assert_invariant(event.id)
    await paid.assert_money_rule(booking.id)


async def test_a_late_payment_that_finds_the_seats_gone_is_refused(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(host, capacity=2)
    late = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    await paid.expire_hold(late.id)
    await paid.reach(late.id, Booking.EXPIRED, released=True)
    taker = await paid.mesh.book(paid.mesh.user(), event.id, seats=2)
    assert taker.state == Booking.AWAITING_PAYMENT

    await paid.succeeded(late)
    await paid.handled()

    async def refused() -> bool:
        return len(await paid.refusals(late.id)) == 1

    await eventually(refused, what="the late payment is refused")
    [refusal] = await paid.refusals(late.id)
    assert (refusal.reason, refusal.payment_id, refusal.amount) == (
        Refused.SOLD_OUT,
        paid.payments.payment_ids[late.id],
        euros(2500),
    )
    row = await paid.row(late.id)
    assert (row.state, row.retry_at) == ("EXPIRED", None)
    await paid.mesh.assert_invariant(event.id)
    await paid.assert_money_rule(late.id)


async def test_a_late_payment_of_a_guest_who_booked_again_is_refused(paid: PaidMesh, host: User) -> None:
    event = await paid.paid_event(host)
    guest = paid.mesh.user()
    first = await paid.mesh.book(guest, event.id)
    await paid.expire_hold(first.id)
    await paid.reach(first.id, Booking.EXPIRED, released=True)
    again = await paid.mesh.book(guest, event.id)
    await paid.succeeded(first)

    async def refused() -> bool:
        return len(await paid.refusals(first.id)) == 1

    await eventually(refused, what="the late payment is refused")
    assert (await paid.refusals(first.id))[0].reason == Refused.BOOKED_AGAIN
    assert (await paid.row(again.id)).state == "AWAITING_PAYMENT"
    await paid.mesh.assert_invariant(event.id)


async def test_a_payment_and_a_hold_expiry_at_the_same_instant_have_exactly_one_outcome(
    paid: PaidMesh, host: User
) -> None:
    """Each of many holds ends at one instant, with its payment arriving at a different offset
    around it (before, at, after), while waitlisted guests compete for the seats expiry frees."""
    buyers = 16
    event = await paid.paid_event(host, capacity=buyers)
    holds = [await paid.mesh.book(paid.mesh.user(), event.id) for _ in range(buyers)]
    waiting = [await paid.mesh.book(paid.mesh.user(), event.id, waitlist=True) for _ in range(buyers // 2)]
    assert {booking.state for booking in holds} == {Booking.AWAITING_PAYMENT}
    assert {booking.state for booking in waiting} == {Booking.WAITLISTED}

    await paid.mesh.bookings_db.execute(
        text(
            "UPDATE bookings SET hold_expire_time = now() + interval '600 milliseconds' WHERE id = ANY(:ids)"
        ),
        ids=[uuid.UUID(booking.id) for booking in holds],
    )
    start = asyncio.get_running_loop().time()

    async def pay(index: int, booking: bookings_pb2.Booking) -> None:
        # From 300 ms before the hold ends to 300 ms after it, through the expiry job's rounds.
        await asyncio.sleep(max(0.0, start + 0.3 + index * 0.6 / buyers - asyncio.get_running_loop().time()))
        await paid.succeeded(booking)

    await asyncio.gather(*(pay(index, booking) for index, booking in enumerate(holds)))
    await paid.handled()

    async def all_decided() -> bool:
        rows = await paid.mesh.bookings_db.rows(
            text(
                "SELECT count(*) AS n FROM bookings WHERE id = ANY(:ids) AND (state = 'CONFIRMED'"
                " OR (state = 'EXPIRED' AND retry_at IS NULL AND NOT release_pending))"
            ),
            ids=[uuid.UUID(booking.id) for booking in holds],
        )
        return int(rows[0].n) == buyers

    await eventually(all_decided, within=40, what="every payment confirmed or refused")
    for booking in holds:
        await paid.assert_money_rule(booking.id)
        # Every payment was seen and decided on: accepted, then kept or refused.
        assert (await paid.row(booking.id)).paid_at is not None
    await paid.mesh.assert_invariant(event.id)


async def _caught_taking_seats_again(
    paid: PaidMesh, host: User
) -> tuple[events_pb2.Event, User, bookings_pb2.Booking]:
    """A booking whose late payment was accepted and which is asking events for seats again (PENDING
    under a new reservation id), held there: the reconciler does not look at it for an hour."""
    event = await paid.paid_event(host)
    guest = paid.mesh.user()
    booking = await paid.mesh.book(guest, event.id)
    await paid.expire_hold(booking.id)
    await paid.reach(booking.id, Booking.EXPIRED, released=True)
    await paid.mesh.bookings_db.execute(
        text(
            "UPDATE bookings SET state = 'PENDING', paid_at = now(), reservation_id = :reservation,"
            " retry_at = now() + interval '1 hour' WHERE id = :id"
        ),
        id=uuid.UUID(booking.id),
        reservation=uuid.uuid4(),
    )
    return event, guest, booking


async def test_cancelling_while_a_late_payment_takes_seats_again_refunds_it_in_full(
    paid: PaidMesh, host: User
) -> None:
    event, guest, booking = await _caught_taking_seats_again(paid, host)
    await paid.mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=booking.id), metadata=guest.auth
    )
    await paid.reach(booking.id, Booking.CANCELLED, released=True)
    kinds = await paid.kinds(booking.id)
    assert kinds[-2:] == ["BookingCancelled", "BookingPaymentRefused"]
    [refused] = await paid.refusals(booking.id)
    assert (refused.reason, refused.payment_id) == (
        Refused.BOOKING_ENDED,
        paid.payments.payment_ids[booking.id],
    )
    await paid.mesh.assert_invariant(event.id)


async def test_an_event_cancelled_while_a_late_payment_takes_seats_again_refunds_it_in_full(
    paid: PaidMesh, host: User
) -> None:
    event, _, booking = await _caught_taking_seats_again(paid, host)
    await paid.mesh.events_stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id), metadata=host.auth
    )
    await paid.reach(booking.id, Booking.CANCELLED, released=True)

    async def refused() -> bool:
        return len(await paid.refusals(booking.id)) == 1

    await eventually(refused, what="the late payment is refused")
    assert (await paid.refusals(booking.id))[0].reason == Refused.BOOKING_ENDED
    await paid.mesh.assert_invariant(event.id)
