"""The Redis client every service uses: streams (bus), cache, rate limits, pub/sub."""

from __future__ import annotations

from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.client import Pipeline

from services.runtime import tracing


def _command_name(args: tuple[Any, ...]) -> str:
    name = args[0] if args else "?"
    return name.decode() if isinstance(name, bytes) else str(name)


class TracedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        with tracing.redis_span([_command_name(args) for args, _ in self.command_stack]):
            return await super().execute(raise_on_error)


class TracedRedis(aioredis.Redis):
    """A client whose commands get spans inside a traced request (runtime/tracing.py). Used only
    when tracing is on, so the plain client pays nothing for it."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        with tracing.redis_span([_command_name(args)]):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return TracedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def redis_class() -> type[aioredis.Redis]:
    """The client class for this process: traced when tracing is on."""
    return TracedRedis if tracing.enabled() else aioredis.Redis


def create_redis(url: str) -> aioredis.Redis:
    # Short timeouts: Redis is a helper, never a reason for an RPC to hang. Callers that can live
    # without it (the cache) catch RedisError and carry on.
    return redis_class().from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        health_check_interval=10,
        retry_on_timeout=False,
    )


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key starting with `prefix` (tests and benchmarks clean up after themselves)."""
    import redis as sync_redis

    if not prefix:
        raise ValueError("refusing to delete keys without a prefix")
    client = sync_redis.Redis.from_url(url)
    deleted = 0
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            deleted += client.delete(key)
    finally:
        client.close()
    return deleted


def as_text(value: bytes | str | int) -> str:
    """A Redis reply value (bytes with decode_responses=False) as text."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
