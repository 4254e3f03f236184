"""What payments does with other services' bus events.

From bookings: a cancelled booking's payment is refunded (the guest by the policy the payment
keeps; the host, an admin or the event's cancellation in full) and its open payment expires; an
expired hold expires the open payment; a payment bookings refuses (late, duplicate, booking
ended) is refunded in full. Every booking event also updates the sales report's read model, and
every event event (created, changed, cancelled, completed, deleted) the report's events.

Handlers run inside the consumer's PaymentTransaction together with the inbox row, so the same
news delivered twice has one effect; refunds are also keyed per cause and payment, so two kinds of
news about the same payment (a refusal and a cancellation) give money back once. The provider is
asked only after the commit (the refund worker, closing a checkout).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from google.protobuf import message as protobuf_message

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from services.payments import convert, domain
from services.payments.domain import PaymentState, RefundOrder
from services.payments.providers.base import PaymentProvider
from services.payments.store import PaymentTransaction
from services.runtime.bus.consumer import Handler

log = logging.getLogger(__name__)

_BOOKING_DETAILS = bookings_bus_pb2.BookingDetails.DESCRIPTOR.full_name

# Why bookings refused a payment, for the refund's reason (the buyer reads it).
_REFUSALS = {
    "SOLD_OUT": "paid after the hold ended, and the seats had gone to others",
    "EVENT_NOT_BOOKABLE": "paid after the hold ended, and the event no longer takes bookings",
    "BOOKING_ENDED": "paid after the booking had ended",
    "ALREADY_PAID": "the booking was paid already",
    "AMOUNT_MISMATCH": "the amount paid is not the booking's amount",
    "BOOKED_AGAIN": "paid after the hold ended, and the event was booked again meanwhile",
}


def _occurred_at(envelope: envelope_pb2.Envelope) -> datetime:
    return convert.occurred_at(envelope.occurred_at) or datetime.now(UTC)


def booking_news_types() -> list[str]:
    """Every bookings bus event that describes a booking (a `booking` field of BookingDetails): all
    of them move the report's read model, whatever events bookings adds later."""
    return [
        message.full_name
        for message in bookings_bus_pb2.DESCRIPTOR.message_types_by_name.values()
        if (field := message.fields_by_name.get("booking")) is not None
        and field.message_type is not None
        and field.message_type.full_name == _BOOKING_DETAILS
    ]


class PaymentConsumers:
    def __init__(self, provider: PaymentProvider, *, refunds_due: Callable[[], Awaitable[None]]) -> None:
        self.provider = provider
        self.refunds_due = refunds_due

    def handlers(self) -> dict[str, Handler[PaymentTransaction]]:
        handlers: dict[str, Handler[PaymentTransaction]] = dict.fromkeys(
            booking_news_types(), self.on_booking_news
        )
        handlers.update(
            {
                bookings_bus_pb2.BookingCancelled.DESCRIPTOR.full_name: self.on_booking_cancelled,
                bookings_bus_pb2.BookingExpired.DESCRIPTOR.full_name: self.on_booking_expired,
                bookings_bus_pb2.BookingPaymentRefused.DESCRIPTOR.full_name: self.on_payment_refused,
                events_bus_pb2.EventCreated.DESCRIPTOR.full_name: self.on_event_news,
                events_bus_pb2.EventUpdated.DESCRIPTOR.full_name: self.on_event_news,
                events_bus_pb2.EventCancelled.DESCRIPTOR.full_name: self.on_event_news,
                events_bus_pb2.EventCompleted.DESCRIPTOR.full_name: self.on_event_news,
                events_bus_pb2.EventDeleted.DESCRIPTOR.full_name: self.on_event_deleted,
            }
        )
        return handlers

    # -- bookings ---------------------------------------------------------------------------------

    async def on_booking_news(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        """The report's copy of the booking follows it."""
        details = getattr(message, "booking")  # noqa: B009 (any bookings event; see booking_news_types)
        assert isinstance(details, bookings_bus_pb2.BookingDetails)
        state = convert.booking_state_name(details.state)
        await tx.observe_booking(
            booking_id=uuid.UUID(details.booking_id),
            event_id=uuid.UUID(details.event_id),
            seats=details.seats,
            state=state,
            confirmed=state == "CONFIRMED",
            observed_at=_occurred_at(envelope),
        )

    async def on_booking_cancelled(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        assert isinstance(message, bookings_bus_pb2.BookingCancelled)
        await self.on_booking_news(tx, envelope, message)
        details = message.booking
        payments = await self._expire_open(tx, uuid.UUID(details.booking_id))
        if message.previous_state != bookings_pb2.Booking.CONFIRMED or not details.payment_id:
            # Not paid (free, or still awaiting payment): a payment that comes later is refused by
            # bookings and refunded then.
            return
        paid = next((payment for payment in payments if str(payment.id) == details.payment_id), None)
        if paid is None:
            log.warning(
                "a cancelled booking's payment is unknown here", extra={"payment_id": details.payment_id}
            )
            return
        order = domain.cancellation_refund(
            paid,
            convert.cancelled_by_from_proto(message.cancelled_by),
            cancelled_at=_occurred_at(envelope),
            reason=message.reason,
        )
        await self._refund(tx, paid, order)

    async def on_booking_expired(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        """The hold ended: nobody can pay any more (a payment already under way that still arrives
        is a late payment, which bookings takes if the seats are free)."""
        assert isinstance(message, bookings_bus_pb2.BookingExpired)
        await self.on_booking_news(tx, envelope, message)
        await self._expire_open(tx, uuid.UUID(message.booking.booking_id))

    async def on_payment_refused(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        assert isinstance(message, bookings_bus_pb2.BookingPaymentRefused)
        await self.on_booking_news(tx, envelope, message)
        payment = await tx.lock_payment(uuid.UUID(message.payment_id))
        if payment is None:
            log.error("bookings refused a payment unknown here", extra={"payment_id": message.payment_id})
            return
        reason = bookings_bus_pb2.BookingPaymentRefused.Reason.Name(message.reason)
        await self._refund(tx, payment, domain.refused_payment_refund(payment, _REFUSALS.get(reason, reason)))

    async def _expire_open(self, tx: PaymentTransaction, booking_id: uuid.UUID) -> list[domain.Payment]:
        """The booking's payments (locked); an open one expires, and its checkout closes after the commit."""
        payments = await tx.lock_booking_payments(booking_id)
        for index, payment in enumerate(payments):
            if payment.state is PaymentState.PENDING:
                expired = await tx.expire(payment.id)
                await tx.publish(convert.payment_expired(expired))
                tx.after_commit(self.provider.close_checkout, expired)
                payments[index] = expired
        return payments

    async def _refund(
        self, tx: PaymentTransaction, payment: domain.Payment, order: RefundOrder | None
    ) -> None:
        if order is None:
            return
        if await tx.add_refund(payment, order) is not None:
            tx.after_commit(self.refunds_due)

    # -- events -----------------------------------------------------------------------------------

    async def on_event_news(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        event = getattr(message, "event")  # noqa: B009 (EventCreated, Updated, Cancelled, Completed)
        await tx.observe_event(convert.report_event_from_proto(event), _occurred_at(envelope))

    async def on_event_deleted(
        self, tx: PaymentTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        assert isinstance(message, events_bus_pb2.EventDeleted)
        await tx.forget_event(uuid.UUID(message.event.id))
