"""Bus consumers: a Redis consumer group per service, an inbox row per event, dead letters.

A handler runs inside a transaction of the consuming service's own kind (its store's
`Transaction` subclass) together with the inbox insert, so its effect happens exactly once even
when a message is delivered twice; the message is acknowledged after the commit. A batch read from
one stream is handled in one transaction (one commit, one XACK, one inbox statement for all its
events); if a handler fails, the batch rolls back and its messages are retried one by one, which
isolates the poison.

Each message is handled in a span that continues the trace of the request that published it
(the envelope's W3C context), so what a booking sets off shows up in the booking's trace. The
group's lag and pending messages per stream are read when Prometheus scrapes (`reading`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic

from google.protobuf import message as protobuf_message
from prometheus_client.metrics_core import Metric
from redis import asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import (
    Integer,
    Interval,
    MetaData,
    Text,
    Uuid,
    bindparam,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from seatmesh.bus.v1 import envelope_pb2
from services.runtime import tracing
from services.runtime.bus.envelopes import (
    DEAD_LETTER_STREAM,
    raw_envelope,
    read_envelope,
    stream_fields,
    stream_name,
    trace_context,
    unpack,
)
from services.runtime.bus.tables import inbox_table
from services.runtime.database import Database, Statement, TransactionT
from services.runtime.errors import is_transient
from services.runtime.logs import request_id_var
from services.runtime.loops import supervise
from services.runtime.metrics import (
    BUS_DEAD_LETTERS,
    CONSUMER_LAG,
    CONSUMER_LAG_MESSAGES,
    CONSUMER_PENDING,
    Reading,
)
from services.runtime.redis import as_text

log = logging.getLogger(__name__)

Handler = Callable[[TransactionT, envelope_pb2.Envelope, protobuf_message.Message], Awaitable[None]]

# A stream entry's fields as redis-py returns them (bytes keys; str in hand-made ones).
StreamFields = Mapping[bytes, bytes] | Mapping[str, bytes]

_inbox = inbox_table(MetaData())
_FIRST_TIME = Statement.of(
    pg_insert(_inbox)
    .values(event_id=bindparam("event_id"), type=bindparam("type"))
    .on_conflict_do_nothing()
    .returning(_inbox.c.event_id)
)
# The inbox rows of a whole batch in one statement: the events it returns are the ones seen for the
# first time (a redelivered one is already there).
_FIRST_TIMES = Statement.of(
    pg_insert(_inbox)
    .from_select(
        ["event_id", "type"],
        select(
            func.unnest(bindparam("event_ids", type_=ARRAY(Uuid))),
            func.unnest(bindparam("types", type_=ARRAY(Text))),
        ),
    )
    .on_conflict_do_nothing()
    .returning(_inbox.c.event_id)
)
_CLEANUP = Statement.of(
    delete(_inbox).where(
        _inbox.c.processed_at
        < func.now() - bindparam("days", type_=Integer) * literal_column("interval '1 day'", Interval)
    )
)


def default_consumer_name() -> str:
    # Stable across restarts of the same worker, so a restarted consumer picks up its own
    # pending messages at once instead of waiting for XAUTOCLAIM.
    worker = os.environ.get("SEATMESH_WORKER_INDEX", "0")
    return f"{socket.gethostname()}-{worker}"


@dataclass
class BusConsumer(Generic[TransactionT]):
    database: Database
    # The consuming service's unit of work: handlers receive one of these.
    transaction: Callable[..., TransactionT]
    redis: aioredis.Redis
    prefix: str
    group: str
    sources: list[str]
    handlers: Mapping[str, Handler[TransactionT]]
    consumer: str = field(default_factory=default_consumer_name)
    batch_size: int = 50
    block_ms: int = 1000
    # A message unacknowledged this long is taken over (from a dead consumer, or retried).
    claim_idle_ms: int = 10_000
    max_attempts: int = 5
    retention_days: int = 7

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
        for source in self.sources:
            # The series exists at 0 from the start, so the first dead letter shows as an increase.
            BUS_DEAD_LETTERS.labels(source, self.group)
        await supervise(self._consume, what="bus consumer", extra={"group": self.group})

    def reading(self) -> Reading:
        """This group's lag and pending messages on each of its streams, read at scrape time."""
        return Reading(f"bus consumer {self.group}", self._read_lag)

    async def _read_lag(self) -> list[Metric]:
        lag, lag_messages, pending = (
            CONSUMER_LAG.family(),
            CONSUMER_LAG_MESSAGES.family(),
            CONSUMER_PENDING.family(),
        )
        seconds, microseconds = await self.redis.time()
        now_ms = seconds * 1000 + microseconds // 1000
        for source, stream in zip(self.sources, self.streams, strict=True):
            groups: Any = await self.redis.xinfo_groups(stream)
            found = [group for group in groups if as_text(group["name"]) == self.group]
            if not found:
                continue
            labels = [source, self.group]
            pending.add_metric(labels, float(found[0]["pending"]))
            if found[0].get("lag") is not None:
                lag_messages.add_metric(labels, float(found[0]["lag"]))
            # Stream ids start with the time of their XADD: the first entry after the last one
            # delivered has waited that long.
            waiting: Any = await self.redis.xrange(
                stream, min="(" + as_text(found[0]["last-delivered-id"]), count=1
            )
            oldest_ms = int(as_text(waiting[0][0]).split("-")[0]) if waiting else now_ms
            lag.add_metric(labels, max(0.0, (now_ms - oldest_ms) / 1000))
        return [lag, lag_messages, pending]

    async def _consume(self) -> None:
        await self.ensure_groups()
        await self._drain_own_pending()
        last_claim = time.monotonic()
        last_cleanup = 0.0
        while True:
            replies: Any = await self.redis.xreadgroup(
                self.group,
                self.consumer,
                {stream: ">" for stream in self.streams},
                count=self.batch_size,
                block=self.block_ms,
            )
            for stream, messages in replies or []:
                await self.process_batch(as_text(stream), messages)
            if time.monotonic() - last_claim > max(self.claim_idle_ms / 2000, 0.2):
                await self.reclaim()
                last_claim = time.monotonic()
            if time.monotonic() - last_cleanup > 3600:
                await self.database.execute(_CLEANUP, days=self.retention_days)
                last_cleanup = time.monotonic()

    async def _drain_own_pending(self) -> None:
        for stream in self.streams:
            start = "0"
            while True:
                replies: Any = await self.redis.xreadgroup(
                    self.group, self.consumer, {stream: start}, count=self.batch_size
                )
                messages = replies[0][1] if replies else []
                if not messages:
                    break
                for message_id, fields in messages:
                    await self.process(stream, as_text(message_id), fields)
                start = as_text(messages[-1][0])

    async def reclaim(self) -> None:
        for stream in self.streams:
            start = "0-0"
            while True:
                reply: Any = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    self.claim_idle_ms,
                    start_id=start,
                    count=self.batch_size,
                )
                next_start, messages = as_text(reply[0]), reply[1]
                for message_id, fields in messages:
                    if fields is not None:
                        await self.process(stream, as_text(message_id), fields)
                if next_start == "0-0" or not messages:
                    break
                start = next_start

    async def process_batch(
        self, stream: str, messages: list[tuple[bytes | str, StreamFields | None]]
    ) -> None:
        """Handle a batch read from one stream in one transaction and acknowledge it at once.

        One commit (one WAL flush) and one XACK per batch instead of per message. Messages nobody
        here handles are only acknowledged. If a handler fails, the batch rolls back and its
        messages go through `process` one by one, which isolates the poison.
        """
        done: list[str] = []
        work: list[tuple[str, envelope_pb2.Envelope, protobuf_message.Message, Handler[TransactionT]]] = []
        for raw_id, fields in messages:
            message_id = as_text(raw_id)
            envelope = read_envelope(fields)
            handler = self.handlers.get(envelope.type) if envelope is not None else None
            payload = unpack(envelope) if envelope is not None and handler is not None else None
            if envelope is not None and handler is None:
                done.append(message_id)
            elif envelope is None or payload is None or handler is None or fields is None:
                await self.process(stream, message_id, fields or {})
            else:
                work.append((message_id, envelope, payload, handler))
        if len(work) == 1:
            await self.process(stream, work[0][0], stream_fields(work[0][1]))
        elif work:
            try:
                async with self.database.transaction(self.transaction) as tx:
                    first_times = await self._first_times(tx, [envelope for _, envelope, _, _ in work])
                    for _, envelope, payload, handler in work:
                        # (Once, should one event come twice in a batch.)
                        if envelope.event_id in first_times:
                            first_times.discard(envelope.event_id)
                            await self._handle(tx, stream, envelope, payload, handler)
                done.extend(message_id for message_id, *_ in work)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_transient(error):
                    raise
                for message_id, envelope, _, _ in work:
                    await self.process(stream, message_id, stream_fields(envelope))
        if done:
            await self.redis.xack(stream, self.group, *done)

    async def _first_times(self, tx: TransactionT, envelopes: list[envelope_pb2.Envelope]) -> set[str]:
        """Record a batch's events in the inbox at once; the ids of those not processed before."""
        rows = await tx.rows(
            _FIRST_TIMES,
            event_ids=[uuid.UUID(envelope.event_id) for envelope in envelopes],
            types=[envelope.type for envelope in envelopes],
        )
        return {str(row.event_id) for row in rows}

    async def _handle(
        self,
        tx: TransactionT,
        stream: str,
        envelope: envelope_pb2.Envelope,
        payload: protobuf_message.Message,
        handler: Handler[TransactionT],
    ) -> None:
        """Run the handler of an event recorded in the inbox, in a span of the trace that published it."""
        token = request_id_var.set(envelope.request_id)
        try:
            with tracing.continued(
                trace_context(envelope),
                f"handle {envelope.type}",
                {
                    "messaging.system": "redis",
                    "messaging.operation": "process",
                    "messaging.destination.name": stream,
                    "messaging.consumer.group.name": self.group,
                    "messaging.message.id": envelope.event_id,
                },
            ):
                await handler(tx, envelope, payload)
        finally:
            request_id_var.reset(token)

    async def process(self, stream: str, message_id: str, fields: StreamFields) -> bool:
        """Handle one message; True when it is done with (processed, duplicate or dead-lettered)."""
        raw = raw_envelope(fields)
        envelope = read_envelope(fields)
        if envelope is None:
            await self._dead_letter(
                stream, message_id, raw, envelope_pb2.Envelope(), "unreadable envelope", 1
            )
            return True
        handler = self.handlers.get(envelope.type)
        if handler is None:
            await self.redis.xack(stream, self.group, message_id)
            return True
        payload = unpack(envelope)
        if payload is None:
            await self._dead_letter(stream, message_id, raw, envelope, "unknown payload type", 1)
            return True
        try:
            async with self.database.transaction(self.transaction) as tx:
                # Record the event in the inbox and run its handler, unless it was processed before.
                first = await tx.row(_FIRST_TIME, event_id=uuid.UUID(envelope.event_id), type=envelope.type)
                if first is not None:
                    await self._handle(tx, stream, envelope, payload, handler)
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
                await self._dead_letter(stream, message_id, raw, envelope, repr(error)[:500], attempts)
                return True
            return False
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
        BUS_DEAD_LETTERS.labels(stream.removeprefix(stream_name(self.prefix, "")), self.group).inc()
        log.error("message dead-lettered", extra={"type": envelope.type, "event_id": envelope.event_id})
