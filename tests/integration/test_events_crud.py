"""Create, get, update, delete and cancel events: validation, ownership, etags, idempotency, bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from seatmesh.events.v1 import bus_pb2, events_pb2
from services.runtime.auth import Role
from services.runtime.errors import error_metadata, error_reason
from tests.integration.test_events_helpers import (
    EventsClient,
    event_message,
    events_client,
    soon,
    stamp,
    violations_of,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory, bearer


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines) as running:
        yield running


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def _update(
    client: EventsClient, event: events_pb2.Event, *paths: str, subject: str | None = None
) -> events_pb2.Event:
    return await client.stub.UpdateEvent(
        events_pb2.UpdateEventRequest(event=event, update_mask=_mask(*paths)),
        metadata=client.organizer(subject),
        timeout=10,
    )


# -- create -------------------------------------------------------------------------------------


async def test_create_fills_defaults_and_normalizes(client: EventsClient) -> None:
    event = await client.create(
        title="  Rust meetup ", tags=[" Tech", "tech", "RUST ", "", "open  source"], capacity=6
    )
    assert event.id
    assert event.organizer_id == client.organizer_id
    assert event.title == "Rust meetup"
    assert list(event.tags) == ["tech", "rust", "open source"]
    assert event.max_seats_per_booking == 6  # default 10, never above capacity
    assert event.state == events_pb2.Event.SCHEDULED
    assert event.seats_available == 6
    assert event.etag
    fetched = await client.get(event.id)
    assert fetched == event
    created = await client.outbox_messages(bus_pb2.EventCreated)
    assert event.id in {message.event.id for message in created}


async def test_create_names_every_invalid_field(client: EventsClient) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    bad = events_pb2.Event(
        title="x" * 201,
        start_time=stamp(past),
        end_time=stamp(past - timedelta(hours=1)),
        time_zone="Mars/Olympus_Mons",
        city="",
        capacity=100_001,
        tags=[f"tag{i}" for i in range(11)],
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(events_pb2.CreateEventRequest(event=bad), metadata=client.organizer())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations_of(raised.value)) == sorted(
        [
            "event.title",
            "event.start_time",
            "event.end_time",
            "event.time_zone",
            "event.city",
            "event.capacity",
            "event.tags",
        ]
    )


async def test_per_booking_limit_may_not_exceed_capacity(client: EventsClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.create(capacity=5, max_seats_per_booking=6)
    assert violations_of(raised.value) == ["event.max_seats_per_booking"]


async def test_only_verified_organizers_and_admins_create(client: EventsClient, tokens: TokenFactory) -> None:
    request = events_pb2.CreateEventRequest(event=event_message())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(request, metadata=bearer(tokens.token(role=Role.PARTICIPANT)))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(
            request, metadata=bearer(tokens.token(role=Role.ORGANIZER, verified=False))
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "EMAIL_NOT_VERIFIED"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(request)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    admin = str(uuid.uuid4())
    event = await client.stub.CreateEvent(request, metadata=bearer(tokens.token(admin, Role.ADMIN)))
    assert event.organizer_id == admin


async def test_create_is_idempotent_on_request_id_even_when_raced(client: EventsClient) -> None:
    request_id = str(uuid.uuid4())
    body = event_message(title="Once only")
    request = events_pb2.CreateEventRequest(event=body, request_id=request_id)
    replies = await asyncio.gather(
        *(client.stub.CreateEvent(request, metadata=client.organizer()) for _ in range(10))
    )
    assert len({reply.id for reply in replies}) == 1
    rows = await client.sql("SELECT count(*) AS n FROM events WHERE request_id = :r", r=request_id)
    assert rows[0].n == 1
    # Another organizer may use the same request id for their own event.
    other = await client.stub.CreateEvent(request, metadata=client.organizer(str(uuid.uuid4())))
    assert other.id != replies[0].id
    # The same id with a different body is a mistake, not a replay.
    changed = events_pb2.CreateEventRequest(
        event=event_message(title="Something else"), request_id=request_id
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(changed, metadata=client.organizer())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(raised.value) == "REQUEST_ID_REUSED"
    assert violations_of(raised.value) == ["request_id"]


async def test_get_unknown_or_malformed(client: EventsClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get(str(uuid.uuid4()))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get("42")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(raised.value) == ["event_id"]


# -- update -------------------------------------------------------------------------------------


async def test_update_with_mask_changes_only_those_fields(client: EventsClient) -> None:
    event = await client.create(title="Before", venue="Hall A", description="keep me")
    updated = await _update(
        client,
        events_pb2.Event(id=event.id, title="After", venue="Hall B", description="ignored", etag=event.etag),
        "title",
        "venue",
    )
    assert updated.title == "After"
    assert updated.venue == "Hall B"
    assert updated.description == "keep me"
    assert updated.etag != event.etag
    assert (await client.get(event.id)).title == "After"


async def test_update_without_mask_writes_every_field_that_was_set(client: EventsClient) -> None:
    event = await client.create(city="Berlin", tags=["a"])
    updated = await _update(client, events_pb2.Event(id=event.id, city="Hamburg", tags=["B", "c"]))
    assert updated.city == "Hamburg"
    assert list(updated.tags) == ["b", "c"]
    assert updated.title == event.title


async def test_stale_etag_is_aborted(client: EventsClient) -> None:
    event = await client.create()
    await _update(client, events_pb2.Event(id=event.id, title="First", etag=event.etag), "title")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=event.id, title="Second", etag=event.etag), "title")
    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert error_reason(raised.value) == "ETAG_MISMATCH"
    assert (await client.get(event.id)).title == "First"


async def test_seat_changes_do_not_invalidate_the_organizers_etag(client: EventsClient) -> None:
    event = await client.create()
    await client.reserve(event.id, 2)
    updated = await _update(client, events_pb2.Event(id=event.id, title="Renamed", etag=event.etag), "title")
    assert updated.seats_taken == 2


async def test_non_owner_cannot_update_delete_or_cancel_but_an_admin_can(
    client: EventsClient, tokens: TokenFactory
) -> None:
    event = await client.create()
    stranger = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=event.id, title="Mine now"), "title", subject=stranger)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(raised.value) == "NOT_EVENT_OWNER"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.DeleteEvent(
            events_pb2.DeleteEventRequest(event_id=event.id), metadata=client.organizer(stranger)
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    participant = bearer(tokens.token(role=Role.PARTICIPANT))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CancelEvent(events_pb2.CancelEventRequest(event_id=event.id), metadata=participant)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await client.get(event.id)).state == events_pb2.Event.SCHEDULED

    admin = bearer(tokens.token(role=Role.ADMIN))
    updated = await client.stub.UpdateEvent(
        events_pb2.UpdateEventRequest(
            event=events_pb2.Event(id=event.id, title="Moderated"), update_mask=_mask("title")
        ),
        metadata=admin,
    )
    assert updated.title == "Moderated"


async def test_update_names_every_invalid_field(client: EventsClient) -> None:
    event = await client.create()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(
            client,
            events_pb2.Event(
                id=event.id,
                title="",
                time_zone="Nowhere/Land",
                capacity=0,
                end_time=stamp(datetime.now(UTC) - timedelta(days=30)),
            ),
            "title",
            "time_zone",
            "capacity",
            "end_time",
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations_of(raised.value)) == [
        "event.capacity",
        "event.end_time",
        "event.time_zone",
        "event.title",
    ]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=event.id), "seats_taken")
    assert violations_of(raised.value) == ["update_mask"]


async def test_capacity_cannot_go_below_seats_taken(client: EventsClient) -> None:
    event = await client.create(capacity=10)
    await client.reserve(event.id, 6)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=event.id, capacity=5), "capacity")
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "CAPACITY_BELOW_SEATS_TAKEN"
    assert error_metadata(raised.value)["seats_taken"] == "6"
    lowered = await _update(client, events_pb2.Event(id=event.id, capacity=6), "capacity")
    assert lowered.seats_available == 0
    assert lowered.max_seats_per_booking == 6  # follows capacity down


async def test_moving_an_event_emits_event_updated_with_previous_values(client: EventsClient) -> None:
    start = soon(days=10)
    event = await client.create(start=start, venue="Old hall", city="Berlin")
    new_start = start + timedelta(days=1)
    await _update(
        client,
        events_pb2.Event(
            id=event.id,
            start_time=stamp(new_start),
            end_time=stamp(new_start + timedelta(hours=2)),
            venue="New hall",
            title="Also renamed",
        ),
        "start_time",
        "end_time",
        "venue",
        "title",
    )
    updates = [m for m in await client.outbox_messages(bus_pb2.EventUpdated) if m.event.id == event.id]
    assert len(updates) == 1
    update = updates[0]
    assert list(update.changed_fields) == ["start_time", "end_time", "venue"]
    assert update.previous_start_time == stamp(start)
    assert update.previous_venue == "Old hall"
    assert update.event.venue == "New hall"
    # A change guests need not hear about emits nothing.
    await _update(client, events_pb2.Event(id=event.id, description="more words"), "description")
    assert len([m for m in await client.outbox_messages(bus_pb2.EventUpdated) if m.event.id == event.id]) == 1


async def test_only_scheduled_events_are_editable(client: EventsClient) -> None:
    event = await client.create()
    await client.stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id), metadata=client.organizer()
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _update(client, events_pb2.Event(id=event.id, title="Revived"), "title")
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "EVENT_NOT_EDITABLE"


# -- delete and cancel --------------------------------------------------------------------------


async def test_delete_a_fresh_event_without_bookings(client: EventsClient) -> None:
    event = await client.create()
    await client.get(event.id)  # cached now
    await client.stub.DeleteEvent(
        events_pb2.DeleteEventRequest(event_id=event.id), metadata=client.organizer()
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get(event.id)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_delete_is_refused_once_anyone_reserved_even_if_released(client: EventsClient) -> None:
    event = await client.create()
    reserved = await client.reserve(event.id)
    await client.release(reserved.reservation_id)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.DeleteEvent(
            events_pb2.DeleteEventRequest(event_id=event.id), metadata=client.organizer()
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "EVENT_HAS_RESERVATIONS"
    assert "cancel" in (raised.value.details() or "")


async def test_delete_is_refused_an_hour_after_creation(client: EventsClient) -> None:
    event = await client.create()
    await client.sql(
        "UPDATE events SET create_time = now() - interval '61 minutes' WHERE id = :id", id=uuid.UUID(event.id)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.DeleteEvent(
            events_pb2.DeleteEventRequest(event_id=event.id), metadata=client.organizer()
        )
    assert error_reason(raised.value) == "DELETE_WINDOW_PASSED"


async def test_delete_with_a_stale_etag_is_aborted(client: EventsClient) -> None:
    event = await client.create()
    await _update(client, events_pb2.Event(id=event.id, title="Changed"), "title")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.DeleteEvent(
            events_pb2.DeleteEventRequest(event_id=event.id, etag=event.etag), metadata=client.organizer()
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED


async def test_cancel_emits_event_cancelled_and_is_idempotent(client: EventsClient) -> None:
    event = await client.create()
    await client.reserve(event.id, 2)
    cancelled = await client.stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id, reason="The band is ill"),
        metadata=client.organizer(),
    )
    assert cancelled.state == events_pb2.Event.CANCELLED
    assert (await client.get(event.id)).state == events_pb2.Event.CANCELLED
    again = await client.stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id, reason="again"), metadata=client.organizer()
    )
    assert again.state == events_pb2.Event.CANCELLED
    messages = [m for m in await client.outbox_messages(bus_pb2.EventCancelled) if m.event.id == event.id]
    assert len(messages) == 1
    assert messages[0].reason == "The band is ill"
    assert messages[0].cancelled_by == client.organizer_id


async def test_cancel_reason_is_bounded(client: EventsClient) -> None:
    event = await client.create()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CancelEvent(
            events_pb2.CancelEventRequest(event_id=event.id, reason="x" * 1001), metadata=client.organizer()
        )
    assert violations_of(raised.value) == ["reason"]


async def test_input_the_database_cannot_hold_is_a_clear_error(client: EventsClient) -> None:
    broken_time = events_pb2.Event(title="x", time_zone="UTC", city="Oslo", capacity=5)
    broken_time.start_time.seconds = 2**62  # far beyond year 9999
    broken_time.end_time.seconds = 2**62 + 60
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.CreateEvent(
            events_pb2.CreateEventRequest(event=broken_time), metadata=client.organizer()
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(raised.value) == ["event.start_time"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.create(title="nul\x00byte", venue="\x00")
    assert sorted(violations_of(raised.value)) == ["event.title", "event.venue"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ListEvents(events_pb2.ListEventsRequest(state=42))  # type: ignore[arg-type]
    assert violations_of(raised.value) == ["state"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ListEvents(events_pb2.ListEventsRequest(query="a\x00b"))
    assert violations_of(raised.value) == ["query"]
