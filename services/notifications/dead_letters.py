"""The mesh's dead-letter stream as admins read it (ListDeadLetters): every consumer group's
messages that kept failing, newest first.

It lives in Redis beside the bus streams (services/runtime/bus/consumer.py writes it); an entry's
id is its time of death in milliseconds, which also orders the pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from services.notifications.domain.records import DeadLetter
from services.runtime.bus.envelopes import DEAD_LETTER_STREAM
from services.runtime.errors import unavailable
from services.runtime.redis import as_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DeadLetterLog:
    def __init__(self, redis: aioredis.Redis, redis_prefix: str) -> None:
        self.redis = redis
        self.stream = redis_prefix + DEAD_LETTER_STREAM

    async def newest(self, *, before: str | None, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters, newest first, older than the entry `before` when given."""
        try:
            entries: Any = await self.redis.xrevrange(
                self.stream, max=f"({before}" if before else "+", min="-", count=limit
            )
        except RedisError:
            raise unavailable("BUS_UNAVAILABLE", "the bus (Redis) is not reachable; try again") from None
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]


def _dead_letter(entry_id: bytes | str, fields: Mapping[Any, Any]) -> DeadLetter:
    def field(name: str) -> str:
        value = fields.get(name.encode(), fields.get(name))
        return as_text(value) if value is not None else ""

    identifier = as_text(entry_id)
    milliseconds = int(identifier.split("-", 1)[0])
    return DeadLetter(
        id=identifier,
        stream=field("stream"),
        event_id=field("event_id"),
        type=field("type"),
        error=field("error"),
        attempts=int(field("attempts") or 0),
        dead_time=_EPOCH + timedelta(milliseconds=milliseconds),
    )
