"""The per-process event cache: concurrent misses share one BatchGetEvents; entries expire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

import pytest

from seatmesh.events.v1 import events_pb2
from services.bookings.cache import EventFactsCache
from services.bookings.clients.events import EventsClient
from services.bookings.convert import event_facts_from_proto
from services.bookings.domain import EventFacts
from services.runtime.clients import PeerUnavailable


class CountingEventsClient(EventsClient):
    """Answers BatchGetEvents from a dict and records every call."""

    def __init__(self, known: Iterable[str], *, down: bool = False) -> None:
        self.known = set(known)
        self.down = down
        self.calls: list[list[str]] = []

    async def batch_get(self, event_ids: Iterable[str], budget: float | None = None) -> list[EventFacts]:
        ids = list(event_ids)
        self.calls.append(ids)
        await asyncio.sleep(0.01)
        if self.down:
            raise PeerUnavailable("down")
        return [
            event_facts_from_proto(
                events_pb2.Event(id=event_id, title=f"event {event_id[:4]}", organizer_id="host", capacity=10)
            )
            for event_id in ids
            if event_id in self.known
        ]


async def test_concurrent_misses_share_one_call_and_hits_make_none() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    gateway = CountingEventsClient(ids[:2])
    cache = EventFactsCache(gateway, ttl=60)
    found = await asyncio.gather(*(cache.get(event_id) for event_id in [*ids, *ids, ids[0]]))
    assert len(gateway.calls) == 1
    assert sorted(gateway.calls[0]) == sorted(ids)
    assert [facts.id if facts else None for facts in found[:3]] == [ids[0], ids[1], None]
    assert (await cache.get(ids[0])) is not None
    assert len(gateway.calls) == 1


async def test_entries_expire_and_can_be_forgotten() -> None:
    event_id = str(uuid.uuid4())
    gateway = CountingEventsClient([event_id])
    cache = EventFactsCache(gateway, ttl=0.05)
    await cache.get(event_id)
    await asyncio.sleep(0.08)
    await cache.get(event_id)
    assert len(gateway.calls) == 2
    cache.ttl = 60
    cache.forget(event_id)
    await cache.get(event_id)
    await cache.get(event_id)
    assert len(gateway.calls) == 3


async def test_a_failed_lookup_fails_every_waiter_and_is_not_cached() -> None:
    event_id = str(uuid.uuid4())
    gateway = CountingEventsClient([event_id], down=True)
    cache = EventFactsCache(gateway, ttl=60)
    results = await asyncio.gather(cache.get(event_id), cache.get(event_id), return_exceptions=True)
    assert all(isinstance(result, PeerUnavailable) for result in results)
    gateway.down = False
    assert (await cache.get(event_id)) is not None
    assert len(gateway.calls) == 2


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    event_id = str(uuid.uuid4())
    gateway = CountingEventsClient([event_id])
    cache = EventFactsCache(gateway, ttl=60)
    impatient = asyncio.ensure_future(cache.get(event_id))
    patient = asyncio.ensure_future(cache.get(event_id))
    await asyncio.sleep(0)
    impatient.cancel()
    assert (await patient) is not None
    with pytest.raises(asyncio.CancelledError):
        await impatient
