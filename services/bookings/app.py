"""Wiring of the bookings service: what runs in one process, each part handed exactly what it needs."""

from __future__ import annotations

from functools import partial

from seatmesh.bookings.v1 import bookings_pb2_grpc
from services.bookings.availability import KnownAvailability
from services.bookings.cache import EventFactsCache
from services.bookings.clients.events import EventsClient
from services.bookings.clients.payments import PaymentsClient
from services.bookings.consumers import BookingConsumers
from services.bookings.jobs import DueWaitlists, Promoter, Reconciler
from services.bookings.metrics import reconcile_backlog
from services.bookings.saga import Saga
from services.bookings.servicer import ACCESS, SERVICE, BookingServiceServicer
from services.bookings.settings import BookingsSettings
from services.bookings.store import BookingStore, BookingTransaction
from services.runtime.app import Runtime
from services.runtime.auth import TokenVerifier
from services.runtime.bus.envelopes import stream_name
from services.runtime.clients import TokenSource
from services.runtime.server import Service


async def build(
    settings: BookingsSettings,
    *,
    verifier: TokenVerifier | None = None,
    credentials: TokenSource | None = None,
    events_client: type[EventsClient] = EventsClient,
) -> Service:
    """Overrides are for tests: `verifier` and `credentials` to run without a users service,
    `events_client` for a fault build that wraps the calls to events (tests/support/faults)."""
    runtime = Runtime.create(settings, "bookings", verifier=verifier, credentials=credentials)
    store = BookingStore(runtime.database)
    events = events_client(runtime.channel_to(settings.events_address), deadline=settings.events_deadline)
    payments = PaymentsClient(
        runtime.channel_to(settings.payments_address), deadline=settings.payments_deadline
    )
    facts = EventFactsCache(events, ttl=settings.event_cache_ttl)
    due_waitlists = DueWaitlists()
    availability = KnownAvailability(window=settings.sold_out_window, seats_may_be_free=due_waitlists.add)
    saga = Saga(
        store,
        events,
        payments,
        facts,
        availability,
        hold=settings.approval_hold,
        reconcile_after=settings.reconcile_after,
        seats_freed=due_waitlists.add,
    )
    promoter = Promoter(saga, due_waitlists)
    reconciler = Reconciler(
        store,
        saga,
        events,
        seats_may_be_free=due_waitlists.add,
        interval=settings.reconcile_interval,
        reconcile_after=settings.reconcile_after,
    )
    consumers = BookingConsumers(
        facts, releases_due=reconciler.releases_due, seats_may_be_free=due_waitlists.add
    )
    servicer = BookingServiceServicer(
        store,
        saga,
        facts,
        runtime.pages,
        require_email_verification=settings.require_email_verification,
        events_deadline=settings.events_deadline,
        reconcile_after=settings.reconcile_after,
    )
    events_stream = stream_name(settings.redis_prefix, "events")
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(bookings_pb2_grpc.add_BookingServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[
            runtime.relay().run,
            runtime.consumer(
                BookingTransaction, sources=["events", "payments"], handlers=consumers.handlers()
            ).run,
            reconciler.run_expiry,
            reconciler.run_settlement,
            reconciler.run_sweep,
            promoter.run,
            partial(facts.follow, runtime.redis, events_stream),
            partial(availability.follow, runtime.redis, settings.redis_prefix),
        ],
        readings=[reconcile_backlog(runtime.database)],
    )
    # Reservations and releases already sent finish before the channel to events and the
    # database close (an RPC cut at shutdown leaves its saga step running).
    service.closers.insert(0, saga.steps.wait)
    return service
