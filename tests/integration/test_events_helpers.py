"""Shared helpers of the events integration tests (imported by the test_events_* modules)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from sqlalchemy import bindparam, insert, select, text

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.events import tables
from services.runtime.auth import Role
from services.runtime.database import Database, Statement
from services.runtime.errors import status_details
from tests.support.engines import Engines
from tests.support.services import ServiceUnderTest, serve_service
from tests.support.tokens import TokenFactory, bearer


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(moment)
    return result


def soon(days: float = 7, hours: float = 0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days, hours=hours)


def event_message(**overrides: Any) -> events_pb2.Event:
    start = overrides.pop("start", soon())
    values: dict[str, Any] = {
        "title": "Jazz in the park",
        "description": "An evening of live jazz.",
        "start_time": stamp(start),
        "end_time": stamp(start + timedelta(hours=3)),
        "time_zone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "Tiergarten",
        "capacity": 100,
    }
    values.update(overrides)
    return events_pb2.Event(**values)


def violations_of(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the BadRequest detail of an INVALID_ARGUMENT."""
    status = status_details(error)
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend(violation.field for violation in bad_request.field_violations)
    return fields


@dataclass
class EventsClient:
    """One events service under test, a channel to it and tokens to call it with."""

    service: ServiceUnderTest
    channel: grpc.aio.Channel
    tokens: TokenFactory
    database: Database
    organizer_id: str

    @property
    def stub(self) -> events_pb2_grpc.EventServiceStub:
        return events_pb2_grpc.EventServiceStub(self.channel)

    @property
    def address(self) -> str:
        return self.service.address

    @property
    def redis_prefix(self) -> str:
        return self.service.settings.redis_prefix

    def organizer(self, subject: str | None = None) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.token(subject or self.organizer_id, Role.ORGANIZER))

    def as_service(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.service_token("bookings"))

    async def create(self, subject: str | None = None, **overrides: Any) -> events_pb2.Event:
        request_id = overrides.pop("request_id", "")
        return await self.stub.CreateEvent(
            events_pb2.CreateEventRequest(event=event_message(**overrides), request_id=request_id),
            metadata=self.organizer(subject),
            timeout=10,
        )

    async def get(self, event_id: str) -> events_pb2.Event:
        return await self.stub.GetEvent(events_pb2.GetEventRequest(event_id=event_id), timeout=10)

    async def reserve(
        self, event_id: str, seats: int = 1, reservation_id: str | None = None
    ) -> events_pb2.ReserveSeatsResponse:
        return await self.stub.ReserveSeats(
            events_pb2.ReserveSeatsRequest(
                event_id=event_id, seats=seats, reservation_id=reservation_id or str(uuid.uuid4())
            ),
            metadata=self.as_service(),
            timeout=30,
        )

    async def release(self, reservation_id: str) -> events_pb2.ReleaseSeatsResponse:
        return await self.stub.ReleaseSeats(
            events_pb2.ReleaseSeatsRequest(reservation_id=reservation_id),
            metadata=self.as_service(),
            timeout=30,
        )

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        return await self.database.rows(text(statement), **params)

    async def outbox_types(self) -> list[str]:
        rows = await self.database.rows(select(tables.outbox.c.type).order_by(tables.outbox.c.id))
        return [row.type for row in rows]

    async def outbox_messages(self, message_class: type[Any]) -> list[Any]:
        rows = await self.database.rows(
            select(tables.outbox.c.envelope)
            .where(tables.outbox.c.type == message_class.DESCRIPTOR.full_name)
            .order_by(tables.outbox.c.id)
        )
        messages = []
        for row in rows:
            envelope = envelope_pb2.Envelope.FromString(row.envelope)
            message = message_class()
            envelope.payload.Unpack(message)
            messages.append(message)
        return messages

    async def seat_invariant(self, event_id: str) -> tuple[int, int]:
        """(seats_taken, sum of seats of unreleased reservations) of one event."""
        rows = await self.sql(
            "SELECT e.seats_taken, COALESCE((SELECT sum(seats) FROM reservations r"
            " WHERE r.event_id = e.id AND r.released_at IS NULL), 0) AS held FROM events e WHERE e.id = :id",
            id=uuid.UUID(event_id),
        )
        return int(rows[0].seats_taken), int(rows[0].held)


@asynccontextmanager
async def events_client(
    tokens: TokenFactory, engines: Engines, **settings: Any
) -> AsyncIterator[EventsClient]:
    # Modest pools: test runs share one PostgreSQL (and its max_connections) with each other.
    settings = {"db_pool_size": 4, "inventory_pool_size": 8, **settings}
    async with serve_service("events", tokens, engines, **settings) as service:
        database = await open_database(service.settings.database_url)
        channel = grpc.aio.insecure_channel(service.address)
        try:
            yield EventsClient(service, channel, tokens, database, organizer_id=str(uuid.uuid4()))
        finally:
            await channel.close()
            await database.close()


async def open_database(url: str) -> Database:
    """The test's own look at an events database (beside the service's pools)."""
    database = Database(url, source="events-test", pool_size=2)
    await database.open()
    return database


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 15.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not reached within {within}s"
        await asyncio.sleep(0.05)


# -- bulk data ----------------------------------------------------------------------------------

CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Leipzig"]
TAGS = ["jazz", "rock", "tech", "food", "art", "kids", "sport", "film"]


def generated_events(
    count: int,
    *,
    seed: int = 1,
    organizers: int = 4,
    cities: list[str] | None = None,
    tags: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the events table with every listed attribute varied (and many sort-key ties)."""
    rng = random.Random(seed)
    cities = cities or CITIES
    tags = tags or TAGS
    organizer_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(organizers)]
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    rows = []
    for index in range(count):
        jazz = index % 9 == 0
        capacity = rng.choice([10, 50, 100])
        rating_count = rng.choice([0, 0, 1, 3, 10])
        start = base + timedelta(hours=index % 200)
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)),
                "organizer_id": rng.choice(organizer_ids),
                "title": f"{'Jazz night' if jazz else 'Evening'} number {index}"
                + (" with saxophone" if index % 500 == 1 else ""),
                "description": "Live music and friends" if jazz else "Talks, games and friends",
                "start_time": start,
                "end_time": start + timedelta(hours=2),
                "time_zone": "Europe/Berlin",
                "city": rng.choice(cities) if rng.random() > 0.1 else rng.choice(cities).upper(),
                "venue": "Hall",
                "capacity": capacity,
                "seats_taken": capacity if rng.random() < 0.2 else rng.randint(0, capacity),
                "max_seats_per_booking": min(10, capacity),
                "tags": rng.sample(tags, rng.randint(0, 3)),
                "requires_approval": False,
                "state": rng.choices(["SCHEDULED", "CANCELLED", "COMPLETED"], [90, 5, 5])[0],
                "rating_sum": sum(rng.randint(1, 5) for _ in range(rating_count)),
                "rating_count": rating_count,
                "create_time": base - timedelta(days=30) + timedelta(minutes=index % 300),
                "update_time": base,
            }
        )
    return rows


async def insert_events(database: Database, rows: list[dict[str, Any]]) -> None:
    statement = Statement.of(insert(tables.events).values({name: bindparam(name) for name in rows[0]}))
    async with database.transaction() as tx:
        for start in range(0, len(rows), 2000):
            await tx.execute_many(statement, rows[start : start + 2000])
