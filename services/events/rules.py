"""The events domain: what an event is, what makes one valid, and the decisions about it.

Plain values and functions, no I/O: the servicer feeds them what it read and acts on the answer.
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

from services.runtime.errors import Violations, bad_field

MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_CITY = 100
MAX_VENUE = 300
MIN_CAPACITY = 1
MAX_CAPACITY = 100_000
DEFAULT_MAX_SEATS_PER_BOOKING = 10
MAX_TAGS = 10
MAX_TAG_LENGTH = 50
MAX_REQUEST_ID = 128
MAX_CANCEL_REASON = 1_000
MAX_QUERY = 200
MAX_FILTER_TAGS = 20
MAX_BATCH_GET = 1_000
# An event may be deleted (instead of cancelled) only this soon after it was created.
DELETE_WINDOW = timedelta(hours=1)


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


@dataclass(frozen=True)
class ReviewRecord:
    id: uuid.UUID
    event_id: uuid.UUID
    booking_id: str
    author_id: str
    event_rating: int
    host_rating: int
    comment: str
    create_time: datetime


MIN_RATING = 1
MAX_RATING = 5


def review_problems(event_rating: int, host_rating: int, booking_id: str) -> list[str]:
    """What makes a submitted review unusable (bookings validates first; this guards the data)."""
    problems = []
    if not MIN_RATING <= event_rating <= MAX_RATING:
        problems.append(f"event_rating {event_rating} is not within {MIN_RATING}..{MAX_RATING}")
    if not MIN_RATING <= host_rating <= MAX_RATING:
        problems.append(f"host_rating {host_rating} is not within {MIN_RATING}..{MAX_RATING}")
    if not booking_id:
        problems.append("booking_id is empty")
    return problems


def etag_for(version: int) -> str:
    return f"v{version}"


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
    fields: EventFields,
    *,
    now: datetime,
    start_must_be_future: bool,
    prefix: str = "event.",
    violations: Violations | None = None,
) -> Violations:
    """Every problem of a (normalized) event at once, each naming its field."""
    found = violations if violations is not None else Violations()

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
    return found


def check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID or not request_id.isprintable():
        raise bad_field("request_id", f"must be at most {MAX_REQUEST_ID} printable characters")


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


# -- reservations --------------------------------------------------------------------------------


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


# -- delete --------------------------------------------------------------------------------------


def deletable_until(create_time: datetime) -> datetime:
    return create_time + DELETE_WINDOW


# -- listing -------------------------------------------------------------------------------------


class Order(enum.Enum):
    START_TIME = "start_time"
    START_TIME_DESC = "start_time desc"
    RATING_DESC = "rating desc"
    CREATE_TIME_DESC = "create_time desc"


_ORDER_ALIASES = {
    "": Order.START_TIME,
    "start_time": Order.START_TIME,
    "start_time asc": Order.START_TIME,
    "start_time desc": Order.START_TIME_DESC,
    "rating desc": Order.RATING_DESC,
    "rating_average desc": Order.RATING_DESC,
    "create_time desc": Order.CREATE_TIME_DESC,
}


def parse_order_by(text: str) -> Order:
    # Query strings often carry the space as "+" (Envoy's transcoder passes it through as is).
    normalized = " ".join(text.replace("+", " ").split())
    for camel, snake in (
        ("startTime", "start_time"),
        ("createTime", "create_time"),
        ("ratingAverage", "rating_average"),
    ):
        normalized = normalized.replace(camel, snake)
    normalized = normalized.lower()
    try:
        return _ORDER_ALIASES[normalized]
    except KeyError:
        raise bad_field(
            "order_by", "must be one of: start_time, start_time desc, rating desc, create_time desc"
        ) from None


@dataclass(frozen=True)
class ListQuery:
    """ListEvents' filters and order, normalized; also the identity of a cached page."""

    order: Order = Order.START_TIME
    city: str = ""
    tags: tuple[str, ...] = ()
    state: State | None = None
    start_time_after: datetime | None = None
    start_time_before: datetime | None = None
    has_available_seats: bool = False
    min_rating: float = 0.0
    organizer_id: str = ""
    query: str = ""

    def fingerprint_source(self) -> dict[str, Any]:
        """What a page token is bound to (tokens of other filters are refused)."""
        return {
            "o": self.order.value,
            "c": self.city,
            "t": list(self.tags),
            "s": self.state.value if self.state else "",
            "a": self.start_time_after.isoformat() if self.start_time_after else "",
            "b": self.start_time_before.isoformat() if self.start_time_before else "",
            "h": self.has_available_seats,
            "r": self.min_rating,
            "g": self.organizer_id,
            "q": self.query,
        }


def build_list_query(
    *,
    order_by: str,
    city: str,
    tags: Sequence[str],
    state: State | None,
    start_time_after: datetime | None,
    start_time_before: datetime | None,
    has_available_seats: bool,
    min_rating: float,
    organizer_id: str,
    query: str,
) -> ListQuery:
    violations = Violations()
    order = parse_order_by(order_by)
    normalized_tags = tuple(sorted(normalize_tags(tags)))
    violations.check(len(normalized_tags) <= MAX_FILTER_TAGS, "tags", f"at most {MAX_FILTER_TAGS} tags")
    violations.check(0.0 <= min_rating <= 5.0, "min_rating", "must be between 0 and 5")
    query_text = " ".join(query.split())
    violations.check(len(query_text) <= MAX_QUERY, "query", f"must be at most {MAX_QUERY} characters")
    for name, value in (
        ("city", city),
        ("query", query),
        ("organizer_id", organizer_id),
        ("tags", "".join(tags)),
    ):
        violations.check("\x00" not in value, name, "must not contain NUL characters")
    if start_time_after is not None and start_time_before is not None:
        violations.check(
            start_time_before > start_time_after, "start_time_before", "must be after start_time_after"
        )
    violations.raise_if_any()
    return ListQuery(
        order=order,
        city=" ".join(city.split()).lower(),
        tags=normalized_tags,
        state=state,
        start_time_after=start_time_after,
        start_time_before=start_time_before,
        has_available_seats=has_available_seats,
        min_rating=min_rating,
        organizer_id=organizer_id.strip(),
        query=query_text,
    )


def sort_key(event: EventRecord, order: Order) -> list[Any]:
    """The keyset position of `event` in `order` (what a page token carries)."""
    if order in (Order.START_TIME, Order.START_TIME_DESC):
        return [event.start_time.isoformat(), str(event.id)]
    if order is Order.RATING_DESC:
        return [event.rating_average, str(event.id)]
    return [event.create_time.isoformat(), str(event.id)]


def parse_sort_key(key: list[Any], order: Order) -> tuple[Any, uuid.UUID]:
    """A page token's key back into typed values; a tampered token is the client's error."""
    try:
        first, second = key
        event_id = uuid.UUID(second)
        if order is Order.RATING_DESC:
            if not isinstance(first, int | float):
                raise ValueError("rating must be a number")
            return float(first), event_id
        moment = datetime.fromisoformat(first)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, event_id
    except (ValueError, TypeError):
        raise bad_field("page_token", "is not a page token this API issued") from None
