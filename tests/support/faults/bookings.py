"""Faults of the bookings service, each a build of the real service with one collaborator wrapped.

crash_after_reserve: the process SIGKILLs itself right after events answered a ReserveSeats with
seats taken, so the booking stays PENDING with its seats held at events, the window the reconciler
exists for (tests/integration/test_bookings_resilience.py).
"""

from __future__ import annotations

import logging
import os
import signal

from services.bookings import app
from services.bookings.clients.events import EventsClient
from services.bookings.domain import NotBookable, Reserved, SoldOut, Unknown
from services.bookings.settings import BookingsSettings
from services.runtime.server import Service

log = logging.getLogger(__name__)


class CrashAfterReserve(EventsClient):
    async def reserve(
        self, *, event_id: str, seats: int, reservation_id: str, budget: float | None = None
    ) -> Reserved | SoldOut | NotBookable | Unknown:
        outcome = await super().reserve(
            event_id=event_id, seats=seats, reservation_id=reservation_id, budget=budget
        )
        if isinstance(outcome, Reserved):
            log.warning("fault injection: killing this process after ReserveSeats")
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome


async def crash_after_reserve(settings: BookingsSettings) -> Service:
    return await app.build(settings, events_client=CrashAfterReserve)


FAULTS = {"crash_after_reserve": crash_after_reserve}
