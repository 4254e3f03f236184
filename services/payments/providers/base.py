"""The one interface every payment provider implements, after pretix's BasePaymentProvider: an
identifier, the steps as methods, and nothing about the rest of the service. The service never
knows which provider it talks to; a deployment chooses one (SEATMESH_PAYMENTS_PROVIDER).

What providers report back (a webhook: money captured, a payment failed, a checkout closed) is a
`ProviderEvent`; the servicer applies it to the payment under a lock, once per event id.
"""

from __future__ import annotations

import abc
import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.payments.domain import Payment, Provider, Refund, RefundState
from services.runtime.money import Amount


class ProviderUnavailable(Exception):
    """The provider did not answer (or asked to be asked later): worth another try."""


@dataclass(frozen=True)
class Checkout:
    """Where the buyer pays: the provider's checkout id (unique) and its page ("" when there is none)."""

    checkout_id: str
    url: str


@dataclass(frozen=True)
class RefundOutcome:
    """What the provider said about a refund: SUCCEEDED, PENDING (ask again later) or FAILED."""

    state: RefundState
    provider_refund_id: str | None
    failure_reason: str = ""


class OutcomeKind(enum.Enum):
    # The money was captured.
    CAPTURED = "captured"
    # The payment was refused (the buyer may try again while the hold runs).
    FAILED = "failed"
    # The provider closed a checkout nobody paid at.
    CHECKOUT_CLOSED = "checkout_closed"


@dataclass(frozen=True)
class ProviderEvent:
    """One verified notification from a provider. `kind` is None for events payments does not act on
    (they are still recorded, so a repeat is recognised)."""

    event_id: str
    event_type: str
    kind: OutcomeKind | None
    payment_id: uuid.UUID | None
    checkout_id: str
    provider_payment_id: str | None
    captured: Amount | None
    failure_reason: str
    occurred_at: datetime


class PaymentProvider(abc.ABC):
    """A way to take and give back money."""

    #: Stored on every payment, shown to clients.
    identifier: Provider
    #: For people (logs, README).
    verbose_name: str

    @abc.abstractmethod
    async def open_checkout(self, payment: Payment) -> Checkout:
        """Open a checkout for an open payment (its `checkouts_opened`-th + 1). Idempotent: the same
        payment in the same state gets the same checkout. ProviderUnavailable when it could not."""

    @abc.abstractmethod
    async def close_checkout(self, payment: Payment) -> None:
        """Close the payment's checkout so nobody can pay there any more (the hold ended, the booking
        was cancelled). Best effort: a checkout paid meanwhile still reports its capture."""

    @abc.abstractmethod
    async def refund(self, payment: Payment, refund: Refund) -> RefundOutcome:
        """Give `refund.amount_minor` of the payment back, or say where that stands when it was asked
        before (`refund.provider_refund_id`). Idempotent on the refund's id. ProviderUnavailable when
        the provider did not answer."""
