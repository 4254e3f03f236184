"""Concurrent calls that share one statement: natural batching (group commit) per key.

Under load, many requests want the same kind of write at the same moment (bookings written PENDING,
seats of one event reserved, deliveries marked sent). Each as a statement of its own costs a round
trip, a commit and the database's per-statement work. A `Batcher` gives each key one writer: the
first call starts it, calls that arrive while it writes wait for the next batch, and every batch is
written by one call of `write` (one statement, one commit). Nothing waits on a timer: alone, a call
is written at once; under load, batches grow by themselves to what arrived during one write.

`write(key, items)` returns one result per item, in order; a result that is an exception is raised
to that item's caller only. If `write` raises, every caller of the batch gets the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[K, list[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[K, T, R]):
    def __init__(self, write: Write[K, T, R], *, max_batch: int = 500) -> None:
        self._write_batch = write
        self.max_batch = max_batch
        self._queued: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        """The result of writing `item` in the next batch of `key`. Cancelling the caller does not
        take the item back: it is written with its batch (the caller no longer waits for it)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue = self._queued.get(key)
        if queue is not None:
            queue.append((item, future))
        else:
            self._queued[key] = [(item, future)]
            writer = asyncio.create_task(self._writer(key))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await asyncio.shield(future)

    async def _writer(self, key: K) -> None:
        try:
            await self._write_batches(key)
        finally:
            # A writer that ended abnormally (cancelled at shutdown) leaves no caller waiting for
            # ever and no queue without a writer behind it.
            for _, future in self._queued.pop(key, []):
                future.cancel()

    async def _write_batches(self, key: K) -> None:
        # Calls made in this same moment join the first batch.
        await asyncio.sleep(0)
        while True:
            queue = self._queued.get(key)
            if not queue:
                self._queued.pop(key, None)
                return
            batch, self._queued[key] = queue[: self.max_batch], queue[self.max_batch :]
            try:
                results = await self._write_batch(key, [item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                        # Whoever stopped waiting must not leave "never retrieved" warnings behind.
                        future.exception()
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                    future.exception()
                else:
                    future.set_result(result)

    async def wait(self) -> None:
        """Until every batch queued or being written now is written (shutdown)."""
        while self._writers:
            await asyncio.wait(set(self._writers))
