"""Outbox -> Redis Streams -> consumer group with inbox: each effect once, poison set aside."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import Column, MetaData, Table, Text, func, insert, select
from sqlalchemy.schema import CreateTable

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.users.v1 import bus_pb2
from services.runtime.bus.consumer import BusConsumer
from services.runtime.bus.envelopes import DEAD_LETTER_STREAM, envelope_for, stream_name
from services.runtime.bus.relay import OutboxRelay
from services.runtime.bus.tables import outbox_table
from services.runtime.database import Database, Transaction
from services.runtime.redis import create_redis
from tests.support.engines import Engines

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "users" / "migrations"

metadata = MetaData()
outbox = outbox_table(metadata)
effects = Table("bus_test_effects", metadata, Column("note", Text, nullable=False))


@pytest.fixture
async def bus(engines: Engines) -> AsyncIterator[tuple[Database, object, str]]:
    url = engines.new_database("users", MIGRATIONS)
    database = Database(url, source="users", pool_size=5)
    await database.open()
    await database.execute(CreateTable(effects))
    redis = create_redis(engines.redis_url)
    prefix = engines.new_redis_prefix()
    yield database, redis, prefix  # type: ignore[misc]
    await redis.aclose()
    await database.close()


async def _record(tx: Transaction, envelope: envelope_pb2.Envelope, message: object) -> None:
    assert isinstance(message, bus_pb2.UserRegistered)
    if message.email == "poison@example.com":
        raise ValueError("cannot handle this one")
    await tx.execute(insert(effects).values(note=message.email))


async def _effects(database: Database) -> list[str]:
    return [row.note for row in await database.rows(select(effects.c.note))]


async def _unsent(database: Database) -> int:
    return int(await database.scalar(select(func.count()).where(outbox.c.published_at.is_(None))))


async def _eventually(predicate, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_events_flow_once_in_order_and_poison_is_dead_lettered(bus) -> None:  # type: ignore[no-untyped-def]
    database, redis, prefix = bus
    async with database.transaction() as tx:
        for email in ["a@example.com", "poison@example.com", "b@example.com"]:
            await tx.publish(bus_pb2.UserRegistered(email=email))
    relay = OutboxRelay(database=database, redis=redis, stream=stream_name(prefix, "users"))
    consumer = BusConsumer(
        database=database,
        transaction=Transaction,
        redis=redis,
        prefix=prefix,
        group="test",
        sources=["users"],
        handlers={bus_pb2.UserRegistered.DESCRIPTOR.full_name: _record},
        claim_idle_ms=100,
        max_attempts=3,
        block_ms=100,
    )
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:

        async def all_done() -> bool:
            return sorted(await _effects(database)) == ["a@example.com", "b@example.com"] and bool(
                await redis.xlen(prefix + DEAD_LETTER_STREAM)
            )

        await _eventually(all_done)
        # The relay marked everything sent, in order.
        assert await _unsent(database) == 0
        entries = await redis.xrange(stream_name(prefix, "users"))
        emails = []
        for _, fields in entries:
            envelope = envelope_pb2.Envelope.FromString(fields[b"e"])
            message = bus_pb2.UserRegistered()
            envelope.payload.Unpack(message)
            emails.append(message.email)
        assert emails == ["a@example.com", "poison@example.com", "b@example.com"]
        dead = await redis.xrange(prefix + DEAD_LETTER_STREAM)
        assert dead[0][1][b"group"] == b"test"

        # Redelivering every message (as after a crash before XACK) changes nothing.
        for message_id, fields in entries:
            await consumer.process(stream_name(prefix, "users"), message_id.decode(), fields)
        assert sorted(await _effects(database)) == ["a@example.com", "b@example.com"]
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_after_commit_callbacks_run_only_when_the_handler_commits(bus) -> None:  # type: ignore[no-untyped-def]
    database, redis, prefix = bus
    ran: list[str] = []

    async def handler(tx: Transaction, envelope: envelope_pb2.Envelope, message: object) -> None:
        assert isinstance(message, bus_pb2.UserRegistered)
        await tx.execute(insert(effects).values(note=message.email))

        async def note() -> None:
            ran.append(message.email)

        tx.after_commit(note)
        if message.email == "poison@example.com":
            raise ValueError("rolls back")

    consumer = BusConsumer(
        database=database,
        transaction=Transaction,
        redis=redis,
        prefix=prefix,
        group="callbacks",
        sources=["users"],
        handlers={bus_pb2.UserRegistered.DESCRIPTOR.full_name: handler},
        max_attempts=1,
    )
    await consumer.ensure_groups()
    for email in ["ok@example.com", "poison@example.com"]:
        envelope = envelope_for(bus_pb2.UserRegistered(email=email), source="users")
        await consumer.process(stream_name(prefix, "users"), "0-1", {b"e": envelope.SerializeToString()})
    assert ran == ["ok@example.com"]
    assert await _effects(database) == ["ok@example.com"]


async def test_outbox_waits_while_redis_is_down_and_drains_after(bus, engines: Engines) -> None:  # type: ignore[no-untyped-def]
    database, redis, prefix = bus
    dead_redis = create_redis("redis://127.0.0.1:1/0")
    relay = OutboxRelay(database=database, redis=dead_redis, stream=stream_name(prefix, "users"))
    async with database.transaction() as tx:
        await tx.publish(bus_pb2.UserRegistered(email="later@example.com"))
    with pytest.raises(RedisConnectionError):
        await relay.relay_once()
    assert await _unsent(database) == 1
    await dead_redis.aclose()
    relay.redis = redis
    assert await relay.relay_once() == 1
    assert await redis.xlen(stream_name(prefix, "users")) == 1
