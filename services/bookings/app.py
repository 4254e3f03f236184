"""Wiring of the bookings service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.bookings.v1 import bookings_pb2_grpc
from services.bookings import models
from services.bookings.consumers import EventChanges
from services.bookings.inventory import EventCache, EventsGateway
from services.bookings.jobs import Promoter, Reconciler
from services.bookings.saga import Saga
from services.bookings.servicer import ACCESS, SERVICE, BookingServiceServicer
from services.bookings.settings import BookingsSettings
from services.runtime.app import Runtime
from services.runtime.rawsql import RawPool
from services.runtime.server import Service


async def build(settings: BookingsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "bookings", **overrides)
    # Single statements off the hot path: the shared pool, without BEGIN/COMMIT (as events does).
    autocommit = runtime.engine.execution_options(isolation_level="AUTOCOMMIT")
    hot = RawPool(settings.database_url, size=settings.booking_pool_size)
    gateway = EventsGateway(runtime.channel_to(settings.events_address), deadline=settings.events_deadline)
    cache = EventCache(gateway, ttl=settings.event_cache_ttl)
    saga = Saga(runtime.engine, autocommit, hot, gateway, cache, settings)
    promoter = Promoter(saga)
    saga.on_seats_freed = promoter.request
    reconciler = Reconciler(saga, promoter, settings)
    changes = EventChanges(cache, releases_due=reconciler.wake, seats_may_be_free=promoter.request)
    servicer = BookingServiceServicer(saga)
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(bookings_pb2_grpc.add_BookingServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[
            runtime.relay(models.outbox).run,
            runtime.consumer(sources=["events"], handlers=changes.handlers(), inbox=models.inbox).run,
            reconciler.run,
            promoter.run,
            partial(cache.follow, runtime.redis, settings.redis_prefix),
        ],
    )
    service.closers.append(hot.close)
    return service
