"""Wiring of the notifications service: what runs in one process, and who gets what.

Besides the RPCs: the bus consumer (users, events, bookings, payments -> messages, in-app rows,
deliveries, projections, reminder schedule), the live feed (LISTEN for WatchNotifications and to
wake the delivery worker), the delivery worker (email, SMS) and the reminder scheduler. All are
safe with replicas.

It does not start without SEATMESH_SERVICE_SECRET: the verification codes it sends arrive sealed
with that secret (codes.py), so without it every one of them would fail.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from seatmesh.notifications.v1 import notifications_pb2_grpc
from services.notifications.clients.events import EventsClient
from services.notifications.clients.users import UsersClient
from services.notifications.codes import CodeOpener
from services.notifications.consumers import NotificationConsumers
from services.notifications.content import Links
from services.notifications.dead_letters import DeadLetterLog
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain.rules import ReminderOffsets
from services.notifications.jobs import ReminderScheduler
from services.notifications.live import LiveFeed
from services.notifications.mailer import EmailRenderer, SmtpMailer
from services.notifications.servicer import ACCESS, SERVICE, NotificationServiceServicer
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import sms_provider
from services.notifications.store import NotificationStore, NotificationTransaction
from services.notifications.throttles import SendThrottle
from services.runtime.app import Runtime
from services.runtime.auth import TokenVerifier
from services.runtime.clients import TokenSource
from services.runtime.server import Service


async def build(
    settings: NotificationsSettings,
    *,
    verifier: TokenVerifier | None = None,
    credentials: TokenSource | None = None,
    mailer: SmtpMailer | None = None,
) -> Service:
    """`verifier` and `credentials` stand in for the users service in tests; `mailer` is replaced
    by fault builds (tests/support/faults/notifications.py)."""
    secret = settings.service_secret.get_secret_value()
    if not secret:
        raise SystemExit(
            "seatmesh: SEATMESH_SERVICE_SECRET is empty; notifications opens the verification codes"
            " the users service seals with it (make run keeps one in var/service-secret)"
        )
    runtime = Runtime.create(settings, "notifications", verifier=verifier, credentials=credentials)
    store = NotificationStore(runtime.database)
    links = Links(settings.public_url)
    offsets = ReminderOffsets(
        before_24h=timedelta(seconds=settings.reminder_24h_offset),
        before_1h=timedelta(seconds=settings.reminder_1h_offset),
        before_hold_end=timedelta(seconds=settings.payment_reminder_offset),
    )
    feed = LiveFeed(
        runtime.database,
        max_streams=settings.watch_max_streams,
        max_streams_per_user=settings.watch_max_streams_per_user,
    )
    consumers = NotificationConsumers(links=links, offsets=offsets)
    consumer = runtime.consumer(
        NotificationTransaction,
        sources=["users", "events", "bookings", "payments"],
        handlers=consumers.handlers(),
        max_attempts=settings.bus_max_attempts,
    )
    sms = sms_provider(settings)
    worker = DeliveryWorker(
        store=store,
        settings=settings,
        users=UsersClient(runtime.channel_to(settings.users_address)),
        mailer=mailer or SmtpMailer(settings),
        renderer=EmailRenderer(sender=settings.smtp_from, public_url=settings.public_url),
        sms=sms,
        codes=CodeOpener(secret),
        wake=feed.deliveries_wake,
    )
    reminders = ReminderScheduler(
        store=store, links=links, offsets=offsets, poll_interval=settings.reminder_poll_interval
    )
    servicer = NotificationServiceServicer(
        store=store,
        pages=runtime.pages,
        feed=feed,
        dead_letters=DeadLetterLog(runtime.redis, settings.redis_prefix),
        events=EventsClient(runtime.channel_to(settings.events_address)),
        links=links,
        throttle=SendThrottle(
            runtime.redis,
            settings.redis_prefix,
            window=settings.send_window_seconds,
            per_sender=settings.send_max_per_sender,
            per_event=settings.send_max_per_event,
        ),
    )
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(notifications_pb2_grpc.add_NotificationServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay().run, consumer.run, feed.run, worker.run, reminders.run],
    )
    service.closers.append(sms.close)
    return service
