"""Throttles kept in Redis: sign-in attempts per email and per client IP (`client_ip` finds the
address behind Envoy), verification codes per email.

Fixed windows: the first event creates a counter that expires with the window, later events only
count. A caller over the limit is told how long until the window ends (RetryInfo). Keys carry a hash
of the email, never the address itself.

If Redis is unreachable the throttles let requests through and log it: losing login for everyone
because a helper is down would be worse than a few minutes without brute-force protection.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def _email_key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


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
        return {"email": f"{self.prefix}email:{_email_key(email)}", "ip": f"{self.prefix}ip:{ip}"}

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


class CodeThrottle:
    """Verification codes per email: one per interval and a few per hour, whether or not the email
    has an account (so the answer cannot tell)."""

    HOUR = 3600

    def __init__(self, redis: aioredis.Redis, prefix: str, *, interval: int, per_hour: int) -> None:
        self.redis = redis
        self.prefix = prefix + "users:codes:"
        self.interval = interval
        self.per_hour = per_hour

    async def take(self, email: str) -> Verdict:
        """Use up one send for this email if allowed."""
        email_key = _email_key(email)
        cooldown_key = f"{self.prefix}cooldown:{email_key}"
        hourly_key = f"{self.prefix}hour:{email_key}"
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


# -- the client's address ----------------------------------------------------------------------


def client_ip(metadata: Mapping[str, str], peer: str) -> str:
    """The caller's address for rate limits.

    Envoy sets `x-envoy-external-address` for external clients and appends the address it saw to
    `x-forwarded-for` (its last hop); a direct gRPC caller is known by its peer address.
    """
    external = _parse_ip(metadata.get("x-envoy-external-address", ""))
    if external:
        return external
    forwarded = metadata.get("x-forwarded-for", "")
    if forwarded:
        last_hop = _parse_ip(forwarded.split(",")[-1])
        if last_hop:
            return last_hop
    return _peer_ip(peer) or "unknown"


def _parse_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def _peer_ip(peer: str) -> str:
    # grpc peers look like "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" or "unix:/path".
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return _parse_ip(rest.rpartition(":")[0])
    if kind == "ipv6":
        return _parse_ip(rest.rpartition(":")[0].strip("[]"))
    return ""
