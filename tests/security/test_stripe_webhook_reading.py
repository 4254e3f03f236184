"""Found by the gRPC fuzz: a webhook that verifies with the endpoint's secret (so from Stripe, or
from whoever holds the secret) but carries values no Stripe event has made ReceiveStripeWebhook
answer INTERNAL: a `created` no datetime holds (OverflowError), an amount of infinity (1e400) or
beyond any column, a NUL in an id (PostgreSQL refuses it). Such an event is unreadable: it is
acknowledged and changes nothing, like any other signed event the provider cannot read.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from scripts.fake_stripe import sign
from services.payments.clients.stripe import StripeClient
from services.payments.providers.base import OutcomeKind
from services.payments.providers.stripe import StripeProvider
from services.runtime.money import Amount

SECRET = "whsec_security"


def provider() -> StripeProvider:
    client = StripeClient(api_key="sk_test_security", api_base="http://127.0.0.1:9", deadline=1.0)
    return StripeProvider(
        client, webhook_secret=SECRET, webhook_tolerance=300, public_url="https://seatmesh.example/"
    )


def completed(**changes: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_1",
        "amount_total": 2500,
        "currency": "eur",
        "payment_status": "paid",
        "payment_intent": "pi_test_1",
        "metadata": {"payment_id": str(uuid.uuid4())},
        **changes.pop("session", {}),
    }
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": session},
        **changes,
    }


def read(event: dict[str, Any]) -> Any:
    body = json.dumps(event)
    return provider().read_webhook(body.encode(), sign(body, SECRET))


def test_a_plausible_event_is_still_read() -> None:
    event = read(completed())
    assert event.kind is OutcomeKind.CAPTURED
    assert event.captured == Amount(2500, "EUR")


@pytest.mark.parametrize(
    "event",
    [
        completed(created=2**63 - 1),
        completed(created=-(2**63)),
        completed(created=10**30),
        completed(created=float("inf")),
        completed(created=1.5),
        completed(id="evt_\x00"),
        completed(id="evt_" + "x" * 300),
        completed(type="checkout.session.completed\x00"),
        completed(session={"payment_intent": "pi_\x00"}),
        completed(session={"id": "cs_\x00"}),
        completed(session={"amount_total": float("inf")}),
        completed(session={"amount_total": 10**30}),
        completed(session={"amount_total": -1}),
    ],
    ids=[
        "created past int64",
        "created before int64",
        "created past any year",
        "created infinite",
        "created fractional",
        "NUL in the event id",
        "an id longer than Stripe's",
        "NUL in the type",
        "NUL in the payment intent",
        "NUL in the session id",
        "infinite amount",
        "amount past any column",
        "negative amount",
    ],
)
def test_a_signed_event_with_values_stripe_never_sends_is_unreadable(event: dict[str, Any]) -> None:
    read_back = read(event)
    assert read_back.kind is None
    assert read_back.event_id == ""
