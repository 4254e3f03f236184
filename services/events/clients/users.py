"""The users service as events calls it: the public display names of reviews' authors.

A review page is public and read far more often than names change, so names are kept per process
for a few minutes (unknown accounts too, as no name). When users does not answer, the page renders
without the names this process does not know yet, and users is left alone for a few seconds, so an
outage does not add a call's budget to every page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection

import grpc

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.clients import PeerUnavailable, call_with_retries

log = logging.getLogger(__name__)


class UsersClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        budget: float = 1.0,
        ttl: float = 300.0,
        max_entries: int = 10_000,
        pause_after_failure: float = 5.0,
    ) -> None:
        self.stub = users_pb2_grpc.UserServiceStub(channel)
        # Seconds one lookup may take, retries (and this service's credential) included.
        self.budget = budget
        self.ttl = ttl
        self.max_entries = max_entries
        self.pause_after_failure = pause_after_failure
        # user id -> (display name, "" for an unknown account; when it expires, monotonic)
        self._names: dict[str, tuple[str, float]] = {}
        self._paused_until = 0.0

    async def display_names(self, user_ids: Collection[str]) -> dict[str, str]:
        """Display names by user id, for the ids users (or the cache) could name; a page asks for
        at most 100, well under BatchGetUsers' 1,000 per call."""
        now = time.monotonic()
        names: dict[str, str] = {}
        missing: list[str] = []
        for user_id in sorted(set(user_ids)):
            cached = self._names.get(user_id)
            if cached is not None and cached[1] > now:
                names[user_id] = cached[0]
            else:
                missing.append(user_id)
        if missing and now >= self._paused_until:
            names.update(await self._look_up(missing))
        return names

    async def _look_up(self, user_ids: list[str]) -> dict[str, str]:
        request = users_pb2.BatchGetUsersRequest(user_ids=user_ids)
        try:
            # The outer bound also covers fetching this service's credential from users.
            async with asyncio.timeout(self.budget):
                reply = await call_with_retries(
                    lambda timeout: self.stub.BatchGetUsers(request, timeout=timeout), budget=self.budget
                )
        except (PeerUnavailable, TimeoutError):
            log.warning("users did not answer; review authors shown without their names")
            self._paused_until = time.monotonic() + self.pause_after_failure
            return {}
        except grpc.aio.AioRpcError as error:
            # Not a passing failure (our credential refused, a bug): loudly, and pages go on.
            log.error("users.BatchGetUsers refused", extra={"code": error.code().name})
            self._paused_until = time.monotonic() + self.pause_after_failure
            return {}
        found = {user.id: user.display_name for user in reply.users}
        names = {user_id: found.get(user_id, "") for user_id in user_ids}
        expires = time.monotonic() + self.ttl
        for user_id, name in names.items():
            self._remember(user_id, name, expires)
        return names

    def _remember(self, user_id: str, name: str, expires: float) -> None:
        if user_id not in self._names and len(self._names) >= self.max_entries:
            # The oldest entry goes (dicts keep insertion order): the cache stays small.
            del self._names[next(iter(self._names))]
        self._names[user_id] = (name, expires)
