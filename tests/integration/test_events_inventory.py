"""ReserveSeats / ReleaseSeats: atomic, idempotent, never above capacity, never leaking a seat.

Races use real clients on separate gRPC channels (separate HTTP/2 connections) against one real
events server and real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest

from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.runtime.auth import Role
from services.runtime.errors import error_metadata, error_reason
from tests.integration.test_events_helpers import EventsClient, events_client, soon, stamp, violations_of
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory, bearer


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines) as running:
        yield running


async def _race(
    client: EventsClient, requests: list[events_pb2.ReserveSeatsRequest]
) -> list[events_pb2.ReserveSeatsResponse | grpc.aio.AioRpcError]:
    """Every request on its own channel, all sent at once."""
    channels = [grpc.aio.insecure_channel(client.address) for _ in requests]
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        metadata = client.as_service()

        async def send(channel: grpc.aio.Channel, request: events_pb2.ReserveSeatsRequest) -> object:
            try:
                return await events_pb2_grpc.EventServiceStub(channel).ReserveSeats(
                    request, metadata=metadata, timeout=60
                )
            except grpc.aio.AioRpcError as error:
                return error

        return list(await asyncio.gather(*(send(c, r) for c, r in zip(channels, requests, strict=True))))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


async def test_500_concurrent_reservations_of_one_seat_sell_exactly_100(client: EventsClient) -> None:
    event = await client.create(capacity=100)
    requests = [
        events_pb2.ReserveSeatsRequest(event_id=event.id, seats=1, reservation_id=str(uuid.uuid4()))
        for _ in range(500)
    ]
    outcomes = await _race(client, requests)
    won = [o for o in outcomes if isinstance(o, events_pb2.ReserveSeatsResponse)]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 100
    assert len(lost) == 400
    for error in lost:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_reason(error) == "SOLD_OUT"
        assert error_metadata(error)["seats_available"] == "0"
    # Each winner hears the seats left once its reservation committed. Reservations that arrive
    # together commit together (and hear the same number): whoever heard v left, together with all
    # who heard more, is exactly the 100 - v reservations committed by then.
    left = [o.seats_available for o in won]
    assert 0 in left
    for seats in set(left):
        assert sum(1 for other in left if other >= seats) == 100 - seats
    assert (await client.get(event.id)).seats_taken == 100
    assert await client.seat_invariant(event.id) == (100, 100)


async def test_mixed_sizes_never_exceed_capacity(client: EventsClient) -> None:
    event = await client.create(capacity=100)
    sizes = [random.Random(index).randint(1, 4) for index in range(150)]
    requests = [
        events_pb2.ReserveSeatsRequest(event_id=event.id, seats=size, reservation_id=str(uuid.uuid4()))
        for size in sizes
    ]
    outcomes = await _race(client, requests)
    taken = sum(o.seats for o in outcomes if isinstance(o, events_pb2.ReserveSeatsResponse))
    assert taken <= 100
    for outcome in outcomes:
        if isinstance(outcome, grpc.aio.AioRpcError):
            assert error_reason(outcome) == "SOLD_OUT"
            # Refused only when it really did not fit at that moment: what is left is smaller.
            assert int(error_metadata(outcome)["seats_available"]) < int(
                error_metadata(outcome)["seats_requested"]
            )
    seats_taken, held = await client.seat_invariant(event.id)
    assert seats_taken == held == taken
    # Requests of every size were offered more than the capacity, so the last free seats are
    # fewer than the smallest refused request.
    assert 100 - taken < 4


async def test_the_same_reservation_id_twenty_times_reserves_once_and_releases_once(
    client: EventsClient,
) -> None:
    event = await client.create(capacity=10)
    reservation_id = str(uuid.uuid4())
    request = events_pb2.ReserveSeatsRequest(event_id=event.id, seats=3, reservation_id=reservation_id)
    outcomes = await _race(client, [request] * 20)
    assert all(isinstance(o, events_pb2.ReserveSeatsResponse) for o in outcomes), outcomes
    assert {o.reservation_id for o in outcomes} == {reservation_id}  # type: ignore[union-attr]
    assert {o.seats for o in outcomes} == {3}  # type: ignore[union-attr]
    assert await client.seat_invariant(event.id) == (3, 3)

    releases = await asyncio.gather(*(client.release(reservation_id) for _ in range(20)))
    assert sorted(r.seats_released for r in releases) == [0] * 19 + [3]
    assert all(r.event_id == event.id and r.seats_available == 10 for r in releases)
    assert await client.seat_invariant(event.id) == (0, 0)


async def test_a_repeat_returns_the_first_outcome_even_when_sold_out_since(client: EventsClient) -> None:
    event = await client.create(capacity=2)
    first = await client.reserve(event.id, 2)
    again = await client.reserve(event.id, 2, first.reservation_id)
    assert again.reservation_id == first.reservation_id
    assert again.seats == 2
    assert again.event.seats_taken == 2
    assert await client.seat_invariant(event.id) == (2, 2)


async def test_a_reservation_id_reused_for_another_size_is_refused(client: EventsClient) -> None:
    event = await client.create(capacity=10)
    first = await client.reserve(event.id, 2)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(event.id, 3, first.reservation_id)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(raised.value) == "RESERVATION_ID_REUSED"
    assert violations_of(raised.value) == ["reservation_id"]
    assert await client.seat_invariant(event.id) == (2, 2)


async def test_release_of_an_unknown_id_fences_it_against_a_late_reserve(client: EventsClient) -> None:
    event = await client.create(capacity=10)
    reservation_id = str(uuid.uuid4())
    released = await client.release(reservation_id)
    assert released.seats_released == 0
    assert released.event_id == ""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(event.id, 1, reservation_id)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "RESERVATION_RELEASED"
    assert (await client.get(event.id)).seats_taken == 0


async def test_a_released_reservation_never_takes_seats_again(client: EventsClient) -> None:
    event = await client.create(capacity=10)
    reserved = await client.reserve(event.id, 4)
    assert (await client.release(reserved.reservation_id)).seats_released == 4
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(event.id, 4, reserved.reservation_id)
    assert error_reason(raised.value) == "RESERVATION_RELEASED"
    assert await client.seat_invariant(event.id) == (0, 0)


async def test_reserve_racing_release_of_the_same_id_never_leaks(client: EventsClient) -> None:
    """Bookings cancels a timed-out reservation while the reserve is still in flight."""
    event = await client.create(capacity=1000)
    reservation_ids = [str(uuid.uuid4()) for _ in range(60)]

    refusals: list[str] = []

    async def reserve(reservation_id: str) -> None:
        try:
            await client.reserve(event.id, 2, reservation_id)
        except grpc.aio.AioRpcError as error:
            refusals.append(error_reason(error))

    async def release(reservation_id: str) -> None:
        await client.release(reservation_id)

    tasks = []
    for index, reservation_id in enumerate(reservation_ids):
        pair = [reserve(reservation_id), release(reservation_id)]
        tasks.extend(pair if index % 2 else reversed(pair))
    await asyncio.gather(*tasks)
    assert set(refusals) <= {"RESERVATION_RELEASED"}
    # Whichever came first, every id ends released and no seat is held.
    assert await client.seat_invariant(event.id) == (0, 0)
    rows = await client.sql(
        "SELECT count(*) AS open FROM reservations WHERE reservation_id = ANY(:ids) AND released_at IS NULL",
        ids=[uuid.UUID(i) for i in reservation_ids],
    )
    assert rows[0].open == 0


async def test_sold_out_says_how_many_seats_are_left(client: EventsClient) -> None:
    event = await client.create(capacity=5)
    await client.reserve(event.id, 3)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(event.id, 3)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "SOLD_OUT"
    assert error_metadata(raised.value)["seats_available"] == "2"
    # A failed attempt leaves no reservation row behind: the same id can be tried again.
    rows = await client.sql(
        "SELECT count(*) AS n FROM reservations WHERE event_id = :id", id=uuid.UUID(event.id)
    )
    assert rows[0].n == 1


async def test_a_failed_attempt_can_be_retried_with_the_same_id(client: EventsClient) -> None:
    """A waitlisted booking retries with its id once seats come back."""
    event = await client.create(capacity=2)
    holder = await client.reserve(event.id, 2)
    waiting_id = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError):
        await client.reserve(event.id, 1, waiting_id)
    await client.release(holder.reservation_id)
    promoted = await client.reserve(event.id, 1, waiting_id)
    assert promoted.seats_available == 1


async def test_cancelled_started_and_unknown_events_are_refused_with_their_reason(
    client: EventsClient,
) -> None:
    cancelled = await client.create()
    await client.stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=cancelled.id, reason="rain"), metadata=client.organizer()
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(cancelled.id)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(raised.value) == "EVENT_NOT_BOOKABLE"

    started = await client.create()
    await client.sql(
        "UPDATE events SET start_time = now() - interval '1 minute', end_time = now() + interval '1 hour'"
        " WHERE id = :id",
        id=uuid.UUID(started.id),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(started.id)
    assert error_reason(raised.value) == "EVENT_STARTED"

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(str(uuid.uuid4()))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_arguments_are_named(client: EventsClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.ReserveSeats(
            events_pb2.ReserveSeatsRequest(event_id="nope", seats=0, reservation_id=""),
            metadata=client.as_service(),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violations_of(raised.value)) == ["event_id", "reservation_id", "seats"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.reserve(str(uuid.uuid4()), 2**31 - 1)
    assert violations_of(raised.value) == ["seats"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.release("not-a-uuid")
    assert violations_of(raised.value) == ["reservation_id"]


async def test_the_response_carries_what_bookings_needs(client: EventsClient) -> None:
    start = soon(days=3)
    event = await client.create(
        start=start, requires_approval=True, max_seats_per_booking=4, time_zone="Asia/Tokyo", capacity=20
    )
    reserved = await client.reserve(event.id, 4)
    assert reserved.event_id == event.id
    assert reserved.seats == 4
    assert reserved.seats_available == 16
    assert reserved.event.title == event.title
    assert reserved.event.start_time == stamp(start)
    assert reserved.event.time_zone == "Asia/Tokyo"
    assert reserved.event.organizer_id == client.organizer_id
    assert reserved.event.requires_approval
    assert reserved.event.max_seats_per_booking == 4
    assert reserved.event.seats_taken == 4


async def test_inventory_rpcs_are_for_services_only(client: EventsClient, tokens: TokenFactory) -> None:
    event = await client.create()
    for role in (Role.PARTICIPANT, Role.ORGANIZER, Role.ADMIN):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.stub.ReserveSeats(
                events_pb2.ReserveSeatsRequest(event_id=event.id, seats=1, reservation_id=str(uuid.uuid4())),
                metadata=bearer(tokens.token(role=role)),
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.BatchGetEvents(events_pb2.BatchGetEventsRequest(event_ids=[event.id]))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_batch_get_returns_known_events_in_request_order(client: EventsClient) -> None:
    first = await client.create(title="first")
    second = await client.create(title="second")
    reply = await client.stub.BatchGetEvents(
        events_pb2.BatchGetEventsRequest(event_ids=[second.id, str(uuid.uuid4()), first.id, second.id]),
        metadata=client.as_service(),
    )
    assert [event.title for event in reply.events] == ["second", "first"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.stub.BatchGetEvents(
            events_pb2.BatchGetEventsRequest(event_ids=[first.id, "bogus"]), metadata=client.as_service()
        )
    assert violations_of(raised.value) == ["event_ids[1]"]


async def test_capacity_can_grow_under_a_sold_out_event(client: EventsClient) -> None:
    event = await client.create(capacity=2, start=soon(days=1) + timedelta(hours=1))
    await client.reserve(event.id, 2)
    current = await client.get(event.id)
    updated = await client.stub.UpdateEvent(
        events_pb2.UpdateEventRequest(
            event=events_pb2.Event(id=event.id, capacity=3, etag=current.etag),
            update_mask={"paths": ["capacity"]},
        ),
        metadata=client.organizer(),
    )
    assert updated.seats_available == 1
    assert (await client.reserve(event.id, 1)).seats_available == 0
