"""Wiring of the events service: every part of one process, each handed exactly what it needs."""

from __future__ import annotations

from functools import partial

from seatmesh.events.v1 import events_pb2_grpc
from services.events.availability import AvailabilityHub, StreamAdmission
from services.events.cache import CachedReads, EventCache, create_cache_redis
from services.events.clients.users import UsersClient
from services.events.consumers import EventConsumers
from services.events.jobs import CompletionJob
from services.events.servicer import ACCESS, SERVICE, EventServiceServicer
from services.events.settings import EventsSettings
from services.events.store import EventStore, EventTransaction
from services.runtime.app import Runtime
from services.runtime.auth import TokenVerifier
from services.runtime.clients import TokenSource
from services.runtime.database import Database
from services.runtime.server import Service


async def build(
    settings: EventsSettings,
    *,
    verifier: TokenVerifier | None = None,
    credentials: TokenSource | None = None,
) -> Service:
    """`verifier` and `credentials` are for tests that run events without a users service."""
    runtime = Runtime.create(settings, "events", verifier=verifier, credentials=credentials)
    inventory = Database(
        settings.database_url,
        source="events",
        pool_size=settings.inventory_pool_size,
        name="events-inventory",
    )
    await inventory.open()
    store = EventStore(runtime.database, inventory)
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
    consumers = EventConsumers(cache)
    reviews = runtime.consumer(EventTransaction, sources=["bookings"], handlers=consumers.handlers())
    servicer = EventServiceServicer(
        store=store,
        reads=CachedReads(cache, store),
        cache=cache,
        hub=hub,
        admission=StreamAdmission(
            total=settings.availability_max_streams,
            per_client=settings.availability_max_streams_per_client,
        ),
        edge=runtime.edge,
        users=UsersClient(runtime.channel_to(settings.users_address)),
        pages=runtime.pages,
        redis_prefix=settings.redis_prefix,
        require_email_verification=settings.require_email_verification,
    )
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(events_pb2_grpc.add_EventServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay().run, hub.run, reviews.run, completion.run, cache.run],
    )
    service.closers[:0] = [cache.close, inventory.close]
    return service
