"""The payments service as bookings calls it: opening the checkout of a booking that awaits payment.

OpenCheckout is idempotent on the booking (and on its request id, the booking's id), so a retry
never opens a second payment; it has a deadline and bounded retries (runtime.clients). When payments
does not open the checkout now (down, slow, or refusing), the booking keeps waiting for its payment
and the reconciler asks again until the hold ends; the buyer may also ask payments' CreateCheckout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from seatmesh.payments.v1 import payments_pb2_grpc
from services.bookings.convert import checkout_request
from services.bookings.domain import Booking
from services.runtime.clients import PeerUnavailable, call_with_retries
from services.runtime.errors import error_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checkout:
    """The payment payments opened for a booking, and where its buyer pays (may be empty: the
    manual provider has no page of its own to send them to)."""

    payment_id: str
    checkout_url: str


class PaymentsClient:
    def __init__(self, channel: grpc.aio.Channel, *, deadline: float) -> None:
        self.stub = payments_pb2_grpc.PaymentServiceStub(channel)
        self.deadline = deadline

    async def open_checkout(self, booking: Booking, *, budget: float | None = None) -> Checkout | None:
        """The booking's open payment; None when payments did not open one now (the caller leaves
        the booking waiting for the reconciler)."""
        request = checkout_request(booking)
        budget = self.deadline if budget is None else min(budget, self.deadline)
        try:
            payment = await call_with_retries(
                lambda timeout: self.stub.OpenCheckout(request, timeout=timeout), budget=budget
            )
        except PeerUnavailable as error:
            log.warning(
                "payments did not open a checkout in time; the reconciler asks again",
                extra={"booking_id": str(booking.id), "detail": str(error)},
            )
            return None
        except grpc.aio.AioRpcError as error:
            # HOLD_EXPIRED (the expiry job ends the booking soon), or a bug on either side: the log
            # says which, the reconciler asks again until the hold ends.
            log.error(
                "payments refused to open a checkout",
                extra={
                    "booking_id": str(booking.id),
                    "code": error.code().name,
                    "reason": error_reason(error),
                },
            )
            return None
        return Checkout(payment_id=payment.id, checkout_url=payment.checkout_url)
