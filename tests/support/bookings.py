"""Bookings' domain values for the pure-rule tests: an event a week after NOW and a booking of it,
any field overridden by keyword."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from services.bookings.domain import Booking, EventFacts, State

NOW = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


def event(**changes: object) -> EventFacts:
    base = EventFacts(
        id="e1",
        organizer_id="host",
        title="Jazz night",
        start_time=NOW + timedelta(days=7),
        end_time=NOW + timedelta(days=7, hours=3),
        time_zone="Europe/Berlin",
        city="Berlin",
        venue="Club",
        capacity=100,
        max_seats_per_booking=4,
        requires_approval=False,
        state="SCHEDULED",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def booking(**changes: object) -> Booking:
    base = Booking(
        id=uuid.uuid4(),
        user_id="guest",
        request_id="r1",
        event_id="e1",
        host_id="host",
        seats=2,
        join_waitlist=False,
        state=State.PENDING,
        event_title="Jazz night",
        event_start_time=NOW + timedelta(days=7),
        event_end_time=NOW + timedelta(days=7, hours=3),
        event_time_zone="Europe/Berlin",
        event_city="Berlin",
        event_venue="Club",
        waitlist_seq=None,
        hold_expire_time=None,
        reject_cause=None,
        cancelled_by=None,
        end_reason="",
        release_pending=False,
        create_time=NOW,
        update_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
