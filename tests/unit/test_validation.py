"""Control characters are refused in every string field of every request, named by field path."""

from __future__ import annotations

from google.protobuf import struct_pb2

from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2
from services.runtime.validation import text_violations


def _fields(message) -> list[str]:  # type: ignore[no-untyped-def]
    return [violation.field for violation in text_violations(message)]


def test_clean_text_and_multiline_free_text_pass() -> None:
    request = events_pb2.CreateEventRequest(
        event=events_pb2.Event(title="Jazz", description="line one\nline two\ttabbed\r\n", tags=["jazz"])
    )
    assert _fields(request) == []


def test_nul_and_other_controls_are_named_at_any_depth() -> None:
    request = events_pb2.CreateEventRequest(
        request_id="id\x00",
        event=events_pb2.Event(title="nul\x00byte", venue="\x1b[31mred", tags=["ok", "bell\x07"]),
    )
    assert sorted(_fields(request)) == ["event.tags[1]", "event.title", "event.venue", "request_id"]


def test_c1_controls_and_delete_are_refused_but_other_unicode_is_not() -> None:
    assert _fields(events_pb2.ListEventsRequest(query="caf\u00e9 \u043c\u0438\u0440 \U0001f3b7")) == []
    assert _fields(events_pb2.ListEventsRequest(query="a\x7fb")) == ["query"]
    assert _fields(events_pb2.ListEventsRequest(city="a\x85b")) == ["city"]


def test_repeated_messages_and_maps_are_walked() -> None:
    value = struct_pb2.Struct()
    value.update({"note": "ok"})
    assert _fields(value) == []
    value.update({"bad": "x\x00"})
    assert _fields(value) == ["fields['bad'].string_value"]
    preferences = notifications_pb2.UpdateNotificationPreferencesRequest()
    assert _fields(preferences) == []
