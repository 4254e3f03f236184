"""How often people may write to others (SendNotification): per sender and per event, in Redis.

Every message fans out to emails and SMS the operator pays for, and an organizer with a few guest
accounts of their own could otherwise send in a loop at that cost. Fixed windows, like the users
service's throttles: the first send of a window starts a counter that expires with it. Both limits
are checked and counted in one script, atomically, so a refused send uses up nothing and parallel
sends cannot slip past the limit together. A sender over a limit learns how long until its window
ends (RetryInfo).

Unlike the sign-in throttles this one fails closed: when Redis cannot count, a message waits
rather than going out unmetered (the bus this service lives on is in the same Redis anyway).
"""

from __future__ import annotations

import logging

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from services.runtime.errors import resource_exhausted, unavailable

log = logging.getLogger(__name__)

# KEYS: the counters; ARGV[1]: the window in milliseconds, ARGV[1 + i]: the limit of KEYS[i].
# Returns 0 when the send was counted, otherwise the milliseconds until the fullest window ends.
_TAKE = """
local wait = 0
for index, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[index + 1]) then
    local left = redis.call('PTTL', key)
    if left < 0 then left = tonumber(ARGV[1]) end
    if left > wait then wait = left end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


class SendThrottle:
    def __init__(
        self, redis: aioredis.Redis, prefix: str, *, window: int, per_sender: int, per_event: int
    ) -> None:
        self.prefix = prefix + "notifications:sends:"
        self.window = window
        self.per_sender = per_sender
        self.per_event = per_event
        self._take = redis.register_script(_TAKE)

    async def take(self, *, sender_id: str, event_id: str | None) -> None:
        """Count one send; RESOURCE_EXHAUSTED (nothing counted) when a limit is reached."""
        keys, limits = [f"{self.prefix}sender:{sender_id}"], [self.per_sender]
        if event_id is not None:
            keys.append(f"{self.prefix}event:{event_id}")
            limits.append(self.per_event)
        try:
            wait_ms = int(await self._take(keys=keys, args=[self.window * 1000, *limits]))
        except RedisError:
            log.warning("send throttle unavailable (Redis)", exc_info=True)
            raise unavailable(
                "THROTTLE_UNAVAILABLE", "messages cannot be counted right now; try again"
            ) from None
        if wait_ms:
            raise resource_exhausted(
                "TOO_MANY_MESSAGES",
                "too many messages from this sender or to this event's guests; try again later",
                retry_after=wait_ms / 1000,
            )
