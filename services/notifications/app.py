"""Wiring of the notifications service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.notifications.v1 import notifications_pb2_grpc
from services.notifications import models
from services.notifications.servicer import ACCESS, SERVICE, NotificationServiceServicer
from services.notifications.settings import NotificationsSettings
from services.runtime.app import Runtime
from services.runtime.server import Service


async def build(settings: NotificationsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "notifications", **overrides)
    servicer = NotificationServiceServicer()
    return runtime.service(
        descriptor=SERVICE,
        register=partial(notifications_pb2_grpc.add_NotificationServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run],
    )
