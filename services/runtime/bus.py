"""The event bus: transactional outbox -> Redis Streams -> consumer groups with an inbox.

Producers write a state change and its event row in one transaction (`publish`). One relay per
service (leader by advisory lock, so order is kept) moves rows to the stream `<prefix>bus:<source>`
and marks them sent; if Redis is down, rows wait and drain when it returns. Consumers read with a
consumer group, run the handler and record the `event_id` in their inbox in the same transaction,
then acknowledge: a redelivered message finds its id in the inbox and has no second effect.
Messages stuck on a dead consumer are reclaimed with XAUTOCLAIM; one that keeps failing goes to the
dead-letter stream `<prefix>bus:dead` and stops blocking the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import psycopg
from google.protobuf import message as protobuf_message
from google.protobuf import symbol_database
from redis import asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seatmesh.bus.v1 import envelope_pb2
from services.runtime.db import libpq_conninfo
from services.runtime.errors import is_transient
from services.runtime.logs import request_id_var

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "seatmesh_outbox"
DEAD_LETTER_STREAM = "bus:dead"
STREAM_MAXLEN = 1_000_000


def stream_name(prefix: str, source: str) -> str:
    return f"{prefix}bus:{source}"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("type", Text, nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def create_bus_tables_v1(op: object) -> None:
    """The outbox and inbox DDL, version 1, for a service's first Alembic migration.

    A statement-level trigger wakes the relay at commit (NOTIFY is transactional), so events leave
    within milliseconds without polling.
    """
    metadata = MetaData()
    outbox = outbox_table(metadata)
    inbox = inbox_table(metadata)
    bind = op.get_bind()  # type: ignore[attr-defined]
    outbox.create(bind)
    inbox.create(bind)
    op.execute(  # type: ignore[attr-defined]
        f"""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$;
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
        """
    )


def envelope_for(message: protobuf_message.Message, *, source: str) -> envelope_pb2.Envelope:
    envelope = envelope_pb2.Envelope(
        event_id=str(uuid.uuid4()),
        type=message.DESCRIPTOR.full_name,
        source=source,
        request_id=request_id_var.get(),
    )
    envelope.occurred_at.GetCurrentTime()
    envelope.payload.Pack(message)
    return envelope


async def publish(
    connection: AsyncConnection, outbox: Table, message: protobuf_message.Message, *, source: str
) -> envelope_pb2.Envelope:
    """Add a bus event to the outbox inside the caller's transaction."""
    envelope = envelope_for(message, source=source)
    await connection.execute(
        insert(outbox).values(
            event_id=uuid.UUID(envelope.event_id), type=envelope.type, envelope=envelope.SerializeToString()
        )
    )
    return envelope


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    wake.clear()


@dataclass
class OutboxRelay:
    engine: AsyncEngine
    redis: aioredis.Redis
    database_url: str
    outbox: Table
    stream: str
    batch_size: int = 500
    poll_interval: float = 1.0
    # After a wake-up, wait this long so commits arriving together leave in one batch (one
    # SELECT, one pipeline, one UPDATE) instead of one relay round per commit.
    coalesce_delay: float = 0.005
    retention_hours: float = 24.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    # Session-level advisory lock on the LISTEN connection: whoever holds it relays; if that process
    # dies its connection closes and another replica takes over.
    lock_key: int = 0x5EA7_0002

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._lead()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay interrupted; retrying", exc_info=True)
                await asyncio.sleep(backoff + random.random() * backoff)
                backoff = min(backoff * 2, 10.0)

    async def _lead(self) -> None:
        conninfo = libpq_conninfo(self.database_url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as listener:
            while True:
                cursor = await listener.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,))
                row = await cursor.fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(2.0)
            await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            listen_task = asyncio.create_task(self._listen(listener))
            try:
                last_cleanup = 0.0
                while True:
                    if listen_task.done():
                        listen_task.result()  # re-raise why the listener stopped
                    sent = await self.relay_once()
                    if time.monotonic() - last_cleanup > 600:
                        await self._cleanup()
                        last_cleanup = time.monotonic()
                    if sent < self.batch_size:
                        await _sleep_or_wake(self._wake, self.poll_interval)
                        await asyncio.sleep(self.coalesce_delay)
            finally:
                listen_task.cancel()

    async def _listen(self, listener: psycopg.AsyncConnection) -> None:
        async for _ in listener.notifies():
            self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self.engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(self.outbox.c.id, self.outbox.c.envelope)
                    .where(self.outbox.c.published_at.is_(None))
                    .order_by(self.outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            async with self.redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.xadd(self.stream, {"e": row.envelope}, maxlen=STREAM_MAXLEN, approximate=True)
                await pipe.execute()
            await connection.execute(
                update(self.outbox)
                .where(self.outbox.c.id.in_([row.id for row in rows]))
                .values(published_at=func.now())
            )
        return len(rows)

    async def _cleanup(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(self.outbox).where(
                    self.outbox.c.published_at
                    < func.now() - text(f"interval '{float(self.retention_hours)} hours'")
                )
            )


Handler = Callable[[AsyncConnection, envelope_pb2.Envelope, protobuf_message.Message], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]

_after_commit: contextvars.ContextVar[list[AfterCommit] | None] = contextvars.ContextVar(
    "after_commit", default=None
)


def after_commit(callback: AfterCommit) -> None:
    """From inside a bus handler: run `callback` once the handler's transaction has committed.

    For effects outside the database (a cache bump, a wake-up) that must not happen if the
    transaction rolls back. A failing callback is logged; the message still counts as processed.
    """
    pending = _after_commit.get()
    if pending is None:
        raise RuntimeError("after_commit() is only available inside a bus handler")
    pending.append(callback)


def unpack(envelope: envelope_pb2.Envelope) -> protobuf_message.Message | None:
    try:
        message_class = symbol_database.Default().GetSymbol(envelope.type)
    except KeyError:
        return None
    payload = message_class()
    if not envelope.payload.Unpack(payload):
        return None
    return payload


def default_consumer_name() -> str:
    # Stable across restarts of the same worker, so a restarted consumer picks up its own
    # pending messages at once instead of waiting for XAUTOCLAIM.
    worker = os.environ.get("SEATMESH_WORKER_INDEX", "0")
    return f"{socket.gethostname()}-{worker}"


@dataclass
class BusConsumer:
    engine: AsyncEngine
    redis: aioredis.Redis
    prefix: str
    group: str
    sources: list[str]
    handlers: Mapping[str, Handler]
    inbox: Table
    consumer: str = field(default_factory=default_consumer_name)
    batch_size: int = 50
    block_ms: int = 1000
    # A message unacknowledged this long is taken over (from a dead consumer, or retried).
    claim_idle_ms: int = 10_000
    max_attempts: int = 5
    retention_days: int = 7

    def __post_init__(self) -> None:
        # Built once: constructing the statement cost more than running it, per message.
        self._inbox_insert = pg_insert(self.inbox).on_conflict_do_nothing().returning(self.inbox.c.event_id)

    @property
    def streams(self) -> list[str]:
        return [stream_name(self.prefix, source) for source in self.sources]

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.ensure_groups()
                await self._drain_own_pending()
                last_claim = time.monotonic()
                last_cleanup = 0.0
                while True:
                    replies = await self.redis.xreadgroup(
                        self.group,
                        self.consumer,
                        {stream: ">" for stream in self.streams},
                        count=self.batch_size,
                        block=self.block_ms,
                    )
                    for stream, messages in replies or []:
                        await self.process_batch(_text(stream), messages)
                    if time.monotonic() - last_claim > max(self.claim_idle_ms / 2000, 0.2):
                        await self.reclaim()
                        last_claim = time.monotonic()
                    if time.monotonic() - last_cleanup > 3600:
                        await self._cleanup_inbox()
                        last_cleanup = time.monotonic()
                    backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("bus consumer interrupted; retrying", exc_info=True, extra={"group": self.group})
                await asyncio.sleep(backoff + random.random() * backoff)
                backoff = min(backoff * 2, 10.0)

    async def _drain_own_pending(self) -> None:
        for stream in self.streams:
            start = "0"
            while True:
                replies = await self.redis.xreadgroup(
                    self.group, self.consumer, {stream: start}, count=self.batch_size
                )
                messages = replies[0][1] if replies else []
                if not messages:
                    break
                for message_id, fields in messages:
                    await self.process(stream, _text(message_id), fields)
                start = _text(messages[-1][0])

    async def reclaim(self) -> None:
        for stream in self.streams:
            start = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    self.claim_idle_ms,
                    start_id=start,
                    count=self.batch_size,
                )
                next_start, messages = _text(reply[0]), reply[1]
                for message_id, fields in messages:
                    if fields is not None:
                        await self.process(stream, _text(message_id), fields)
                if next_start == "0-0" or not messages:
                    break
                start = next_start

    async def process_batch(
        self, stream: str, messages: list[tuple[bytes | str, Mapping[bytes | str, bytes] | None]]
    ) -> None:
        """Handle a batch read from one stream in one transaction and acknowledge it at once.

        One commit (one WAL flush) and one XACK per batch instead of per message. Messages nobody
        here handles are only acknowledged. If a handler fails, the batch rolls back and its
        messages go through `process` one by one, which isolates the poison.
        """
        done: list[str] = []
        work: list[tuple[str, envelope_pb2.Envelope, protobuf_message.Message, Handler]] = []
        for raw_id, fields in messages:
            message_id = _text(raw_id)
            envelope = _envelope(fields)
            handler = self.handlers.get(envelope.type) if envelope is not None else None
            payload = unpack(envelope) if envelope is not None and handler is not None else None
            if envelope is not None and handler is None:
                done.append(message_id)
            elif envelope is None or payload is None or handler is None or fields is None:
                await self.process(stream, message_id, fields or {})
            else:
                work.append((message_id, envelope, payload, handler))
        if len(work) == 1:
            await self.process(stream, work[0][0], _fields_of(work[0][1]))
        elif work:
            callbacks: list[AfterCommit] = []
            callbacks_token = _after_commit.set(callbacks)
            try:
                async with self.engine.begin() as connection:
                    for _, envelope, payload, handler in work:
                        request_token = request_id_var.set(envelope.request_id)
                        try:
                            if await self._first_time(connection, envelope):
                                await handler(connection, envelope, payload)
                        finally:
                            request_id_var.reset(request_token)
                done.extend(message_id for message_id, *_ in work)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_transient(error):
                    raise
                callbacks.clear()
                for message_id, envelope, _, _ in work:
                    await self.process(stream, message_id, _fields_of(envelope))
            finally:
                _after_commit.reset(callbacks_token)
            await self._run_callbacks(callbacks)
        if done:
            await self.redis.xack(stream, self.group, *done)

    async def _first_time(self, connection: AsyncConnection, envelope: envelope_pb2.Envelope) -> bool:
        """Record the event in the inbox; False when it was processed before (a redelivery)."""
        inserted = await connection.execute(
            self._inbox_insert, {"event_id": uuid.UUID(envelope.event_id), "type": envelope.type}
        )
        return inserted.first() is not None

    async def _run_callbacks(self, callbacks: list[AfterCommit]) -> None:
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                log.warning("after-commit callback failed", exc_info=True)

    async def process(self, stream: str, message_id: str, fields: Mapping[bytes | str, bytes]) -> bool:
        """Handle one message; True when it is done with (processed, duplicate or dead-lettered)."""
        raw = fields.get(b"e") or fields.get("e")  # type: ignore[call-overload]
        envelope = envelope_pb2.Envelope()
        try:
            envelope.ParseFromString(raw or b"")
            uuid.UUID(envelope.event_id)
        except Exception as error:
            await self._dead_letter(
                stream, message_id, raw or b"", envelope, f"unreadable envelope: {error}", 1
            )
            return True
        handler = self.handlers.get(envelope.type)
        if handler is None:
            await self.redis.xack(stream, self.group, message_id)
            return True
        payload = unpack(envelope)
        if payload is None:
            await self._dead_letter(stream, message_id, raw or b"", envelope, "unknown payload type", 1)
            return True
        request_token = request_id_var.set(envelope.request_id)
        callbacks: list[AfterCommit] = []
        callbacks_token = _after_commit.set(callbacks)
        try:
            async with self.engine.begin() as connection:
                if await self._first_time(connection, envelope):
                    await handler(connection, envelope, payload)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_transient(error):
                log.warning("bus handler hit a transient failure; will retry", exc_info=True)
                raise
            attempts = await self._delivery_count(stream, message_id)
            log.error(
                "bus handler failed",
                exc_info=True,
                extra={"type": envelope.type, "event_id": envelope.event_id, "attempts": attempts},
            )
            if attempts >= self.max_attempts:
                await self._dead_letter(stream, message_id, raw or b"", envelope, repr(error)[:500], attempts)
                return True
            return False
        finally:
            _after_commit.reset(callbacks_token)
            request_id_var.reset(request_token)
        await self._run_callbacks(callbacks)
        await self.redis.xack(stream, self.group, message_id)
        return True

    async def _delivery_count(self, stream: str, message_id: str) -> int:
        pending = await self.redis.xpending_range(stream, self.group, min=message_id, max=message_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _dead_letter(
        self,
        stream: str,
        message_id: str,
        raw: bytes,
        envelope: envelope_pb2.Envelope,
        error: str,
        attempts: int,
    ) -> None:
        await self.redis.xadd(
            self.prefix + DEAD_LETTER_STREAM,
            {
                "stream": stream,
                "message_id": message_id,
                "group": self.group,
                "event_id": envelope.event_id,
                "type": envelope.type,
                "error": error,
                "attempts": str(attempts),
                "e": raw,
            },
            maxlen=100_000,
            approximate=True,
        )
        await self.redis.xack(stream, self.group, message_id)
        log.error("message dead-lettered", extra={"type": envelope.type, "event_id": envelope.event_id})

    async def _cleanup_inbox(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(self.inbox).where(
                    self.inbox.c.processed_at
                    < func.now() - text(f"interval '{int(self.retention_days)} days'")
                )
            )


def _envelope(fields: Mapping[bytes | str, bytes] | None) -> envelope_pb2.Envelope | None:
    raw = (fields or {}).get(b"e") or (fields or {}).get("e")  # type: ignore[call-overload]
    envelope = envelope_pb2.Envelope()
    try:
        envelope.ParseFromString(raw or b"")
        uuid.UUID(envelope.event_id)
    except Exception:
        return None
    return envelope


def _fields_of(envelope: envelope_pb2.Envelope) -> dict[bytes, bytes]:
    return {b"e": envelope.SerializeToString()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
