"""Wiring of the bookings service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.bookings.v1 import bookings_pb2_grpc
from services.bookings import models
from services.bookings.servicer import ACCESS, SERVICE, BookingServiceServicer
from services.bookings.settings import BookingsSettings
from services.runtime.app import Runtime
from services.runtime.server import Service


async def build(settings: BookingsSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "bookings", **overrides)
    servicer = BookingServiceServicer()
    return runtime.service(
        descriptor=SERVICE,
        register=partial(bookings_pb2_grpc.add_BookingServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run],
    )
