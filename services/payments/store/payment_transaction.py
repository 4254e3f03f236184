"""PaymentTransaction: the writes that run inside one unit of work, together with the outbox rows
they announce (`publish`) and what must wait for the commit (`after_commit`).

A payment that changes is first locked (`lock_payment`, `lock_booking_payments`), so the rules in
the domain decide on the row as it is; the constraints in the schema are the last word all the same.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Text,
    Uuid,
    bindparam,
    case,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.payments.domain import (
    CheckoutDraft,
    Payment,
    PaymentState,
    Provider,
    Refund,
    RefundOrder,
    RefundState,
    ReportEvent,
)
from services.payments.store.records import PAYMENT_COLUMNS, REFUND_COLUMNS, payment_record, refund_record
from services.payments.tables import payments, refunds, report_bookings, report_events, stripe_events
from services.runtime.database import Statement, Transaction

_id = bindparam("p_id", type_=Uuid)
_CHANGED = {"version": payments.c.version + 1, "update_time": func.now()}
_refund_amount = bindparam("p_amount_minor", type_=BigInteger)


def _state(state: PaymentState) -> Any:
    # A literal, so the planner matches the partial index on open payments.
    return literal_column(f"'{state.value}'", Text)


INSERT_PAYMENT = Statement.of(
    pg_insert(payments)
    .values(
        id=_id,
        booking_id=bindparam("p_booking_id", type_=Uuid),
        event_id=bindparam("p_event_id", type_=Uuid),
        buyer_id=bindparam("p_buyer_id", type_=Text),
        organizer_id=bindparam("p_organizer_id", type_=Text),
        event_title=bindparam("p_event_title", type_=Text),
        event_time_zone=bindparam("p_event_time_zone", type_=Text),
        seats=bindparam("p_seats", type_=Integer),
        currency=bindparam("p_currency", type_=Text),
        amount_minor=bindparam("p_amount_minor", type_=BigInteger),
        state=_state(PaymentState.PENDING),
        provider=bindparam("p_provider", type_=Text),
        hold_expire_time=bindparam("p_hold_expire_time", type_=DateTime(timezone=True)),
        event_start_time=bindparam("p_event_start_time", type_=DateTime(timezone=True)),
        refund_hours_before_start=bindparam("p_refund_hours", type_=Integer),
        request_id=bindparam("p_request_id", type_=Text),
        request_fingerprint=bindparam("p_request_fingerprint", type_=Text),
    )
    # Another open payment of the booking, or this request id used before: the caller reads that one.
    .on_conflict_do_nothing()
    .returning(*PAYMENT_COLUMNS)
)
LOCK_PAYMENT = Statement.of(select(*PAYMENT_COLUMNS).where(payments.c.id == _id).with_for_update())
LOCK_BOOKING_PAYMENTS = Statement.of(
    select(*PAYMENT_COLUMNS)
    .where(payments.c.booking_id == bindparam("p_booking_id", type_=Uuid))
    .order_by(payments.c.create_time.desc(), payments.c.id.desc())
    .with_for_update()
)
# A checkout opened for an open payment, unless another caller recorded one first.
SET_CHECKOUT = Statement.of(
    update(payments)
    .where(
        payments.c.id == _id,
        payments.c.state == _state(PaymentState.PENDING),
        payments.c.checkouts_opened == bindparam("p_opened_before", type_=Integer),
    )
    .values(
        checkout_id=bindparam("p_checkout_id", type_=Text),
        checkout_url=bindparam("p_checkout_url", type_=Text),
        checkouts_opened=payments.c.checkouts_opened + 1,
        **_CHANGED,
    )
    .returning(*PAYMENT_COLUMNS)
)
CLEAR_CHECKOUT = Statement.of(
    update(payments).where(payments.c.id == _id).values(checkout_id=None, checkout_url="", **_CHANGED)
)
CAPTURE = Statement.of(
    update(payments)
    .where(payments.c.id == _id)
    .values(
        state=_state(PaymentState.SUCCEEDED),
        captured_minor=bindparam("p_captured_minor", type_=BigInteger),
        provider_payment_id=func.coalesce(
            bindparam("p_provider_payment_id", type_=Text), payments.c.provider_payment_id
        ),
        capture_time=bindparam("p_capture_time", type_=DateTime(timezone=True)),
        checkout_url="",
        failure_reason="",
        **_CHANGED,
    )
    .returning(*PAYMENT_COLUMNS)
)
FAIL = Statement.of(
    update(payments)
    .where(payments.c.id == _id)
    .values(
        state=_state(PaymentState.FAILED),
        failure_reason=bindparam("p_reason", type_=Text),
        checkout_url="",
        **_CHANGED,
    )
    .returning(*PAYMENT_COLUMNS)
)
EXPIRE = Statement.of(
    update(payments)
    .where(payments.c.id == _id)
    .values(state=_state(PaymentState.EXPIRED), checkout_url="", **_CHANGED)
    .returning(*PAYMENT_COLUMNS)
)

INSERT_REFUND = Statement.of(
    pg_insert(refunds)
    .values(
        id=_id,
        payment_id=bindparam("p_payment_id", type_=Uuid),
        amount_minor=bindparam("p_amount_minor", type_=BigInteger),
        reason=bindparam("p_reason", type_=Text),
        state=RefundState.PENDING.value,
        initiated_by=bindparam("p_initiated_by", type_=Text),
        initiated_by_user_id=bindparam("p_user_id", type_=Text),
        request_id=bindparam("p_request_id", type_=Text),
        request_fingerprint=bindparam("p_fingerprint", type_=Text),
    )
    .on_conflict_do_nothing(constraint="uq_refunds_payment_id_request_id")
    .returning(*REFUND_COLUMNS)
)
# The database refuses (ck_payments_refunds_within_capture) what would take refunds above the capture.
COUNT_REFUND = Statement.of(
    update(payments)
    .where(payments.c.id == _id)
    .values(
        refunded_minor=payments.c.refunded_minor + bindparam("p_amount_minor", type_=BigInteger), **_CHANGED
    )
    .returning(*PAYMENT_COLUMNS)
)
UNCOUNT_REFUND = Statement.of(
    update(payments)
    .where(payments.c.id == _id)
    .values(
        refunded_minor=payments.c.refunded_minor - bindparam("p_amount_minor", type_=BigInteger), **_CHANGED
    )
)
FIND_REFUND = Statement.of(
    select(*REFUND_COLUMNS, refunds.c.request_fingerprint).where(
        refunds.c.payment_id == bindparam("p_payment_id", type_=Uuid),
        refunds.c.request_id == bindparam("p_request_id", type_=Text),
    )
)
LOCK_REFUND = Statement.of(select(*REFUND_COLUMNS).where(refunds.c.id == _id).with_for_update())
SETTLE_REFUND = Statement.of(
    update(refunds)
    .where(refunds.c.id == _id, refunds.c.state == RefundState.PENDING.value)
    .values(
        state=bindparam("p_state", type_=Text),
        provider_refund_id=func.coalesce(
            bindparam("p_provider_refund_id", type_=Text), refunds.c.provider_refund_id
        ),
        failure_reason=bindparam("p_failure_reason", type_=Text),
        update_time=func.now(),
    )
    .returning(*REFUND_COLUMNS)
)
REFUNDS_OF = Statement.of(
    select(*REFUND_COLUMNS)
    .where(refunds.c.payment_id == bindparam("p_payment_id", type_=Uuid))
    .order_by(refunds.c.create_time, refunds.c.id)
)

RECORD_STRIPE_EVENT = Statement.of(
    pg_insert(stripe_events)
    .values(event_id=bindparam("p_event_id", type_=Text), type=bindparam("p_type", type_=Text))
    .on_conflict_do_nothing()
    .returning(stripe_events.c.event_id)
)

_observed = bindparam("p_observed_at", type_=DateTime(timezone=True))
_event_row = pg_insert(report_events).values(
    event_id=bindparam("p_event_id", type_=Uuid),
    organizer_id=bindparam("p_organizer_id", type_=Text),
    title=bindparam("p_title", type_=Text),
    start_time=bindparam("p_start_time", type_=DateTime(timezone=True)),
    capacity=bindparam("p_capacity", type_=Integer),
    state=bindparam("p_state", type_=Text),
    observed_at=_observed,
)
# The newest news wins: a bus event that happened before the one applied last changes nothing.
OBSERVE_EVENT = Statement.of(
    _event_row.on_conflict_do_update(
        index_elements=[report_events.c.event_id],
        set_={
            name: _event_row.excluded[name]
            for name in ("organizer_id", "title", "start_time", "capacity", "state", "observed_at")
        },
        where=report_events.c.observed_at <= _event_row.excluded.observed_at,
    )
)
FORGET_EVENT = Statement.of(
    report_events.delete().where(report_events.c.event_id == bindparam("p_event_id", type_=Uuid))
)
_booking_row = pg_insert(report_bookings).values(
    booking_id=bindparam("p_booking_id", type_=Uuid),
    event_id=bindparam("p_event_id", type_=Uuid),
    seats=bindparam("p_seats", type_=Integer),
    state=bindparam("p_state", type_=Text),
    confirm_time=bindparam("p_confirm_time", type_=DateTime(timezone=True)),
    observed_at=_observed,
)
_newer = _booking_row.excluded.observed_at >= report_bookings.c.observed_at
# The state follows the newest news; the first confirmation is kept whatever order news arrives in
# (a sale of that day, even if the booking was cancelled later).
OBSERVE_BOOKING = Statement.of(
    _booking_row.on_conflict_do_update(
        index_elements=[report_bookings.c.booking_id],
        set_={
            "seats": case((_newer, _booking_row.excluded.seats), else_=report_bookings.c.seats),
            "state": case((_newer, _booking_row.excluded.state), else_=report_bookings.c.state),
            "observed_at": func.greatest(report_bookings.c.observed_at, _booking_row.excluded.observed_at),
            "confirm_time": func.least(report_bookings.c.confirm_time, _booking_row.excluded.confirm_time),
        },
    )
)


def _draft_params(draft: CheckoutDraft) -> dict[str, Any]:
    return {
        "p_booking_id": draft.booking_id,
        "p_event_id": draft.event_id,
        "p_buyer_id": draft.buyer_id,
        "p_organizer_id": draft.organizer_id,
        "p_event_title": draft.event_title,
        "p_event_time_zone": draft.event_time_zone,
        "p_seats": draft.seats,
        "p_currency": draft.amount.currency,
        "p_amount_minor": draft.amount.minor,
        "p_hold_expire_time": draft.hold_expire_time,
        "p_event_start_time": draft.event_start_time,
        "p_refund_hours": draft.refund_hours_before_start,
    }


class PaymentTransaction(Transaction):
    """Statements that commit together, with the bus events they announce."""

    # -- payments --------------------------------------------------------------------------------

    async def insert_payment(
        self, draft: CheckoutDraft, provider: Provider, request_id: str | None, fingerprint: str | None
    ) -> Payment | None:
        """The new open payment; None when the booking has an open one, or the request id was used."""
        row = await self.row(
            INSERT_PAYMENT,
            p_id=uuid.uuid4(),
            p_provider=provider.value,
            p_request_id=request_id,
            p_request_fingerprint=fingerprint,
            **_draft_params(draft),
        )
        return payment_record(row) if row is not None else None

    async def lock_payment(self, payment_id: uuid.UUID) -> Payment | None:
        row = await self.row(LOCK_PAYMENT, p_id=payment_id)
        return payment_record(row) if row is not None else None

    async def lock_booking_payments(self, booking_id: uuid.UUID) -> list[Payment]:
        """Every payment of a booking, newest first, locked until the transaction ends."""
        rows = await self.rows(LOCK_BOOKING_PAYMENTS, p_booking_id=booking_id)
        return [payment_record(row) for row in rows]

    async def set_checkout(self, payment: Payment, checkout_id: str, checkout_url: str) -> Payment | None:
        """Record the checkout opened for `payment` as it was read; None if it changed meanwhile."""
        row = await self.row(
            SET_CHECKOUT,
            p_id=payment.id,
            p_opened_before=payment.checkouts_opened,
            p_checkout_id=checkout_id,
            p_checkout_url=checkout_url,
        )
        return payment_record(row) if row is not None else None

    async def clear_checkout(self, payment_id: uuid.UUID) -> None:
        await self.execute(CLEAR_CHECKOUT, p_id=payment_id)

    async def capture(
        self,
        payment_id: uuid.UUID,
        *,
        captured_minor: int,
        provider_payment_id: str | None,
        capture_time: datetime,
    ) -> Payment:
        row = await self.row(
            CAPTURE,
            p_id=payment_id,
            p_captured_minor=captured_minor,
            p_provider_payment_id=provider_payment_id,
            p_capture_time=capture_time,
        )
        return payment_record(row)

    async def fail(self, payment_id: uuid.UUID, reason: str) -> Payment:
        return payment_record(await self.row(FAIL, p_id=payment_id, p_reason=reason))

    async def expire(self, payment_id: uuid.UUID) -> Payment:
        return payment_record(await self.row(EXPIRE, p_id=payment_id))

    # -- refunds ---------------------------------------------------------------------------------

    async def add_refund(self, payment: Payment, order: RefundOrder) -> tuple[Payment, Refund] | None:
        """Write the refund and count it against the payment (locked by the caller); None when this
        payment has a refund with the order's request id already."""
        row = await self.row(
            INSERT_REFUND,
            p_id=uuid.uuid4(),
            p_payment_id=payment.id,
            p_amount_minor=order.amount_minor,
            p_reason=order.reason,
            p_initiated_by=order.initiated_by.value,
            p_user_id=order.initiated_by_user_id,
            p_request_id=order.request_id,
            p_fingerprint=order.fingerprint,
        )
        if row is None:
            return None
        counted = await self.row(COUNT_REFUND, p_id=payment.id, p_amount_minor=order.amount_minor)
        return payment_record(counted), refund_record(row)

    async def find_refund(self, payment_id: uuid.UUID, request_id: str) -> tuple[Refund, str] | None:
        """The payment's refund with this request id, and the fingerprint of the request that made it."""
        row = await self.row(FIND_REFUND, p_payment_id=payment_id, p_request_id=request_id)
        return (refund_record(row), row.request_fingerprint) if row is not None else None

    async def lock_refund(self, refund_id: uuid.UUID) -> Refund | None:
        row = await self.row(LOCK_REFUND, p_id=refund_id)
        return refund_record(row) if row is not None else None

    async def settle_refund(
        self, refund: Refund, state: RefundState, *, provider_refund_id: str | None, failure_reason: str = ""
    ) -> Refund | None:
        """A pending refund becomes `state` (or stays PENDING with the provider's id noted); a
        refund the provider refused no longer counts against its payment. None when it was
        settled before."""
        row = await self.row(
            SETTLE_REFUND,
            p_id=refund.id,
            p_state=state.value,
            p_provider_refund_id=provider_refund_id,
            p_failure_reason=failure_reason,
        )
        if row is not None and state is RefundState.FAILED:
            await self.execute(UNCOUNT_REFUND, p_id=refund.payment_id, p_amount_minor=refund.amount_minor)
        return refund_record(row) if row is not None else None

    async def refunds_of(self, payment_id: uuid.UUID) -> tuple[Refund, ...]:
        return tuple(refund_record(row) for row in await self.rows(REFUNDS_OF, p_payment_id=payment_id))

    # -- webhooks --------------------------------------------------------------------------------

    async def record_stripe_event(self, event_id: str, event_type: str) -> bool:
        """True the first time a Stripe event id comes; False for a repeat (then nothing applies)."""
        return await self.row(RECORD_STRIPE_EVENT, p_event_id=event_id, p_type=event_type) is not None

    # -- the report's read model -----------------------------------------------------------------

    async def observe_event(self, event: ReportEvent, observed_at: datetime) -> None:
        await self.execute(
            OBSERVE_EVENT,
            p_event_id=event.event_id,
            p_organizer_id=event.organizer_id,
            p_title=event.title,
            p_start_time=event.start_time,
            p_capacity=event.capacity,
            p_state=event.state.value,
            p_observed_at=observed_at,
        )

    async def forget_event(self, event_id: uuid.UUID) -> None:
        await self.execute(FORGET_EVENT, p_event_id=event_id)

    async def observe_booking(
        self,
        *,
        booking_id: uuid.UUID,
        event_id: uuid.UUID,
        seats: int,
        state: str,
        confirmed: bool,
        observed_at: datetime,
    ) -> None:
        # Nothing reads its result: it goes with the transaction's next statement (or its commit).
        self.defer(
            OBSERVE_BOOKING,
            p_booking_id=booking_id,
            p_event_id=event_id,
            p_seats=seats,
            p_state=state,
            p_confirm_time=observed_at if confirmed else None,
            p_observed_at=observed_at,
        )
