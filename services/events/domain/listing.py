"""ListEvents' filters and orders, the keyset position of an event in each order, and tag counts."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.events.domain.events import MAX_TAG_LENGTH, EventRecord, State, normalize_tags
from services.runtime.errors import Violations, bad_field

MAX_QUERY = 200
MAX_FILTER_TAGS = 20


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

    def page_filters(self) -> dict[str, Any]:
        """What a page token is bound to (tokens of other filters, or of other lists: every list of
        the mesh signs with the same key, so each names itself, are refused)."""
        return {
            "list": "events",
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
    # Counted as sent, before any work on them; a tag longer than any event's can match nothing.
    if violations.check(len(tags) <= MAX_FILTER_TAGS, "tags", f"at most {MAX_FILTER_TAGS} tags"):
        for index, tag in enumerate(tags):
            violations.check(
                len(tag) <= MAX_TAG_LENGTH, f"tags[{index}]", f"must be at most {MAX_TAG_LENGTH} characters"
            )
    normalized_tags = tuple(sorted(normalize_tags(tags[:MAX_FILTER_TAGS])))
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


SortKey = tuple[datetime | float, uuid.UUID]


def sort_key(event: EventRecord, order: Order) -> SortKey:
    """The keyset position of `event` in `order` (what a page token carries)."""
    if order in (Order.START_TIME, Order.START_TIME_DESC):
        return event.start_time, event.id
    if order is Order.RATING_DESC:
        return event.rating_average, event.id
    return event.create_time, event.id


def sort_key_kinds(order: Order) -> tuple[type, ...]:
    """The types of `sort_key`'s parts in `order` (how a page token's key is read back)."""
    if order is Order.RATING_DESC:
        return float, uuid.UUID
    return datetime, uuid.UUID


@dataclass(frozen=True)
class TagCount:
    """A tag and how many scheduled events carry it (ListTags: most used first, then by name)."""

    name: str
    event_count: int
