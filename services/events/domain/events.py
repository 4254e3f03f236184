"""The event: what an organizer says about it, what makes it valid, how an update merges into it,
and when it may be edited, deleted or cancelled."""

from __future__ import annotations

import dataclasses
import enum
import functools
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.runtime.errors import (
    ServiceError,
    Violations,
    aborted,
    bad_field,
    failed_precondition,
    not_found,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_CITY = 100
MAX_VENUE = 300
MIN_CAPACITY = 1
MAX_CAPACITY = 100_000
DEFAULT_MAX_SEATS_PER_BOOKING = 10
MAX_TAGS = 10
MAX_TAG_LENGTH = 50
MAX_CANCEL_REASON = 1_000
MAX_BATCH_GET = 1_000
# An event may be deleted (instead of cancelled) only this soon after it was created.
DELETE_WINDOW = timedelta(hours=1)

# The resource type NOT_FOUND names.
EVENT_RESOURCE = "seatmesh.events.v1.Event"


class State(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


# What an organizer may change (UpdateEvent's update_mask paths).
UPDATABLE_FIELDS = (
    "title",
    "description",
    "start_time",
    "end_time",
    "time_zone",
    "city",
    "venue",
    "capacity",
    "max_seats_per_booking",
    "tags",
    "requires_approval",
)

# Changes guests are told about (EventUpdated on the bus).
NOTABLE_FIELDS = ("start_time", "end_time", "venue", "city")


@dataclass(frozen=True)
class EventFields:
    """What the organizer says about an event: everything but identity, state and counters."""

    title: str
    description: str
    start_time: datetime | None
    end_time: datetime | None
    time_zone: str
    city: str
    venue: str
    capacity: int
    # 0: not given (the default applies).
    max_seats_per_booking: int
    tags: tuple[str, ...]
    requires_approval: bool


@dataclass(frozen=True)
class EventRecord:
    """An event as stored."""

    id: uuid.UUID
    organizer_id: str
    title: str
    description: str
    start_time: datetime
    end_time: datetime
    time_zone: str
    city: str
    venue: str
    capacity: int
    seats_taken: int
    max_seats_per_booking: int
    tags: tuple[str, ...]
    requires_approval: bool
    state: State
    rating_average: float
    rating_count: int
    version: int
    seats_version: int
    create_time: datetime
    update_time: datetime

    @property
    def seats_available(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    def fields(self) -> EventFields:
        return EventFields(
            title=self.title,
            description=self.description,
            start_time=self.start_time,
            end_time=self.end_time,
            time_zone=self.time_zone,
            city=self.city,
            venue=self.venue,
            capacity=self.capacity,
            max_seats_per_booking=self.max_seats_per_booking,
            tags=self.tags,
            requires_approval=self.requires_approval,
        )


def etag_for(version: int) -> str:
    return f"v{version}"


def event_not_found(event_id: uuid.UUID | str) -> ServiceError:
    return not_found(EVENT_RESOURCE, str(event_id), f"event {event_id} not found")


# -- validation ----------------------------------------------------------------------------------


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_valid_time_zone(name: str) -> bool:
    return name in _time_zones()


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, lower-cased, first occurrence kept; empty ones dropped."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(tag.split()).lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


def normalize_fields(fields: EventFields, *, fill_defaults: bool = True) -> EventFields:
    """Trims text and tidies tags; fills the per-booking default when it was not given (create)."""
    max_seats = fields.max_seats_per_booking
    if fill_defaults and max_seats == 0:
        max_seats = min(DEFAULT_MAX_SEATS_PER_BOOKING, max(fields.capacity, 1))
    return dataclasses.replace(
        fields,
        title=fields.title.strip(),
        description=fields.description.strip(),
        time_zone=fields.time_zone.strip(),
        city=" ".join(fields.city.split()),
        venue=fields.venue.strip(),
        tags=normalize_tags(fields.tags),
        max_seats_per_booking=max_seats,
    )


def validate_fields(
    fields: EventFields, *, now: datetime, start_must_be_future: bool, prefix: str = "event."
) -> EventFields:
    """The (normalized) event, or one INVALID_ARGUMENT naming every problem's field."""
    found = Violations()

    def check(ok: bool, name: str, description: str) -> None:
        found.check(ok, prefix + name, description)

    for name in ("title", "description", "time_zone", "city", "venue"):
        # PostgreSQL text cannot hold NUL; say so instead of failing on the insert.
        check("\x00" not in getattr(fields, name), name, "must not contain NUL characters")
    check(1 <= len(fields.title) <= MAX_TITLE, "title", f"must be 1 to {MAX_TITLE} characters")
    check(
        len(fields.description) <= MAX_DESCRIPTION,
        "description",
        f"must be at most {MAX_DESCRIPTION} characters",
    )
    if fields.start_time is None:
        found.add(prefix + "start_time", "is required")
    elif start_must_be_future:
        check(fields.start_time > now, "start_time", "must be in the future")
    if fields.end_time is None:
        found.add(prefix + "end_time", "is required")
    elif fields.start_time is not None:
        check(fields.end_time > fields.start_time, "end_time", "must be after start_time")
    if not fields.time_zone:
        found.add(prefix + "time_zone", "is required")
    else:
        check(
            is_valid_time_zone(fields.time_zone),
            "time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        )
    check(1 <= len(fields.city) <= MAX_CITY, "city", f"must be 1 to {MAX_CITY} characters")
    check(len(fields.venue) <= MAX_VENUE, "venue", f"must be at most {MAX_VENUE} characters")
    capacity_ok = MIN_CAPACITY <= fields.capacity <= MAX_CAPACITY
    check(capacity_ok, "capacity", f"must be between {MIN_CAPACITY} and {MAX_CAPACITY:,}")
    if fields.max_seats_per_booking < 1:
        found.add(prefix + "max_seats_per_booking", "must be at least 1")
    elif capacity_ok:
        check(
            fields.max_seats_per_booking <= fields.capacity,
            "max_seats_per_booking",
            "must not be above capacity",
        )
    check(len(fields.tags) <= MAX_TAGS, "tags", f"at most {MAX_TAGS} tags")
    for index, tag in enumerate(fields.tags):
        check(len(tag) <= MAX_TAG_LENGTH, f"tags[{index}]", f"must be at most {MAX_TAG_LENGTH} characters")
        check("\x00" not in tag, f"tags[{index}]", "must not contain NUL characters")
    found.raise_if_any()
    return fields


def validate_batch_ids(event_ids: Sequence[str]) -> list[str]:
    """BatchGetEvents' ids, canonical and each once, in the order asked."""
    if len(event_ids) > MAX_BATCH_GET:
        raise bad_field("event_ids", f"at most {MAX_BATCH_GET} ids")
    violations = Violations()
    wanted: list[str] = []
    for index, raw in enumerate(event_ids):
        try:
            wanted.append(str(uuid.UUID(raw)))
        except ValueError:
            violations.add(f"event_ids[{index}]", "must be a UUID")
    violations.raise_if_any()
    return list(dict.fromkeys(wanted))


# -- update --------------------------------------------------------------------------------------


def resolve_update_mask(paths: Sequence[str], present: Iterable[str]) -> tuple[str, ...]:
    """The fields an update writes: the mask's paths, `*` for all, or every field the client set."""
    if not paths:
        return tuple(name for name in UPDATABLE_FIELDS if name in set(present))
    if "*" in paths:
        return UPDATABLE_FIELDS
    violations = Violations()
    for path in paths:
        if path not in UPDATABLE_FIELDS:
            violations.add(
                "update_mask", f"{path!r} cannot be updated; updatable: {', '.join(UPDATABLE_FIELDS)}"
            )
    violations.raise_if_any()
    return tuple(dict.fromkeys(paths))


def merge_update(current: EventFields, patch: EventFields, paths: Sequence[str]) -> EventFields:
    """The event's fields after writing `paths` from `patch` (already normalized).

    A capacity lowered under the per-booking limit takes the limit down with it, unless the
    client set the limit explicitly (then validation reports the conflict).
    """
    changes: dict[str, Any] = {name: getattr(patch, name) for name in paths}
    if "max_seats_per_booking" in changes and changes["max_seats_per_booking"] == 0:
        # An explicit 0 means "back to the default".
        capacity = changes.get("capacity", current.capacity)
        changes["max_seats_per_booking"] = min(DEFAULT_MAX_SEATS_PER_BOOKING, max(capacity, 1))
    merged = dataclasses.replace(current, **changes)
    if "max_seats_per_booking" not in changes and merged.max_seats_per_booking > merged.capacity >= 1:
        merged = dataclasses.replace(merged, max_seats_per_booking=merged.capacity)
    return merged


def changed_fields(before: EventFields, after: EventFields) -> tuple[str, ...]:
    return tuple(name for name in UPDATABLE_FIELDS if getattr(before, name) != getattr(after, name))


def notable_changes(changed: Iterable[str]) -> tuple[str, ...]:
    changed_set = set(changed)
    return tuple(name for name in NOTABLE_FIELDS if name in changed_set)


def _etag_mismatch(current: EventRecord, message: str) -> ServiceError:
    return aborted("ETAG_MISMATCH", message, current_etag=current.etag)


def check_editable(current: EventRecord, etag: str) -> None:
    """An update applies to the version the client read (when it sent an etag), of a scheduled event."""
    if etag and etag != current.etag:
        raise _etag_mismatch(
            current, "the event changed since you read it; read it again and reapply your change"
        )
    if current.state is not State.SCHEDULED:
        raise failed_precondition(
            "EVENT_NOT_EDITABLE",
            f"a {current.state.value.lower()} event can no longer be edited",
            resource_name=str(current.id),
            state=current.state.value,
        )


def check_capacity(after: EventFields, current: EventRecord) -> None:
    """Capacity may shrink, but never under the seats already taken."""
    if after.capacity < current.seats_taken:
        raise failed_precondition(
            "CAPACITY_BELOW_SEATS_TAKEN",
            f"capacity cannot go below the {current.seats_taken} seats already taken",
            resource_name=str(current.id),
            seats_taken=current.seats_taken,
        )


# -- delete and cancel ---------------------------------------------------------------------------


def deletable_until(create_time: datetime) -> datetime:
    return create_time + DELETE_WINDOW


def _cancel_instead(event_id: uuid.UUID) -> str:
    return f"cancel it instead (POST /v1/events/{event_id}:cancel)"


def event_has_reservations(event_id: uuid.UUID) -> ServiceError:
    return failed_precondition(
        "EVENT_HAS_RESERVATIONS",
        f"the event has (or had) bookings; {_cancel_instead(event_id)}",
        resource_name=str(event_id),
    )


def check_deletable(current: EventRecord, *, etag: str, now: datetime, has_reservations: bool) -> None:
    """Deleting is for mistakes: only within the hour after creating, and never once anyone
    reserved a seat (even if released since); after that an event is cancelled instead."""
    if etag and etag != current.etag:
        raise _etag_mismatch(current, "the event changed since you read it")
    if now > deletable_until(current.create_time):
        raise failed_precondition(
            "DELETE_WINDOW_PASSED",
            f"an event can only be deleted within an hour of creating it; {_cancel_instead(current.id)}",
            resource_name=str(current.id),
        )
    if has_reservations:
        raise event_has_reservations(current.id)


def validate_cancel_reason(reason: str) -> str:
    trimmed = reason.strip()
    if len(trimmed) > MAX_CANCEL_REASON:
        raise bad_field("reason", f"must be at most {MAX_CANCEL_REASON} characters")
    return trimmed


def must_cancel(current: EventRecord) -> bool:
    """Whether cancelling changes anything: cancelling twice is not an error (the event stays as
    it is); an event that is over cannot be cancelled."""
    if current.state is State.COMPLETED:
        raise failed_precondition(
            "EVENT_NOT_CANCELLABLE",
            "the event is over and cannot be cancelled",
            resource_name=str(current.id),
        )
    return current.state is State.SCHEDULED
