"""Email and SMS sends: claimed by the delivery worker, recorded as SENT right after the server took
them, retried, released while a channel is down, given up; listed for admins.

The worker's claim and its SENT record are single statements, each atomic by itself, and run in
autocommit on the store (one round trip each, no BEGIN/COMMIT around): the claim counts the
attempt and leases the rows (FOR UPDATE SKIP LOCKED, so workers and replicas never share one),
and SENT is committed the moment the 250 came back, which keeps the one window no SMTP client
can close (accepted, not yet recorded) as short as it can be. SENT records of sends that finished
while one was being written go together in the next write (one round trip and commit, no timer:
runtime/batching.py). A SENT row is never sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Interval, any_, bindparam, case, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text, Uuid

from services.notifications.domain.kinds import Channel, DeliveryState, Kind
from services.notifications.domain.messages import Content
from services.notifications.domain.records import ClaimedDelivery, Delivery
from services.notifications.tables import deliveries, messages
from services.runtime.batching import Batcher
from services.runtime.database import Database, Executor, Statement

_due = (
    select(deliveries.c.id)
    .where(
        deliveries.c.state == DeliveryState.PENDING.value,
        deliveries.c.next_attempt_at <= func.now(),
        deliveries.c.channel == any_(bindparam("channels", type_=ARRAY(Text))),
    )
    .order_by(deliveries.c.next_attempt_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_CLAIM = Statement.of(
    update(deliveries)
    .where(deliveries.c.id == _due.c.id, messages.c.id == deliveries.c.message_id)
    .values(
        attempts=deliveries.c.attempts + 1,
        next_attempt_at=func.now() + bindparam("lease", type_=Interval),
        updated_at=func.now(),
    )
    .returning(
        deliveries.c.id,
        deliveries.c.message_id,
        deliveries.c.channel,
        deliveries.c.recipient_id,
        deliveries.c.address,
        deliveries.c.attempts,
        deliveries.c.created_at,
        messages.c.kind,
        messages.c.content,
        messages.c.expires_at,
        messages.c.traceparent,
    )
)

# A verification code is kept (sealed) only until its email or SMS is sent or given up.
_scrub = (
    update(messages)
    .where(messages.c.id == bindparam("p_message_id", type_=Uuid))
    .values(content=messages.c.content.op("||")(func.jsonb_build_object("sealed_code", "")))
)
_sent = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("p_delivery_id", type_=Uuid), deliveries.c.state == "PENDING")
    .values(
        state=DeliveryState.SENT.value,
        sent_at=func.now(),
        updated_at=func.now(),
        address=bindparam("p_sent_to", type_=Text),
        last_error="",
    )
)
_MARK_SENT = Statement.of(_sent)
# The same statement blanks the code in the message, so recording SENT stays one round trip.
_MARK_SENT_AND_SCRUB = Statement.of(_scrub.add_cte(_sent.cte("sent")))
_SCRUB = Statement.of(_scrub)

_MARK_REFUSED = Statement.of(
    update(deliveries)
    .where(deliveries.c.id == bindparam("p_delivery_id", type_=Uuid), deliveries.c.state == "PENDING")
    .values(
        state=bindparam("p_state", type_=Text),
        next_attempt_at=func.now() + bindparam("p_retry_in", type_=Interval),
        updated_at=func.now(),
        address=func.coalesce(bindparam("p_address", type_=Text), deliveries.c.address),
        last_error=bindparam("p_error", type_=Text),
    )
)
_too_old = deliveries.c.created_at < func.now() - bindparam("p_max_age", type_=Interval)
_RELEASE = Statement.of(
    update(deliveries)
    .where(
        deliveries.c.id == any_(bindparam("p_ids", type_=ARRAY(Uuid))),
        deliveries.c.state == DeliveryState.PENDING.value,
    )
    .values(
        state=case((_too_old, DeliveryState.FAILED.value), else_=DeliveryState.PENDING.value),
        attempts=func.greatest(deliveries.c.attempts - 1, 0),
        next_attempt_at=func.now() + bindparam("p_retry_in", type_=Interval),
        updated_at=func.now(),
        last_error=bindparam("p_error", type_=Text),
    )
)
_EXPIRE = Statement.of(
    update(deliveries)
    .where(deliveries.c.id == bindparam("p_delivery_id", type_=Uuid), deliveries.c.state == "PENDING")
    .values(
        state=DeliveryState.FAILED.value, updated_at=func.now(), last_error=bindparam("p_reason", type_=Text)
    )
)

# What is kept of an error message.
_ERROR_LENGTH = 500


def _claimed(row: Any) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row.id,
        message_id=row.message_id,
        channel=Channel(row.channel),
        recipient_id=row.recipient_id,
        address=row.address,
        attempts=row.attempts,
        created_at=row.created_at,
        # The kind column, not the JSON's: messages stored before kinds were named in the JSON
        # carry the contract's enum number there.
        content=Content.from_json({**row.content, "kind": row.kind}),
        expires_at=row.expires_at,
        traceparent=row.traceparent,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        kind=Kind(row.kind),
        channel=Channel(row.channel),
        recipient_id=row.recipient_id,
        address=row.address,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class DeliveryQueue:
    """The worker's claim and SENT record, and the admins' list (part of NotificationStore)."""

    database: Database
    # SENT records that arrive together, written together (NotificationStore makes it).
    _sent_records: Batcher[str, tuple[Statement, dict[str, Any]], None]

    async def claim_deliveries(
        self, *, channels: Sequence[Channel], limit: int, lease: float
    ) -> list[ClaimedDelivery]:
        """Take due deliveries for `lease` seconds and count the attempt now (a crash counts too)."""
        rows = await self.database.rows(
            _CLAIM, channels=list(channels), limit=limit, lease=timedelta(seconds=lease)
        )
        return [_claimed(row) for row in sorted(rows, key=lambda row: (row.created_at, row.id))]

    async def mark_sent(self, delivery: ClaimedDelivery, address: str) -> None:
        statement = _MARK_SENT_AND_SCRUB if delivery.content.sealed_code else _MARK_SENT
        values = {"p_delivery_id": delivery.id, "p_message_id": delivery.message_id, "p_sent_to": address}
        await self._sent_records.submit(statement.sql, (statement, values))

    async def _record_sent(self, _: str, batch: list[tuple[Statement, dict[str, Any]]]) -> list[None]:
        await self.database.write_each(batch[0][0], [values for _, values in batch])
        return [None] * len(batch)

    async def deliveries(
        self, *, state: DeliveryState | None, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Delivery]:
        """Newest first; `after` is the last (created_at, id) of the previous page."""
        query = (
            select(deliveries).order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
        )
        if state is not None:
            query = query.where(deliveries.c.state == state.value)
        if after is not None:
            query = query.where(tuple_(deliveries.c.created_at, deliveries.c.id) < tuple_(*after))
        return [_delivery(row) for row in await self.database.rows(query)]


class DeliveryOutcomes(Executor):
    """How a delivery ended when it was not sent (part of NotificationTransaction)."""

    async def mark_refused(
        self,
        delivery: ClaimedDelivery,
        *,
        state: DeliveryState,
        address: str | None,
        error: str,
        retry_in: float,
    ) -> None:
        """The recipient was refused: due again after `retry_in`, or FAILED for good."""
        await self.execute(
            _MARK_REFUSED,
            p_delivery_id=delivery.id,
            p_state=state,
            p_retry_in=timedelta(seconds=retry_in),
            p_address=address,
            p_error=error[:_ERROR_LENGTH],
        )
        if state is DeliveryState.FAILED and delivery.content.sealed_code:
            await self.execute(_SCRUB, p_message_id=delivery.message_id)

    async def release(
        self, claimed: Sequence[ClaimedDelivery], *, error: str, retry_in: float, max_age: float
    ) -> None:
        """The channel was down: give the deliveries back without spending their attempt.

        One that has waited longer than `max_age` in all is given up (FAILED), so a permanently
        broken configuration shows up as failures instead of an ever-growing queue.
        """
        if not claimed:
            return
        await self.execute(
            _RELEASE,
            p_ids=[delivery.id for delivery in claimed],
            p_retry_in=timedelta(seconds=retry_in),
            p_max_age=timedelta(seconds=max_age),
            p_error=error[:_ERROR_LENGTH],
        )

    async def expire(self, delivery: ClaimedDelivery, reason: str) -> None:
        await self.execute(_EXPIRE, p_delivery_id=delivery.id, p_reason=reason)
        if delivery.content.sealed_code:
            await self.execute(_SCRUB, p_message_id=delivery.message_id)
