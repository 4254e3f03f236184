"""The events domain rules: validation, normalization, updates, reservations, ordering."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.events import domain
from services.events.domain import EventFields, EventRecord, ListQuery, Order, Refusal, State
from services.runtime.errors import ServiceError
from services.runtime.pagination import PageTokens

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def _fields(**overrides: object) -> EventFields:
    values: dict[str, object] = {
        "title": "Concert",
        "description": "",
        "start_time": NOW + timedelta(days=1),
        "end_time": NOW + timedelta(days=1, hours=2),
        "time_zone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "",
        "capacity": 100,
        "max_seats_per_booking": 0,
        "tags": (),
        "requires_approval": False,
    }
    values.update(overrides)
    return EventFields(**values)  # type: ignore[arg-type]


def _record(**overrides: object) -> EventRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "organizer_id": "o",
        "title": "Concert",
        "description": "",
        "start_time": NOW + timedelta(days=1),
        "end_time": NOW + timedelta(days=1, hours=2),
        "time_zone": "UTC",
        "city": "Berlin",
        "venue": "",
        "capacity": 10,
        "seats_taken": 0,
        "max_seats_per_booking": 10,
        "tags": (),
        "requires_approval": False,
        "state": State.SCHEDULED,
        "rating_average": 0.0,
        "rating_count": 0,
        "version": 1,
        "seats_version": 0,
        "create_time": NOW,
        "update_time": NOW,
    }
    values.update(overrides)
    return EventRecord(**values)  # type: ignore[arg-type]


def _problems(fields: EventFields, *, future: bool = True) -> list[str]:
    try:
        domain.validate_fields(fields, now=NOW, start_must_be_future=future)
    except ServiceError as error:
        return [v.field for v in error.violations]
    return []


def test_a_valid_event_has_no_problems() -> None:
    assert _problems(domain.normalize_fields(_fields())) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "event.title"),
        ({"title": "   "}, "event.title"),
        ({"title": "x" * 201}, "event.title"),
        ({"start_time": None}, "event.start_time"),
        ({"start_time": NOW - timedelta(minutes=1)}, "event.start_time"),
        ({"end_time": NOW + timedelta(days=1)}, "event.end_time"),
        ({"end_time": None}, "event.end_time"),
        ({"time_zone": "Europe/Atlantis"}, "event.time_zone"),
        ({"time_zone": ""}, "event.time_zone"),
        ({"city": " "}, "event.city"),
        ({"capacity": 0}, "event.capacity"),
        ({"capacity": 100_001}, "event.capacity"),
        ({"max_seats_per_booking": 101}, "event.max_seats_per_booking"),
        ({"max_seats_per_booking": -1}, "event.max_seats_per_booking"),
        ({"tags": tuple(f"t{i}" for i in range(11))}, "event.tags"),
        ({"tags": ("x" * 51,)}, "event.tags[0]"),
    ],
)
def test_each_problem_names_its_field(overrides: dict[str, object], field: str) -> None:
    assert _problems(domain.normalize_fields(_fields(**overrides))) == [field]


def test_all_problems_are_reported_at_once() -> None:
    fields = domain.normalize_fields(_fields(title="", capacity=0, time_zone="Nope"))
    assert _problems(fields) == ["event.title", "event.time_zone", "event.capacity"]


def test_boundaries_are_allowed() -> None:
    fields = domain.normalize_fields(
        _fields(title="x" * 200, capacity=100_000, tags=tuple(f"t{i}" for i in range(10)))
    )
    assert _problems(fields) == []
    assert _problems(domain.normalize_fields(_fields(capacity=1))) == []


def test_a_past_start_is_fine_when_not_required_to_be_future() -> None:
    fields = _fields(
        start_time=NOW - timedelta(days=1), end_time=NOW - timedelta(hours=20), max_seats_per_booking=5
    )
    assert _problems(fields, future=False) == []


def test_tags_are_trimmed_lowercased_and_deduplicated_in_order() -> None:
    assert domain.normalize_tags([" Jazz", "jazz ", "Live  Music", "", "ROCK", "rock"]) == (
        "jazz",
        "live music",
        "rock",
    )


def test_per_booking_limit_defaults_to_ten_but_never_above_capacity() -> None:
    assert domain.normalize_fields(_fields(capacity=100)).max_seats_per_booking == 10
    assert domain.normalize_fields(_fields(capacity=4)).max_seats_per_booking == 4
    assert (
        domain.normalize_fields(_fields(capacity=100, max_seats_per_booking=25)).max_seats_per_booking == 25
    )
    assert domain.normalize_fields(_fields(), fill_defaults=False).max_seats_per_booking == 0


def test_time_zones_are_iana_names() -> None:
    assert domain.is_valid_time_zone("America/Argentina/Buenos_Aires")
    assert domain.is_valid_time_zone("UTC")
    assert not domain.is_valid_time_zone("GMT+25")
    assert not domain.is_valid_time_zone("../etc/passwd")


# -- update --------------------------------------------------------------------------------------


def test_an_empty_mask_means_the_fields_that_were_set() -> None:
    assert domain.resolve_update_mask([], ["id", "title", "etag", "capacity"]) == ("title", "capacity")


def test_a_star_mask_means_every_updatable_field() -> None:
    assert domain.resolve_update_mask(["*"], []) == domain.UPDATABLE_FIELDS


def test_unknown_or_output_only_paths_are_refused() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.resolve_update_mask(["title", "seats_taken", "state"], [])
    assert [v.field for v in raised.value.violations] == ["update_mask", "update_mask"]


def test_merge_writes_only_masked_fields() -> None:
    current = _fields(title="Old", city="Berlin", max_seats_per_booking=10)
    patch = _fields(title="New", city="Paris", max_seats_per_booking=0)
    merged = domain.merge_update(current, patch, ["title"])
    assert merged.title == "New"
    assert merged.city == "Berlin"
    assert domain.changed_fields(current, merged) == ("title",)


def test_lowering_capacity_takes_the_per_booking_limit_along() -> None:
    current = _fields(capacity=100, max_seats_per_booking=10)
    merged = domain.merge_update(current, _fields(capacity=4), ["capacity"])
    assert merged.max_seats_per_booking == 4
    # ...unless the client set the limit too: then validation reports the conflict.
    explicit = domain.merge_update(
        current, _fields(capacity=4, max_seats_per_booking=8), ["capacity", "max_seats_per_booking"]
    )
    assert explicit.max_seats_per_booking == 8
    assert _problems(explicit) == ["event.max_seats_per_booking"]


def test_notable_changes_are_time_place_and_venue() -> None:
    assert domain.notable_changes(["title", "venue", "start_time", "capacity", "city"]) == (
        "start_time",
        "venue",
        "city",
    )


# -- reservations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "seats", "refusal"),
    [
        (None, 1, Refusal.NOT_FOUND),
        (_record(state=State.CANCELLED), 1, Refusal.EVENT_NOT_BOOKABLE),
        (_record(state=State.COMPLETED, start_time=NOW - timedelta(days=1)), 1, Refusal.EVENT_NOT_BOOKABLE),
        (_record(start_time=NOW), 1, Refusal.EVENT_STARTED),
        (_record(capacity=10, seats_taken=8), 3, Refusal.SOLD_OUT),
        (_record(capacity=10, seats_taken=8), 2, None),
    ],
)
def test_why_a_reservation_fails(event: EventRecord | None, seats: int, refusal: Refusal | None) -> None:
    assert domain.why_not_reservable(event, seats, NOW) is refusal


def test_delete_window_is_an_hour() -> None:
    assert domain.deletable_until(NOW) == NOW + timedelta(hours=1)


# -- listing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", Order.START_TIME),
        ("start_time", Order.START_TIME),
        ("startTime  desc", Order.START_TIME_DESC),
        ("start_time+desc", Order.START_TIME_DESC),
        ("RATING DESC", Order.RATING_DESC),
        ("create_time desc", Order.CREATE_TIME_DESC),
    ],
)
def test_order_by(text: str, order: Order) -> None:
    assert domain.parse_order_by(text) is order


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.parse_order_by("price")
    assert raised.value.violations[0].field == "order_by"


# Page tokens of ListEvents carry an event's sort key (services/runtime/pagination.py reads them).
PAGES = PageTokens(b"events unit test page token key")


def test_sort_keys_round_trip_through_a_token() -> None:
    event = _record(rating_average=4.333333333333333)
    for order in Order:
        filters = ListQuery(order=order).page_filters()
        token = PAGES.encode(domain.sort_key(event, order), filters)
        first, event_id = PAGES.decode(token, filters, domain.sort_key_kinds(order))  # type: ignore[misc]
        assert event_id == event.id
        expected = {
            Order.START_TIME: event.start_time,
            Order.START_TIME_DESC: event.start_time,
            Order.RATING_DESC: event.rating_average,
            Order.CREATE_TIME_DESC: event.create_time,
        }[order]
        assert first == expected


def test_tampered_sort_keys_are_the_clients_error() -> None:
    filters = ListQuery().page_filters()
    kinds = domain.sort_key_kinds(Order.START_TIME)
    for key in (["yesterday", str(uuid.uuid4())], ["2030-01-01T00:00:00", "x"], [1], "nope"):
        signed = PAGES.encode(key, filters)
        forged = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
        for token in (signed, forged):
            with pytest.raises(ServiceError) as raised:
                PAGES.decode(token, filters, kinds)
            assert raised.value.violations[0].field == "page_token"


def test_list_query_normalizes_filters() -> None:
    query = domain.build_list_query(
        order_by="",
        city="  New   York ",
        tags=["Rock", "jazz", "rock"],
        state=None,
        start_time_after=None,
        start_time_before=None,
        has_available_seats=False,
        min_rating=0,
        organizer_id="",
        query="  live   jazz ",
    )
    assert query.city == "new york"
    assert query.tags == ("jazz", "rock")
    assert query.query == "live jazz"


def test_list_query_problems_are_named() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.build_list_query(
            order_by="",
            city="",
            tags=[f"t{i}" for i in range(21)],
            state=None,
            start_time_after=NOW,
            start_time_before=NOW - timedelta(days=1),
            has_available_seats=False,
            min_rating=-1,
            organizer_id="",
            query="q" * 201,
        )
    assert [v.field for v in raised.value.violations] == ["tags", "min_rating", "query", "start_time_before"]


def test_review_problems() -> None:
    assert domain.review_problems(5, 1, "b") == []
    assert len(domain.review_problems(0, 6, "")) == 3


def test_etag_changes_with_the_version() -> None:
    record = _record()
    assert record.etag != dataclasses.replace(record, version=2).etag
    assert record.etag == dataclasses.replace(record, seats_taken=5, seats_version=9).etag
