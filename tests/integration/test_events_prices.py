"""Paid events through the events service: prices, refund policies and payment holds are stored,
carried in every Event (bus events included) and validated; the price's currency is fixed once the
event has had a reservation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from google.type import money_pb2

from seatmesh.events.v1 import bus_pb2, events_pb2
from tests.integration.test_events_helpers import EventsClient, events_client, violations_of
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

PRICE = money_pb2.Money(currency_code="EUR", units=12, nanos=500_000_000)


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines) as running:
        yield running


async def _update(client: EventsClient, event: events_pb2.Event, *paths: str) -> events_pb2.Event:
    return await client.stub.UpdateEvent(
        events_pb2.UpdateEventRequest(event=event, update_mask=field_mask_pb2.FieldMask(paths=list(paths))),
        metadata=client.organizer(),
        timeout=10,
    )


async def test_a_paid_event_keeps_its_price_policy_and_hold_everywhere(client: EventsClient) -> None:
    event = await client.create(
        price=PRICE,
        refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=48),
        payment_hold=duration_pb2.Duration(seconds=600),
    )
    assert event.price == PRICE
    assert event.refund_policy.full_refund_until_hours_before_start == 48
    assert event.payment_hold.ToTimedelta() == timedelta(minutes=10)
    assert await client.get(event.id) == event
    rows = await client.sql(
        "SELECT price_minor, price_currency, refund_full_until_hours, payment_hold_seconds"
        " FROM events WHERE id = :id",
        id=uuid.UUID(event.id),
    )
    assert tuple(rows[0]) == (1250, "EUR", 48, 600)
    created = {
        message.event.id: message.event for message in await client.outbox_messages(bus_pb2.EventCreated)
    }
    assert created[event.id].price == PRICE
    # What ReserveSeats answers is what bookings prices a booking with.
    reserved = await client.reserve(event.id, seats=2)
    assert reserved.event.price == PRICE
    assert reserved.event.payment_hold.seconds == 600


async def test_a_free_event_shows_no_price_and_the_defaults(client: EventsClient) -> None:
    event = await client.create()
    assert not event.HasField("price")
    assert event.payment_hold.seconds == 15 * 60
    assert event.refund_policy.full_refund_until_hours_before_start == 0


async def test_bad_prices_and_holds_are_named(client: EventsClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.create(price=money_pb2.Money(currency_code="EURO", units=5))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(raised.value) == ["event.price.currency_code"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.create(
            payment_hold=duration_pb2.Duration(seconds=60),
            refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=9_000),
        )
    assert set(violations_of(raised.value)) == {
        "event.payment_hold",
        "event.refund_policy.full_refund_until_hours_before_start",
    }


async def test_before_any_booking_the_price_may_come_and_go(client: EventsClient) -> None:
    event = await client.create()
    paid = await _update(client, events_pb2.Event(id=event.id, price=PRICE), "price")
    assert paid.price == PRICE
    dollars = money_pb2.Money(currency_code="USD", units=20)
    assert (await _update(client, events_pb2.Event(id=event.id, price=dollars), "price")).price == dollars
    free = await _update(client, events_pb2.Event(id=event.id), "price")
    assert not free.HasField("price")


async def test_once_booked_the_amount_may_change_but_not_the_currency_nor_free_or_paid(
    client: EventsClient,
) -> None:
    paid = await client.create(price=PRICE)
    await client.reserve(paid.id)
    await client.release((await client.reserve(paid.id)).reservation_id)
    raised_price = money_pb2.Money(currency_code="EUR", units=15)
    assert (
        await _update(client, events_pb2.Event(id=paid.id, price=raised_price), "price")
    ).price == raised_price
    for change, field in (
        (
            events_pb2.Event(id=paid.id, price=money_pb2.Money(currency_code="USD", units=15)),
            "event.price.currency_code",
        ),
        (events_pb2.Event(id=paid.id), "event.price"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _update(client, change, "price")
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations_of(raised.value) == [field]

    free = await client.create()
    reservation = await client.reserve(free.id)
    # Even with every seat given back: someone booked it free.
    await client.release(reservation.reservation_id)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=free.id, price=PRICE), "price")
    assert violations_of(raised.value) == ["event.price"]
    # Other edits of a booked event are untouched by the rule.
    assert (await _update(client, events_pb2.Event(id=free.id, title="Renamed"), "title")).title == "Renamed"


async def test_a_price_change_tells_no_guest(client: EventsClient) -> None:
    """Guests hear of every EventUpdated; a new price concerns only seats reserved later."""
    event = await client.create(price=PRICE)
    await _update(
        client, events_pb2.Event(id=event.id, price=money_pb2.Money(currency_code="EUR", units=9)), "price"
    )
    updated = await client.outbox_messages(bus_pb2.EventUpdated)
    assert event.id not in {message.event.id for message in updated}
