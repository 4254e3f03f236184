"""Wiring of the events service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.events.v1 import events_pb2_grpc
from services.events import models
from services.events.servicer import ACCESS, SERVICE, EventServiceServicer
from services.events.settings import EventsSettings
from services.runtime.app import Runtime
from services.runtime.server import Service


async def build(settings: EventsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "events", **overrides)
    servicer = EventServiceServicer()
    return runtime.service(
        descriptor=SERVICE,
        register=partial(events_pb2_grpc.add_EventServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run],
    )
