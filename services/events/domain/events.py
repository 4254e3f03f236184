"""The event: what an organizer says about it, what makes it valid, how an update merges into it,
and when it may be edited, deleted or cancelled.

A paid event has a price per seat (`services.runtime.money.Amount`, validated where the request is
read: convert.py), a refund policy and a payment hold; a free one has no price and behaves as
events always did (its refund policy and payment hold are kept but mean nothing until it has a
price).
"""

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
from services.runtime.money import Amount

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
# Far-future times broke every notification about an event (a year 9999 end in a zone ahead of
# UTC overflows when rendered): an event starts and ends within about five years from now, and
# lasts at most a month.
MAX_LEAD_TIME = timedelta(days=5 * 365 + 1)
MAX_DURATION = timedelta(days=31)
# An event may be deleted (instead of cancelled) only this soon after it was created.
DELETE_WINDOW = timedelta(hours=1)
# How long seats are held while a buyer pays: long enough for a card and a 3-D Secure check, short
# enough that a seat nobody pays for goes back on sale soon; a bank transfer needs the upper end.
DEFAULT_PAYMENT_HOLD = timedelta(minutes=15)
MIN_PAYMENT_HOLD = timedelta(minutes=2)
MAX_PAYMENT_HOLD = timedelta(hours=24)
# "Full refund until N hours before the start": N at most a year.
MAX_REFUND_HOURS = 8_760

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
    "price",
    "refund_policy",
    "payment_hold",
)
# UpdateEvent's mask names each updatable field at most once (or `*`): more paths are no real request.
MAX_MASK_PATHS = len(UPDATABLE_FIELDS) + 1

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
    # Per seat; None: a free event.
    price: Amount | None = None
    # The refund policy: a full refund until this many hours before the start, none after.
    refund_policy: int = 0
    # None: not given (the default applies).
    payment_hold: timedelta | None = None


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
    price: Amount | None = None
    refund_policy: int = 0
    payment_hold: timedelta = DEFAULT_PAYMENT_HOLD

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
            price=self.price,
            refund_policy=self.refund_policy,
            payment_hold=self.payment_hold,
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
    """Trims text and tidies tags; fills the per-booking and payment hold defaults when they were not
    given (create).

    More tag entries than an event may carry are left as they came, for validation to refuse:
    duplicates would collapse, but a request must not make the server sort through thousands.
    """
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
        tags=normalize_tags(fields.tags) if len(fields.tags) <= MAX_TAGS else fields.tags,
        max_seats_per_booking=max_seats,
        payment_hold=DEFAULT_PAYMENT_HOLD
        if fill_defaults and fields.payment_hold is None
        else fields.payment_hold,
    )


def validate_fields(
    fields: EventFields, *, now: datetime, start_must_be_future: bool, prefix: str = "event."
) -> EventFields:
    """The (normalized) event, or one INVALID_ARGUMENT naming every problem's field."""
    found = Violations()

    def check(ok: bool, name: str, description: str) -> bool:
        return found.check(ok, prefix + name, description)

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
    latest = now + MAX_LEAD_TIME
    if fields.start_time is not None:
        check(fields.start_time <= latest, "start_time", "must be within 5 years from now")
    if fields.end_time is None:
        found.add(prefix + "end_time", "is required")
    # One problem of the end at a time: the first that applies says the most.
    elif (
        check(fields.end_time <= latest, "end_time", "must be within 5 years from now")
        and fields.start_time is not None
        and check(fields.end_time > fields.start_time, "end_time", "must be after start_time")
    ):
        check(
            fields.end_time - fields.start_time <= MAX_DURATION,
            "end_time",
            f"must be at most {MAX_DURATION.days} days after start_time",
        )
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
    if check(len(fields.tags) <= MAX_TAGS, "tags", f"at most {MAX_TAGS} tags"):
        for index, tag in enumerate(fields.tags):
            check(
                len(tag) <= MAX_TAG_LENGTH, f"tags[{index}]", f"must be at most {MAX_TAG_LENGTH} characters"
            )
            check("\x00" not in tag, f"tags[{index}]", "must not contain NUL characters")
    check(
        0 <= fields.refund_policy <= MAX_REFUND_HOURS,
        "refund_policy.full_refund_until_hours_before_start",
        f"must be between 0 and {MAX_REFUND_HOURS:,} hours",
    )
    if fields.payment_hold is not None:
        check(
            MIN_PAYMENT_HOLD <= fields.payment_hold <= MAX_PAYMENT_HOLD,
            "payment_hold",
            "must be between 2 minutes and 24 hours",
        )
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
    if len(paths) > MAX_MASK_PATHS:
        raise bad_field("update_mask", f"at most {MAX_MASK_PATHS} paths")
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
    if "payment_hold" in changes and changes["payment_hold"] is None:
        # Named in the mask but unset: back to the default.
        changes["payment_hold"] = DEFAULT_PAYMENT_HOLD
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


def check_price_change(before: EventFields, after: EventFields, *, has_reservations: bool) -> None:
    """Once anyone reserved seats (even if released since), the price keeps its currency and a
    free event stays free (a paid one paid): bookings, payments and the sales report add up one
    currency per event, and guests who booked free never owe anything. The amount may change; it
    applies to seats reserved afterwards."""
    if not has_reservations or before.price == after.price:
        return
    if before.price is None:
        raise bad_field("event.price", "cannot be added once the event has bookings")
    if after.price is None:
        raise bad_field("event.price", "cannot be removed once the event has bookings")
    if before.price.currency != after.price.currency:
        raise bad_field(
            "event.price.currency_code", f"must stay {before.price.currency} once the event has bookings"
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
