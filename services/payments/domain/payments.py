"""A payment: one attempt to pay for one booking, its states, who may see and manage it, and what
happens when a checkout is asked for or a provider reports an outcome.

The states move PENDING -> SUCCEEDED | FAILED | EXPIRED, with one exception on purpose: money a
provider captured always counts, so a FAILED or EXPIRED payment whose money arrives anyway (a
late webhook, a bank transfer after the hold) becomes SUCCEEDED too. Bookings then confirms the
booking if its seats are still free, or refuses it and the payment is refunded in full: a payment
is never lost and never silently kept.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.runtime.auth import Principal
from services.runtime.errors import (
    ServiceError,
    Violations,
    failed_precondition,
    not_found,
    permission_denied,
)
from services.runtime.money import Amount

PAYMENT_RESOURCE = "seatmesh.payments.v1.Payment"
MAX_TITLE = 200
MAX_SEATS = 100_000
MAX_TIME_ZONE = 64
# Events' bound on a refund policy: a year.
MAX_REFUND_HOURS = 8_760


class PaymentState(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class Provider(enum.StrEnum):
    MANUAL = "manual"
    STRIPE = "stripe"


class RefundState(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Initiator(enum.StrEnum):
    ORGANIZER = "ORGANIZER"
    ADMIN = "ADMIN"
    GUEST_CANCELLATION = "GUEST_CANCELLATION"
    HOST_CANCELLATION = "HOST_CANCELLATION"
    EVENT_CANCELLATION = "EVENT_CANCELLATION"
    PAYMENT_REFUSED = "PAYMENT_REFUSED"


@dataclass(frozen=True)
class Refund:
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_minor: int
    reason: str
    state: RefundState
    initiated_by: Initiator
    initiated_by_user_id: str
    request_id: str
    provider_refund_id: str | None
    failure_reason: str
    attempts: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Payment:
    """A payment as stored, with its refunds when the reader asked for them."""

    id: uuid.UUID
    booking_id: uuid.UUID
    event_id: uuid.UUID
    buyer_id: str
    organizer_id: str
    event_title: str
    event_time_zone: str
    seats: int
    currency: str
    amount_minor: int
    captured_minor: int
    refunded_minor: int
    state: PaymentState
    provider: Provider
    checkout_id: str | None
    checkout_url: str
    checkouts_opened: int
    provider_payment_id: str | None
    hold_expire_time: datetime
    event_start_time: datetime
    refund_hours_before_start: int
    failure_reason: str
    capture_time: datetime | None
    version: int
    create_time: datetime
    update_time: datetime
    refunds: tuple[Refund, ...] = field(default=())

    @property
    def amount(self) -> Amount:
        return Amount(self.amount_minor, self.currency)

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor

    @property
    def etag(self) -> str:
        return f"v{self.version}"

    @property
    def full_refund_deadline(self) -> datetime:
        return full_refund_deadline(self.event_start_time, self.refund_hours_before_start)


@dataclass(frozen=True)
class CheckoutFields:
    """What bookings says about a booking awaiting payment, as it came (ids still text)."""

    booking_id: str
    event_id: str
    event_title: str
    buyer_id: str
    organizer_id: str
    seats: int
    amount: Amount
    hold_expire_time: datetime | None
    event_start_time: datetime | None
    refund_hours_before_start: int
    event_time_zone: str


@dataclass(frozen=True)
class CheckoutDraft:
    """A valid booking to open a payment for."""

    booking_id: uuid.UUID
    event_id: uuid.UUID
    event_title: str
    buyer_id: str
    organizer_id: str
    seats: int
    amount: Amount
    hold_expire_time: datetime
    event_start_time: datetime
    refund_hours_before_start: int
    event_time_zone: str


def full_refund_deadline(event_start_time: datetime, hours_before_start: int) -> datetime:
    return event_start_time - timedelta(hours=hours_before_start)


def payment_not_found(payment_id: uuid.UUID | str) -> ServiceError:
    return not_found(PAYMENT_RESOURCE, str(payment_id), f"payment {payment_id} not found")


def hold_expired(booking_id: uuid.UUID | str) -> ServiceError:
    return failed_precondition(
        "HOLD_EXPIRED",
        "the booking's hold on its seats has ended; book again",
        resource_name=str(booking_id),
    )


def validate_checkout(fields: CheckoutFields, *, now: datetime) -> CheckoutDraft:
    """The booking to open a payment for, or one INVALID_ARGUMENT naming every problem; a hold that
    already ended is HOLD_EXPIRED."""
    found = Violations()
    prefix = "booking."
    booking_id = found.uuid(fields.booking_id, prefix + "booking_id")
    event_id = found.uuid(fields.event_id, prefix + "event_id")
    found.uuid(fields.buyer_id, prefix + "buyer_id")
    found.uuid(fields.organizer_id, prefix + "organizer_id")
    title = fields.event_title.strip()
    found.check(1 <= len(title) <= MAX_TITLE, prefix + "event_title", f"must be 1 to {MAX_TITLE} characters")
    found.check(1 <= fields.seats <= MAX_SEATS, prefix + "seats", f"must be between 1 and {MAX_SEATS:,}")
    found.check(fields.amount.minor > 0, prefix + "amount", "must be more than zero")
    found.check(fields.hold_expire_time is not None, prefix + "hold_expire_time", "is required")
    found.check(fields.event_start_time is not None, prefix + "event_start_time", "is required")
    found.check(
        0 <= fields.refund_hours_before_start <= MAX_REFUND_HOURS,
        prefix + "refund_policy.full_refund_until_hours_before_start",
        f"must be between 0 and {MAX_REFUND_HOURS:,}",
    )
    found.check(
        len(fields.event_time_zone) <= MAX_TIME_ZONE,
        prefix + "event_time_zone",
        f"must be at most {MAX_TIME_ZONE} characters",
    )
    found.raise_if_any()
    assert booking_id is not None
    assert event_id is not None
    assert fields.hold_expire_time is not None
    assert fields.event_start_time is not None
    if fields.hold_expire_time <= now:
        raise hold_expired(booking_id)
    return CheckoutDraft(
        booking_id=booking_id,
        event_id=event_id,
        event_title=title,
        buyer_id=fields.buyer_id,
        organizer_id=fields.organizer_id,
        seats=fields.seats,
        amount=fields.amount,
        hold_expire_time=fields.hold_expire_time,
        event_start_time=fields.event_start_time,
        refund_hours_before_start=fields.refund_hours_before_start,
        event_time_zone=fields.event_time_zone,
    )


# -- who may do what ----------------------------------------------------------------------------


def visible(payment: Payment | None, principal: Principal, payment_id: uuid.UUID | str) -> Payment:
    """The payment if the caller may see it: its buyer, the event's organizer, an admin. Anyone else
    learns nothing, not even that it exists."""
    if payment is None or not (
        principal.is_admin or principal.subject in (payment.buyer_id, payment.organizer_id)
    ):
        raise payment_not_found(payment_id)
    return payment


def check_manager(payment: Payment, principal: Principal) -> None:
    """Money moves by the event's organizer or an admin (the buyer cancels their booking instead)."""
    if not (principal.is_admin or principal.subject == payment.organizer_id):
        raise permission_denied(
            "only the event's organizer or an admin may do this", reason="NOT_EVENT_OWNER"
        )


def manager_role(principal: Principal) -> Initiator:
    return Initiator.ADMIN if principal.is_admin else Initiator.ORGANIZER


# -- checkouts ------------------------------------------------------------------------------------


class CheckoutStep(enum.Enum):
    # The payment as it is: open with a checkout, or paid.
    SHOW = "show"
    # The payment is open but its provider checkout is closed (or never opened): open one.
    OPEN_CHECKOUT = "open_checkout"
    # The last attempt failed while the hold runs: a new payment, with the same booking details.
    NEW_ATTEMPT = "new_attempt"


@dataclass(frozen=True)
class CheckoutPlan:
    step: CheckoutStep
    payment: Payment


def plan_checkout(payments: Sequence[Payment], booking_id: uuid.UUID, *, now: datetime) -> CheckoutPlan:
    """What CreateCheckout does for a booking, given its payments newest first."""
    if not payments:
        raise failed_precondition(
            "CHECKOUT_NOT_OPEN",
            "no payment was opened for this booking; a booking of a paid event gets one as it "
            "starts waiting for payment",
            resource_name=str(booking_id),
        )
    paid = next((payment for payment in payments if payment.state is PaymentState.SUCCEEDED), None)
    if paid is not None:
        return CheckoutPlan(CheckoutStep.SHOW, paid)
    latest = payments[0]
    if latest.state is PaymentState.PENDING and latest.checkout_id is not None:
        return CheckoutPlan(CheckoutStep.SHOW, latest)
    if latest.hold_expire_time <= now or latest.state is PaymentState.EXPIRED:
        raise hold_expired(booking_id)
    if latest.state is PaymentState.PENDING:
        return CheckoutPlan(CheckoutStep.OPEN_CHECKOUT, latest)
    return CheckoutPlan(CheckoutStep.NEW_ATTEMPT, latest)


def retry_draft(failed: Payment) -> CheckoutDraft:
    """A new attempt at paying for the same booking as `failed`."""
    return CheckoutDraft(
        booking_id=failed.booking_id,
        event_id=failed.event_id,
        event_title=failed.event_title,
        buyer_id=failed.buyer_id,
        organizer_id=failed.organizer_id,
        seats=failed.seats,
        amount=failed.amount,
        hold_expire_time=failed.hold_expire_time,
        event_start_time=failed.event_start_time,
        refund_hours_before_start=failed.refund_hours_before_start,
        event_time_zone=failed.event_time_zone,
    )


def needs_checkout(payment: Payment, *, now: datetime) -> bool:
    """Whether an open payment still lacks a provider checkout the buyer could use."""
    return (
        payment.state is PaymentState.PENDING
        and payment.checkout_id is None
        and payment.hold_expire_time > now
    )


# -- what providers report -------------------------------------------------------------------------


def counts_capture(payment: Payment) -> bool:
    """Whether captured money changes the payment: the first capture does, in any state but
    SUCCEEDED (a repeat of the same news does not)."""
    return payment.state is not PaymentState.SUCCEEDED


def counts_failure(payment: Payment) -> bool:
    """Only an open payment fails; a failure reported after the money came, or after expiry, is old news."""
    return payment.state is PaymentState.PENDING


def counts_checkout_closed(payment: Payment, checkout_id: str) -> bool:
    """The provider closed a checkout: it matters only if it is the payment's current one while the
    payment is open (then CreateCheckout opens another while the hold runs)."""
    return payment.state is PaymentState.PENDING and payment.checkout_id == checkout_id


def check_mark_paid(payment: Payment) -> bool:
    """Whether marking the payment paid changes it (False when it is paid already)."""
    if payment.provider is not Provider.MANUAL:
        raise failed_precondition(
            "NOT_MANUAL_PAYMENT",
            f"this payment is handled by {payment.provider.value}; it counts when the provider says so",
            resource_name=str(payment.id),
        )
    return counts_capture(payment)
