"""Issue 11 on the events side, as plain rules: event times within a sane window, every repeated field
of an events or bookings request capped, who sees which part of a review, how many live streams a
process and a client may hold, and the edge's limit on how long one stream lives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from google.protobuf.descriptor import Descriptor

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.events.v1 import events_pb2
from services.events import domain
from services.events.availability import StreamAdmission
from services.events.domain import EventFields, ReviewRecord
from services.runtime.auth import Principal, Role
from services.runtime.errors import ServiceError

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


def _problems(fields: EventFields, *, future: bool = True) -> list[str]:
    try:
        domain.validate_fields(domain.normalize_fields(fields), now=NOW, start_must_be_future=future)
    except ServiceError as error:
        return [violation.field for violation in error.violations]
    return []


# -- defect 4: event times within a sane window --------------------------------------------------


def test_an_event_in_year_9999_is_refused_naming_both_times() -> None:
    far = datetime(9999, 12, 31, 20, tzinfo=UTC)
    assert _problems(_fields(start_time=far, end_time=far + timedelta(hours=3))) == [
        "event.start_time",
        "event.end_time",
    ]


def test_start_and_end_may_be_up_to_five_years_ahead() -> None:
    last_start = NOW + domain.MAX_LEAD_TIME
    assert _problems(_fields(start_time=last_start - timedelta(hours=2), end_time=last_start)) == []
    assert _problems(_fields(start_time=last_start, end_time=last_start + timedelta(hours=1))) == [
        "event.end_time"
    ]
    assert timedelta(days=5 * 365) <= domain.MAX_LEAD_TIME


def test_an_event_lasts_at_most_31_days() -> None:
    start = NOW + timedelta(days=10)
    assert _problems(_fields(start_time=start, end_time=start + domain.MAX_DURATION)) == []
    assert _problems(
        _fields(start_time=start, end_time=start + domain.MAX_DURATION + timedelta(seconds=1))
    ) == ["event.end_time"]
    assert timedelta(days=31) == domain.MAX_DURATION


def test_the_window_also_holds_when_the_start_is_not_moved() -> None:
    """An update that leaves the start alone (it may be past: the event runs) still may not push
    the end beyond the window."""
    started = NOW - timedelta(hours=1)
    assert _problems(_fields(start_time=started, end_time=NOW + timedelta(hours=1)), future=False) == []
    assert _problems(_fields(start_time=started, end_time=NOW + timedelta(days=40)), future=False) == [
        "event.end_time"
    ]


# -- repeated fields: every one of an events or bookings request has a cap ----------------------


def _repeated_paths(
    message: Descriptor, prefix: str = "", seen: frozenset[str] = frozenset()
) -> Iterator[str]:
    for field in message.fields:
        path = prefix + field.name
        if field.is_repeated:
            yield path
        elif field.message_type is not None and field.message_type.full_name not in seen:
            yield from _repeated_paths(field.message_type, path + ".", seen | {message.full_name})


def _request_repeated_fields() -> set[str]:
    found = set()
    for package in (events_pb2, bookings_pb2):
        for service in package.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                for path in _repeated_paths(method.input_type):
                    found.add(f"{method.name}.{path}")
    return found


# Every repeated field of every events and bookings request, and the cap domain validation enforces.
REPEATED_FIELD_CAPS = {
    "CreateEvent.event.tags": domain.MAX_TAGS,
    "UpdateEvent.event.tags": domain.MAX_TAGS,
    "UpdateEvent.update_mask.paths": domain.MAX_MASK_PATHS,
    "ListEvents.tags": domain.MAX_FILTER_TAGS,
    "BatchGetEvents.event_ids": domain.MAX_BATCH_GET,
}


def test_every_repeated_request_field_is_capped() -> None:
    """A new repeated field in a request fails here until its cap is enforced and listed above."""
    assert _request_repeated_fields() == set(REPEATED_FIELD_CAPS)


def test_event_tags_are_capped_as_sent_before_anything_is_done_with_them() -> None:
    """A thousand copies of one tag would collapse into one, but are refused as the request sent
    them: one violation, not one per entry, together with the request's other problems."""
    assert _problems(_fields(tags=("jazz",) * 1000)) == ["event.tags"]
    assert _problems(_fields(title="", tags=("x" * 60,) * 1000)) == ["event.title", "event.tags"]
    assert domain.normalize_fields(_fields(tags=("Jazz",) * domain.MAX_TAGS)).tags == ("jazz",)


def test_update_mask_paths_are_capped() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.resolve_update_mask(["title"] * (domain.MAX_MASK_PATHS + 1), [])
    assert [violation.field for violation in raised.value.violations] == ["update_mask"]
    assert domain.resolve_update_mask(list(domain.UPDATABLE_FIELDS), []) == domain.UPDATABLE_FIELDS
    assert len(domain.UPDATABLE_FIELDS) <= domain.MAX_MASK_PATHS


def _list_query(**overrides: Any) -> domain.ListQuery:
    values: dict[str, Any] = {
        "order_by": "",
        "city": "",
        "tags": [],
        "state": None,
        "start_time_after": None,
        "start_time_before": None,
        "has_available_seats": False,
        "min_rating": 0.0,
        "organizer_id": "",
        "query": "",
    }
    values.update(overrides)
    return domain.build_list_query(**values)


def test_list_filter_tags_are_capped_as_sent_and_each_one_bounded() -> None:
    with pytest.raises(ServiceError) as raised:
        _list_query(tags=["jazz"] * 1000)
    assert [violation.field for violation in raised.value.violations] == ["tags"]
    with pytest.raises(ServiceError) as raised:
        _list_query(tags=["jazz", "x" * (domain.MAX_TAG_LENGTH + 1)])
    assert [violation.field for violation in raised.value.violations] == ["tags[1]"]
    assert _list_query(tags=["Jazz"] * domain.MAX_FILTER_TAGS).tags == ("jazz",)


def test_batch_get_ids_are_capped() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_batch_ids([str(uuid.uuid4())] * (domain.MAX_BATCH_GET + 1))
    assert [violation.field for violation in raised.value.violations] == ["event_ids"]


# -- who sees what of a review ------------------------------------------------------------------


def _review(author_id: str) -> ReviewRecord:
    return ReviewRecord(
        id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        booking_id=str(uuid.uuid4()),
        author_id=author_id,
        event_rating=5,
        host_rating=4,
        comment="lovely",
        create_time=NOW,
    )


def test_only_the_author_and_admins_see_which_booking_a_review_comes_from() -> None:
    author = str(uuid.uuid4())
    review = _review(author)
    assert domain.reveals_attendance(review, Principal(author, Role.PARTICIPANT))
    assert domain.reveals_attendance(review, Principal(str(uuid.uuid4()), Role.ADMIN))
    assert not domain.reveals_attendance(review, None)
    assert not domain.reveals_attendance(review, Principal(str(uuid.uuid4()), Role.PARTICIPANT))
    assert not domain.reveals_attendance(review, Principal(str(uuid.uuid4()), Role.ORGANIZER))
    assert not domain.reveals_attendance(review, Principal("service:bookings", Role.SERVICE))


# -- live streams: per client and per process ---------------------------------------------------


def test_streams_are_capped_per_client_and_in_total() -> None:
    admission = StreamAdmission(total=3, per_client=2)
    with admission.admit("10.0.0.1"), admission.admit("10.0.0.1"):
        with pytest.raises(ServiceError) as per_client, admission.admit("10.0.0.1"):
            pass
        with admission.admit("10.0.0.2"), pytest.raises(ServiceError) as total, admission.admit("10.0.0.3"):
            pass
    for refused in (per_client.value, total.value):
        assert refused.code.name == "RESOURCE_EXHAUSTED"
        assert refused.retry_after is not None
        assert refused.retry_after > 0
    assert per_client.value.metadata["limit"] == "client"
    assert total.value.metadata["limit"] == "server"
    # Every slot came back: the same client may open its streams again.
    assert admission.open_streams == 0
    with admission.admit("10.0.0.1"), admission.admit("10.0.0.1"), admission.admit("10.0.0.2"):
        assert admission.open_streams == 3


def test_a_stream_that_fails_gives_its_slot_back() -> None:
    admission = StreamAdmission(total=1, per_client=1)
    with pytest.raises(RuntimeError), admission.admit("10.0.0.1"):
        raise RuntimeError("the stream broke")
    with admission.admit("10.0.0.1"):
        assert admission.open_streams == 1


# -- the edge ends every availability stream after an hour --------------------------------------


def test_the_edge_caps_how_long_a_watch_stream_lives() -> None:
    from scripts.envoy_config import compose_config, render

    config = yaml.safe_load(render(compose_config()))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    method = "/seatmesh.events.v1.EventService/WatchAvailability"
    positions = {index for index, route in enumerate(routes) if route["match"].get("path") == method}
    assert len(positions) == 1
    (position,) = positions
    route = routes[position]["route"]
    assert route["cluster"] == "events"
    assert route["max_stream_duration"]["max_stream_duration"] == "3600s"
    service_prefix = next(
        index
        for index, candidate in enumerate(routes)
        if candidate["match"].get("prefix") == "/seatmesh.events.v1.EventService/"
    )
    assert position < service_prefix, "the method's route must come before its service's"
