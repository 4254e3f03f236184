"""Recipients' addresses, from the users service (BatchGetUsers), looked up when sending.

Looking them up at send time (one call per claimed batch) means an email change is honoured and
no address is copied into this service's database before it is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import grpc

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.notifications.channels import ChannelUnavailable

log = logging.getLogger(__name__)

BATCH_LIMIT = 1000


@dataclass(frozen=True)
class Contact:
    user_id: str
    email: str
    display_name: str
    phone: str


class UserDirectory:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 3.0) -> None:
        self.stub = users_pb2_grpc.UserServiceStub(channel)
        self.timeout = timeout

    async def contacts(self, user_ids: Collection[str]) -> dict[str, Contact]:
        """Contacts by user id; ids the users service doesn't know are left out."""
        ids = sorted(set(user_ids))
        found: dict[str, Contact] = {}
        for start in range(0, len(ids), BATCH_LIMIT):
            try:
                reply = await self.stub.BatchGetUsers(
                    users_pb2.BatchGetUsersRequest(user_ids=ids[start : start + BATCH_LIMIT]),
                    timeout=self.timeout,
                )
            except grpc.aio.AioRpcError as error:
                # Whatever the code (down, not deployed yet, our credential refused), it is not the
                # recipients' fault: the deliveries wait for the directory instead of failing.
                if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    log.error("users.BatchGetUsers failed", extra={"code": error.code().name})
                raise ChannelUnavailable(f"users directory: {error.code().name}") from None
            for user in reply.users:
                found[user.id] = Contact(
                    user_id=user.id, email=user.email, display_name=user.display_name, phone=user.phone
                )
        return found
