"""Password hashing: Argon2id through passlib (the maintained `libpass` distribution).

Hashing is deliberately expensive (~30 ms of one core with the defaults), so it runs in worker
threads (argon2-cffi releases the GIL) and a semaphore caps how many run at once: a burst of logins
queues up instead of starving the event loop and every other RPC of this process.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from passlib.hash import argon2


class PasswordHasher:
    def __init__(self, *, memory_kib: int, time_cost: int, concurrency: int = 0) -> None:
        self._scheme = argon2.using(type="ID", memory_cost=memory_kib, rounds=time_cost, parallelism=1)
        self._slots = asyncio.Semaphore(concurrency or os.cpu_count() or 1)
        # Verified against when the email is unknown, so that costs exactly what a real check costs
        # and the answer's timing does not tell whether the account exists.
        self._decoy = self._scheme.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._scheme.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> bool:
        """True only when `stored_hash` exists and matches; None costs the same as a real hash."""
        async with self._slots:
            matched = await asyncio.to_thread(self._verify, password, stored_hash or self._decoy)
        return matched and stored_hash is not None

    def _verify(self, password: str, stored_hash: str) -> bool:
        try:
            return bool(self._scheme.verify(password, stored_hash))
        except (ValueError, TypeError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than today's (rehash at next login)."""
        try:
            return bool(self._scheme.needs_update(stored_hash))
        except (ValueError, TypeError):
            return False
