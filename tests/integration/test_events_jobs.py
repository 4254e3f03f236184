"""Background work: the completion job (also with several replicas) and reviews from the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from redis import asyncio as aioredis
from sqlalchemy import func, select

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2, events_pb2
from services.events import tables
from services.events.cache import EventCache, create_cache_redis
from services.events.jobs import CompletionJob
from services.events.store import EventStore
from services.runtime.bus.envelopes import envelope_for, stream_name
from tests.integration.test_events_helpers import (
    EventsClient,
    events_client,
    eventually,
    generated_events,
    insert_events,
    open_database,
    stamp,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines, completion_interval=0.2) as running:
        yield running


async def _end_now(client: EventsClient, event_id: str) -> None:
    await client.sql(
        "UPDATE events SET start_time = now() - interval '2 hours', end_time = now() - interval '1 second'"
        " WHERE id = :id",
        id=uuid.UUID(event_id),
    )


async def test_ended_events_become_completed_and_say_so_on_the_bus(client: EventsClient) -> None:
    event = await client.create()
    await client.reserve(event.id, 2)
    assert (await client.get(event.id)).state == events_pb2.Event.SCHEDULED  # cached
    await _end_now(client, event.id)

    async def completed() -> bool:
        return (await client.get(event.id)).state == events_pb2.Event.COMPLETED

    await eventually(completed, what="completion")
    messages = [m for m in await client.outbox_messages(bus_pb2.EventCompleted) if m.event.id == event.id]
    assert len(messages) == 1
    assert messages[0].event.seats_taken == 2
    # Cancelled events are not completed.
    cancelled = await client.create()
    await client.stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=cancelled.id), metadata=client.organizer()
    )
    await _end_now(client, cancelled.id)
    await asyncio.sleep(0.5)
    assert (await client.get(cancelled.id)).state == events_pb2.Event.CANCELLED


async def test_two_replicas_complete_each_event_exactly_once(engines: Engines) -> None:
    url = engines.new_database("events")
    rows = generated_events(400, seed=3)
    past = datetime.now(UTC) - timedelta(days=2)
    for index, row in enumerate(rows):
        row["state"] = "SCHEDULED"
        row["start_time"] = past + timedelta(minutes=index)
        row["end_time"] = row["start_time"] + timedelta(hours=1)
    prefix = engines.new_redis_prefix()
    database_a, database_b = await open_database(url), await open_database(url)
    cache = EventCache(create_cache_redis(engines.redis_url, 1.0), prefix)
    try:
        await insert_events(database_a, rows)
        jobs = [
            CompletionJob(
                store=EventStore(database, inventory=database),
                cache=cache,
                redis_prefix=prefix,
                interval=0.01,
                batch=25,
            )
            for database in (database_a, database_b)
        ]

        async def drain(job: CompletionJob) -> int:
            total = 0
            while done := await job.complete_once():
                total += done
            return total

        totals = await asyncio.gather(*(drain(job) for job in jobs for _ in range(3)))
        assert sum(totals) == 400
        completed = await database_a.scalar(select(func.count()).where(tables.events.c.state == "COMPLETED"))
        envelopes = [row.envelope for row in await database_a.rows(select(tables.outbox.c.envelope))]
        assert completed == 400
        ids = []
        for raw in envelopes:
            message = bus_pb2.EventCompleted()
            envelope_pb2.Envelope.FromString(raw).payload.Unpack(message)
            ids.append(message.event.id)
        assert len(ids) == len(set(ids)) == 400
    finally:
        await cache.close()
        await database_a.close()
        await database_b.close()


# -- reviews ------------------------------------------------------------------------------------


async def _submit_review(
    client: EventsClient, event_id: str, rating: int, booking_id: str | None = None, comment: str = ""
) -> envelope_pb2.Envelope:
    """What the bookings service's outbox relay puts on its stream."""
    review = bookings_pb2.BookingReview(
        booking_id=booking_id or str(uuid.uuid4()),
        event_id=event_id,
        guest_id=str(uuid.uuid4()),
        host_id=client.organizer_id,
        event_rating=rating,
        host_rating=5,
        comment=comment,
        create_time=stamp(datetime.now(UTC)),
    )
    envelope = envelope_for(bookings_bus_pb2.ReviewSubmitted(review=review), source="bookings")
    await _xadd(client, envelope)
    return envelope


async def _xadd(client: EventsClient, envelope: envelope_pb2.Envelope) -> None:
    redis = aioredis.from_url(client.service.settings.redis_url)
    try:
        await redis.xadd(stream_name(client.redis_prefix, "bookings"), {"e": envelope.SerializeToString()})
    finally:
        await redis.aclose()


async def test_reviews_from_the_bus_feed_the_rating_once_per_booking(client: EventsClient) -> None:
    event = await client.create(city="Reykjavik")
    await _end_now(client, event.id)
    best = events_pb2.ListEventsRequest(city="Reykjavik", min_rating=4.5, order_by="rating desc")
    assert (await client.stub.ListEvents(best)).events == []  # cached empty page
    first_booking = str(uuid.uuid4())
    first = await _submit_review(client, event.id, 4, booking_id=first_booking, comment="good")
    await _submit_review(client, event.id, 5, comment="great")

    async def rated_twice() -> bool:
        return (await client.get(event.id)).rating_count == 2

    await eventually(rated_twice, what="two ratings")
    rated = await client.get(event.id)
    assert rated.rating_average == 4.5
    assert [e.id for e in (await client.stub.ListEvents(best)).events] == [event.id]

    # The same booking reviewed again, and the same message delivered again: no effect.
    await _submit_review(client, event.id, 1, booking_id=first_booking)
    await _xadd(client, first)
    sentinel = await _submit_review(client, event.id, 3)  # noqa: F841 (processed after the others)

    async def rated_thrice() -> bool:
        return (await client.get(event.id)).rating_count == 3

    await eventually(rated_thrice, what="the third rating")
    final = await client.get(event.id)
    assert final.rating_average == 4.0  # (4 + 5 + 3) / 3, the duplicate and the redelivery ignored

    pages = []
    token = ""
    while True:
        reply = await client.stub.ListReviews(
            events_pb2.ListReviewsRequest(event_id=event.id, page_size=2, page_token=token)
        )
        pages.append([review.event_rating for review in reply.reviews])
        token = reply.next_page_token
        if not token:
            break
    assert pages == [[3, 5], [4]]  # newest first


async def test_reviews_of_an_unknown_event(client: EventsClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ListReviews(events_pb2.ListReviewsRequest(event_id=str(uuid.uuid4())))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
