"""A small pool of raw psycopg connections in autocommit, for single statements on hot paths.

Why not the SQLAlchemy engine for these: measured on the booking path, one statement through the
async engine cost ~1 ms of CPU (checkout with a pre-ping round trip, an isolation-level switch,
greenlet hops, result processing); the same prepared statement on a raw connection ~0.3 ms. The
statements stay SQLAlchemy Core constructs in each service's store.py, compiled once to SQL text
(`Compiled` below). Everything that needs a transaction of several statements uses the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement

from services.runtime.db import libpq_conninfo

log = logging.getLogger(__name__)

_DIALECT = PGDialect_psycopg()


@dataclass(frozen=True)
class Compiled:
    """A Core statement as SQL text plus the constants SQLAlchemy bound for it."""

    sql: str
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, statement: ClauseElement) -> Compiled:
        compiled = statement.compile(dialect=_DIALECT)
        return cls(str(compiled), dict(compiled.params))

    def params(self, **values: Any) -> dict[str, Any]:
        return {**self.defaults, **values}


class RawPool:
    def __init__(self, database_url: str, *, size: int, connect_timeout: float = 5.0) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self._connect_timeout = connect_timeout
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            row_factory=namedtuple_row,
            connect_timeout=max(1, int(self._connect_timeout)),
        )

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            reusable = False
            try:
                yield connection
                reusable = True
            except psycopg.Error:
                # A statement error leaves an autocommit connection idle and usable; a broken
                # connection is not.
                reusable = True
                raise
            finally:
                if (
                    reusable
                    and not connection.broken
                    and connection.info.transaction_status == TransactionStatus.IDLE
                ):
                    self._idle.append(connection)
                else:
                    # Cancelled mid-statement, or the server went away: never reuse it.
                    with contextlib.suppress(Exception):
                        await connection.close()

    async def execute(self, statement: Compiled, **values: Any) -> list[Any]:
        async with self.connection() as connection:
            cursor = await connection.execute(statement.sql, statement.params(**values))
            return await cursor.fetchall() if cursor.description is not None else []

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.close()
