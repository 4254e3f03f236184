"""Recipients' addresses, from the users service (BatchGetUsers), looked up when sending.

Looking them up at send time (one call per claimed batch) means an email change is honoured and
no address is copied into this service's database before it is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import grpc

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.notifications.channels import ChannelUnavailable
from services.notifications.convert import contact_from_proto
from services.notifications.domain.records import Contact

log = logging.getLogger(__name__)

# The most ids users answers for in one call.
BATCH_LIMIT = 1000


class UsersClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 3.0) -> None:
        self.stub = users_pb2_grpc.UserServiceStub(channel)
        self.timeout = timeout

    async def contacts(self, user_ids: Collection[str]) -> dict[str, Contact]:
        """Contacts by user id; ids the users service doesn't know are left out.

        Not retried here: when users does not answer, the deliveries wait for it (the delivery
        worker's backoff), which is the same outcome a retry would only postpone.
        """
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
                found[user.id] = contact_from_proto(user)
        return found
