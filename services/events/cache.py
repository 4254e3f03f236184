"""The Redis cache of GetEvent and ListEvents (and ListTags), never stale after a commit.

Layout (every key under `<prefix>cache:`):

    ev:<id>:g            generation of one event's body
    ev:<id>:<gen>        the Event message (bytes), as read under that generation
    list:g               generation of list membership and order
    list:<gen>:<key>     one list page: {"ids": [...], "next": "..."}; bodies come from ev:*
    tags:<gen>:<key>     one ListTags reply, under the list generation

Why generations and not plain deletes: a reader that queried the database just before a writer
committed could otherwise put its old copy back right after the writer deleted it. Here a reader
reads the generation *before* querying and writes only under that generation; a writer bumps the
generation *after* committing. A late stale copy lands under a generation nobody asks for again.
A generation key that is missing (new, expired or evicted) is created from Redis' clock, so it
can never come back to a value an old copy was stored under.

Lists hold ids, not bodies, so the flood of seat-count changes of a flash sale only bumps the
events concerned; the list generation moves only when membership or order can change (an event
created, edited, cancelled, completed, deleted or rated, or its free seats reaching or leaving
zero). Every read and the bump of a write are one round trip each (Lua).

`CachedReads` is the read path through it: bodies and pages from Redis, what is missing from
PostgreSQL, put back under the generation read before the query.

What it cannot cover: a process that dies between its commit and its bump leaves that event's
copy (or a list page) stale until the entry expires (`ttl`).

Redis is a helper: every call has a short timeout, a failure opens a breaker for a second (reads
go to PostgreSQL), and a bump that failed is retried in the background (`run`) while this process
reads around the cache. Entries expire after `ttl` seconds whatever happens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from seatmesh.events.v1 import events_pb2
from services.events.convert import event_to_proto
from services.events.domain import EventRecord
from services.events.store import EventStore
from services.runtime.batching import Batcher
from services.runtime.loops import every
from services.runtime.redis import as_text

log = logging.getLogger(__name__)

# Generations outlive the entries stored under them.
GENERATION_TTL = 3600

_NEW_GENERATION = """
local function generation(key)
  local value = redis.call('GET', key)
  if not value then
    local now = redis.call('TIME')
    value = now[1] .. string.format('%06d', tonumber(now[2]))
    redis.call('SET', key, value, 'EX', GENERATION_TTL)
  end
  return value
end
""".replace("GENERATION_TTL", str(GENERATION_TTL))

# An event's generation is only read here, never created: looking up ids that do not exist must
# not leave keys behind. It is created when a body is stored (_STORE_EVENTS) or a write bumps it.
_EVENT_LOOKUP = """
local function lookup(prefix, id)
  local gen = redis.call('GET', prefix .. 'ev:' .. id .. ':g')
  if not gen then
    return false, false
  end
  return gen, redis.call('GET', prefix .. 'ev:' .. id .. ':' .. gen) or false
end
"""

# ARGV: prefix, event ids... -> gen1 or false, body1 or false, gen2, body2, ...
_READ_EVENTS = (
    _EVENT_LOOKUP
    + """
local out = {}
for i = 2, #ARGV do
  local gen, body = lookup(ARGV[1], ARGV[i])
  out[#out + 1] = gen
  out[#out + 1] = body
end
return out
"""
)

# ARGV: prefix, kind ('list' or 'tags'), key, expand ('1': also each listed event's gen and body)
# -> list gen, value or false, then gen, body per listed event
_READ_LISTED = (
    _NEW_GENERATION
    + _EVENT_LOOKUP
    + """
local prefix = ARGV[1]
local list_gen = generation(prefix .. 'list:g')
local value = redis.call('GET', prefix .. ARGV[2] .. ':' .. list_gen .. ':' .. ARGV[3])
if not value then
  return {list_gen, false}
end
local out = {list_gen, value}
if ARGV[4] == '1' then
  for _, id in ipairs(cjson.decode(value)['ids']) do
    local gen, body = lookup(prefix, id)
    out[#out + 1] = gen
    out[#out + 1] = body
  end
end
return out
"""
)

# ARGV: prefix, ttl, then (id, generation read before the database query or '', body) triples.
# With no generation seen, one is created only if there is still none (SET NX): had a writer
# bumped since, the key would exist and this possibly stale body is dropped.
_STORE_EVENTS = """
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local id, gen, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if gen == '' then
    local now = redis.call('TIME')
    local fresh = now[1] .. string.format('%06d', tonumber(now[2]))
    if redis.call('SET', prefix .. 'ev:' .. id .. ':g', fresh, 'NX', 'EX', GENERATION_TTL) then
      gen = fresh
    end
  end
  if gen ~= '' then
    redis.call('SET', prefix .. 'ev:' .. id .. ':' .. gen, body, 'EX', ttl)
  end
end
return 0
""".replace("GENERATION_TTL", str(GENERATION_TTL))

# ARGV: prefix, n, n generation keys (relative to prefix), then channel, payload pairs to publish
_BUMP = """
local prefix = ARGV[1]
local keys = tonumber(ARGV[2])
for i = 3, 2 + keys do
  local key = prefix .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCR', key)
    redis.call('EXPIRE', key, GENERATION_TTL)
  else
    local now = redis.call('TIME')
    redis.call('SET', key, now[1] .. string.format('%06d', tonumber(now[2])), 'EX', GENERATION_TTL)
  end
end
for i = 3 + keys, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return keys
""".replace("GENERATION_TTL", str(GENERATION_TTL))


def create_cache_redis(url: str, timeout: float) -> aioredis.Redis:
    """A client that fails fast: no retries, short timeouts (the database is always the fallback)."""
    return aioredis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=10,
    )


@dataclass
class Cached:
    """What a read found: the generation to store under ("" when there is none yet), and the
    value when it was there."""

    generation: str
    value: bytes | None


@dataclass
class ListedRead:
    list_generation: str
    page: bytes | None
    # For each listed event id: (generation, body or None).
    events: dict[str, Cached] = field(default_factory=dict)


@dataclass
class _PendingInvalidation:
    event_ids: set[str] = field(default_factory=set)
    lists: bool = False
    # (channel, payload) pairs: two versions of one channel's news both go (subscribers keep the
    # newer, whichever arrives first); the same news twice goes once.
    messages: set[tuple[bytes, bytes]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.event_ids or self.lists or self.messages)

    def add(self, other: _PendingInvalidation) -> None:
        self.event_ids |= other.event_ids
        self.lists = self.lists or other.lists
        self.messages |= other.messages


class EventCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        ttl: int = 300,
        breaker_seconds: float = 1.0,
        retry_interval: float = 0.5,
    ) -> None:
        self.redis = redis
        self.prefix = prefix + "cache:"
        self.ttl = ttl
        self.breaker_seconds = breaker_seconds
        self.retry_interval = retry_interval
        self._read_events = redis.register_script(_READ_EVENTS)
        self._read_listed = redis.register_script(_READ_LISTED)
        self._store_events = redis.register_script(_STORE_EVENTS)
        self._bump = redis.register_script(_BUMP)
        self._down_until = 0.0
        self._pending = _PendingInvalidation()
        self._invalidations: Batcher[None, _PendingInvalidation, None] = Batcher(self._invalidate_together)

    # -- health ----------------------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        """False while Redis failed a moment ago or an invalidation of ours is still owed."""
        return not self._pending and time.monotonic() >= self._down_until

    def _failed(self, error: BaseException, what: str) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("cache unavailable; using the database", extra={"op": what, "error": repr(error)})
        self._down_until = time.monotonic() + self.breaker_seconds

    # -- reads -----------------------------------------------------------------------------------

    async def read_events(self, event_ids: Sequence[str]) -> dict[str, Cached] | None:
        """Generation and cached body of each event; None when the cache is not usable now."""
        if not self.readable or not event_ids:
            return None
        try:
            reply = await self._read_events(args=[self.prefix, *event_ids])
        except (RedisError, OSError) as error:
            self._failed(error, "read_events")
            return None
        return {
            event_id: Cached(_generation(reply[2 * index]), reply[2 * index + 1])
            for index, event_id in enumerate(event_ids)
        }

    async def read_list_page(self, key: str) -> ListedRead | None:
        return await self._read_under_list_generation("list", key, expand=True)

    async def read_tags(self, key: str) -> ListedRead | None:
        return await self._read_under_list_generation("tags", key, expand=False)

    async def _read_under_list_generation(self, kind: str, key: str, *, expand: bool) -> ListedRead | None:
        if not self.readable:
            return None
        try:
            reply = await self._read_listed(args=[self.prefix, kind, key, "1" if expand else "0"])
        except (RedisError, OSError) as error:
            self._failed(error, "read_" + kind)
            return None
        found = ListedRead(list_generation=as_text(reply[0]), page=reply[1] if len(reply) > 1 else None)
        if found.page is not None and expand:
            ids = decode_page(found.page)[0]
            for index, event_id in enumerate(ids):
                found.events[event_id] = Cached(_generation(reply[2 + 2 * index]), reply[3 + 2 * index])
        return found

    # -- fills (only under the generation read before the database was queried) -----------------

    async def store_events(self, entries: Iterable[tuple[str, str, bytes]]) -> None:
        """(event id, generation from the read before the query, body) for events read from the database."""
        args: list[str | bytes] = [self.prefix, str(self.ttl)]
        for event_id, generation, body in entries:
            args.extend((event_id, generation, body))
        if len(args) == 2 or not self.readable:
            return
        try:
            await self._store_events(args=args)
        except (RedisError, OSError) as error:
            self._failed(error, "store_events")

    async def store_list_page(self, list_generation: str, key: str, page: bytes) -> None:
        await self._store([(f"list:{list_generation}:{key}", page)])

    async def store_tags(self, list_generation: str, key: str, value: bytes) -> None:
        await self._store([(f"tags:{list_generation}:{key}", value)])

    async def _store(self, items: list[tuple[str, bytes]]) -> None:
        if not items or not self.readable:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(self.prefix + key, value, ex=self.ttl)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._failed(error, "store")

    # -- invalidation (after commit) -------------------------------------------------------------

    async def invalidate(
        self,
        event_ids: Iterable[str],
        *,
        lists: bool,
        messages: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Bumps the generations of these events (and of lists) and publishes `messages`.

        Call after the change committed. If Redis does not answer, the bump is retried in the
        background and this process reads around the cache until it went through.
        """
        pending = _PendingInvalidation(set(event_ids), lists, set(messages))
        if pending:
            await self._invalidations.submit(None, pending)

    async def _invalidate_together(self, _: None, batch: list[_PendingInvalidation]) -> list[None]:
        """Invalidations asked for while one was on its way go together: one script, one round trip."""
        merged = _PendingInvalidation()
        for pending in batch:
            merged.add(pending)
        if time.monotonic() >= self._down_until and not self._pending:
            try:
                await self._send(merged)
                return [None] * len(batch)
            except (RedisError, OSError) as error:
                self._failed(error, "invalidate")
        self._pending.add(merged)
        return [None] * len(batch)

    async def _send(self, pending: _PendingInvalidation) -> None:
        keys = [f"ev:{event_id}:g" for event_id in pending.event_ids]
        if pending.lists:
            keys.append("list:g")
        published = [part for message in pending.messages for part in message]
        # One script, one round trip (it publishes too).
        await self._bump(args=[self.prefix, len(keys), *keys, *published])

    async def run(self) -> None:
        """Background task: sends the invalidations Redis refused, every `retry_interval`, until
        they went through (meanwhile this process reads around the cache)."""
        await every(self.retry_interval, self._settle_owed, what="owed cache invalidations", first_delay=True)

    async def _settle_owed(self) -> None:
        if not self._pending:
            return
        owed, self._pending = self._pending, _PendingInvalidation()
        try:
            await self._send(owed)
            log.info("cache invalidations caught up", extra={"events": len(owed.event_ids)})
        except (RedisError, OSError) as error:
            self._failed(error, "invalidate")
            # Put it back, with what was owed meanwhile.
            owed.add(self._pending)
            self._pending = owed

    async def close(self) -> None:
        await self.redis.aclose()


def encode_page(ids: Sequence[str], next_page_token: str) -> bytes:
    return json.dumps({"ids": list(ids), "next": next_page_token}, separators=(",", ":")).encode()


def decode_page(page: bytes) -> tuple[list[str], str]:
    decoded: dict[str, Any] = json.loads(page)
    return list(decoded["ids"]), str(decoded["next"])


def _generation(value: bytes | str | int | None) -> str:
    return "" if value is None else as_text(value)


def page_key(*parts: object) -> str:
    """The cache key of one page of a list: its filters, position and size."""
    encoded = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:40]


class CachedReads:
    """GetEvent, BatchGetEvents, ListEvents and ListTags through the cache."""

    def __init__(self, cache: EventCache, store: EventStore) -> None:
        self.cache = cache
        self.store = store

    async def events(self, event_ids: Sequence[str]) -> dict[str, events_pb2.Event]:
        """Events by id (unknown ids left out): from the cache, the rest from PostgreSQL."""
        return await self._with_cached(event_ids, await self.cache.read_events(event_ids))

    async def event_page(
        self, key: str, read: Callable[[], Awaitable[tuple[Sequence[EventRecord], str]]]
    ) -> tuple[list[events_pb2.Event], str]:
        """One ListEvents page (events, next page token): the cached ids and their bodies, or
        `read()` from PostgreSQL when the page is not cached under the current list generation."""
        listed = await self.cache.read_list_page(key)
        if listed is not None and listed.page is not None:
            ids, next_token = decode_page(listed.page)
            bodies = await self._with_cached(ids, listed.events)
            return [bodies[event_id] for event_id in ids if event_id in bodies], next_token
        records, next_token = await read()
        if listed is not None:
            await self.cache.store_list_page(
                listed.list_generation, key, encode_page([str(record.id) for record in records], next_token)
            )
        return [event_to_proto(record) for record in records], next_token

    async def tags_page(
        self, key: str, read: Callable[[], Awaitable[events_pb2.ListTagsResponse]]
    ) -> events_pb2.ListTagsResponse:
        cached = await self.cache.read_tags(key)
        if cached is not None and cached.page is not None:
            return events_pb2.ListTagsResponse.FromString(cached.page)
        reply = await read()
        if cached is not None:
            await self.cache.store_tags(cached.list_generation, key, reply.SerializeToString())
        return reply

    async def _with_cached(
        self, event_ids: Sequence[str], cached: Mapping[str, Cached] | None
    ) -> dict[str, events_pb2.Event]:
        """Bodies found in `cached`, the others read and put back under the generation read before."""
        found: dict[str, events_pb2.Event] = {}
        missing: list[str] = []
        for event_id in event_ids:
            entry = cached.get(event_id) if cached is not None else None
            if entry is not None and entry.value is not None:
                found[event_id] = events_pb2.Event.FromString(entry.value)
            else:
                missing.append(event_id)
        if not missing:
            return found
        if len(missing) == 1:
            record = await self.store.get(uuid.UUID(missing[0]))
            records = [record] if record is not None else []
        else:
            records = await self.store.get_many([uuid.UUID(event_id) for event_id in missing])
        fills = []
        for record in records:
            message = event_to_proto(record)
            found[str(record.id)] = message
            if cached is not None:
                fills.append((str(record.id), cached[str(record.id)].generation, message.SerializeToString()))
        await self.cache.store_events(fills)
        return found
