"""Seats: what a reservation asks for, what the inventory statements answered, and why seats could
not be taken (each reason a stable ErrorInfo.reason bookings branches on)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.events.domain.events import MAX_CAPACITY, EventRecord, State, event_not_found
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    failed_precondition,
    invalid_argument,
)


@dataclass(frozen=True)
class SeatRequest:
    event_id: uuid.UUID
    reservation_id: uuid.UUID
    seats: int


def validate_seat_request(event_id: str, reservation_id: str, seats: int) -> SeatRequest:
    violations = Violations()
    event = violations.uuid(event_id, "event_id")
    reservation = violations.uuid(reservation_id, "reservation_id")
    violations.check(1 <= seats <= MAX_CAPACITY, "seats", f"must be between 1 and {MAX_CAPACITY:,}")
    violations.raise_if_any()
    # No violations: both ids parsed.
    assert event is not None
    assert reservation is not None
    return SeatRequest(event, reservation, seats)


class ReserveStatus(enum.Enum):
    RESERVED = "reserved"
    # The same reservation id, event and seats were reserved before: the first outcome stands.
    ALREADY_RESERVED = "already_reserved"
    # Released (or fenced by a release that came first): it can never take seats.
    RELEASED = "released"
    # The id is taken by a reservation of another event or seat count.
    ID_REUSED = "id_reused"
    # Nothing taken; `event` (None when unknown) and `now` say why.
    REFUSED = "refused"


@dataclass(frozen=True)
class ReserveOutcome:
    status: ReserveStatus
    event: EventRecord | None
    # The database's clock when it looked at why nothing was taken (REFUSED only).
    now: datetime | None = None


@dataclass(frozen=True)
class ReleaseOutcome:
    seats_released: int
    # None for a fence (the id was never reserved).
    event: EventRecord | None


class Refusal(enum.StrEnum):
    """Why seats could not be taken (each is an ErrorInfo.reason)."""

    NOT_FOUND = "NOT_FOUND"
    EVENT_NOT_BOOKABLE = "EVENT_NOT_BOOKABLE"
    EVENT_STARTED = "EVENT_STARTED"
    SOLD_OUT = "SOLD_OUT"


def why_not_reservable(event: EventRecord | None, seats: int, now: datetime) -> Refusal | None:
    """The reason a reservation of `seats` fails on `event` as it is now; None if it would fit."""
    if event is None:
        return Refusal.NOT_FOUND
    if event.state is not State.SCHEDULED:
        return Refusal.EVENT_NOT_BOOKABLE
    if event.start_time <= now:
        return Refusal.EVENT_STARTED
    if event.seats_taken + seats > event.capacity:
        return Refusal.SOLD_OUT
    return None


def _refused(event: EventRecord | None, wanted: SeatRequest, now: datetime) -> ServiceError:
    refusal = why_not_reservable(event, wanted.seats, now)
    if refusal is Refusal.NOT_FOUND or event is None:
        return event_not_found(wanted.event_id)
    if refusal is Refusal.EVENT_NOT_BOOKABLE:
        return failed_precondition(
            "EVENT_NOT_BOOKABLE",
            f"the event is {event.state.value.lower()}",
            resource_name=str(wanted.event_id),
            state=event.state.value,
        )
    if refusal is Refusal.EVENT_STARTED:
        return failed_precondition(
            "EVENT_STARTED", "the event has already started", resource_name=str(wanted.event_id)
        )
    return failed_precondition(
        "SOLD_OUT",
        f"only {event.seats_available} seats left" if event.seats_available else "sold out",
        resource_name=str(wanted.event_id),
        seats_available=event.seats_available,
        seats_requested=wanted.seats,
        # Orders this answer among the availability messages (bookings answers sold out early).
        seats_version=event.seats_version,
    )


def reserved_event(outcome: ReserveOutcome, wanted: SeatRequest, *, now: datetime) -> EventRecord:
    """The event holding the seats of `wanted` (taken now or by the first request with its id);
    otherwise the refusal. `now` stands in when the database did not say when it looked."""
    if outcome.status is ReserveStatus.RELEASED:
        raise failed_precondition(
            "RESERVATION_RELEASED",
            "this reservation id was released; a released reservation never takes seats again",
            resource_name=str(wanted.reservation_id),
        )
    if outcome.status is ReserveStatus.ID_REUSED:
        raise invalid_argument(
            [FieldViolation("reservation_id", "is already used by a reservation of another event or size")],
            reason="RESERVATION_ID_REUSED",
        )
    if outcome.status is ReserveStatus.REFUSED or outcome.event is None:
        raise _refused(outcome.event, wanted, outcome.now or now)
    return outcome.event
