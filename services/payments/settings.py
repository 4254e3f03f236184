"""Configuration of the payments service (SEATMESH_* environment variables)."""

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from services.runtime.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    port: int = Field(default=50055, ge=0, le=65535)
    # Who handles the money in this deployment: `manual` (bank transfer or cash, confirmed by the
    # organizer with :markPaid) or `stripe` (Stripe Checkout; a payment counts when Stripe's
    # signed webhook says so).
    payments_provider: Literal["manual", "stripe"] = "manual"
    # Stripe's secret API key (sk_live_... or sk_test_...), and the signing secret of the webhook
    # endpoint that points at /v1/payments/webhooks/stripe (whsec_...).
    stripe_api_key: SecretStr = Field(default=SecretStr(""), validate_default=True)
    stripe_webhook_secret: SecretStr = Field(default=SecretStr(""), validate_default=True)
    # Where Stripe's API is: Stripe's own, or a stand-in for tests and `make run` (scripts/fake_stripe.py).
    stripe_api_base: str = "https://api.stripe.com"
    # A webhook signed longer ago than this (seconds) is refused, so a captured one cannot be replayed later.
    stripe_webhook_tolerance: int = Field(default=300, ge=1, le=86_400)
    # Seconds one call to Stripe may take, its retries (same idempotency key) included.
    stripe_deadline: float = Field(default=10.0, gt=0, le=120)
    # The public base URL of the web console: Stripe sends the buyer back there after paying.
    public_url: str = "http://127.0.0.1:8080"
    # How often refunds the provider has not confirmed yet are tried (or looked up) again, seconds.
    refund_retry_interval: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("stripe_api_key", "stripe_webhook_secret")
    @classmethod
    def _required_by_stripe(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("payments_provider") == "stripe" and not value.get_secret_value():
            raise ValueError("is required when SEATMESH_PAYMENTS_PROVIDER is stripe")
        return value
