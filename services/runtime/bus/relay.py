"""The outbox relay: unsent outbox rows -> the service's Redis stream, in commit order.

One relay leads per service (a session-level advisory lock on its LISTEN connection: if that
process dies, its connection closes and another replica takes over). A trigger NOTIFYs at every
commit that wrote outbox rows, so events leave within milliseconds without polling; a slow poll
covers a lost notification. How far behind it is (the oldest unsent row's age) is read when
Prometheus scrapes (`reading`), from any replica.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import psycopg
from prometheus_client.metrics_core import Metric
from redis import asyncio as aioredis
from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    MetaData,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from services.runtime.bus.tables import NOTIFY_CHANNEL, outbox_table
from services.runtime.database import Database, Statement
from services.runtime.loops import supervise, wait_for_wake
from services.runtime.metrics import OUTBOX_LAG, OUTBOX_UNSENT, Reading
from services.runtime.migrations import libpq_conninfo

STREAM_MAXLEN = 1_000_000
RELAY_LOCK = 0x5EA7_0002

_outbox = outbox_table(MetaData())
_UNSENT = Statement.of(
    select(_outbox.c.id, _outbox.c.envelope)
    .where(_outbox.c.published_at.is_(None))
    .order_by(_outbox.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_MARK_SENT = Statement.of(
    update(_outbox)
    .where(_outbox.c.id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .values(published_at=func.now())
)
_CLEANUP = Statement.of(
    delete(_outbox).where(
        _outbox.c.published_at.is_not(None),
        _outbox.c.published_at
        < func.now() - bindparam("hours", type_=Integer) * literal_column("interval '1 hour'", Interval),
    )
)


_BACKLOG = Statement.of(
    select(
        func.count(),
        func.coalesce(func.extract("epoch", func.now() - func.min(_outbox.c.created_at)), 0),
    ).where(_outbox.c.published_at.is_(None))
)


@dataclass
class OutboxRelay:
    database: Database
    redis: aioredis.Redis
    stream: str
    batch_size: int = 500
    poll_interval: float = 1.0
    # After a wake-up, wait this long so commits arriving together leave in one batch (one
    # SELECT, one pipeline, one UPDATE) instead of one relay round per commit.
    coalesce_delay: float = 0.005
    retention_hours: int = 24
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        await supervise(self._lead, what="outbox relay")

    async def _lead(self) -> None:
        conninfo = libpq_conninfo(self.database.url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as listener:
            while True:
                cursor = await listener.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,))
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
                        await self.database.execute(_CLEANUP, hours=self.retention_hours)
                        last_cleanup = time.monotonic()
                    if sent < self.batch_size:
                        await wait_for_wake(self._wake, self.poll_interval)
                        await asyncio.sleep(self.coalesce_delay)
            finally:
                listen_task.cancel()

    async def _listen(self, listener: psycopg.AsyncConnection[object]) -> None:
        async for _ in listener.notifies():
            self._wake.set()

    def reading(self) -> Reading:
        """How many outbox rows wait, and for how long the oldest has, read at scrape time."""
        return Reading("outbox", self._read_backlog)

    async def _read_backlog(self) -> list[Metric]:
        unsent, age = OUTBOX_UNSENT.family(), OUTBOX_LAG.family()
        row = await self.database.row(_BACKLOG)
        if row is not None:
            unsent.add_metric([], float(row[0]))
            age.add_metric([], float(row[1]))
        return [unsent, age]

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self.database.transaction() as tx:
            rows = await tx.rows(_UNSENT, limit=self.batch_size)
            if not rows:
                return 0
            async with self.redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.xadd(self.stream, {"e": row.envelope}, maxlen=STREAM_MAXLEN, approximate=True)
                await pipe.execute()
            await tx.execute(_MARK_SENT, ids=[row.id for row in rows])
        return len(rows)
