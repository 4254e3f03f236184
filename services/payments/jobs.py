"""Background work of the payments service, safe with any number of replicas (on runtime.loops).

`RefundWorker` asks the provider for every refund written but not confirmed yet: those just made
(woken at once after their commit), those the provider did not answer for, and those it said are
on their way. Each refund is leased (`claim_due_refunds`: FOR UPDATE SKIP LOCKED, the next try
pushed back by a growing delay), so two replicas never ask about the same refund at once, and one
that dies mid-call leaves it to another after the delay. The provider is asked under the refund's
id as idempotency key, so asking again never gives back money twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from services.payments import convert
from services.payments.domain import Refund, RefundState
from services.payments.providers.base import PaymentProvider, ProviderUnavailable
from services.payments.store import PaymentStore
from services.runtime.loops import every

log = logging.getLogger(__name__)

# Refunds leased per round.
REFUND_BATCH = 50


class RefundWorker:
    def __init__(self, store: PaymentStore, provider: PaymentProvider, *, interval: float) -> None:
        self.store = store
        self.provider = provider
        self.interval = interval
        self._wake = asyncio.Event()

    async def run(self) -> None:
        await every(self.interval, self.settle_due, what="refund worker", wake=self._wake)

    async def refunds_due(self) -> None:
        """Refunds were written and committed: ask the provider now (an after-commit callback)."""
        self._wake.set()

    async def settle_due(self) -> int:
        total = 0
        while True:
            due = await self.store.claim_due_refunds(limit=REFUND_BATCH, base_delay=self.interval)
            for refund in due:
                await self._settle(refund)
            total += len(due)
            if len(due) < REFUND_BATCH:
                return total

    async def execute(self, refund_id: uuid.UUID) -> None:
        """Ask about this one refund now, unless another worker is on it."""
        refund = await self.store.claim_refund(refund_id, base_delay=self.interval)
        if refund is not None:
            await self._settle(refund)

    async def _settle(self, refund: Refund) -> None:
        payment = await self.store.get(refund.payment_id)
        if payment is None:
            raise RuntimeError(f"refund {refund.id} of a payment that does not exist")
        try:
            outcome = await self.provider.refund(payment, refund)
        except ProviderUnavailable:
            log.warning(
                "the provider did not answer about a refund; asking later",
                extra={"refund_id": str(refund.id)},
            )
            return
        async with self.store.transaction() as tx:
            # The payment first, as every writer of refunds locks it: no deadlock with a new refund.
            await tx.lock_payment(payment.id)
            settled = await tx.settle_refund(
                refund,
                outcome.state,
                provider_refund_id=outcome.provider_refund_id,
                failure_reason=outcome.failure_reason,
            )
            if settled is None or settled.state is RefundState.PENDING:
                return
            current = await tx.lock_payment(payment.id)
            assert current is not None
            if settled.state is RefundState.SUCCEEDED:
                await tx.publish(convert.payment_refunded(current, settled))
            else:
                # Money the organizer meant to give back is still with them: someone must look.
                log.error(
                    "the provider refused a refund; it no longer counts against the payment",
                    extra={"refund_id": str(refund.id), "reason": outcome.failure_reason},
                )
