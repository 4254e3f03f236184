"""SendNotification's request ids: the first call with an id decides what was sent.

The id is taken with an insert inside the sending transaction, so a concurrent call with the same
id waits on the primary key until the first commits, then finds what it did.
"""

from __future__ import annotations

from sqlalchemy import Integer, Text, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.types import Uuid

from services.notifications.tables import sends
from services.runtime.database import Executor, Statement

_sender = sends.c.sender_id == bindparam("p_sender_id", type_=Uuid)
_request = sends.c.request_id == bindparam("p_request_id", type_=Text)
_TAKE = Statement.of(
    insert(sends)
    .values(
        sender_id=bindparam("p_sender_id", type_=Uuid),
        request_id=bindparam("p_request_id", type_=Text),
        fingerprint=bindparam("p_fingerprint", type_=Text),
        recipient_count=0,
    )
    .on_conflict_do_nothing()
    .returning(sends.c.request_id)
)
_FIRST = Statement.of(select(sends.c.recipient_count, sends.c.fingerprint).where(_sender, _request))
_RECORD = Statement.of(
    update(sends).where(_sender, _request).values(recipient_count=bindparam("p_count", type_=Integer))
)


class Sends(Executor):
    """The request ids of SendNotification (part of NotificationTransaction)."""

    async def claim_send(
        self, *, sender_id: str, request_id: str, fingerprint: str
    ) -> tuple[int, str] | None:
        """None when this request id is new (and now taken); otherwise the first call's recipient
        count and request fingerprint."""
        taken = await self.row(
            _TAKE, p_sender_id=sender_id, p_request_id=request_id, p_fingerprint=fingerprint
        )
        if taken is not None:
            return None
        [first] = await self.rows(_FIRST, p_sender_id=sender_id, p_request_id=request_id)
        return int(first.recipient_count), str(first.fingerprint)

    async def record_send(self, *, sender_id: str, request_id: str, recipient_count: int) -> None:
        await self.execute(_RECORD, p_sender_id=sender_id, p_request_id=request_id, p_count=recipient_count)
