"""What notifications does with the bus events of users, events, bookings and payments.

Each handler runs inside the consumer's inbox transaction (services/runtime/bus/consumer.py), so
its rows — projection updates, reminder schedule, messages, in-app notifications and deliveries —
commit together with the inbox entry or not at all. Nothing here talks to the network; the
delivery worker sends later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.payments.v1 import bus_pb2 as payments_bus
from seatmesh.users.v1 import bus_pb2 as users_bus
from services.notifications import content, convert
from services.notifications.content import Links
from services.notifications.domain.kinds import (
    ACTIVE_BOOKING_STATES,
    ATTENDING_STATES,
    BookingState,
    Canceller,
    Channel,
    EventState,
    RefundInitiator,
)
from services.notifications.domain.messages import BookingSummary, Content, EventSummary
from services.notifications.domain.records import (
    Account,
    BookingNews,
    CodeIssued,
    KnownEvent,
    ToEventGuests,
    ToUsers,
)
from services.notifications.domain.rules import (
    ReminderOffsets,
    awaits_payment,
    event_cancelled_key,
    event_completed_key,
    hears_of_event_cancellation,
    host_hears_of_cancellation,
    payment_due_key,
    payment_reminder_time,
    promoted_state,
    receipt_key,
    refund_key,
    refused_payment_key,
    reminders_for,
    welcome_due,
    welcome_key,
)
from services.notifications.store import NotificationTransaction
from services.runtime.bus.consumer import Handler

log = logging.getLogger(__name__)

Envelope = envelope_pb2.Envelope


class NotificationConsumers:
    """One handler per bus event. They are alike in shape on purpose (convert the message, update
    the projection, notify): each reads on its own, like the event it handles."""

    def __init__(self, *, links: Links, offsets: ReminderOffsets) -> None:
        self.links = links
        self.offsets = offsets

    def handlers(self) -> dict[str, Handler[NotificationTransaction]]:
        # Each handler takes its own message type, which a Handler (any Message) cannot say.
        table: Mapping[type[Message], Any] = {
            users_bus.UserRegistered: self.on_user_registered,
            users_bus.EmailVerified: self.on_email_verified,
            users_bus.VerificationCodeIssued: self.on_verification_code_issued,
            users_bus.PhoneCodeIssued: self.on_phone_code_issued,
            bookings_bus.BookingConfirmed: self.on_booking_confirmed,
            bookings_bus.BookingAwaitingApproval: self.on_booking_awaiting_approval,
            bookings_bus.BookingApproved: self.on_booking_approved,
            bookings_bus.BookingRejected: self.on_booking_rejected,
            bookings_bus.BookingExpired: self.on_booking_expired,
            bookings_bus.BookingWaitlisted: self.on_booking_waitlisted,
            bookings_bus.BookingPromoted: self.on_booking_promoted,
            bookings_bus.BookingCancelled: self.on_booking_cancelled,
            bookings_bus.BookingAwaitingPayment: self.on_booking_awaiting_payment,
            bookings_bus.BookingPaymentRefused: self.on_booking_payment_refused,
            events_bus.EventCreated: self.on_event_created,
            events_bus.EventUpdated: self.on_event_updated,
            events_bus.EventCancelled: self.on_event_cancelled,
            events_bus.EventCompleted: self.on_event_completed,
            events_bus.EventDeleted: self.on_event_deleted,
            payments_bus.PaymentOpened: self.on_payment_opened,
            payments_bus.PaymentSucceeded: self.on_payment_succeeded,
            payments_bus.PaymentExpired: self.on_payment_expired,
            payments_bus.PaymentRefunded: self.on_payment_refunded,
        }
        return {message.DESCRIPTOR.full_name: handler for message, handler in table.items()}

    # -- users ----------------------------------------------------------------------------------------

    async def on_user_registered(
        self, tx: NotificationTransaction, envelope: Envelope, message: users_bus.UserRegistered
    ) -> None:
        registration = convert.registration(message)
        account = await tx.account_registered(registration.user_id, organizer=registration.organizer)
        await self._welcome_if_due(tx, account)

    async def on_email_verified(
        self, tx: NotificationTransaction, envelope: Envelope, message: users_bus.EmailVerified
    ) -> None:
        account = await tx.email_verified(convert.verified_user_id(message))
        await self._welcome_if_due(tx, account)

    async def _welcome_if_due(self, tx: NotificationTransaction, account: Account) -> None:
        """Registered and verified, in whichever order the two were heard of: welcome, once."""
        if not welcome_due(account):
            return
        await tx.notify(
            source_key=welcome_key(account.user_id),
            content=content.welcome(organizer=bool(account.organizer), links=self.links),
            recipients=ToUsers((account.user_id,)),
        )

    async def on_verification_code_issued(
        self, tx: NotificationTransaction, envelope: Envelope, message: users_bus.VerificationCodeIssued
    ) -> None:
        await self._send_code(tx, envelope, convert.code_issued(message), Channel.EMAIL)

    async def on_phone_code_issued(
        self, tx: NotificationTransaction, envelope: Envelope, message: users_bus.PhoneCodeIssued
    ) -> None:
        await self._send_code(tx, envelope, convert.phone_code_issued(message), Channel.SMS)

    async def _send_code(
        self, tx: NotificationTransaction, envelope: Envelope, issued: CodeIssued, channel: Channel
    ) -> None:
        """Security mail: to the address being verified (which may not be the account's yet), on
        `channel`, whatever the preferences say. The code stays sealed here (see delivery.py)."""
        await tx.remember_users([issued.user_id])
        if not issued.sealed_code:
            log.warning(
                "a verification code message without a sealed code; nothing to send",
                extra={"event_id": envelope.event_id, "type": envelope.type},
            )
            return
        compose = content.verification_code if channel is Channel.EMAIL else content.phone_verification_code
        code = compose(
            sealed_code=issued.sealed_code,
            display_name=issued.display_name,
            expire_time=issued.expire_time,
            now=convert.occurred(envelope),
        )
        await tx.notify(
            source_key=envelope.event_id,
            content=code,
            recipients=ToUsers((issued.user_id,)),
            channels=(channel,),
            address=issued.address,
        )

    # -- bookings -------------------------------------------------------------------------------------

    async def on_booking_confirmed(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingConfirmed
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.CONFIRMED)
        if message.booking.HasField("amount"):
            # Paid: nothing left to pay. (A free booking never had a reminder to pay.)
            await tx.drop_payment_reminder(news.booking_id)
        if booking is None:
            return
        await self._to(tx, envelope, news.guest_id, content.booking_confirmed(booking, self.links))
        await self._schedule_reminders(tx, envelope, news, booking)

    async def on_booking_awaiting_approval(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingAwaitingApproval
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.AWAITING_APPROVAL)
        if booking is None:
            return
        deadline = convert.approval_deadline(message)
        await self._to(tx, envelope, news.guest_id, content.request_sent(booking, deadline, self.links))
        await self._to(tx, envelope, news.host_id, content.approval_requested(booking, deadline, self.links))

    async def on_booking_approved(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingApproved
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.CONFIRMED)
        if booking is None:
            return
        await self._to(tx, envelope, news.guest_id, content.booking_approved(booking, self.links))
        await self._schedule_reminders(tx, envelope, news, booking)

    async def on_booking_rejected(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingRejected
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.REJECTED)
        await tx.drop_booking_reminders(news.booking_id)
        if booking is None:
            return
        rejected = content.booking_rejected(
            booking, convert.rejection_cause(message), message.reason, self.links
        )
        await self._to(tx, envelope, news.guest_id, rejected)

    async def on_booking_expired(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingExpired
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, previous = await self._apply(tx, envelope, news, BookingState.EXPIRED)
        await tx.drop_booking_reminders(news.booking_id)
        if booking is None:
            return
        await self._to(tx, envelope, news.guest_id, content.booking_expired(booking, previous, self.links))

    async def on_booking_waitlisted(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingWaitlisted
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.WAITLISTED)
        if booking is None:
            return
        await self._to(tx, envelope, news.guest_id, content.booking_waitlisted(booking, self.links))

    async def on_booking_promoted(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingPromoted
    ) -> None:
        news = convert.booking_news(message.booking)
        state = promoted_state(news.state)
        awaiting = state is BookingState.AWAITING_APPROVAL
        booking, _ = await self._apply(tx, envelope, news, state)
        if booking is None:
            return
        await self._to(tx, envelope, news.guest_id, content.booking_promoted(booking, awaiting, self.links))
        if awaiting:
            await self._to(tx, envelope, news.host_id, content.approval_requested(booking, None, self.links))
        else:
            await self._schedule_reminders(tx, envelope, news, booking)

    async def on_booking_cancelled(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingCancelled
    ) -> None:
        news = convert.booking_news(message.booking)
        booking, _ = await self._apply(tx, envelope, news, BookingState.CANCELLED)
        await tx.drop_booking_reminders(news.booking_id)
        if booking is None:
            return
        cancelled_by, previous = convert.canceller(message), convert.previous_state(message)
        if cancelled_by is Canceller.EVENT_CANCELLED:
            # The same notification EventCancelled sends, under the same key: whichever of the two
            # messages is handled first notifies this guest, the other finds it done.
            if hears_of_event_cancellation(previous):
                await tx.notify(
                    source_key=event_cancelled_key(news.event.event_id),
                    content=content.event_cancelled(booking.event, message.reason, self.links),
                    recipients=ToUsers((news.guest_id,)),
                )
            return
        cancelled = content.booking_cancelled(booking, cancelled_by, message.reason, self.links)
        await self._to(tx, envelope, news.guest_id, cancelled)
        if host_hears_of_cancellation(cancelled_by, previous):
            told = content.guest_cancelled(booking, message.reason, self.links)
            await self._to(tx, envelope, news.host_id, told)

    async def on_booking_awaiting_payment(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingAwaitingPayment
    ) -> None:
        """Seats are held while the guest pays. The guest hears of it with PaymentOpened, which says
        where to pay (and schedules the reminder before the hold ends); here the booking's state is
        recorded, which tells later messages (a receipt, an expiry) what came before."""
        await self._apply(tx, envelope, convert.booking_news(message.booking), BookingState.AWAITING_PAYMENT)

    async def on_booking_payment_refused(
        self, tx: NotificationTransaction, envelope: Envelope, message: bookings_bus.BookingPaymentRefused
    ) -> None:
        """Bookings will not keep a payment (it came late and the seats are gone, or the booking had
        ended...), and payments refunds it in full. The guest is told now rather than when the
        provider confirms the refund (which may take a while), under the key of that refund's own
        notice: whichever of the two is handled first tells them."""
        news = convert.booking_news(message.booking)
        booking = BookingSummary(
            booking_id=news.booking_id,
            seats=news.seats,
            event=await self._event(tx, news.event),
        )
        refused = content.payment_refused(
            booking,
            convert.payment_refusal(message),
            convert.refused_amount(message),
            message.payment_id,
            self.links,
        )
        await tx.notify(
            source_key=refused_payment_key(message.payment_id),
            content=refused,
            recipients=ToUsers((news.guest_id,)),
        )

    async def _apply(
        self, tx: NotificationTransaction, envelope: Envelope, news: BookingNews, state: BookingState
    ) -> tuple[BookingSummary | None, BookingState | None]:
        """Update the projection: the booking as notifications describe it (None when this message
        is older than what is known: nobody is notified), and its state before this message."""
        applied = await tx.apply_booking(news, state=state, changed_at=convert.occurred(envelope))
        if not applied.fresh:
            log.info(
                "booking event older than the known state; not notified",
                extra={"booking_id": news.booking_id, "type": envelope.type},
            )
            return None, applied.previous_state
        # The events service's view of the event (title, time, venue) wins over the booking's copy.
        booking = BookingSummary(
            booking_id=news.booking_id,
            seats=news.seats,
            event=applied.event or news.event,
            waitlist_position=news.waitlist_position,
        )
        return booking, applied.previous_state

    async def _to(
        self, tx: NotificationTransaction, envelope: Envelope, user_id: str, message: Content
    ) -> None:
        await tx.queue_notification(
            source_key=envelope.event_id, content=message, recipients=ToUsers((user_id,))
        )

    async def _schedule_reminders(
        self, tx: NotificationTransaction, envelope: Envelope, news: BookingNews, booking: BookingSummary
    ) -> None:
        start = booking.event.start_time
        await tx.schedule_reminders(
            booking_id=news.booking_id,
            event_id=news.event.event_id,
            guest_id=news.guest_id,
            start_time=start,
            due=reminders_for(start, convert.occurred(envelope), self.offsets),
        )

    # -- events ---------------------------------------------------------------------------------------

    async def on_event_created(
        self, tx: NotificationTransaction, envelope: Envelope, message: events_bus.EventCreated
    ) -> None:
        await self._apply_event(tx, envelope, convert.known_event(message.event), EventState.SCHEDULED)

    async def on_event_updated(
        self, tx: NotificationTransaction, envelope: Envelope, message: events_bus.EventUpdated
    ) -> None:
        event = convert.known_event(message.event)
        fresh = await self._apply_event(tx, envelope, event, EventState.SCHEDULED)
        # Guests hear of every change, even one superseded by a later update we already know: it
        # happened, and its message describes it. Only the newest version moves reminders.
        await tx.notify(
            source_key=envelope.event_id,
            content=content.event_updated(event.summary, convert.event_change(message), self.links),
            recipients=ToEventGuests(event.summary.event_id, ACTIVE_BOOKING_STATES),
        )
        if fresh and "start_time" in message.changed_fields:
            start = event.summary.start_time
            await tx.rearm_event_reminders(
                event_id=event.summary.event_id,
                start_time=start,
                due=reminders_for(start, convert.occurred(envelope), self.offsets),
            )

    async def on_event_cancelled(
        self, tx: NotificationTransaction, envelope: Envelope, message: events_bus.EventCancelled
    ) -> None:
        event = convert.known_event(message.event)
        await self._apply_event(tx, envelope, event, EventState.CANCELLED)
        await tx.drop_event_reminders(event.summary.event_id)
        await tx.notify(
            source_key=event_cancelled_key(event.summary.event_id),
            content=content.event_cancelled(event.summary, message.reason, self.links),
            recipients=ToEventGuests(event.summary.event_id, ACTIVE_BOOKING_STATES),
        )

    async def on_event_completed(
        self, tx: NotificationTransaction, envelope: Envelope, message: events_bus.EventCompleted
    ) -> None:
        event = convert.known_event(message.event)
        await self._apply_event(tx, envelope, event, EventState.COMPLETED)
        await tx.drop_event_reminders(event.summary.event_id)
        await tx.notify(
            source_key=event_completed_key(event.summary.event_id),
            content=content.rate_event(event.summary, self.links),
            recipients=ToEventGuests(event.summary.event_id, ATTENDING_STATES),
        )

    async def on_event_deleted(
        self, tx: NotificationTransaction, envelope: Envelope, message: events_bus.EventDeleted
    ) -> None:
        """Nobody ever booked it (events deletes only such events), so nobody is told: it is
        forgotten, with any reminders a booking we heard of had scheduled."""
        event_id = convert.deleted_event_id(message)
        await tx.forget_event(event_id)
        await tx.drop_event_reminders(event_id)

    async def _event(self, tx: NotificationTransaction, described: EventSummary) -> EventSummary:
        """The events service's view of an event (title, time, place) wins over another message's copy."""
        return await tx.known_event(described.event_id) or described

    async def _apply_event(
        self, tx: NotificationTransaction, envelope: Envelope, event: KnownEvent, state_unsaid: EventState
    ) -> bool:
        """Record the events service's view of the event; False when a newer version is known."""
        await tx.remember_users([event.organizer_id])
        return await tx.apply_event(
            event, state=event.state or state_unsaid, version=event.version or convert.occurred(envelope)
        )

    # -- payments -------------------------------------------------------------------------------------

    async def on_payment_opened(
        self, tx: NotificationTransaction, envelope: Envelope, message: payments_bus.PaymentOpened
    ) -> None:
        """A checkout opened: the guest is told where to pay and until when (once per hold), and
        reminded shortly before the hold ends unless they paid."""
        payment = convert.payment_news(message.payment)
        due = payment.due()
        opened_at = convert.occurred(envelope)
        if due is None or due.hold_expire_time <= opened_at:
            return
        if not awaits_payment(await tx.booking_state(payment.booking_id)):
            # Paid or over by the time this news arrived (the streams are read side by side).
            log.info(
                "a checkout of a booking that no longer awaits payment", extra={"booking_id": due.booking_id}
            )
            return
        event = await self._event(tx, due.event)
        await tx.notify(
            source_key=payment_due_key(due.booking_id, due.hold_expire_time),
            content=content.payment_due(due, event, self.links),
            recipients=ToUsers((payment.buyer_id,)),
        )
        remind_at = payment_reminder_time(due.hold_expire_time, opened_at, self.offsets)
        if remind_at is not None:
            await tx.schedule_payment_reminder(guest_id=payment.buyer_id, due=due, due_at=remind_at)

    async def on_payment_succeeded(
        self, tx: NotificationTransaction, envelope: Envelope, message: payments_bus.PaymentSucceeded
    ) -> None:
        """The money came: a receipt, and no more reminder to pay."""
        payment = convert.payment_news(message.payment)
        await tx.drop_payment_reminder(payment.booking_id)
        receipt = content.payment_receipt(
            payment,
            await self._event(tx, payment.event),
            convert.capture_time(message),
            await tx.booking_state(payment.booking_id),
            self.links,
        )
        await tx.notify(
            source_key=receipt_key(payment.payment_id),
            content=receipt,
            recipients=ToUsers((payment.buyer_id,)),
        )

    async def on_payment_expired(
        self, tx: NotificationTransaction, envelope: Envelope, message: payments_bus.PaymentExpired
    ) -> None:
        """Nothing was charged and nothing can be paid any more: the booking's expiry or
        cancellation tells the guest; the reminder goes."""
        await tx.drop_payment_reminder(message.payment.booking_id)

    async def on_payment_refunded(
        self, tx: NotificationTransaction, envelope: Envelope, message: payments_bus.PaymentRefunded
    ) -> None:
        """Money went back: a notice per refund (a refused payment's is the one its refusal sent)."""
        payment = convert.payment_news(message.payment)
        refund = convert.refund_news(message, payment.amount.currency)
        notice = content.payment_refunded(payment, refund, await self._event(tx, payment.event), self.links)
        key = (
            refused_payment_key(payment.payment_id)
            if refund.initiated_by is RefundInitiator.PAYMENT_REFUSED
            else refund_key(refund.refund_id)
        )
        await tx.notify(source_key=key, content=notice, recipients=ToUsers((payment.buyer_id,)))
