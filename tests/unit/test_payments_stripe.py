"""The stripe provider without a network: amounts in Stripe's units, deterministic session
parameters, webhook verification (signed as Stripe does, by the fake's independent signer) and
parsing; and the fake Stripe's form decoding."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scripts.fake_stripe import parse_form, sign
from services.payments.clients.stripe import StripeClient
from services.payments.domain import Payment, PaymentState, Provider
from services.payments.providers.base import OutcomeKind
from services.payments.providers.stripe import (
    StripeProvider,
    from_stripe_amount,
    to_stripe_amount,
)
from services.runtime.errors import ServiceError
from services.runtime.money import Amount

SECRET = "whsec_unit"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def provider(tolerance: int = 300) -> StripeProvider:
    client = StripeClient(api_key="sk_test_unit", api_base="http://127.0.0.1:9", deadline=1.0)
    return StripeProvider(
        client, webhook_secret=SECRET, webhook_tolerance=tolerance, public_url="https://seatmesh.example/"
    )


def payment(**changes: object) -> Payment:
    base = Payment(
        id=uuid.uuid4(),
        booking_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        buyer_id=str(uuid.uuid4()),
        organizer_id=str(uuid.uuid4()),
        event_title="Jazz night",
        event_time_zone="Europe/Berlin",
        seats=3,
        currency="EUR",
        amount_minor=3750,
        captured_minor=0,
        refunded_minor=0,
        state=PaymentState.PENDING,
        provider=Provider.STRIPE,
        checkout_id=None,
        checkout_url="",
        checkouts_opened=0,
        provider_payment_id=None,
        hold_expire_time=NOW + timedelta(hours=2),
        event_start_time=NOW + timedelta(days=10),
        refund_hours_before_start=0,
        failure_reason="",
        capture_time=None,
        version=1,
        create_time=NOW,
        update_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_amounts_in_stripes_units() -> None:
    assert to_stripe_amount(Amount(1250, "EUR")) == 1250
    assert to_stripe_amount(Amount(3000, "JPY")) == 3000
    assert to_stripe_amount(Amount(1005, "KWD")) == 1005
    # Stripe sends ISK with two (zero) decimals and MGA with none.
    assert to_stripe_amount(Amount(500, "ISK")) == 50_000
    assert from_stripe_amount(50_000, "ISK") == Amount(500, "ISK")
    assert to_stripe_amount(Amount(12_300, "MGA")) == 123
    assert from_stripe_amount(123, "MGA") == Amount(12_300, "MGA")
    with pytest.raises(ValueError, match="exactly"):
        to_stripe_amount(Amount(12_345, "MGA"))


def test_session_parameters_are_the_same_for_the_same_payment() -> None:
    stripe = provider()
    found = payment()
    first = stripe.session_params(found, now=NOW)
    assert first == stripe.session_params(found, now=NOW + timedelta(minutes=5))
    assert first["line_items"][0]["price_data"] == {
        "currency": "eur",
        "unit_amount": 3750,
        "product_data": {"name": "Jazz night (3 seats)"},
    }
    assert first["metadata"]["payment_id"] == str(found.id)
    assert first["payment_intent_data"]["metadata"] == first["metadata"]
    assert first["success_url"] == f"https://seatmesh.example/bookings?payment={found.id}"
    assert first["expires_at"] == int(found.hold_expire_time.timestamp())
    # A hold shorter than Stripe's shortest session: Stripe's default, the service closes it itself.
    short = stripe.session_params(payment(hold_expire_time=NOW + timedelta(minutes=15)), now=NOW)
    assert "expires_at" not in short


def _event(event_type: str, session: dict[str, object]) -> dict[str, object]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": int(NOW.timestamp()),
        "data": {"object": session},
    }


def _session(payment_id: uuid.UUID, **changes: object) -> dict[str, object]:
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "amount_total": 3750,
        "currency": "eur",
        "payment_status": "paid",
        "payment_intent": "pi_test_1",
        "metadata": {"payment_id": str(payment_id)},
        **changes,
    }


def test_a_signed_completed_session_is_a_capture() -> None:
    payment_id = uuid.uuid4()
    body = json.dumps(_event("checkout.session.completed", _session(payment_id)))
    event = provider().read_webhook(body.encode(), sign(body, SECRET))
    assert event.kind is OutcomeKind.CAPTURED
    assert event.payment_id == payment_id
    assert event.captured == Amount(3750, "EUR")
    assert event.provider_payment_id == "pi_test_1"
    assert event.checkout_id == "cs_test_1"
    assert event.occurred_at == NOW


def test_session_outcomes() -> None:
    payment_id = uuid.uuid4()
    cases = {
        "checkout.session.async_payment_succeeded": OutcomeKind.CAPTURED,
        "checkout.session.async_payment_failed": OutcomeKind.FAILED,
        "checkout.session.expired": OutcomeKind.CHECKOUT_CLOSED,
        "customer.created": None,
    }
    for event_type, kind in cases.items():
        body = json.dumps(_event(event_type, _session(payment_id)))
        assert provider().read_webhook(body.encode(), sign(body, SECRET)).kind is kind
    unpaid = json.dumps(_event("checkout.session.completed", _session(payment_id, payment_status="unpaid")))
    assert provider().read_webhook(unpaid.encode(), sign(unpaid, SECRET)).kind is None
    foreign = json.dumps(_event("checkout.session.completed", _session(payment_id, metadata={})))
    assert provider().read_webhook(foreign.encode(), sign(foreign, SECRET)).payment_id is None


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "t=1,v1=00",
        "v1=abc",
        sign("another body", SECRET),
        sign("{}", "whsec_other"),
        # Signed correctly, but long ago: a replay.
        sign("{}", SECRET, timestamp=int(time.time()) - 301),
    ],
)
def test_anything_not_signed_now_with_this_secret_is_refused(signature: str) -> None:
    with pytest.raises(ServiceError) as raised:
        provider().read_webhook(b"{}", signature)
    assert raised.value.reason == "WEBHOOK_SIGNATURE_INVALID"


def test_bytes_that_are_no_text_are_refused() -> None:
    with pytest.raises(ServiceError) as raised:
        provider().read_webhook(b"\xff\xfe", sign("x", SECRET))
    assert raised.value.reason == "WEBHOOK_SIGNATURE_INVALID"


def test_a_signed_event_that_cannot_be_read_is_acknowledged_without_effect() -> None:
    body = '{"id": "evt_1"}'
    event = provider().read_webhook(body.encode(), sign(body, SECRET))
    assert event.kind is None
    assert event.event_id == ""


def test_the_fake_decodes_stripes_form_encoding() -> None:
    body = (
        "mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=eur"
        "&line_items[0][price_data][unit_amount]=1250&metadata[payment_id]=p1&expires_at=99"
    )
    assert parse_form(body) == {
        "mode": "payment",
        "line_items": [{"quantity": "1", "price_data": {"currency": "eur", "unit_amount": "1250"}}],
        "metadata": {"payment_id": "p1"},
        "expires_at": "99",
    }
