"""Bookings against the real events service, on real PostgreSQL and Redis (both in-process).

Every test ends by checking the invariant in the two databases: for each event,
seats_taken == sum(seats of CONFIRMED + AWAITING_APPROVAL + AWAITING_PAYMENT bookings), never above
capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from sqlalchemy import text

from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.runtime.auth import Role
from services.runtime.bus.envelopes import unpack
from services.runtime.database import Database
from services.runtime.errors import error_metadata, error_reason
from tests.support.engines import Engines
from tests.support.services import serve_service
from tests.support.tokens import TokenFactory, bearer

Booking = bookings_pb2.Booking

# Fast background jobs, so tests wait for seconds, not minutes.
BOOKINGS_SETTINGS: dict[str, Any] = {
    "reconcile_after": 1.0,
    "reconcile_interval": 0.2,
    "events_deadline": 1.5,
}
EVENTS_SETTINGS: dict[str, Any] = {"completion_interval": 0.3}


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.1)


@dataclass
class User:
    id: str
    token: str

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.token)


@dataclass
class Mesh:
    """events + bookings in this process, sharing one Redis prefix (so one bus)."""

    tokens: TokenFactory
    events_stub: events_pb2_grpc.EventServiceStub
    bookings_stub: bookings_pb2_grpc.BookingServiceStub
    events_db: Database
    bookings_db: Database

    def user(self, role: Role = Role.PARTICIPANT, *, verified: bool = True) -> User:
        subject = str(uuid.uuid4())
        return User(subject, self.tokens.token(subject, role, verified=verified))

    async def new_event(
        self,
        organizer: User,
        *,
        capacity: int = 10,
        starts_in: timedelta = timedelta(days=7),
        lasts: timedelta = timedelta(hours=2),
        start: datetime | None = None,
        **fields: Any,
    ) -> events_pb2.Event:
        begin = start or datetime.now(UTC) + starts_in
        event = events_pb2.Event(
            title=fields.pop("title", "Concert"),
            start_time=stamp(begin),
            end_time=stamp(begin + lasts),
            time_zone="Europe/Berlin",
            city="Berlin",
            venue="Hall",
            capacity=capacity,
            **fields,
        )
        return await self.events_stub.CreateEvent(
            events_pb2.CreateEventRequest(event=event, request_id=str(uuid.uuid4())), metadata=organizer.auth
        )

    async def book(
        self,
        user: User,
        event_id: str,
        seats: int = 1,
        *,
        waitlist: bool = False,
        request_id: str | None = None,
        stub: bookings_pb2_grpc.BookingServiceStub | None = None,
    ) -> bookings_pb2.Booking:
        return await (stub or self.bookings_stub).CreateBooking(
            bookings_pb2.CreateBookingRequest(
                booking=bookings_pb2.Booking(event_id=event_id, seats=seats, join_waitlist=waitlist),
                request_id=request_id if request_id is not None else str(uuid.uuid4()),
            ),
            metadata=user.auth,
            timeout=15,
        )

    async def get(self, user: User, booking_id: str) -> bookings_pb2.Booking:
        return await self.bookings_stub.GetBooking(
            bookings_pb2.GetBookingRequest(booking_id=booking_id), metadata=user.auth
        )

    async def state(self, booking_id: str) -> int:
        value = await self.bookings_db.scalar(
            text("SELECT state FROM bookings WHERE id = :id"), id=uuid.UUID(booking_id)
        )
        return Booking.State.Value(value)

    async def seats_taken(self, event_id: str) -> tuple[int, int]:
        row = await self.events_db.row(
            text("SELECT seats_taken, capacity FROM events WHERE id = :id"), id=uuid.UUID(event_id)
        )
        assert row is not None
        return row.seats_taken, row.capacity

    async def held(self, event_id: str) -> int:
        return int(
            await self.bookings_db.scalar(
                text(
                    "SELECT coalesce(sum(seats), 0) FROM bookings WHERE event_id = :id "
                    "AND state IN ('CONFIRMED', 'AWAITING_APPROVAL', 'AWAITING_PAYMENT')"
                ),
                id=event_id,
            )
        )

    async def settled(self, event_id: str) -> bool:
        unsettled = await self.bookings_db.scalar(
            text(
                "SELECT count(*) FROM bookings WHERE event_id = :id "
                "AND (state = 'PENDING' OR release_pending)"
            ),
            id=event_id,
        )
        return unsettled == 0

    async def assert_invariant(self, event_id: str) -> None:
        """Once every booking of the event is settled, events and bookings agree on its seats."""

        async def agreed() -> bool:
            if not await self.settled(event_id):
                return False
            taken, _ = await self.seats_taken(event_id)
            return taken == await self.held(event_id)

        await eventually(agreed, what=f"seats of {event_id} agree")
        taken, capacity = await self.seats_taken(event_id)
        assert 0 <= taken <= capacity

    async def bus_types(self, booking_id: str) -> list[str]:
        """Types of the bus events bookings wrote about one booking, in order."""
        rows = await self.bookings_db.rows(text("SELECT envelope FROM outbox ORDER BY id"))
        found = []
        for (raw,) in rows:
            envelope = envelope_pb2.Envelope.FromString(raw)
            message = unpack(envelope)
            inner = (
                getattr(message, "booking", None)
                or getattr(message, "review", None)
                or getattr(message, "rating", None)
            )
            if inner is not None and inner.booking_id == booking_id:
                found.append(envelope.type.rsplit(".", 1)[-1])
        return found


@contextlib.asynccontextmanager
async def mesh_clients(
    tokens: TokenFactory,
    *,
    events_address: str,
    events_database: str,
    bookings_address: str,
    bookings_database: str,
) -> AsyncIterator[Mesh]:
    events_channel = grpc.aio.insecure_channel(events_address)
    bookings_channel = grpc.aio.insecure_channel(bookings_address)
    events_db = Database(events_database, source="tests", pool_size=2)
    bookings_db = Database(bookings_database, source="tests", pool_size=2)
    await events_db.open()
    await bookings_db.open()
    try:
        yield Mesh(
            tokens=tokens,
            events_stub=events_pb2_grpc.EventServiceStub(events_channel),
            bookings_stub=bookings_pb2_grpc.BookingServiceStub(bookings_channel),
            events_db=events_db,
            bookings_db=bookings_db,
        )
    finally:
        await events_channel.close()
        await bookings_channel.close()
        await events_db.close()
        await bookings_db.close()


@contextlib.asynccontextmanager
async def running_mesh(
    tokens: TokenFactory,
    engines: Engines,
    *,
    bookings_settings: dict[str, Any] | None = None,
    events_in_front: Callable[[str], Awaitable[str]] | None = None,
) -> AsyncIterator[Mesh]:
    """events and bookings in this process; `events_in_front` may put something between them."""
    prefix = engines.new_redis_prefix()
    async with serve_service("events", tokens, engines, redis_prefix=prefix, **EVENTS_SETTINGS) as events:
        events_address = events.address if events_in_front is None else await events_in_front(events.address)
        settings = {**BOOKINGS_SETTINGS, **(bookings_settings or {})}
        async with (
            serve_service(
                "bookings", tokens, engines, redis_prefix=prefix, events_address=events_address, **settings
            ) as bookings,
            mesh_clients(
                tokens,
                events_address=events.address,
                events_database=events.settings.database_url,
                bookings_address=bookings.address,
                bookings_database=bookings.settings.database_url,
            ) as clients,
        ):
            yield clients


@pytest.fixture(scope="module")
async def mesh(tokens: TokenFactory, engines: Engines) -> AsyncIterator[Mesh]:
    async with running_mesh(tokens, engines) as running:
        yield running


@pytest.fixture
def host(mesh: Mesh) -> User:
    return mesh.user(Role.ORGANIZER)


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


# -- the saga -----------------------------------------------------------------------------------


async def test_a_booking_takes_seats_and_is_confirmed_with_the_event_facts(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=10, title="Jazz night")
    guest = mesh.user()
    booking = await mesh.book(guest, event.id, seats=3)
    assert booking.state == Booking.CONFIRMED
    assert (booking.user_id, booking.seats, booking.event_id) == (guest.id, 3, event.id)
    assert booking.event_title == "Jazz night"
    assert booking.event_time_zone == "Europe/Berlin"
    assert booking.event_start_time == event.start_time
    assert await mesh.seats_taken(event.id) == (3, 10)
    assert await mesh.bus_types(booking.id) == ["BookingConfirmed"]
    await mesh.assert_invariant(event.id)


async def test_the_rules_bookings_owns_each_have_their_reason(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=10, max_seats_per_booking=4)
    guest = mesh.user()
    own = await refused(mesh.book(host, event.id))
    assert (own.code(), error_reason(own)) == (grpc.StatusCode.FAILED_PRECONDITION, "OWN_EVENT")
    too_many = await refused(mesh.book(guest, event.id, seats=5))
    assert (too_many.code(), error_reason(too_many)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "SEATS_OUT_OF_RANGE",
    )
    assert "booking.seats" in (too_many.details() or "")
    missing = await refused(mesh.book(guest, str(uuid.uuid4())))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    unverified = mesh.user(verified=False)
    not_verified = await refused(mesh.book(unverified, event.id))
    assert error_reason(not_verified) == "EMAIL_NOT_VERIFIED"

    await mesh.book(guest, event.id, seats=2)
    again = await refused(mesh.book(guest, event.id))
    assert (again.code(), error_reason(again)) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_BOOKED")

    same_time = await mesh.new_event(host, start=event.start_time.ToDatetime(tzinfo=UTC))
    conflict = await refused(mesh.book(guest, same_time.id))
    assert (conflict.code(), error_reason(conflict)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SCHEDULE_CONFLICT",
    )

    cancelled = await mesh.new_event(host)
    await mesh.events_stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=cancelled.id), metadata=host.auth
    )
    gone = await refused(mesh.book(guest, cancelled.id))
    assert error_reason(gone) == "EVENT_NOT_BOOKABLE"
    for event_id in (event.id, same_time.id, cancelled.id):
        await mesh.assert_invariant(event_id)


async def test_sold_out_rejects_with_seats_left_or_waitlists_with_a_position(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=3)
    await mesh.book(mesh.user(), event.id, seats=2)
    sold_out = await refused(mesh.book(mesh.user(), event.id, seats=2))
    assert (sold_out.code(), error_reason(sold_out)) == (grpc.StatusCode.FAILED_PRECONDITION, "SOLD_OUT")
    assert error_metadata(sold_out)["seats_available"] == "1"
    first = await mesh.book(mesh.user(), event.id, seats=2, waitlist=True)
    second = await mesh.book(mesh.user(), event.id, seats=3, waitlist=True)
    assert (first.state, first.waitlist_position) == (Booking.WAITLISTED, 1)
    assert (second.state, second.waitlist_position) == (Booking.WAITLISTED, 2)
    assert await mesh.bus_types(first.id) == ["BookingWaitlisted"]
    await mesh.assert_invariant(event.id)


async def test_the_same_request_id_ten_times_at_once_makes_one_booking(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=5)
    guest = mesh.user()
    request_id = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(mesh.book(guest, event.id, seats=2, request_id=request_id) for _ in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(answer, bookings_pb2.Booking) for answer in answers), answers
    assert {answer.id for answer in answers} == {answers[0].id}  # type: ignore[union-attr]
    assert {answer.state for answer in answers} == {Booking.CONFIRMED}  # type: ignore[union-attr]
    assert await mesh.seats_taken(event.id) == (2, 5)
    assert await mesh.bus_types(answers[0].id) == ["BookingConfirmed"]  # type: ignore[union-attr]

    different = await refused(mesh.book(guest, event.id, seats=3, request_id=request_id))
    assert (different.code(), error_reason(different)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
    )
    # A repeat gets the first booking even after the event sold out.
    await mesh.book(mesh.user(), event.id, seats=3)
    repeat = await mesh.book(guest, event.id, seats=2, request_id=request_id)
    assert repeat.id == answers[0].id  # type: ignore[union-attr]
    await mesh.assert_invariant(event.id)


async def test_two_events_at_the_same_start_booked_at_once_only_one_succeeds(mesh: Mesh, host: User) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    first = await mesh.new_event(host, start=start)
    second = await mesh.new_event(host, start=start)
    for _ in range(5):
        guest = mesh.user()
        answers = await asyncio.gather(
            mesh.book(guest, first.id), mesh.book(guest, second.id), return_exceptions=True
        )
        won = [answer for answer in answers if isinstance(answer, bookings_pb2.Booking)]
        lost = [answer for answer in answers if isinstance(answer, grpc.aio.AioRpcError)]
        assert len(won) == 1, answers
        assert [error_reason(error) for error in lost] == ["SCHEDULE_CONFLICT"]
    await mesh.assert_invariant(first.id)
    await mesh.assert_invariant(second.id)


async def test_many_guests_race_for_the_last_seats(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=20)
    answers = await asyncio.gather(
        *(mesh.book(mesh.user(), event.id, waitlist=True) for _ in range(60)), return_exceptions=True
    )
    assert all(isinstance(answer, bookings_pb2.Booking) for answer in answers), answers
    states = [answer.state for answer in answers]  # type: ignore[union-attr]
    assert states.count(Booking.CONFIRMED) == 20
    assert states.count(Booking.WAITLISTED) == 40
    positions = sorted(answer.waitlist_position for answer in answers if answer.state == Booking.WAITLISTED)  # type: ignore[union-attr]
    assert positions == list(range(1, 41))
    assert await mesh.seats_taken(event.id) == (20, 20)
    await mesh.assert_invariant(event.id)


# -- cancel and the waitlist --------------------------------------------------------------------


async def test_cancel_releases_seats_and_promotes_the_first_waitlisted_booking_that_fits(
    mesh: Mesh, host: User
) -> None:
    event = await mesh.new_event(host, capacity=3)
    guest = mesh.user()
    mine = await mesh.book(guest, event.id, seats=2)
    await mesh.book(mesh.user(), event.id, seats=1)
    big = await mesh.book(mesh.user(), event.id, seats=3, waitlist=True)
    fits = await mesh.book(mesh.user(), event.id, seats=2, waitlist=True)
    later = await mesh.book(mesh.user(), event.id, seats=1, waitlist=True)
    assert [big.waitlist_position, fits.waitlist_position, later.waitlist_position] == [1, 2, 3]

    cancelled = await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=mine.id, reason="cannot come"), metadata=guest.auth
    )
    assert cancelled.state == Booking.CANCELLED

    async def promoted() -> bool:
        return await mesh.state(fits.id) == Booking.CONFIRMED

    await eventually(promoted, what="the 2-seat waitlisted booking is promoted")
    await mesh.assert_invariant(event.id)
    assert await mesh.seats_taken(event.id) == (3, 3)
    assert await mesh.state(big.id) == Booking.WAITLISTED
    assert await mesh.state(later.id) == Booking.WAITLISTED
    still = await mesh.get(host, big.id)
    assert still.waitlist_position == 1
    assert await mesh.bus_types(fits.id) == ["BookingWaitlisted", "BookingPromoted"]
    assert await mesh.bus_types(mine.id) == ["BookingConfirmed", "BookingCancelled"]

    # Cancelling twice answers the same; a waitlist entry cancels without seats to release.
    again = await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=mine.id), metadata=guest.auth
    )
    assert again.state == Booking.CANCELLED
    await mesh.assert_invariant(event.id)


async def test_a_sold_out_event_is_answered_without_asking_events_again(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=1)
    holder = mesh.user()
    await mesh.book(holder, event.id)
    # The first refusal asks events (and leaves a REJECTED booking); bookings learns it is sold out.
    first = await refused(mesh.book(mesh.user(), event.id))
    assert error_reason(first) == "SOLD_OUT"

    async def rejected() -> int:
        return int(
            await mesh.bookings_db.scalar(
                text("SELECT count(*) FROM bookings WHERE event_id = :e AND state = 'REJECTED'"), e=event.id
            )
        )

    before = await rejected()
    late = [mesh.user() for _ in range(5)]
    for guest in late:
        error = await refused(mesh.book(guest, event.id))
        assert (error.code(), error_reason(error)) == (grpc.StatusCode.FAILED_PRECONDITION, "SOLD_OUT")
        assert error_metadata(error)["seats_available"] == "0"
    # Answered at once: no booking written for them.
    assert await rejected() == before
    # Asking to wait: written in line at once, with a position.
    waiting = [await mesh.book(mesh.user(), event.id, waitlist=True) for _ in range(3)]
    assert [(b.state, b.waitlist_position) for b in waiting] == [(Booking.WAITLISTED, n) for n in (1, 2, 3)]
    # The same request again gets the first answer, as ever; the holder is still told ALREADY_BOOKED.
    request_id = str(uuid.uuid4())
    again = [await mesh.book(late[0], event.id, waitlist=True, request_id=request_id) for _ in range(2)]
    assert again[0].id == again[1].id
    assert again[0].waitlist_position == 4
    assert error_reason(await refused(mesh.book(holder, event.id))) == "ALREADY_BOOKED"
    await mesh.assert_invariant(event.id)


async def test_the_waitlist_length_follows_every_way_in_and_out(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=2)
    holders = [mesh.user() for _ in range(2)]
    held = [await mesh.book(guest, event.id) for guest in holders]
    waiting = [
        (guest, await mesh.book(guest, event.id, waitlist=True)) for guest in (mesh.user() for _ in range(4))
    ]

    async def lengths() -> tuple[int, int]:
        row = await mesh.bookings_db.row(
            text(
                "SELECT (SELECT waiting FROM waitlist_lengths WHERE event_id = :e),"
                " (SELECT count(*) FROM bookings WHERE event_id = :e AND state = 'WAITLISTED')"
            ),
            e=event.id,
        )
        assert row is not None
        return int(row[0]), int(row[1])

    assert await lengths() == (4, 4)
    # Out of line by cancelling, and by promotion when a seat is freed.
    guest, entry = waiting[0]
    await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=entry.id), metadata=guest.auth
    )
    await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=held[0].id), metadata=holders[0].auth
    )

    async def promoted() -> bool:
        return await mesh.state(waiting[1][1].id) == Booking.CONFIRMED

    await eventually(promoted, what="the first in line is promoted")
    assert await lengths() == (2, 2)
    assert (await mesh.get(host, waiting[3][1].id)).waitlist_position == 2
    late = await mesh.book(mesh.user(), event.id, waitlist=True)
    assert late.waitlist_position == 3
    assert await lengths() == (3, 3)
    await mesh.assert_invariant(event.id)


async def test_the_host_cancels_a_guests_booking(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=4)
    booking = await mesh.book(mesh.user(), event.id, seats=4)
    cancelled = await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=booking.id), metadata=host.auth
    )
    assert cancelled.state == Booking.CANCELLED
    await mesh.assert_invariant(event.id)
    assert await mesh.seats_taken(event.id) == (0, 4)


# -- host approval ------------------------------------------------------------------------------


async def test_approval_holds_seats_until_the_host_approves_or_rejects(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=4, requires_approval=True)
    guest, other = mesh.user(), mesh.user()
    asking = await mesh.book(guest, event.id, seats=2)
    assert asking.state == Booking.AWAITING_APPROVAL
    declined = await mesh.book(other, event.id, seats=2)
    assert await mesh.seats_taken(event.id) == (4, 4)
    await mesh.assert_invariant(event.id)

    pending = await mesh.bookings_stub.ListBookings(
        bookings_pb2.ListBookingsRequest(
            perspective=bookings_pb2.ListBookingsRequest.HOST, state=Booking.AWAITING_APPROVAL
        ),
        metadata=host.auth,
    )
    assert {booking.id for booking in pending.bookings} == {asking.id, declined.id}

    not_host = await refused(
        mesh.bookings_stub.ApproveBooking(
            bookings_pb2.ApproveBookingRequest(booking_id=asking.id), metadata=guest.auth
        )
    )
    assert (not_host.code(), error_reason(not_host)) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_HOST")
    stranger = await refused(
        mesh.bookings_stub.ApproveBooking(
            bookings_pb2.ApproveBookingRequest(booking_id=asking.id), metadata=mesh.user().auth
        )
    )
    assert stranger.code() == grpc.StatusCode.NOT_FOUND

    approved = await mesh.bookings_stub.ApproveBooking(
        bookings_pb2.ApproveBookingRequest(booking_id=asking.id), metadata=host.auth
    )
    assert approved.state == Booking.CONFIRMED
    rejected = await mesh.bookings_stub.RejectBooking(
        bookings_pb2.RejectBookingRequest(booking_id=declined.id, reason="full house"), metadata=host.auth
    )
    assert rejected.state == Booking.REJECTED
    await mesh.assert_invariant(event.id)
    assert await mesh.seats_taken(event.id) == (2, 4)
    twice = await refused(
        mesh.bookings_stub.ApproveBooking(
            bookings_pb2.ApproveBookingRequest(booking_id=declined.id), metadata=host.auth
        )
    )
    assert error_reason(twice) == "NOT_AWAITING_APPROVAL"
    assert await mesh.bus_types(asking.id) == ["BookingAwaitingApproval", "BookingApproved"]
    assert await mesh.bus_types(declined.id) == ["BookingAwaitingApproval", "BookingRejected"]


async def test_an_unanswered_request_expires_after_the_hold_and_frees_its_seats(
    tokens: TokenFactory, engines: Engines
) -> None:
    async with running_mesh(tokens, engines, bookings_settings={"approval_hold": 1.5}) as short:
        host = short.user(Role.ORGANIZER)
        event = await short.new_event(host, capacity=2, requires_approval=True)
        asking = await short.book(short.user(), event.id, seats=2)
        assert asking.state == Booking.AWAITING_APPROVAL
        waiting = await short.book(short.user(), event.id, seats=1, waitlist=True)
        assert waiting.state == Booking.WAITLISTED

        async def expired() -> bool:
            return await short.state(asking.id) == Booking.EXPIRED

        await eventually(expired, what="the approval request expires")
        late = await refused(
            short.bookings_stub.ApproveBooking(
                bookings_pb2.ApproveBookingRequest(booking_id=asking.id), metadata=host.auth
            )
        )
        assert error_reason(late) == "NOT_AWAITING_APPROVAL"

        # Its seats went back and the waitlist moved up (into a new approval request).
        async def promoted() -> bool:
            return await short.state(waiting.id) == Booking.AWAITING_APPROVAL

        await eventually(promoted, what="the waitlisted booking is promoted")
        await short.assert_invariant(event.id)
        assert await short.bus_types(asking.id) == ["BookingAwaitingApproval", "BookingExpired"]


async def test_requests_and_waitlist_entries_expire_when_the_event_starts(mesh: Mesh, host: User) -> None:
    event = await mesh.new_event(host, capacity=2, requires_approval=True, starts_in=timedelta(seconds=3))
    asking = await mesh.book(mesh.user(), event.id, seats=2)
    waiting = await mesh.book(mesh.user(), event.id, seats=1, waitlist=True)
    assert (asking.state, waiting.state) == (Booking.AWAITING_APPROVAL, Booking.WAITLISTED)

    async def both_expired() -> bool:
        return {await mesh.state(asking.id), await mesh.state(waiting.id)} == {Booking.EXPIRED}

    await eventually(both_expired, what="the request and the waitlist entry expire at the start")
    await mesh.assert_invariant(event.id)
    assert await mesh.seats_taken(event.id) == (0, 2)
    assert await mesh.bus_types(waiting.id) == ["BookingWaitlisted", "BookingExpired"]


# -- who sees what ------------------------------------------------------------------------------


async def test_a_booking_is_visible_to_its_guest_host_and_admins_and_hidden_from_others(
    mesh: Mesh, host: User
) -> None:
    event = await mesh.new_event(host, capacity=5)
    guest = mesh.user()
    booking = await mesh.book(guest, event.id)
    for viewer in (guest, host, mesh.user(Role.ADMIN)):
        assert (await mesh.get(viewer, booking.id)).id == booking.id
    stranger = mesh.user()
    for call in (
        mesh.get(stranger, booking.id),
        mesh.get(stranger, "not-a-booking-id"),
        mesh.bookings_stub.CancelBooking(
            bookings_pb2.CancelBookingRequest(booking_id=booking.id), metadata=stranger.auth
        ),
        mesh.bookings_stub.ReviewBooking(
            bookings_pb2.ReviewBookingRequest(booking_id=booking.id, event_rating=5, host_rating=5),
            metadata=stranger.auth,
        ),
        mesh.bookings_stub.RateGuest(
            bookings_pb2.RateGuestRequest(booking_id=booking.id, rating=5), metadata=stranger.auth
        ),
    ):
        error = await refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
    assert (await mesh.get(guest, booking.id)).state == Booking.CONFIRMED


async def test_lists_as_guest_and_host_with_filters_walk_every_page_once(mesh: Mesh, host: User) -> None:
    guest = mesh.user()
    events = [await mesh.new_event(host, capacity=5, starts_in=timedelta(days=10 + i)) for i in range(7)]
    made = [await mesh.book(guest, event.id) for event in events]
    await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=made[0].id), metadata=guest.auth
    )

    async def walk(user: User, **filters: Any) -> list[bookings_pb2.Booking]:
        seen: list[bookings_pb2.Booking] = []
        token = ""
        while True:
            page = await mesh.bookings_stub.ListBookings(
                bookings_pb2.ListBookingsRequest(page_size=3, page_token=token, **filters), metadata=user.auth
            )
            seen.extend(page.bookings)
            token = page.next_page_token
            if not token:
                return seen

    mine = await walk(guest)
    assert [booking.id for booking in mine] == [booking.id for booking in reversed(made)]
    assert all(booking.event_title == "Concert" and booking.event_start_time.seconds for booking in mine)
    confirmed = await walk(guest, state=Booking.CONFIRMED)
    assert len(confirmed) == 6
    assert [booking.id for booking in await walk(guest, event_id=events[3].id)] == [made[3].id]
    hosted = await walk(host, perspective=bookings_pb2.ListBookingsRequest.HOST)
    assert {booking.id for booking in made} <= {booking.id for booking in hosted}
    assert await walk(mesh.user()) == []
    upcoming = await walk(guest, upcoming_only=True)
    assert len(upcoming) == 7

    bad = await refused(
        mesh.bookings_stub.ListBookings(
            bookings_pb2.ListBookingsRequest(page_token="garbage"), metadata=guest.auth
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    # An event id is a UUID in any spelling; anything else is refused, naming the field.
    assert [booking.id for booking in await walk(guest, event_id=events[3].id.upper())] == [made[3].id]
    not_an_id = await refused(
        mesh.bookings_stub.ListBookings(
            bookings_pb2.ListBookingsRequest(event_id="not-an-event"), metadata=guest.auth
        )
    )
    assert not_an_id.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "event_id" in not_an_id.details()


# -- what the bus tells about events ------------------------------------------------------------


async def test_a_cancelled_event_cancels_its_bookings_and_gives_their_seats_back(
    mesh: Mesh, host: User
) -> None:
    event = await mesh.new_event(host, capacity=3)
    held = [await mesh.book(mesh.user(), event.id) for _ in range(3)]
    waiting = await mesh.book(mesh.user(), event.id, waitlist=True)
    await mesh.events_stub.CancelEvent(
        events_pb2.CancelEventRequest(event_id=event.id, reason="storm"), metadata=host.auth
    )

    async def all_cancelled() -> bool:
        states = [await mesh.state(booking.id) for booking in [*held, waiting]]
        return set(states) == {Booking.CANCELLED}

    await eventually(all_cancelled, what="every booking of the cancelled event is cancelled")
    await mesh.assert_invariant(event.id)
    assert await mesh.seats_taken(event.id) == (0, 3)
    assert await mesh.bus_types(held[0].id) == ["BookingConfirmed", "BookingCancelled"]


async def test_a_moved_event_moves_its_bookings_and_a_conflict_it_creates_keeps_both(
    mesh: Mesh, host: User
) -> None:
    guest = mesh.user()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    staying = await mesh.new_event(host, start=start)
    moving = await mesh.new_event(host, start=start + timedelta(hours=5))
    first = await mesh.book(guest, staying.id)
    second = await mesh.book(guest, moving.id)
    moved = events_pb2.Event(
        id=moving.id, start_time=stamp(start), end_time=stamp(start + timedelta(hours=2))
    )
    await mesh.events_stub.UpdateEvent(
        events_pb2.UpdateEventRequest(event=moved, update_mask={"paths": ["start_time", "end_time"]}),
        metadata=host.auth,
    )

    async def copied() -> bool:
        return (await mesh.get(guest, second.id)).event_start_time == stamp(start)

    await eventually(copied, what="the booking follows its event's new start time")
    # The organizer made the clash, not the guest: both bookings stand, the guest chooses.
    assert (await mesh.get(guest, first.id)).state == Booking.CONFIRMED
    assert (await mesh.get(guest, second.id)).state == Booking.CONFIRMED
    # ...but the guest cannot add a third booking at that time.
    third = await mesh.new_event(host, start=start)
    conflict = await refused(mesh.book(guest, third.id))
    assert error_reason(conflict) == "SCHEDULE_CONFLICT"
    for event in (staying, moving, third):
        await mesh.assert_invariant(event.id)


# -- reviews ------------------------------------------------------------------------------------


async def test_reviews_and_guest_ratings_once_per_attended_booking_of_a_completed_event(
    mesh: Mesh, host: User
) -> None:
    event = await mesh.new_event(host, capacity=5, starts_in=timedelta(seconds=3), lasts=timedelta(seconds=1))
    guest, dropout = mesh.user(), mesh.user()
    attended = await mesh.book(guest, event.id)
    gone = await mesh.book(dropout, event.id)
    await mesh.bookings_stub.CancelBooking(
        bookings_pb2.CancelBookingRequest(booking_id=gone.id), metadata=dropout.auth
    )

    def review(booking_id: str, user: User, **fields: Any) -> Awaitable[bookings_pb2.BookingReview]:
        values = {"event_rating": 5, "host_rating": 4, "comment": "Lovely evening", **fields}
        return mesh.bookings_stub.ReviewBooking(
            bookings_pb2.ReviewBookingRequest(booking_id=booking_id, **values), metadata=user.auth
        )

    early = await refused(review(attended.id, guest))
    assert error_reason(early) == "EVENT_NOT_COMPLETED"

    async def completed() -> bool:
        return (await mesh.events_stub.GetEvent(events_pb2.GetEventRequest(event_id=event.id))).state == (
            events_pb2.Event.COMPLETED
        )

    await eventually(completed, within=30, what="the event completes")

    async def reviewable() -> bool:
        try:
            await review(attended.id, guest)
        except grpc.aio.AioRpcError as error:
            if error_reason(error) != "EVENT_NOT_COMPLETED":
                raise
            return False
        return True

    await eventually(reviewable, what="EventCompleted reaches bookings")
    twice = await refused(review(attended.id, guest))
    assert (twice.code(), error_reason(twice)) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_REVIEWED")
    absent = await refused(review(gone.id, dropout))
    assert error_reason(absent) == "NOT_ATTENDED"
    invalid = await refused(review(attended.id, guest, event_rating=6, comment="x" * 2001))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    by_host = await refused(review(attended.id, host))
    assert by_host.code() == grpc.StatusCode.PERMISSION_DENIED

    rating = await mesh.bookings_stub.RateGuest(
        bookings_pb2.RateGuestRequest(booking_id=attended.id, rating=5), metadata=host.auth
    )
    assert (rating.guest_id, rating.host_id, rating.rating) == (guest.id, host.id, 5)
    again = await refused(
        mesh.bookings_stub.RateGuest(
            bookings_pb2.RateGuestRequest(booking_id=attended.id, rating=4), metadata=host.auth
        )
    )
    assert error_reason(again) == "ALREADY_RATED"
    by_guest = await refused(
        mesh.bookings_stub.RateGuest(
            bookings_pb2.RateGuestRequest(booking_id=attended.id, rating=4), metadata=guest.auth
        )
    )
    assert by_guest.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await mesh.bus_types(attended.id) == ["BookingConfirmed", "ReviewSubmitted", "GuestRated"]

    # events keeps the review list and the event's average (from ReviewSubmitted on the bus).
    async def averaged() -> bool:
        found = await mesh.events_stub.GetEvent(events_pb2.GetEventRequest(event_id=event.id))
        return found.rating_count == 1 and found.rating_average == 5.0

    await eventually(averaged, what="the event's rating average includes the review")
    reviews = events_pb2.ListReviewsRequest(event_id=event.id)
    public = await mesh.events_stub.ListReviews(reviews)
    # Public: the review, not which booking (whose attendance) it comes from.
    assert [(item.comment, item.booking_id, item.author_id) for item in public.reviews] == [
        ("Lovely evening", "", "")
    ]
    own = await mesh.events_stub.ListReviews(reviews, metadata=guest.auth)
    assert [(item.booking_id, item.author_id) for item in own.reviews] == [(attended.id, guest.id)]
