"""Periodic work of the users service, on runtime.loops: keeping the signing keys current, and
removing refresh tokens and verification codes long expired.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.runtime.loops import every
from services.users.keyring import KeyRing
from services.users.store import UserStore

log = logging.getLogger(__name__)

CLEANUP_INTERVAL = 3600.0


@dataclass
class UserJobs:
    store: UserStore
    keys: KeyRing
    # How often this replica re-reads the key directory (settings.key_reload_seconds).
    key_reload_interval: float

    async def reload_keys(self) -> None:
        """Pick up keys other replicas created, rotate when due, hand over on time. If it fails,
        the ring keeps signing with the keys it has until the next round."""
        await asyncio.to_thread(self.keys.reload)

    async def remove_expired(self) -> None:
        async with self.store.transaction() as tx:
            removed = await tx.delete_expired()
        if removed:
            log.info("removed expired refresh tokens and codes", extra={"rows": removed})

    async def keep_keys_current(self) -> None:
        # The keys were loaded when the service was built: the first reload waits an interval.
        await every(self.key_reload_interval, self.reload_keys, what="signing key reload", first_delay=True)

    async def keep_removing_expired(self) -> None:
        await every(CLEANUP_INTERVAL, self.remove_expired, what="expired token cleanup")
