"""The Redis cache of events: fresh after every commit, and optional (Redis down = slower, not broken)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from redis import asyncio as aioredis

from scripts.embedded import EmbeddedRedis
from seatmesh.events.v1 import events_pb2
from services.events.availability import channel_for
from services.events.cache import EventCache, create_cache_redis, encode_page
from tests.integration.test_events_helpers import EventsClient, events_client, eventually
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory


@pytest.fixture
async def cache(engines: Engines) -> AsyncIterator[EventCache]:
    cache = EventCache(create_cache_redis(engines.redis_url, 1.0), engines.new_redis_prefix())
    yield cache
    await cache.close()


# -- the protocol, against real Redis ---------------------------------------------------------------


async def test_a_reader_that_raced_a_writer_cannot_store_its_stale_copy(cache: EventCache) -> None:
    event_id = str(uuid.uuid4())
    # Reader: generation first, then the database (which still has the old row)...
    before = await cache.read_events([event_id])
    assert before is not None
    assert before[event_id].value is None
    # ...meanwhile the writer commits and bumps...
    await cache.invalidate([event_id], lists=False)
    # ...and the reader stores what it read, under the generation it saw.
    await cache.store_events([(event_id, before[event_id].generation, b"old")])
    after = await cache.read_events([event_id])
    assert after is not None
    assert after[event_id].value is None, "the stale copy is served"
    assert after[event_id].generation != before[event_id].generation
    await cache.store_events([(event_id, after[event_id].generation, b"new")])
    final = await cache.read_events([event_id])
    assert final is not None
    assert final[event_id].value == b"new"


async def _generation(cache: EventCache, event_id: str) -> str:
    found = await cache.read_events([event_id])
    assert found is not None
    return found[event_id].generation


async def test_a_lost_generation_never_revives_old_entries(cache: EventCache) -> None:
    event_id = str(uuid.uuid4())
    await cache.store_events([(event_id, "", b"old")])
    first = await _generation(cache, event_id)
    assert first
    # Eviction or expiry of the generation key (the entry itself survives).
    await cache.redis.delete(f"{cache.prefix}ev:{event_id}:g")
    again = await cache.read_events([event_id])
    assert again is not None
    assert (again[event_id].generation, again[event_id].value) == ("", None)
    await cache.store_events([(event_id, "", b"new")])
    second = await _generation(cache, event_id)
    assert second not in ("", first)
    # A writer that finds the generation gone starts a new one too.
    await cache.redis.delete(f"{cache.prefix}ev:{event_id}:g")
    await cache.invalidate([event_id], lists=False)
    assert await _generation(cache, event_id) not in ("", first, second)


async def test_looking_up_unknown_events_leaves_nothing_behind(cache: EventCache) -> None:
    ids = [str(uuid.uuid4()) for _ in range(20)]
    found = await cache.read_events(ids)
    assert found is not None
    assert all(entry.value is None for entry in found.values())
    assert [key async for key in cache.redis.scan_iter(match=f"{cache.prefix}ev:*")] == []


async def test_list_pages_follow_the_list_generation_and_bodies_their_own(cache: EventCache) -> None:
    event_id = str(uuid.uuid4())
    miss = await cache.read_list_page("q")
    assert miss is not None
    assert miss.page is None
    await cache.store_list_page(miss.list_generation, "q", encode_page([event_id], "next"))
    hit = await cache.read_list_page("q")
    assert hit is not None
    assert hit.page is not None
    assert hit.events[event_id].value is None
    await cache.store_events([(event_id, hit.events[event_id].generation, b"body")])
    hit = await cache.read_list_page("q")
    assert hit is not None
    assert hit.events[event_id].value == b"body"
    # A seat change bumps only the event: the page stays, its body goes.
    await cache.invalidate([event_id], lists=False)
    hit = await cache.read_list_page("q")
    assert hit is not None
    assert hit.page is not None
    assert hit.events[event_id].value is None
    # A membership change drops the page.
    await cache.invalidate([], lists=True)
    dropped = await cache.read_list_page("q")
    assert dropped is not None
    assert dropped.page is None


# -- through the service ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines) as running:
        yield running


async def test_get_shows_a_reservation_immediately(client: EventsClient) -> None:
    event = await client.create(capacity=50)
    for taken in range(1, 6):
        await client.get(event.id)
        await client.get(event.id)  # surely cached
        await client.reserve(event.id)
        assert (await client.get(event.id)).seats_taken == taken


async def test_readers_racing_writers_end_on_the_committed_state(client: EventsClient) -> None:
    event = await client.create(capacity=100)

    async def read_a_lot() -> None:
        for _ in range(40):
            await client.get(event.id)
            await client.stub.ListEvents(events_pb2.ListEventsRequest(organizer_id=client.organizer_id))

    readers = [asyncio.create_task(read_a_lot()) for _ in range(5)]
    reservations = await asyncio.gather(*(client.reserve(event.id) for _ in range(60)))
    await asyncio.gather(*(client.release(r.reservation_id) for r in reservations[:20]))
    await asyncio.gather(*readers)
    assert (await client.get(event.id)).seats_taken == 40
    listed = await client.stub.ListEvents(events_pb2.ListEventsRequest(organizer_id=client.organizer_id))
    assert {e.id: e.seats_taken for e in listed.events}[event.id] == 40


async def test_watch_availability_streams_every_change_and_ends_with_the_client(client: EventsClient) -> None:
    event = await client.create(capacity=10)
    call = client.stub.WatchAvailability(events_pb2.WatchAvailabilityRequest(event_id=event.id))
    try:
        first = await asyncio.wait_for(call.read(), 10)
        assert (first.capacity, first.seats_taken, first.seats_available) == (10, 0, 10)
        reserved = await client.reserve(event.id, 3)
        update = await asyncio.wait_for(call.read(), 10)
        assert (update.seats_taken, update.seats_available) == (3, 7)
        await client.release(reserved.reservation_id)
        update = await asyncio.wait_for(call.read(), 10)
        assert update.seats_available == 10
        await client.stub.CancelEvent(
            events_pb2.CancelEventRequest(event_id=event.id), metadata=client.organizer()
        )
        update = await asyncio.wait_for(call.read(), 10)
        assert update.state == events_pb2.Event.CANCELLED
    finally:
        call.cancel()
    # The server let go of the subscription when the client left.
    redis = aioredis.from_url(client.service.settings.redis_url)
    try:
        channel = channel_for(client.redis_prefix, event.id)

        async def unsubscribed() -> bool:
            return dict(await redis.pubsub_numsub(channel))[channel] == 0

        await eventually(unsubscribed, what="unsubscribe after the client left")
    finally:
        await redis.aclose()


async def test_watching_an_unknown_event_is_not_found(client: EventsClient) -> None:
    call = client.stub.WatchAvailability(events_pb2.WatchAvailabilityRequest(event_id=str(uuid.uuid4())))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await asyncio.wait_for(call.read(), 10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


# -- without Redis ---------------------------------------------------------------------------------


async def test_with_redis_stopped_reads_and_writes_still_answer_and_nothing_stale_comes_back(
    tokens: TokenFactory, engines: Engines, tmp_path: Path
) -> None:
    redis = EmbeddedRedis.start(tmp_path / "redis")
    port = int(redis.url.rsplit(":", 1)[1].split("/")[0])
    try:
        async with events_client(tokens, engines, redis_url=redis.url) as client:
            event = await client.create(capacity=10, city="Tromsø")
            query = events_pb2.ListEventsRequest(city="Tromsø")
            for _ in range(2):  # fill the cache: page, then bodies
                await client.get(event.id)
                await client.stub.ListEvents(query)
            watch = client.stub.WatchAvailability(events_pb2.WatchAvailabilityRequest(event_id=event.id))
            assert (await asyncio.wait_for(watch.read(), 10)).seats_taken == 0

            redis.stop()  # by its PID
            assert (await client.get(event.id)).seats_taken == 0
            reserved = await client.reserve(event.id, 2)
            assert reserved.seats_available == 8
            assert (await client.get(event.id)).seats_taken == 2
            assert [e.seats_taken for e in (await client.stub.ListEvents(query)).events] == [2]
            second = await client.create(city="Tromsø")
            assert {e.id for e in (await client.stub.ListEvents(query)).events} == {event.id, second.id}
            # The stream falls back to polling the database.
            assert (await asyncio.wait_for(watch.read(), 10)).seats_taken == 2

            # Redis comes back with its old data (the cached copies from before the outage).
            redis = EmbeddedRedis.start(tmp_path / "redis", port=port)
            deadline = asyncio.get_running_loop().time() + 3
            while asyncio.get_running_loop().time() < deadline:
                assert (await client.get(event.id)).seats_taken == 2
                listed = await client.stub.ListEvents(query)
                assert {e.id: e.seats_taken for e in listed.events} == {event.id: 2, second.id: 0}
                await asyncio.sleep(0.1)
            watch.cancel()
    finally:
        redis.stop()
