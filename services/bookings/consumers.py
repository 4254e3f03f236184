"""What bookings does when events announces a change (bus stream "events") and when payments
says a payment opened or succeeded (stream "payments").

Each handler runs inside the inbox transaction, so its database effects happen exactly once even
when a message is delivered twice. Calls to events (releases, promotions, seats for a late payment)
happen after, from the reconciler and the promoter, never inside the handler's transaction.

Payments' PaymentFailed is not consumed: a failed attempt changes nothing here (the hold keeps
running; the buyer's next CreateCheckout opens a new attempt, which PaymentOpened announces).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from seatmesh.bookings.v1 import bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from seatmesh.payments.v1 import bus_pb2 as payments_bus_pb2
from services.bookings import convert, domain, metrics
from services.bookings.cache import EventFactsCache
from services.bookings.domain import RefusalReason, Verdict, refused_on_cancel
from services.bookings.store import BookingTransaction
from services.runtime.bus.consumer import Handler

log = logging.getLogger(__name__)


class BookingConsumers:
    def __init__(
        self,
        facts: EventFactsCache,
        *,
        releases_due: Callable[[], Awaitable[None]],
        seats_may_be_free: Callable[[str], None],
    ) -> None:
        self.facts = facts
        self.releases_due = releases_due
        self.seats_may_be_free = seats_may_be_free

    def handlers(self) -> dict[str, Handler[BookingTransaction]]:
        return {
            events_bus_pb2.EventCancelled.DESCRIPTOR.full_name: self.on_event_cancelled,
            events_bus_pb2.EventUpdated.DESCRIPTOR.full_name: self.on_event_updated,
            events_bus_pb2.EventCompleted.DESCRIPTOR.full_name: self.on_event_completed,
            payments_bus_pb2.PaymentOpened.DESCRIPTOR.full_name: self.on_payment_opened,
            payments_bus_pb2.PaymentSucceeded.DESCRIPTOR.full_name: self.on_payment_succeeded,
        }

    async def on_event_cancelled(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Every active booking of the event is cancelled; seats it held are released after."""
        assert isinstance(message, events_bus_pb2.EventCancelled)
        self.facts.forget(message.event.id)
        ended = await tx.cancel_event_bookings(message.event.id, message.reason)
        await tx.publish_all(convert.booking_cancelled(booking, previous) for booking, previous in ended)
        # Late payments still taking their seats again took none: each goes back in full.
        await tx.publish_all(
            convert.accepted_payment_refused(booking, RefusalReason.BOOKING_ENDED)
            for booking, previous in ended
            if refused_on_cancel(booking, previous)
        )
        if ended:
            # The releases are due now; the reconciler finds them once this transaction commits.
            tx.after_commit(self.releases_due)

    async def on_event_updated(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """The bookings' copy of the event follows it (a new start time included)."""
        assert isinstance(message, events_bus_pb2.EventUpdated)
        self.facts.forget(message.event.id)
        await tx.apply_event_update(convert.event_facts_from_proto(message.event))
        # A larger capacity may let waitlisted bookings in.
        self.seats_may_be_free(message.event.id)

    async def on_event_completed(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Reviews and guest ratings open for the event's confirmed bookings."""
        assert isinstance(message, events_bus_pb2.EventCompleted)
        self.facts.forget(message.event.id)
        await tx.mark_completed(message.event.id)

    # -- payments ---------------------------------------------------------------------------------

    async def on_payment_opened(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """The booking's newest checkout (opened by bookings, or anew by the buyer's CreateCheckout):
        where its guest pays from now on."""
        assert isinstance(message, payments_bus_pb2.PaymentOpened)
        payment = message.payment
        await tx.record_checkout(uuid.UUID(payment.booking_id), payment.payment_id, payment.checkout_url)

    async def on_payment_succeeded(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Confirm the booking the payment is for, take its seats again if its hold expired first,
        or refuse the payment (payments refunds it in full): domain.judge_payment decides, under the
        booking's lock, so a hold expiring at the same instant yields one outcome, never two."""
        assert isinstance(message, payments_bus_pb2.PaymentSucceeded)
        payment = convert.succeeded_payment(message)
        booking = await tx.lock(payment.booking_id)
        if booking is None:
            # Payments opens checkouts only for bookings this service asked about: not ours to keep.
            log.error(
                "a payment succeeded for an unknown booking", extra={"booking_id": str(payment.booking_id)}
            )
            await tx.publish(convert.unknown_booking_payment_refused(message))
            return
        judgement = domain.judge_payment(booking, payment)
        if judgement.verdict is Verdict.CONFIRM:
            confirmed = await tx.confirm_paid(booking, payment.payment_id)
            assert confirmed is not None  # locked: still as it was read
            await tx.publish(bus_pb2.BookingConfirmed(booking=convert.booking_details_to_proto(confirmed)))
            tx.after_commit(metrics.count_confirmed_after_commit, confirmed)
        elif judgement.verdict is Verdict.TAKE_SEATS_AGAIN:
            accepted = await tx.accept_late_payment(booking, payment.payment_id)
            assert accepted is not None
            # The reconciler takes the seats (after the old ones' release), once this commits.
            tx.after_commit(self.releases_due)
        elif judgement.verdict is Verdict.REFUSE:
            assert judgement.reason is not None
            await tx.publish(
                convert.payment_refused(booking, payment.payment_id, judgement.reason, payment.amount)
            )
