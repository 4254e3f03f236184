"""Password hashing: Argon2id through passlib (the maintained `libpass` distribution).

Hashing is deliberately expensive (~30 ms of one core with the defaults), so it runs in worker
threads (argon2-cffi releases the GIL) and semaphores cap how many run at once: a burst queues up
instead of starving the event loop and every other RPC of this process.

Sign-ins and new passwords (sign-ups, the operator's create-admin) wait in separate queues: a flood
of sign-ups, cheap to send, would otherwise take every slot and lock everybody out of signing in.
New passwords get half the sign-in slots (at least one) on top of them, so sign-ins keep all of
theirs and sign-ups still proceed.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from passlib.hash import argon2


class PasswordHasher:
    def __init__(self, *, memory_kib: int, time_cost: int, concurrency: int = 0) -> None:
        """`concurrency`: sign-in checks at once (0: one per CPU core)."""
        self._scheme = argon2.using(type="ID", memory_cost=memory_kib, rounds=time_cost, parallelism=1)
        sign_in_slots = concurrency or os.cpu_count() or 1
        self._sign_in_slots = asyncio.Semaphore(sign_in_slots)
        self._new_password_slots = asyncio.Semaphore(max(1, sign_in_slots // 2))
        # Verified against when the email is unknown, so that costs exactly what a real check costs
        # and the answer's timing does not tell whether the account exists.
        self._decoy = self._scheme.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """The hash of a new password (a sign-up, the operator's create-admin)."""
        async with self._new_password_slots:
            return await asyncio.to_thread(self._scheme.hash, password)

    async def rehash(self, password: str) -> str:
        """A signed-in user's password under today's parameters: part of the sign-in."""
        async with self._sign_in_slots:
            return await asyncio.to_thread(self._scheme.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> bool:
        """True only when `stored_hash` exists and matches; None costs the same as a real hash."""
        async with self._sign_in_slots:
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
