"""Live seat availability: Redis pub/sub after commit, fanned out to WatchAvailability streams.

Writers publish `<seats_version><Availability>` on `<prefix>availability:<event id>` after their
transaction committed (together with the cache bump, one round trip). Every process keeps one
pub/sub connection and subscribes to the events its clients watch. Messages may arrive out of
order (two commits publish concurrently) or not at all (Redis down): watchers keep only versions
newer than what they sent, and re-read the database when the subscription was interrupted and,
as a safety net, every `resync_interval` seconds.

Streams are anonymous, so each process admits only so many (`StreamAdmission`): in total, and per
client address (what the edge vouches for, runtime/edge.py). The edge ends every stream after an
hour (its route's max_stream_duration); clients reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from seatmesh.events.v1 import events_pb2
from services.events.convert import availability_to_proto
from services.events.domain import EventRecord
from services.runtime.errors import ServiceError, resource_exhausted
from services.runtime.loops import Backoff, supervise, wait_for_wake

log = logging.getLogger(__name__)

_VERSION = struct.Struct(">q")

# What a refused watcher is told to wait before trying again: streams end all the time (people
# leave pages), so a slot is usually free by then.
RETRY_AFTER = 10.0


def channel_for(prefix: str, event_id: str) -> bytes:
    return f"{prefix}availability:{event_id}".encode()


def encode_update(seats_version: int, availability: events_pb2.Availability) -> bytes:
    return _VERSION.pack(seats_version) + availability.SerializeToString()


def availability_message(prefix: str, event: EventRecord) -> tuple[bytes, bytes]:
    """(channel, payload) announcing `event`'s availability as it is now."""
    return channel_for(prefix, str(event.id)), encode_update(
        event.seats_version, availability_to_proto(event)
    )


def decode_update(payload: bytes) -> tuple[int, events_pb2.Availability]:
    (version,) = _VERSION.unpack_from(payload)
    return version, events_pb2.Availability.FromString(payload[_VERSION.size :])


@dataclass(eq=False)
class Watcher:
    event_id: str
    latest: tuple[int, events_pb2.Availability] | None = None
    # Set when there is something to look at: a newer update, or a reason to re-read the database.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False

    def offer(self, version: int, availability: events_pb2.Availability) -> None:
        if self.latest is None or version > self.latest[0]:
            self.latest = (version, availability)
            self.wake.set()

    def request_resync(self) -> None:
        self.resync = True
        self.wake.set()

    async def next(self, wait: float) -> tuple[int, events_pb2.Availability] | None:
        """The newest update, or None when the caller should re-read the database."""
        await wait_for_wake(self.wake, wait)
        if self.resync or self.latest is None:
            self.resync = False
            self.latest = None
            return None
        latest, self.latest = self.latest, None
        return latest


class AvailabilityHub:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, resync_interval: float = 30.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.resync_interval = resync_interval
        self._watchers: dict[bytes, set[Watcher]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._connected = asyncio.Event()
        self._backoff = Backoff(initial=0.2, maximum=5.0)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def poll_interval(self) -> float:
        """How long a watcher may wait before re-reading the database itself."""
        return self.resync_interval if self.connected else 1.0

    @contextlib.asynccontextmanager
    async def watch(self, event_id: str) -> AsyncIterator[Watcher]:
        channel = channel_for(self.prefix, event_id)
        watcher = Watcher(event_id)
        watchers = self._watchers.setdefault(channel, set())
        watchers.add(watcher)
        if len(watchers) == 1:
            await self._subscribe(channel)
        try:
            yield watcher
        finally:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[channel]
                await self._unsubscribe(channel)

    async def _subscribe(self, channel: bytes) -> None:
        if self._pubsub is not None and self.connected:
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError):
                # The reader loop notices too, reconnects and subscribes to everything again.
                log.warning("availability subscribe failed", exc_info=True)

    async def _unsubscribe(self, channel: bytes) -> None:
        if self._pubsub is not None and self.connected:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def run(self) -> None:
        """Background task: keep the subscription alive and deliver messages to watchers."""
        await supervise(
            self._follow, what="availability subscription", backoff=self._backoff, on_failure=self._resync_all
        )

    async def _follow(self) -> None:
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            try:
                # A placeholder channel keeps the connection in subscribed mode with no watchers.
                await pubsub.subscribe(self.prefix.encode() + b"availability", *self._watchers)
                self._pubsub = pubsub
                self._connected.set()
                self._backoff.reset()
                # Whatever was published while we were away is lost: everyone re-reads.
                self._resync_all()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._deliver(message["channel"], message["data"])
            finally:
                # Until the subscription is back, watchers poll the database (see poll_interval).
                self._connected.clear()
                self._pubsub = None

    def _deliver(self, channel: bytes, payload: bytes) -> None:
        watchers = self._watchers.get(channel)
        if not watchers:
            return
        try:
            version, availability = decode_update(payload)
        except Exception:
            log.warning(
                "unreadable availability message", extra={"channel": channel.decode(errors="replace")}
            )
            return
        for watcher in watchers:
            watcher.offer(version, availability)

    def _resync_all(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.request_resync()


class StreamAdmission:
    """How many WatchAvailability streams this process holds, in total and per client address;
    one more than either limit is RESOURCE_EXHAUSTED with a RetryInfo."""

    def __init__(self, *, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._by_client: dict[str, int] = {}
        self._open = 0

    @property
    def open_streams(self) -> int:
        return self._open

    @contextlib.contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """A slot for one stream of `client`, held until the block ends however it ends."""
        held = self._by_client.get(client, 0)
        if held >= self.per_client:
            raise _too_many(f"at most {self.per_client} live streams per client", "client", self.per_client)
        if self._open >= self.total:
            raise _too_many("this server holds as many live streams as it can", "server", self.total)
        self._by_client[client] = held + 1
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1
            remaining = self._by_client[client] - 1
            if remaining:
                self._by_client[client] = remaining
            else:
                del self._by_client[client]


def _too_many(message: str, limit: str, maximum: int) -> ServiceError:
    error = resource_exhausted("TOO_MANY_STREAMS", f"{message}; try again later", retry_after=RETRY_AFTER)
    error.metadata = {"limit": limit, "max": str(maximum)}
    return error
