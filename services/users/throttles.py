"""Throttles kept in Redis: sign-in attempts per email and per client address, sign-ups and
verification-code sends per client address and in total, codes per email address or phone number.
The client address is the one `runtime.edge` vouches for, never a header a client could set.

Fixed windows: the first event creates a counter that expires with the window, later events only
count. A caller over the limit is told how long until the window ends (RetryInfo). Keys carry a hash
of the email or phone number, never the address itself.

If Redis is unreachable the throttles let requests through and log it: losing login for everyone
because a helper is down would be worse than a few minutes without brute-force protection.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def _address_key(address: str) -> str:
    """An email or phone number as it appears in a key: hashed, so Redis never holds it."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0


ALLOWED = Verdict(True)


class LoginThrottle:
    """Password attempts per email and per client address.

    Every attempt is counted *before* the password is checked, so a burst of parallel guesses gets
    no more checks than the limit; a correct password then clears the email's count and gives
    the address its attempt back, so only failures add up.
    """

    def __init__(
        self, redis: aioredis.Redis, prefix: str, *, window: int, per_email: int, per_ip: int
    ) -> None:
        self.redis = redis
        self.prefix = prefix + "users:login-attempts:"
        self.window = window
        self.limits = {"email": per_email, "ip": per_ip}
        # Atomic, and never recreates an expired counter (a bare DECR would, without expiry).
        self._give_back = redis.register_script(
            "redis.call('DEL', KEYS[1]) "
            "if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end "
            "return 1"
        )

    def _keys(self, email: str, ip: str) -> dict[str, str]:
        return {"email": f"{self.prefix}email:{_address_key(email)}", "ip": f"{self.prefix}ip:{ip}"}

    async def attempt(self, email: str, ip: str) -> Attempt:
        """Count one attempt; refused when it goes over either limit."""
        keys = self._keys(email, ip)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in keys.values():
                    # SET NX EX starts the window with the first attempt; INCR keeps its expiry.
                    pipe.set(key, 0, ex=self.window, nx=True)
                    pipe.incr(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
        except RedisError:
            log.warning("login throttle unavailable (Redis); allowing the attempt", exc_info=True)
            return Attempt(ALLOWED, ALLOWED)
        counts = {
            kind: (int(replies[3 * index + 1]), int(replies[3 * index + 2]))
            for index, kind in enumerate(keys)
        }
        return Attempt(
            now=self._verdict(counts, over=lambda count, limit: count > limit),
            after_failure=self._verdict(counts, over=lambda count, limit: count >= limit),
        )

    async def succeeded(self, email: str, ip: str) -> None:
        keys = self._keys(email, ip)
        try:
            await self._give_back(keys=[keys["email"], keys["ip"]])
        except RedisError:
            log.warning("login throttle unavailable (Redis)", exc_info=True)

    def _verdict(self, counts: dict[str, tuple[int, int]], over: Callable[[int, int], bool]) -> Verdict:
        retry_after = 0.0
        for kind, (count, pttl) in counts.items():
            if over(count, self.limits[kind]):
                retry_after = max(retry_after, pttl / 1000 if pttl > 0 else float(self.window))
        return Verdict(False, retry_after) if retry_after else ALLOWED


@dataclass(frozen=True)
class Attempt:
    # May this attempt check a password at all?
    now: Verdict
    # If the password turns out wrong, may the next attempt still come?
    after_failure: Verdict


# Counts one event against every counter in KEYS, or against none when any is at its limit: a
# caller over its own limit must not use up the allowance everyone shares. ARGV: the window in ms,
# then one limit per key. Returns 0 (counted) or the ms until the fullest counter's window ends.
_TAKE_FROM_ALL = """
local retry = 0
for index, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[index + 1]) then
    local left = redis.call('PTTL', key)
    if left <= 0 then left = tonumber(ARGV[1]) end
    if left > retry then retry = left end
  end
end
if retry > 0 then return retry end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


class AddressThrottle:
    """Events of one kind (sign-ups, code sends) per client address and in total, in a fixed window.

    The total bounds what a crowd of addresses can cost (Argon2 hashes, emails and SMS sent on the
    platform's account); the per-address limit keeps one source from using that up alone.
    """

    def __init__(
        self, redis: aioredis.Redis, prefix: str, kind: str, *, window: int, per_address: int, total: int
    ) -> None:
        self.prefix = f"{prefix}users:{kind}:"
        self.window = window
        self.limits = (per_address, total)
        self._take = redis.register_script(_TAKE_FROM_ALL)

    async def take(self, client_address: str) -> Verdict:
        """Count one event from `client_address` if both limits allow it."""
        keys = [f"{self.prefix}ip:{client_address}", f"{self.prefix}all"]
        try:
            retry_ms = int(await self._take(keys=keys, args=[self.window * 1000, *self.limits]))
        except RedisError:
            log.warning("address throttle unavailable (Redis); allowing the event", exc_info=True)
            return ALLOWED
        return Verdict(False, retry_ms / 1000) if retry_ms else ALLOWED


class CodeThrottle:
    """Verification codes per email address or phone number: one per interval and a few per hour,
    whether or not an account has it (so the answer cannot tell)."""

    HOUR = 3600

    def __init__(self, redis: aioredis.Redis, prefix: str, *, interval: int, per_hour: int) -> None:
        self.redis = redis
        self.prefix = prefix + "users:codes:"
        self.interval = interval
        self.per_hour = per_hour

    async def take(self, address: str) -> Verdict:
        """Use up one send to this email address or phone number if allowed."""
        address_key = _address_key(address)
        cooldown_key = f"{self.prefix}cooldown:{address_key}"
        hourly_key = f"{self.prefix}hour:{address_key}"
        try:
            cooldown_left, hourly, hourly_left = await self._state(cooldown_key, hourly_key)
            if cooldown_left > 0:
                return Verdict(False, cooldown_left)
            if hourly >= self.per_hour:
                return Verdict(False, hourly_left if hourly_left > 0 else float(self.HOUR))
            async with self.redis.pipeline(transaction=True) as pipe:
                if self.interval > 0:
                    pipe.set(cooldown_key, 1, ex=self.interval, nx=True)
                pipe.set(hourly_key, 0, ex=self.HOUR, nx=True)
                pipe.incr(hourly_key)
                replies = await pipe.execute()
        except RedisError:
            log.warning("code throttle unavailable (Redis); allowing the send", exc_info=True)
            return ALLOWED
        if self.interval > 0 and not replies[0]:
            # A concurrent request took the cooldown between our read and write.
            return Verdict(False, float(self.interval))
        return ALLOWED

    async def _state(self, cooldown_key: str, hourly_key: str) -> tuple[float, int, float]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.pttl(cooldown_key)
            pipe.get(hourly_key)
            pipe.pttl(hourly_key)
            cooldown_pttl, hourly, hourly_pttl = await pipe.execute()
        return (
            max(int(cooldown_pttl), 0) / 1000,
            int(hourly or 0),
            max(int(hourly_pttl), 0) / 1000,
        )
