"""Refunds: how much may go back, what a cancellation gives back, and the keys that make every
refund happen once.

A refund is counted against its payment when it is written (`refunded_minor` grows in the same
statement, and the database refuses more than was captured); the provider is asked afterwards, and
a refund the provider refuses gives its amount back to the payment. So "refunded" always means
"given back or on its way", and revenue (captured - refunded) never counts money that is leaving.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from services.payments.domain.payments import Initiator, Payment, PaymentState
from services.runtime.errors import bad_field, failed_precondition
from services.runtime.money import Amount, currency_mismatch, format_minor

MAX_REASON = 500


class CancelledBy(enum.Enum):
    """Who ended a confirmed booking (bookings' BookingCancelled.cancelled_by)."""

    GUEST = "GUEST"
    HOST = "HOST"
    ADMIN = "ADMIN"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    # An actor this version does not know: treated like the host (everything back).
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class RefundOrder:
    """A refund to write: how much, why, and the key that makes it happen once per payment."""

    amount_minor: int
    initiated_by: Initiator
    reason: str
    request_id: str
    fingerprint: str
    initiated_by_user_id: str = ""


def validate_reason(reason: str) -> str:
    trimmed = reason.strip()
    if len(trimmed) > MAX_REASON:
        raise bad_field("reason", f"must be at most {MAX_REASON} characters")
    return trimmed


def refund_amount(payment: Payment, requested: Amount | None) -> int:
    """What a RefundPayment gives back: `requested`, or everything left when it is None."""
    if payment.captured_minor == 0:
        raise failed_precondition(
            "PAYMENT_NOT_CAPTURED",
            f"the payment is {payment.state.value.lower()}: no money was captured, nothing to refund",
            resource_name=str(payment.id),
        )
    left = payment.refundable_minor
    if requested is None:
        wanted = left
    else:
        if requested.currency != payment.currency:
            raise currency_mismatch("amount", payment.currency)
        wanted = requested.minor
    if wanted <= 0 or wanted > left:
        raise failed_precondition(
            "REFUND_EXCEEDS_CAPTURED",
            f"at most {format_minor(left, payment.currency)} can still be refunded"
            if left
            else "everything captured was refunded already",
            resource_name=str(payment.id),
            refundable=format_minor(left, payment.currency),
        )
    return wanted


def automatic_key(initiated_by: Initiator) -> str:
    """The request id of an automatic refund: one per cause and payment, so the same news delivered
    twice (a bus message again, a refusal and a cancellation of the same booking) refunds once."""
    return f"auto:{initiated_by.value}"


def full_refund(payment: Payment, initiated_by: Initiator, reason: str) -> RefundOrder | None:
    """Everything still captured goes back; None when nothing is left."""
    if payment.refundable_minor <= 0:
        return None
    key = automatic_key(initiated_by)
    return RefundOrder(payment.refundable_minor, initiated_by, reason, key, key)


def cancellation_refund(
    payment: Payment, cancelled_by: CancelledBy, *, cancelled_at: datetime, reason: str
) -> RefundOrder | None:
    """What a confirmed, paid booking's cancellation gives back. A guest who cancels gets everything
    back until the policy's deadline (when they cancelled, not when the news arrived), nothing after;
    a cancellation by the host, an admin or the event's cancellation gives everything back."""
    if payment.state is not PaymentState.SUCCEEDED:
        return None
    if cancelled_by is CancelledBy.GUEST:
        if cancelled_at > payment.full_refund_deadline:
            return None
        return full_refund(payment, Initiator.GUEST_CANCELLATION, reason or "cancelled by the guest")
    if cancelled_by is CancelledBy.EVENT_CANCELLED:
        return full_refund(payment, Initiator.EVENT_CANCELLATION, reason or "the event was cancelled")
    return full_refund(payment, Initiator.HOST_CANCELLATION, reason or "cancelled by the organizer")


def refused_payment_refund(payment: Payment, why: str) -> RefundOrder | None:
    """Bookings would not keep the payment (late, duplicate, booking ended): everything back."""
    return full_refund(payment, Initiator.PAYMENT_REFUSED, why)
