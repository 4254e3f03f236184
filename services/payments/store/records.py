"""The columns a payment and a refund are read with, and rows into domain types (rows never leave
the store). The domain's records are named column for column; only what the database keeps in
another form (states and providers as text) is converted."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.payments.domain import Initiator, Payment, PaymentState, Provider, Refund, RefundState
from services.payments.tables import payments, refunds

_PAYMENT_FIELDS = tuple(field.name for field in dataclasses.fields(Payment) if field.name != "refunds")
_REFUND_FIELDS = tuple(field.name for field in dataclasses.fields(Refund))

PAYMENT_COLUMNS = tuple(payments.c[name] for name in _PAYMENT_FIELDS)
REFUND_COLUMNS = tuple(refunds.c[name] for name in _REFUND_FIELDS)


def payment_record(row: Any, refund_rows: tuple[Refund, ...] = ()) -> Payment:
    values = {name: getattr(row, name) for name in _PAYMENT_FIELDS}
    return Payment(
        **{
            **values,
            "state": PaymentState(row.state),
            "provider": Provider(row.provider),
            "refunds": refund_rows,
        }
    )


def refund_record(row: Any) -> Refund:
    values = {name: getattr(row, name) for name in _REFUND_FIELDS}
    return Refund(**{**values, "state": RefundState(row.state), "initiated_by": Initiator(row.initiated_by)})
