"""Manual payments: bank transfer or cash, as pretix's bank-transfer provider works. There is no
checkout page: the buyer pays the organizer as the event says, quoting the payment id, and the
organizer (or an admin) confirms it with :markPaid. A refund is money the organizer hands back
the same way; recording it is all this provider can do, so it succeeds at once.
"""

from __future__ import annotations

from services.payments.domain import Payment, Provider, Refund, RefundState
from services.payments.providers.base import Checkout, PaymentProvider, RefundOutcome


class ManualProvider(PaymentProvider):
    identifier = Provider.MANUAL
    verbose_name = "Bank transfer or cash, confirmed by the organizer"

    async def open_checkout(self, payment: Payment) -> Checkout:
        return Checkout(checkout_id=f"manual-{payment.id}", url="")

    async def close_checkout(self, payment: Payment) -> None:
        return None

    async def refund(self, payment: Payment, refund: Refund) -> RefundOutcome:
        return RefundOutcome(RefundState.SUCCEEDED, provider_refund_id=None)
