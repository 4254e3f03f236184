"""The Redis client every service uses: streams (bus), cache, rate limits, pub/sub."""

from __future__ import annotations

from redis import asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    # Short timeouts: Redis is a helper, never a reason for an RPC to hang. Callers that can live
    # without it (the cache) catch RedisError and carry on.
    return aioredis.from_url(
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
