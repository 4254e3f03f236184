"""Stripe: a Checkout Session per checkout, refunds through Stripe's refunds API, and a payment that
counts only when Stripe's signed webhook says so.

Webhooks (https://docs.stripe.com/webhooks): the Stripe-Signature header is `t=<unix time>,v1=<hex>`,
the v1 value an HMAC-SHA256 with the endpoint's signing secret over `<t>.<raw body>`; the SDK's
verifier checks it and refuses timestamps older than the tolerance, so a captured webhook cannot
be replayed later; one replayed within it is recognised by its event id (the servicer records
every id it applied). Webhooks arrive late, twice and out of order: each carries the payment's id
in the session's metadata, and the payment's state machine ignores news it has moved past.

Amounts: Stripe counts in a currency's smallest unit, which is ISO 4217's minor unit except where
Stripe decided otherwise (`_STRIPE_EXPONENT`).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from services.payments.clients.stripe import StripeClient, StripeRefused, StripeUnavailable
from services.payments.domain import Payment, Provider, Refund, RefundState
from services.payments.providers.base import (
    Checkout,
    OutcomeKind,
    PaymentProvider,
    ProviderEvent,
    ProviderUnavailable,
    RefundOutcome,
)
from services.runtime.errors import ServiceError, bad_field, failed_precondition
from services.runtime.money import Amount, exponent, is_known_currency, max_minor
from services.runtime.validation import has_control_characters

log = logging.getLogger(__name__)

# Where Stripe's unit is not ISO 4217's minor unit: ISK is sent with two (zero) decimals, MGA with
# none (https://docs.stripe.com/currencies#special-cases).
_STRIPE_EXPONENT = {"ISK": 2, "MGA": 0}
# Stripe refuses a session that expires sooner than this after it is created.
MIN_SESSION_LIFETIME = timedelta(minutes=31)
# Session events payments acts on; every other event type is acknowledged and recorded only.
_OUTCOMES = {
    "checkout.session.completed": OutcomeKind.CAPTURED,
    "checkout.session.async_payment_succeeded": OutcomeKind.CAPTURED,
    "checkout.session.async_payment_failed": OutcomeKind.FAILED,
    "checkout.session.expired": OutcomeKind.CHECKOUT_CLOSED,
}


def _scale(currency: str) -> int:
    """Powers of ten from ISO minor units to Stripe's units (negative: Stripe's are larger)."""
    return _STRIPE_EXPONENT.get(currency, exponent(currency)) - exponent(currency)


def to_stripe_amount(amount: Amount) -> int:
    """`amount` in Stripe's units; ValueError when Stripe cannot express it exactly."""
    shift = _scale(amount.currency)
    if shift >= 0:
        return amount.minor * 10**shift
    divisor = 10**-shift
    if amount.minor % divisor:
        raise ValueError(f"{amount} cannot be charged through Stripe exactly")
    return amount.minor // divisor


def from_stripe_amount(value: int, currency: str) -> Amount:
    shift = _scale(currency)
    return Amount(value // 10**shift if shift >= 0 else value * 10**-shift, currency)


def webhook_refused(why: str) -> ServiceError:
    return bad_field("payload", why, reason="WEBHOOK_SIGNATURE_INVALID")


class StripeProvider(PaymentProvider):
    identifier = Provider.STRIPE
    verbose_name = "Stripe Checkout"

    def __init__(
        self, client: StripeClient, *, webhook_secret: str, webhook_tolerance: int, public_url: str
    ) -> None:
        self.client = client
        self.webhook_secret = webhook_secret
        self.webhook_tolerance = webhook_tolerance
        self.public_url = public_url.rstrip("/")

    # -- checkouts -------------------------------------------------------------------------------

    def session_params(self, payment: Payment, *, now: datetime) -> dict[str, Any]:
        """The Checkout Session of a payment. The same payment (same checkout number) gives the same
        parameters, as an idempotency key demands; only `expires_at` depends on `now`, and only
        near its boundary (a hold shorter than Stripe's shortest session: the service closes the
        session itself when the hold ends)."""
        metadata = {
            "payment_id": str(payment.id),
            "booking_id": str(payment.booking_id),
            "event_id": str(payment.event_id),
        }
        seats = f"{payment.seats} seat" + ("s" if payment.seats != 1 else "")
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": payment.currency.lower(),
                        "unit_amount": to_stripe_amount(payment.amount),
                        "product_data": {"name": f"{payment.event_title} ({seats})"[:250]},
                    },
                }
            ],
            "client_reference_id": str(payment.booking_id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": f"{self.public_url}/bookings?payment={payment.id}",
            "cancel_url": f"{self.public_url}/events/{payment.event_id}",
        }
        if payment.hold_expire_time - now >= MIN_SESSION_LIFETIME:
            params["expires_at"] = int(payment.hold_expire_time.timestamp())
        return params

    async def open_checkout(self, payment: Payment) -> Checkout:
        try:
            params = self.session_params(payment, now=datetime.now(UTC))
        except ValueError as error:
            raise failed_precondition(
                "CURRENCY_NOT_SUPPORTED", str(error), resource_name=str(payment.id)
            ) from None
        try:
            session = await self.client.create_checkout_session(
                params, idempotency_key=f"checkout:{payment.id}:{payment.checkouts_opened + 1}"
            )
        except (StripeUnavailable, StripeRefused) as error:
            # A refusal is a bug or a misconfiguration here (a bad key): the payment stays open, and
            # the next CreateCheckout asks again, so it is reported as unavailable, with the log.
            log.error(
                "Stripe did not open a checkout", extra={"payment_id": str(payment.id), "error": str(error)}
            )
            raise ProviderUnavailable(str(error)) from None
        return Checkout(checkout_id=str(session["id"]), url=str(session["url"]))

    async def close_checkout(self, payment: Payment) -> None:
        if payment.checkout_id is None:
            return
        try:
            await self.client.expire_checkout_session(
                payment.checkout_id, idempotency_key=f"expire:{payment.checkout_id}"
            )
        except StripeRefused as error:
            # Completed or expired already: a capture, if any, arrives as its webhook.
            log.info(
                "Stripe session not expired", extra={"session": payment.checkout_id, "error": str(error)}
            )
        except StripeUnavailable:
            log.warning("could not expire a Stripe session", extra={"session": payment.checkout_id})

    # -- refunds ---------------------------------------------------------------------------------

    async def refund(self, payment: Payment, refund: Refund) -> RefundOutcome:
        try:
            if refund.provider_refund_id:
                answer = await self.client.retrieve_refund(refund.provider_refund_id)
            elif not payment.provider_payment_id:
                return RefundOutcome(RefundState.FAILED, None, "the payment has no Stripe PaymentIntent")
            else:
                answer = await self.client.create_refund(
                    {
                        "payment_intent": payment.provider_payment_id,
                        "amount": to_stripe_amount(Amount(refund.amount_minor, payment.currency)),
                        "metadata": {"payment_id": str(payment.id), "refund_id": str(refund.id)},
                    },
                    idempotency_key=f"refund:{refund.id}",
                )
        except StripeUnavailable as error:
            raise ProviderUnavailable(str(error)) from None
        except StripeRefused as error:
            return RefundOutcome(RefundState.FAILED, refund.provider_refund_id, str(error)[:500])
        status = str(answer["status"])
        if status == "succeeded":
            return RefundOutcome(RefundState.SUCCEEDED, str(answer["id"]))
        if status in ("failed", "canceled"):
            reason = str(answer.get("failure_reason") or status)
            return RefundOutcome(RefundState.FAILED, str(answer["id"]), reason)
        return RefundOutcome(RefundState.PENDING, str(answer["id"]))

    # -- webhooks --------------------------------------------------------------------------------

    def read_webhook(self, payload: bytes, signature: str) -> ProviderEvent:
        """A verified webhook as a ProviderEvent; WEBHOOK_SIGNATURE_INVALID for anything not signed
        with this endpoint's secret within the tolerance."""
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                text, signature, self.webhook_secret, tolerance=self.webhook_tolerance
            )
        except UnicodeDecodeError:
            raise webhook_refused("is not UTF-8 text, so it cannot carry a valid signature") from None
        except stripe.SignatureVerificationError:
            raise webhook_refused(
                "the Stripe-Signature header does not verify with this endpoint's secret, or is too old"
            ) from None
        try:
            event = json.loads(text)
            return self._event(event)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Signed by Stripe yet unreadable: nothing to act on, and no reason for Stripe to retry.
            log.error("a signed Stripe webhook could not be read", exc_info=True)
            return ProviderEvent(
                event_id="",
                event_type="",
                kind=None,
                payment_id=None,
                checkout_id="",
                provider_payment_id=None,
                captured=None,
                failure_reason="",
                occurred_at=datetime.now(UTC),
            )

    def _event(self, event: dict[str, Any]) -> ProviderEvent:
        event_type = _text(event["type"])
        session = event["data"]["object"]
        kind = _OUTCOMES.get(event_type)
        if event_type == "checkout.session.completed" and session.get("payment_status") == "unpaid":
            # A delayed method (a bank debit): async_payment_succeeded or _failed comes later.
            kind = None
        metadata = session.get("metadata") or {}
        try:
            payment_id = uuid.UUID(str(metadata.get("payment_id", "")))
        except ValueError:
            payment_id = None
        captured = None
        currency = str(session.get("currency") or "").upper()
        if kind is OutcomeKind.CAPTURED and is_known_currency(currency):
            captured = from_stripe_amount(_whole_number(session["amount_total"]), currency)
            if not 0 <= captured.minor <= max_minor(currency):
                raise ValueError(f"no amount this platform charges: {captured}")
        return ProviderEvent(
            event_id=_text(event["id"]),
            event_type=event_type,
            kind=kind,
            payment_id=payment_id,
            checkout_id=_text(session.get("id") or ""),
            provider_payment_id=_text(session["payment_intent"]) if session.get("payment_intent") else None,
            captured=captured,
            failure_reason="the payment did not go through" if kind is OutcomeKind.FAILED else "",
            occurred_at=_moment(event["created"]),
        )


# Stripe's ids and event types are short; a longer one is nobody's we know.
MAX_STRIPE_TEXT = 255


def _text(value: Any) -> str:
    """An id or a type of a signed event, as the database can keep it: ValueError for text with
    control characters (PostgreSQL refuses NUL) or longer than Stripe ever writes."""
    text = str(value)
    if len(text) > MAX_STRIPE_TEXT or has_control_characters(text):
        raise ValueError(f"not a Stripe id: {text[:40]!r}")
    return text


def _whole_number(value: Any) -> int:
    """Amounts and times, which Stripe sends as JSON integers; ValueError for anything else (a
    float such as 1e400, which JSON reads as infinity, included)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value


def _moment(value: Any) -> datetime:
    """Unix seconds as a time; ValueError for any number no datetime holds."""
    seconds = _whole_number(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError) as error:
        raise ValueError(f"not a time: {seconds}") from error
