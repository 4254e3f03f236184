"""Issue 11 on the bookings service: ListBookings refuses page tokens it did not issue for the query,
and a booking whose ReserveSeats was sent settles on its own, whatever its caller does (hangs up,
or the server shuts down under it); the reconciler is set far away here, so only that can settle it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.events.v1 import events_pb2
from services.bookings import app
from services.bookings.clients.events import EventsClient
from services.bookings.domain import NotBookable, Reserved, SoldOut, Unknown
from services.bookings.settings import BookingsSettings
from services.runtime.auth import Role
from services.runtime.server import RunningService, start_service
from tests.integration.test_bookings_service import (
    BOOKINGS_SETTINGS,
    EVENTS_SETTINGS,
    Booking,
    Mesh,
    User,
    eventually,
    mesh_clients,
    refused,
    running_mesh,
)
from tests.integration.test_events_helpers import violations_of
from tests.support.engines import Engines
from tests.support.services import TEST_SERVICE_SECRET, serve_service, wait_serving
from tests.support.tokens import TokenFactory

# The issue's example: a sort key of the wrong types, in the token shape of old, unsigned.
ISSUE_TOKEN = base64.urlsafe_b64encode(b'{"k":["2030-01-01T00:00:00+00:00",1]}').decode().rstrip("=")

# Nothing but the saga itself may settle a booking in these tests: the reconciler looks at a
# PENDING booking only an hour after it was written.
NO_RECONCILER: dict[str, Any] = {"reconcile_after": 3600.0, "reconcile_interval": 600.0}
# How long the fake holds events' answer before handing it to the saga: the window the tests
# hang up (or shut the server down) in.
HOLD_ANSWER = 0.5


@pytest.fixture(scope="module")
async def mesh(tokens: TokenFactory, engines: Engines) -> AsyncIterator[Mesh]:
    async with running_mesh(tokens, engines) as running:
        yield running


# -- defect 2: page tokens ListBookings did not issue for this query ----------------------------


async def test_list_bookings_refuses_page_tokens_it_did_not_issue_for_the_query(mesh: Mesh) -> None:
    host = mesh.user(Role.ORGANIZER)
    guest, other_guest = mesh.user(), mesh.user()
    for _ in range(3):
        event = await mesh.new_event(host)
        await mesh.book(guest, event.id)
        await mesh.book(other_guest, event.id)

    async def listing(user: User, token: str, **filters: Any) -> Any:
        return await mesh.bookings_stub.ListBookings(
            bookings_pb2.ListBookingsRequest(page_size=1, page_token=token, **filters), metadata=user.auth
        )

    first = await listing(guest, "")
    as_host = await listing(host, "", perspective=bookings_pb2.ListBookingsRequest.HOST)
    of_other_guest = await listing(other_guest, "")
    events_page = await mesh.events_stub.ListEvents(events_pb2.ListEventsRequest(page_size=1))
    for page in (first, as_host, of_other_guest, events_page):
        assert page.next_page_token
    await listing(guest, first.next_page_token)  # the genuine one works

    genuine = first.next_page_token
    refusals: list[tuple[str, dict[str, Any]]] = [
        (ISSUE_TOKEN, {}),
        (genuine[:-3], {}),  # truncated
        (genuine[: len(genuine) // 2], {}),
        (genuine + "A", {}),
        (events_page.next_page_token, {}),  # another list, another service
        (as_host.next_page_token, {}),  # the host's list
        (of_other_guest.next_page_token, {}),  # another person's list
        (genuine, {"state": Booking.CONFIRMED}),  # other filters
        (genuine, {"upcoming_only": True}),
        (genuine, {"perspective": bookings_pb2.ListBookingsRequest.HOST}),
    ]
    for token, filters in refusals:
        error = await refused(listing(guest, token, **filters))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (token, filters)
        assert violations_of(error) == ["page_token"], (token, filters)


# -- defect 14: a booking whose seats were reserved settles whatever its caller does ---------------


def holding_answers(answered: asyncio.Event) -> type[EventsClient]:
    """An events client that, once events answered a ReserveSeats, holds the answer a moment before
    handing it on (and says so): the moment the tests' caller goes away in."""

    class HoldingAnswers(EventsClient):
        async def reserve(
            self, *, event_id: str, seats: int, reservation_id: str, budget: float | None = None
        ) -> Reserved | SoldOut | NotBookable | Unknown:
            outcome = await super().reserve(
                event_id=event_id, seats=seats, reservation_id=reservation_id, budget=budget
            )
            answered.set()
            await asyncio.sleep(HOLD_ANSWER)
            return outcome

    return HoldingAnswers


@contextlib.asynccontextmanager
async def bookings_holding_answers(
    tokens: TokenFactory, engines: Engines, answered: asyncio.Event
) -> AsyncIterator[tuple[Mesh, RunningService]]:
    """events, and bookings (its RunningService in the test's hands) with `holding_answers`."""
    prefix = engines.new_redis_prefix()
    async with serve_service("events", tokens, engines, redis_prefix=prefix, **EVENTS_SETTINGS) as events:
        settings = BookingsSettings(
            database_url=engines.new_database("bookings"),
            redis_url=engines.redis_url,
            redis_prefix=prefix,
            events_address=events.address,
            migrate_on_start=False,
            port=0,
            log_format="text",
            service_secret=TEST_SERVICE_SECRET,
            **{**BOOKINGS_SETTINGS, **NO_RECONCILER},
        )
        service = await app.build(
            settings,
            verifier=tokens.verifier(),
            credentials=tokens.credentials("bookings"),
            events_client=holding_answers(answered),
        )
        running = await start_service(service)
        try:
            address = f"127.0.0.1:{running.port}"
            await wait_serving(address)
            async with mesh_clients(
                tokens,
                events_address=events.address,
                events_database=events.settings.database_url,
                bookings_address=address,
                bookings_database=settings.database_url,
            ) as mesh:
                yield mesh, running
        finally:
            # Stopping twice is harmless, for the test that stops it itself.
            await running.stop(0)


def start_booking(mesh: Mesh, guest: User, event_id: str, seats: int) -> Any:
    """CreateBooking as a call the test can cancel."""
    return mesh.bookings_stub.CreateBooking(
        bookings_pb2.CreateBookingRequest(
            booking=bookings_pb2.Booking(event_id=event_id, seats=seats), request_id=str(uuid.uuid4())
        ),
        metadata=guest.auth,
        timeout=30,
    )


async def the_booking_of(mesh: Mesh, guest: User) -> tuple[str, str]:
    row = await mesh.bookings_db.row(
        text("SELECT id, state FROM bookings WHERE user_id = :user"), user=guest.id
    )
    assert row is not None, "the booking was not written"
    return str(row.id), row.state


async def settles_confirmed_promptly(mesh: Mesh, guest: User, event_id: str, seats: int) -> None:
    """Well before the reconciler would look (an hour), the booking is CONFIRMED, announced, and
    events and bookings agree on the seats."""

    async def confirmed() -> bool:
        return (await the_booking_of(mesh, guest))[1] == "CONFIRMED"

    await eventually(confirmed, within=5.0, what="the booking settles without its caller")
    booking_id, _ = await the_booking_of(mesh, guest)
    assert await mesh.bus_types(booking_id) == ["BookingConfirmed"]
    assert await mesh.seats_taken(event_id) == (seats, 5)
    assert await mesh.held(event_id) == seats
    await mesh.assert_invariant(event_id)


async def test_a_client_that_hangs_up_after_reserve_seats_still_gets_its_booking_settled(
    tokens: TokenFactory, engines: Engines
) -> None:
    answered = asyncio.Event()
    async with bookings_holding_answers(tokens, engines, answered) as (mesh, _):
        event = await mesh.new_event(mesh.user(Role.ORGANIZER), capacity=5)
        guest = mesh.user()
        call = start_booking(mesh, guest, event.id, seats=2)
        await asyncio.wait_for(answered.wait(), 10)
        call.cancel()  # the client hangs up while the saga holds events' answer
        with pytest.raises(asyncio.CancelledError):
            await call
        await settles_confirmed_promptly(mesh, guest, event.id, seats=2)


async def test_a_shutdown_lets_a_booking_whose_seats_were_reserved_settle_first(
    tokens: TokenFactory, engines: Engines
) -> None:
    answered = asyncio.Event()
    async with bookings_holding_answers(tokens, engines, answered) as (mesh, running):
        event = await mesh.new_event(mesh.user(Role.ORGANIZER), capacity=5)
        guest = mesh.user()
        call = start_booking(mesh, guest, event.id, seats=3)
        await asyncio.wait_for(answered.wait(), 10)
        # SIGTERM now: no grace for the RPC itself, so it is cut; its saga must still finish
        # before the process lets go of events and its database.
        await running.stop(0)
        error = await refused(call)
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        await settles_confirmed_promptly(mesh, guest, event.id, seats=3)
