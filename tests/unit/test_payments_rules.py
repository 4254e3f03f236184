"""The payments domain: checkouts, who may see and move money, refunds and the report's scope."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.payments import domain
from services.payments.domain import (
    CancelledBy,
    CheckoutFields,
    CheckoutStep,
    Initiator,
    Payment,
    PaymentState,
    Provider,
)
from services.runtime.auth import Principal, Role
from services.runtime.errors import ServiceError
from services.runtime.money import Amount

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BUYER = str(uuid.uuid4())
ORGANIZER = str(uuid.uuid4())


def payment(**changes: object) -> Payment:
    base = Payment(
        id=uuid.uuid4(),
        booking_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        buyer_id=BUYER,
        organizer_id=ORGANIZER,
        event_title="Jazz night",
        event_time_zone="Europe/Berlin",
        seats=2,
        currency="EUR",
        amount_minor=5000,
        captured_minor=0,
        refunded_minor=0,
        state=PaymentState.PENDING,
        provider=Provider.STRIPE,
        checkout_id="cs_1",
        checkout_url="https://checkout.example/cs_1",
        checkouts_opened=1,
        provider_payment_id=None,
        hold_expire_time=NOW + timedelta(minutes=15),
        event_start_time=NOW + timedelta(days=10),
        refund_hours_before_start=48,
        failure_reason="",
        capture_time=None,
        version=1,
        create_time=NOW,
        update_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def paid(**changes: object) -> Payment:
    return payment(state=PaymentState.SUCCEEDED, captured_minor=5000, capture_time=NOW, **changes)


def who(subject: str, role: Role = Role.PARTICIPANT) -> Principal:
    return Principal(subject=subject, role=role, email_verified=True)


def fields(**changes: object) -> CheckoutFields:
    base = CheckoutFields(
        booking_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        event_title="  Jazz night ",
        buyer_id=BUYER,
        organizer_id=ORGANIZER,
        seats=2,
        amount=Amount(5000, "EUR"),
        hold_expire_time=NOW + timedelta(minutes=15),
        event_start_time=NOW + timedelta(days=10),
        refund_hours_before_start=48,
        event_time_zone="Europe/Berlin",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_valid_checkout_is_trimmed() -> None:
    draft = domain.validate_checkout(fields(), now=NOW)
    assert draft.event_title == "Jazz night"
    assert draft.amount == Amount(5000, "EUR")


def test_checkout_problems_are_named_together() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_checkout(
            fields(booking_id="x", seats=0, amount=Amount(0, "EUR"), event_title="", hold_expire_time=None),
            now=NOW,
        )
    assert {violation.field for violation in raised.value.violations} == {
        "booking.booking_id",
        "booking.seats",
        "booking.amount",
        "booking.event_title",
        "booking.hold_expire_time",
    }


def test_a_checkout_after_the_hold_is_refused() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_checkout(fields(hold_expire_time=NOW), now=NOW)
    assert raised.value.reason == "HOLD_EXPIRED"


def test_buyer_organizer_and_admins_see_a_payment_nobody_else() -> None:
    found = payment()
    for subject, role in [(BUYER, Role.PARTICIPANT), (ORGANIZER, Role.ORGANIZER), ("root", Role.ADMIN)]:
        assert domain.visible(found, who(subject, role), found.id) is found
    with pytest.raises(ServiceError) as raised:
        domain.visible(found, who(str(uuid.uuid4())), found.id)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ServiceError):
        domain.visible(None, who(BUYER), found.id)


def test_only_the_organizer_or_an_admin_moves_money() -> None:
    domain.check_manager(payment(), who(ORGANIZER, Role.ORGANIZER))
    domain.check_manager(payment(), who("root", Role.ADMIN))
    with pytest.raises(ServiceError) as raised:
        domain.check_manager(payment(), who(BUYER))
    assert raised.value.reason == "NOT_EVENT_OWNER"
    assert domain.manager_role(who("root", Role.ADMIN)) is Initiator.ADMIN
    assert domain.manager_role(who(ORGANIZER, Role.ORGANIZER)) is Initiator.ORGANIZER


def test_plan_checkout() -> None:
    booking_id = uuid.uuid4()
    with pytest.raises(ServiceError) as raised:
        domain.plan_checkout([], booking_id, now=NOW)
    assert raised.value.reason == "CHECKOUT_NOT_OPEN"
    open_one = payment()
    assert domain.plan_checkout([open_one], booking_id, now=NOW).step is CheckoutStep.SHOW
    closed = payment(checkout_id=None, checkout_url="")
    assert domain.plan_checkout([closed], booking_id, now=NOW).step is CheckoutStep.OPEN_CHECKOUT
    failed = payment(state=PaymentState.FAILED)
    assert domain.plan_checkout([failed], booking_id, now=NOW).step is CheckoutStep.NEW_ATTEMPT
    done = paid()
    assert domain.plan_checkout([failed, done], booking_id, now=NOW).payment is done
    for over in (payment(state=PaymentState.EXPIRED), closed, failed):
        with pytest.raises(ServiceError) as raised:
            domain.plan_checkout([over], booking_id, now=NOW + timedelta(hours=1))
        assert raised.value.reason == "HOLD_EXPIRED"


def test_a_retry_keeps_the_booking_details() -> None:
    failed = payment(state=PaymentState.FAILED)
    draft = domain.retry_draft(failed)
    assert (draft.booking_id, draft.amount, draft.hold_expire_time) == (
        failed.booking_id,
        failed.amount,
        failed.hold_expire_time,
    )


def test_provider_news_applies_once_and_money_always_counts() -> None:
    assert domain.counts_capture(payment())
    assert domain.counts_capture(payment(state=PaymentState.EXPIRED))
    assert domain.counts_capture(payment(state=PaymentState.FAILED))
    assert not domain.counts_capture(paid())
    assert domain.counts_failure(payment())
    assert not domain.counts_failure(paid())
    assert not domain.counts_failure(payment(state=PaymentState.EXPIRED))
    assert domain.counts_checkout_closed(payment(), "cs_1")
    assert not domain.counts_checkout_closed(payment(), "cs_old")
    assert not domain.counts_checkout_closed(paid(), "cs_1")


def test_mark_paid_is_for_manual_payments() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.check_mark_paid(payment())
    assert raised.value.reason == "NOT_MANUAL_PAYMENT"
    assert domain.check_mark_paid(payment(provider=Provider.MANUAL))
    assert domain.check_mark_paid(payment(provider=Provider.MANUAL, state=PaymentState.EXPIRED))
    assert not domain.check_mark_paid(paid(provider=Provider.MANUAL))


def test_refund_amounts() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.refund_amount(payment(), None)
    assert raised.value.reason == "PAYMENT_NOT_CAPTURED"
    half = paid(refunded_minor=2500)
    assert domain.refund_amount(half, None) == 2500
    assert domain.refund_amount(half, Amount(1000, "EUR")) == 1000
    with pytest.raises(ServiceError) as raised:
        domain.refund_amount(half, Amount(2501, "EUR"))
    assert raised.value.reason == "REFUND_EXCEEDS_CAPTURED"
    assert raised.value.metadata["refundable"] == "25.00 EUR"
    with pytest.raises(ServiceError) as raised:
        domain.refund_amount(half, Amount(100, "USD"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServiceError) as raised:
        domain.refund_amount(paid(refunded_minor=5000), None)
    assert raised.value.reason == "REFUND_EXCEEDS_CAPTURED"


def test_a_guest_cancelling_gets_everything_back_until_the_deadline_only() -> None:
    deadline = paid().full_refund_deadline
    assert deadline == NOW + timedelta(days=10) - timedelta(hours=48)
    order = domain.cancellation_refund(paid(), CancelledBy.GUEST, cancelled_at=deadline, reason="")
    assert order is not None
    assert (order.amount_minor, order.initiated_by) == (5000, Initiator.GUEST_CANCELLATION)
    late = domain.cancellation_refund(
        paid(), CancelledBy.GUEST, cancelled_at=deadline + timedelta(seconds=1), reason=""
    )
    assert late is None


def test_hosts_and_cancelled_events_refund_everything_left() -> None:
    after_deadline = NOW + timedelta(days=9, hours=23)
    for actor, initiator in [
        (CancelledBy.HOST, Initiator.HOST_CANCELLATION),
        (CancelledBy.ADMIN, Initiator.HOST_CANCELLATION),
        (CancelledBy.EVENT_CANCELLED, Initiator.EVENT_CANCELLATION),
        (CancelledBy.UNKNOWN, Initiator.HOST_CANCELLATION),
    ]:
        order = domain.cancellation_refund(
            paid(refunded_minor=1000), actor, cancelled_at=after_deadline, reason="rain"
        )
        assert order is not None
        assert (order.amount_minor, order.initiated_by, order.reason) == (4000, initiator, "rain")
    assert domain.cancellation_refund(payment(), CancelledBy.HOST, cancelled_at=NOW, reason="") is None


def test_automatic_refunds_have_one_key_per_cause() -> None:
    first = domain.refused_payment_refund(paid(), "late")
    assert first is not None
    assert first.request_id == domain.automatic_key(Initiator.PAYMENT_REFUSED)
    assert domain.refused_payment_refund(paid(refunded_minor=5000), "late") is None


def test_reasons_are_bounded() -> None:
    assert domain.validate_reason("  broken chair ") == "broken chair"
    with pytest.raises(ServiceError):
        domain.validate_reason("x" * 501)


def test_report_scope() -> None:
    organizer = who(ORGANIZER, Role.ORGANIZER)
    scope = domain.report_scope(organizer, organizer_id="", event_id="", start=None, end=None, now=NOW)
    assert (scope.organizer_id, scope.end) == (ORGANIZER, NOW)
    with pytest.raises(ServiceError) as raised:
        domain.report_scope(
            organizer, organizer_id=str(uuid.uuid4()), event_id="", start=None, end=None, now=NOW
        )
    assert raised.value.reason == "ROLE_REQUIRED"
    with pytest.raises(ServiceError) as raised:
        domain.report_scope(who(BUYER), organizer_id="", event_id="", start=None, end=None, now=NOW)
    assert raised.value.reason == "ROLE_REQUIRED"
    admin = domain.report_scope(
        who("root", Role.ADMIN), organizer_id="", event_id="", start=None, end=None, now=NOW
    )
    assert admin.organizer_id is None
    with pytest.raises(ServiceError) as raised:
        domain.report_scope(organizer, organizer_id="", event_id="x", start=NOW, end=NOW, now=NOW)
    assert {violation.field for violation in raised.value.violations} == {"event_id", "start_time"}


def test_fill_rate() -> None:
    assert domain.fill_rate(5, 10) == 0.5
    assert domain.fill_rate(0, 0) == 0.0
    assert domain.fill_rate(12, 10) == 1.0
