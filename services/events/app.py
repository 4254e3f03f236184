"""Wiring of the events service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.events.v1 import events_pb2_grpc
from services.events import models
from services.events.availability import AvailabilityHub
from services.events.cache import EventCache, create_cache_redis
from services.events.jobs import CompletionJob, ReviewIntake
from services.events.servicer import ACCESS, SERVICE, EventServiceServicer
from services.events.settings import EventsSettings
from services.events.store import EventStore
from services.runtime.app import Runtime
from services.runtime.rawsql import RawPool
from services.runtime.server import Service


async def build(settings: EventsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "events", **overrides)
    inventory = RawPool(settings.database_url, size=settings.inventory_pool_size)
    store = EventStore(runtime.engine, inventory)
    cache = EventCache(
        create_cache_redis(settings.redis_url, settings.cache_timeout),
        settings.redis_prefix,
        ttl=settings.cache_ttl,
    )
    hub = AvailabilityHub(runtime.redis, settings.redis_prefix, resync_interval=settings.availability_resync)
    completion = CompletionJob(
        store=store,
        cache=cache,
        redis_prefix=settings.redis_prefix,
        interval=settings.completion_interval,
        batch=settings.completion_batch,
    )
    reviews = ReviewIntake(cache=cache, redis_prefix=settings.redis_prefix)
    review_consumer = runtime.consumer(sources=["bookings"], handlers=reviews.handlers, inbox=models.inbox)
    servicer = EventServiceServicer(store, cache, hub, settings)
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(events_pb2_grpc.add_EventServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run, hub.run, review_consumer.run, completion.run],
    )
    service.closers[:0] = [cache.close, inventory.close]
    return service
