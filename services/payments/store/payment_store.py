"""PaymentStore: what runs as single statements in autocommit (reads, lists, the report, the refund
worker's lease), and the unit of work for everything else (`transaction()`)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    Uuid,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import DateTime

from services.payments.domain import Payment, PaymentState, Refund, RefundState
from services.payments.store.payment_transaction import PaymentTransaction
from services.payments.store.records import PAYMENT_COLUMNS, REFUND_COLUMNS, payment_record, refund_record
from services.payments.tables import payments, refunds
from services.runtime.database import Database, Statement

_id = bindparam("p_id", type_=Uuid)

GET_PAYMENT = Statement.of(select(*PAYMENT_COLUMNS).where(payments.c.id == _id))
BOOKING_PAYMENTS = Statement.of(
    select(*PAYMENT_COLUMNS)
    .where(payments.c.booking_id == bindparam("p_booking_id", type_=Uuid))
    .order_by(payments.c.create_time.desc(), payments.c.id.desc())
)
FIND_BY_REQUEST = Statement.of(
    select(*PAYMENT_COLUMNS, payments.c.request_fingerprint).where(
        payments.c.booking_id == bindparam("p_booking_id", type_=Uuid),
        payments.c.request_id == bindparam("p_request_id", type_=Text),
    )
)
REFUNDS_OF_MANY = Statement.of(
    select(*REFUND_COLUMNS)
    .where(refunds.c.payment_id == func.any(bindparam("p_ids", type_=ARRAY(Uuid))))
    .order_by(refunds.c.create_time, refunds.c.id)
)

_retry_delay = func.least(
    bindparam("p_base_delay", type_=Float) * func.power(2, func.least(refunds.c.attempts, 10)),
    literal(3600.0),
) * literal_column("interval '1 second'")
_due = (
    select(refunds.c.id)
    .where(refunds.c.state == RefundState.PENDING.value, refunds.c.next_attempt_time <= func.now())
    .order_by(refunds.c.next_attempt_time)
    .limit(bindparam("p_limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
# The refund worker's lease: due pending refunds, each pushed back by its growing retry delay, so a
# replica that dies mid-call leaves them for another after that delay.
CLAIM_DUE_REFUNDS = Statement.of(
    update(refunds)
    .where(refunds.c.id == _due.c.id)
    .values(attempts=refunds.c.attempts + 1, next_attempt_time=func.now() + _retry_delay)
    .returning(*REFUND_COLUMNS)
)
CLAIM_REFUND = Statement.of(
    update(refunds)
    .where(
        refunds.c.id == _id,
        refunds.c.state == RefundState.PENDING.value,
        refunds.c.next_attempt_time <= func.now(),
    )
    .values(attempts=refunds.c.attempts + 1, next_attempt_time=func.now() + _retry_delay)
    .returning(*REFUND_COLUMNS)
)


@dataclass(frozen=True)
class PaymentFilter:
    """Which payments ListPayments shows: a buyer's, an organizer's, or (None, None) everyone's."""

    buyer_id: str | None
    organizer_id: str | None
    event_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    state: PaymentState | None


def list_statement(where: PaymentFilter, after: tuple[datetime, uuid.UUID] | None, limit: int) -> Select[Any]:
    """Newest first by (create_time, id); each filter is served by an index."""
    conditions: list[ColumnElement[bool]] = []
    if where.buyer_id is not None:
        conditions.append(payments.c.buyer_id == where.buyer_id)
    if where.organizer_id is not None:
        conditions.append(payments.c.organizer_id == where.organizer_id)
    if where.event_id is not None:
        conditions.append(payments.c.event_id == where.event_id)
    if where.booking_id is not None:
        conditions.append(payments.c.booking_id == where.booking_id)
    if where.state is not None:
        conditions.append(payments.c.state == where.state.value)
    if after is not None:
        boundary = tuple_(literal(after[0], type_=DateTime(timezone=True)), literal(after[1], type_=Uuid))
        conditions.append(tuple_(payments.c.create_time, payments.c.id) < boundary)
    return (
        select(*PAYMENT_COLUMNS)
        .where(*conditions)
        .order_by(payments.c.create_time.desc(), payments.c.id.desc())
        .limit(limit)
    )


class PaymentStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def transaction(self) -> contextlib.AbstractAsyncContextManager[PaymentTransaction]:
        return self.database.transaction(PaymentTransaction)

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        """The payment with its refunds."""
        row = await self.database.row(GET_PAYMENT, p_id=payment_id)
        if row is None:
            return None
        return (await self.with_refunds([payment_record(row)]))[0]

    async def booking_payments(self, booking_id: uuid.UUID) -> list[Payment]:
        """Every payment of a booking, newest first (without refunds)."""
        rows = await self.database.rows(BOOKING_PAYMENTS, p_booking_id=booking_id)
        return [payment_record(row) for row in rows]

    async def find_by_request(self, booking_id: uuid.UUID, request_id: str) -> tuple[Payment, str] | None:
        """The payment an OpenCheckout with this request id opened, and that request's fingerprint."""
        row = await self.database.row(FIND_BY_REQUEST, p_booking_id=booking_id, p_request_id=request_id)
        return (payment_record(row), row.request_fingerprint or "") if row is not None else None

    async def list_payments(
        self, where: PaymentFilter, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Payment]:
        rows = await self.database.rows(list_statement(where, after, limit))
        return await self.with_refunds([payment_record(row) for row in rows])

    async def with_refunds(self, found: Sequence[Payment]) -> list[Payment]:
        """The payments with their refunds, oldest refund first (one statement for all of them)."""
        if not found:
            return []
        rows = await self.database.rows(REFUNDS_OF_MANY, p_ids=[payment.id for payment in found])
        by_payment: dict[uuid.UUID, list[Refund]] = {}
        for row in rows:
            refund = refund_record(row)
            by_payment.setdefault(refund.payment_id, []).append(refund)
        return [
            dataclasses.replace(payment, refunds=tuple(by_payment.get(payment.id, ()))) for payment in found
        ]

    # -- the refund worker's lease --------------------------------------------------------------

    async def claim_due_refunds(self, *, limit: int, base_delay: float) -> list[Refund]:
        rows = await self.database.rows(CLAIM_DUE_REFUNDS, p_limit=limit, p_base_delay=base_delay)
        return [refund_record(row) for row in rows]

    async def claim_refund(self, refund_id: uuid.UUID, *, base_delay: float) -> Refund | None:
        """This one refund, if it is pending and nobody else is on it."""
        row = await self.database.row(CLAIM_REFUND, p_id=refund_id, p_base_delay=base_delay)
        return refund_record(row) if row is not None else None
