"""Wiring of the notifications service: what runs in one process.

Besides the RPCs: the bus consumer (users, events, bookings -> messages, in-app rows, deliveries,
projections, reminder schedule), the live feed (LISTEN for WatchNotifications and to wake the
worker), the delivery worker (email, SMS) and the reminder scheduler. All are safe with replicas.
"""

from datetime import timedelta
from functools import partial
from typing import Any

from seatmesh.events.v1 import events_pb2_grpc
from seatmesh.notifications.v1 import notifications_pb2_grpc
from services.notifications import models
from services.notifications.content import Links
from services.notifications.delivery import DeliveryWorker
from services.notifications.directory import UserDirectory
from services.notifications.handlers import Triggers
from services.notifications.live import LiveFeed
from services.notifications.mailer import EmailRenderer, SmtpMailer
from services.notifications.reminders import ReminderScheduler
from services.notifications.rules import ReminderOffsets
from services.notifications.servicer import ACCESS, SERVICE, NotificationServiceServicer
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import sms_provider
from services.runtime.app import Runtime
from services.runtime.server import Service


async def build(settings: NotificationsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "notifications", **overrides)
    links = Links(settings.public_url)
    offsets = ReminderOffsets(
        before_24h=timedelta(seconds=settings.reminder_24h_offset),
        before_1h=timedelta(seconds=settings.reminder_1h_offset),
    )
    feed = LiveFeed(settings.database_url)
    consumer = runtime.consumer(
        sources=["users", "events", "bookings"],
        handlers=Triggers(links=links, offsets=offsets).handlers(),
        inbox=models.inbox,
        max_attempts=settings.bus_max_attempts,
    )
    sms = sms_provider(settings)
    worker = DeliveryWorker(
        engine=runtime.engine,
        settings=settings,
        directory=UserDirectory(runtime.channel_to(settings.users_address)),
        mailer=SmtpMailer(settings),
        renderer=EmailRenderer(sender=settings.smtp_from, public_url=settings.public_url),
        sms=sms,
        wake=feed.deliveries_wake,
    )
    scheduler = ReminderScheduler(
        engine=runtime.engine, links=links, offsets=offsets, poll_interval=settings.reminder_poll_interval
    )
    servicer = NotificationServiceServicer(
        engine=runtime.engine,
        redis=runtime.redis,
        redis_prefix=settings.redis_prefix,
        feed=feed,
        links=links,
        events=events_pb2_grpc.EventServiceStub(runtime.channel_to(settings.events_address)),
    )
    service = runtime.service(
        descriptor=SERVICE,
        register=partial(notifications_pb2_grpc.add_NotificationServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run, consumer.run, feed.run, worker.run, scheduler.run],
    )
    service.closers.append(sms.close)
    return service
