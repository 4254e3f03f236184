"""ListEvents and ListTags: every filter and order, keyset pages that neither repeat nor skip an
event while new events keep arriving."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest

from seatmesh.events.v1 import events_pb2
from services.events.cache import EventCache, create_cache_redis
from tests.integration.test_events_helpers import (
    CITIES,
    TAGS,
    EventsClient,
    events_client,
    generated_events,
    insert_events,
    stamp,
    violations_of,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

EVENT_COUNT = 1000


@pytest.fixture(scope="module")
async def listing(
    tokens: TokenFactory, engines: Engines
) -> AsyncIterator[tuple[EventsClient, list[dict[str, Any]]]]:
    async with events_client(tokens, engines) as client:
        rows = generated_events(EVENT_COUNT, seed=4)
        await insert_events(client.database, rows)
        # Rows written behind the service's back: move the list generation as a write would.
        cache = EventCache(create_cache_redis(engines.redis_url, 1.0), client.redis_prefix)
        await cache.invalidate([], lists=True)
        await cache.close()
        yield client, rows


def _average(row: dict[str, Any]) -> float:
    return row["rating_sum"] / row["rating_count"] if row["rating_count"] else 0.0


def _row_key(row: dict[str, Any], order: str) -> tuple[Any, ...]:
    if order == "rating desc":
        return (_average(row), row["id"])
    if order == "create_time desc":
        return (row["create_time"], row["id"])
    return (row["start_time"], row["id"])


def _event_key(event: events_pb2.Event, order: str) -> tuple[Any, ...]:
    if order == "rating desc":
        return (event.rating_average, uuid.UUID(event.id))
    if order == "create_time desc":
        return (event.create_time.ToDatetime(), uuid.UUID(event.id))
    return (event.start_time.ToDatetime(), uuid.UUID(event.id))


# Each case: request fields, a predicate over generated rows, the same over returned events.
Predicate = Callable[[Any], bool]


def _cases(rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Predicate, Predicate]]:
    base = min(row["start_time"] for row in rows)
    after, before = base + timedelta(hours=20), base + timedelta(hours=90)
    organizer = rows[0]["organizer_id"]
    return [
        ("everything", {}, lambda r: True, lambda e: True),
        (
            "city, newest start first",
            {"city": "berlin", "order_by": "start_time desc"},
            lambda r: r["city"].lower() == "berlin",
            lambda e: e.city.lower() == "berlin",
        ),
        (
            "any of two tags, scheduled",
            {"tags": ["Jazz", "rock"], "state": events_pb2.Event.SCHEDULED},
            lambda r: bool({"jazz", "rock"} & set(r["tags"])) and r["state"] == "SCHEDULED",
            lambda e: bool({"jazz", "rock"} & set(e.tags)) and e.state == events_pb2.Event.SCHEDULED,
        ),
        (
            "time window with free seats",
            {
                "start_time_after": stamp(after),
                "start_time_before": stamp(before),
                "has_available_seats": True,
            },
            lambda r: after <= r["start_time"] < before and r["seats_taken"] < r["capacity"],
            lambda e: (
                after <= e.start_time.ToDatetime(tzinfo=after.tzinfo) < before and e.seats_available > 0
            ),
        ),
        (
            "rated at least 3, best first",
            {"min_rating": 3.0, "order_by": "rating desc"},
            lambda r: _average(r) >= 3.0,
            lambda e: e.rating_average >= 3.0,
        ),
        (
            "one organizer, newest first",
            {"organizer_id": organizer, "order_by": "create_time desc"},
            lambda r: r["organizer_id"] == organizer,
            lambda e: e.organizer_id == organizer,
        ),
        (
            "text search",
            {"query": "jazz"},
            lambda r: "Jazz" in r["title"],
            lambda e: "jazz" in (e.title + " " + e.description).lower(),
        ),
        (
            "everything at once",
            {
                "city": "Hamburg",
                "tags": ["tech", "food", "art"],
                "has_available_seats": True,
                "state": events_pb2.Event.SCHEDULED,
                "order_by": "rating desc",
            },
            lambda r: (
                r["city"].lower() == "hamburg"
                and bool({"tech", "food", "art"} & set(r["tags"]))
                and r["seats_taken"] < r["capacity"]
                and r["state"] == "SCHEDULED"
            ),
            lambda e: (
                e.city.lower() == "hamburg"
                and bool({"tech", "food", "art"} & set(e.tags))
                and e.seats_available > 0
                and e.state == events_pb2.Event.SCHEDULED
            ),
        ),
    ]


async def _walk(client: EventsClient, page_size: int, **filters: Any) -> list[events_pb2.Event]:
    seen: list[events_pb2.Event] = []
    token = ""
    for _ in range(EVENT_COUNT):
        reply = await client.stub.ListEvents(
            events_pb2.ListEventsRequest(page_size=page_size, page_token=token, **filters), timeout=10
        )
        seen.extend(reply.events)
        assert len(reply.events) <= page_size
        token = reply.next_page_token
        if not token:
            return seen
    raise AssertionError("pagination did not end")


async def test_pagination_walks_every_filter_without_duplicates_or_gaps_while_events_arrive(
    listing: tuple[EventsClient, list[dict[str, Any]]],
) -> None:
    client, rows = listing
    rng = random.Random(9)
    base = min(row["start_time"] for row in rows)
    stop = asyncio.Event()
    arrived: list[str] = []

    async def keep_creating() -> None:
        # New events land all over every order: before and after the walkers' positions.
        while not stop.is_set() and len(arrived) < 300:
            created = await client.create(
                start=base + timedelta(hours=rng.randint(0, 200), minutes=30),
                city=rng.choice(CITIES),
                tags=rng.sample(TAGS, 2),
                title=rng.choice(["Jazz brunch", "Board games"]),
                capacity=rng.choice([5, 50]),
            )
            arrived.append(created.id)
            await asyncio.sleep(0.005)

    creator = asyncio.create_task(keep_creating())
    try:
        for name, filters, row_matches, event_matches in _cases(rows):
            order = filters.get("order_by", "start_time")
            for page_size in (37, 100):
                seen = await _walk(client, page_size, **filters)
                ids = [event.id for event in seen]
                assert len(ids) == len(set(ids)), f"{name}: an event was listed twice"
                expected = {str(row["id"]) for row in rows if row_matches(row)}
                missing = expected - set(ids)
                assert not missing, f"{name}: {len(missing)} events skipped"
                for event in seen:
                    assert event_matches(event), f"{name}: {event.id} does not match"
                    assert event.id in expected or event.id in arrived, f"{name}: unknown {event.id}"
                keys = [_event_key(event, order) for event in seen]
                descending = order.endswith("desc")
                assert keys == sorted(keys, reverse=descending), f"{name}: out of order"
                if name != "everything":
                    assert len(expected) < EVENT_COUNT, f"{name}: the filter filtered nothing"
                assert expected, f"{name}: the filter matched nothing"
    finally:
        stop.set()
        await creator
    assert arrived, "no event was created during the walk"


async def test_expected_sets_follow_the_same_ordering_as_the_database(
    listing: tuple[EventsClient, list[dict[str, Any]]],
) -> None:
    client, rows = listing
    reply = await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=5, order_by="rating desc"))
    best = sorted(rows, key=lambda row: _row_key(row, "rating desc"), reverse=True)
    assert reply.events[0].rating_average == pytest.approx(_average(best[0]))


async def test_a_page_token_only_works_with_its_own_filters(
    listing: tuple[EventsClient, list[dict[str, Any]]],
) -> None:
    client, _ = listing
    first = await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=2, city="Berlin"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ListEvents(
            events_pb2.ListEventsRequest(page_size=2, city="Munich", page_token=first.next_page_token)
        )
    assert violations_of(raised.value) == ["page_token"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ListEvents(events_pb2.ListEventsRequest(page_token="garbage"))
    assert violations_of(raised.value) == ["page_token"]


async def test_bad_list_arguments_are_named(listing: tuple[EventsClient, list[dict[str, Any]]]) -> None:
    client, _ = listing
    for request, field in [
        (events_pb2.ListEventsRequest(order_by="popularity"), "order_by"),
        (events_pb2.ListEventsRequest(min_rating=6), "min_rating"),
        (events_pb2.ListEventsRequest(page_size=-1), "page_size"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.stub.ListEvents(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations_of(raised.value) == [field]


async def test_page_size_defaults_to_20_and_is_capped_at_100(
    listing: tuple[EventsClient, list[dict[str, Any]]],
) -> None:
    client, _ = listing
    assert len((await client.stub.ListEvents(events_pb2.ListEventsRequest())).events) == 20
    assert len((await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=500))).events) == 100


async def test_tags_are_counted_over_scheduled_events(
    listing: tuple[EventsClient, list[dict[str, Any]]],
) -> None:
    client, _ = listing
    # Count from the database as it is now (the walk above may have added events).
    expected_rows = await client.sql(
        "SELECT tag, count(*) AS n FROM events, unnest(tags) AS tag WHERE state = 'SCHEDULED' GROUP BY tag"
    )
    expected = {row.tag: row.n for row in expected_rows}
    collected: list[events_pb2.Tag] = []
    token = ""
    while True:
        reply = await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=3, page_token=token))
        collected.extend(reply.tags)
        token = reply.next_page_token
        if not token:
            break
    assert {tag.name: tag.event_count for tag in collected} == expected
    counts = [(-tag.event_count, tag.name) for tag in collected]
    assert counts == sorted(counts)


async def test_a_new_tag_shows_up_at_once(listing: tuple[EventsClient, list[dict[str, Any]]]) -> None:
    client, _ = listing
    await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=1000))  # cached
    await client.create(tags=["brand-new"])
    reply = await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=1000))
    assert {tag.name: tag.event_count for tag in reply.tags}["brand-new"] == 1


async def test_list_counts_follow_reservations_and_sell_outs_at_once(
    tokens: TokenFactory, engines: Engines
) -> None:
    async with events_client(tokens, engines) as client:
        event = await client.create(capacity=2, city="Oslo")
        query = events_pb2.ListEventsRequest(city="Oslo", has_available_seats=True)
        for _ in range(2):  # the second read is served from the cache
            listed = await client.stub.ListEvents(query)
            assert [e.seats_available for e in listed.events] == [2]
        await client.reserve(event.id, 1)
        listed = await client.stub.ListEvents(query)
        assert [e.seats_available for e in listed.events] == [1]
        held = await client.reserve(event.id, 1)
        assert (await client.stub.ListEvents(query)).events == []
        assert [
            e.seats_available
            for e in (await client.stub.ListEvents(events_pb2.ListEventsRequest(city="Oslo"))).events
        ] == [0]
        await client.release(held.reservation_id)
        assert [e.seats_available for e in (await client.stub.ListEvents(query)).events] == [1]


async def test_ratings_flow_into_min_rating_lists(tokens: TokenFactory, engines: Engines) -> None:
    """Reviews are covered in test_events_reviews; here the list reacts to a rating written
    behind its back only after the generation moved, proving the list is really cached."""
    async with events_client(tokens, engines) as client:
        event = await client.create(city="Bergen")
        query = events_pb2.ListEventsRequest(city="Bergen", min_rating=4)
        assert (await client.stub.ListEvents(query)).events == []
        await client.sql(
            "UPDATE events SET rating_sum = 9, rating_count = 2 WHERE id = :id", id=uuid.UUID(event.id)
        )
        assert (await client.stub.ListEvents(query)).events == []  # cached page
        cache = EventCache(create_cache_redis(engines.redis_url, 1.0), client.redis_prefix)
        with contextlib.suppress(Exception):
            await cache.invalidate([event.id], lists=True)
        await cache.close()
        listed = await client.stub.ListEvents(query)
        assert [e.rating_average for e in listed.events] == [4.5]
