"""Proto <-> domain for notifications: its RPC messages, the bus messages it consumes from users,
events, bookings and payments, and the enum maps between the contract's numbers and the domain's
names.

Notifications publishes no bus events of its own. Everything here is a pure function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.type import money_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2 as pb
from seatmesh.payments.v1 import bus_pb2 as payments_bus
from seatmesh.payments.v1 import payments_pb2
from seatmesh.users.v1 import bus_pb2 as users_bus
from seatmesh.users.v1 import users_pb2
from services.notifications.domain.kinds import (
    BookingState,
    Canceller,
    Channel,
    DeliveryState,
    EventState,
    Kind,
    PaymentRefusal,
    Provider,
    RefundInitiator,
    RejectionCause,
)
from services.notifications.domain.messages import EventChange, EventSummary
from services.notifications.domain.records import (
    BookingNews,
    CodeIssued,
    Contact,
    DeadLetter,
    Delivery,
    InboxEntry,
    KnownEvent,
    PaymentNews,
    RefundNews,
    Registration,
)
from services.notifications.domain.rules import ChannelChoice, KindChoice, SendDraft
from services.runtime.money import Amount, to_minor
from services.runtime.pagination import enum_filter
from services.runtime.timestamps import moment_or_none, timestamp

# -- enums --------------------------------------------------------------------------------------------

KIND_TO_PROTO: Mapping[Kind, pb.Kind] = {
    Kind.VERIFICATION_CODE: pb.KIND_VERIFICATION_CODE,
    Kind.WELCOME: pb.KIND_WELCOME,
    Kind.BOOKING_CONFIRMED: pb.KIND_BOOKING_CONFIRMED,
    Kind.BOOKING_AWAITING_APPROVAL: pb.KIND_BOOKING_AWAITING_APPROVAL,
    Kind.BOOKING_WAITLISTED: pb.KIND_BOOKING_WAITLISTED,
    Kind.BOOKING_PROMOTED: pb.KIND_BOOKING_PROMOTED,
    Kind.BOOKING_APPROVED: pb.KIND_BOOKING_APPROVED,
    Kind.BOOKING_REJECTED: pb.KIND_BOOKING_REJECTED,
    Kind.BOOKING_EXPIRED: pb.KIND_BOOKING_EXPIRED,
    Kind.BOOKING_CANCELLED: pb.KIND_BOOKING_CANCELLED,
    Kind.APPROVAL_REQUESTED: pb.KIND_APPROVAL_REQUESTED,
    Kind.GUEST_CANCELLED: pb.KIND_GUEST_CANCELLED,
    Kind.EVENT_UPDATED: pb.KIND_EVENT_UPDATED,
    Kind.EVENT_CANCELLED: pb.KIND_EVENT_CANCELLED,
    Kind.REMINDER_24H: pb.KIND_REMINDER_24H,
    Kind.REMINDER_1H: pb.KIND_REMINDER_1H,
    Kind.RATE_EVENT: pb.KIND_RATE_EVENT,
    Kind.ORGANIZER_MESSAGE: pb.KIND_ORGANIZER_MESSAGE,
    Kind.ANNOUNCEMENT: pb.KIND_ANNOUNCEMENT,
    Kind.PAYMENT_DUE: pb.KIND_PAYMENT_DUE,
    Kind.PAYMENT_REMINDER: pb.KIND_PAYMENT_REMINDER,
    Kind.PAYMENT_RECEIPT: pb.KIND_PAYMENT_RECEIPT,
    Kind.PAYMENT_REFUNDED: pb.KIND_PAYMENT_REFUNDED,
}
KIND_FROM_PROTO: Mapping[int, Kind] = {number: kind for kind, number in KIND_TO_PROTO.items()}

CHANNEL_TO_PROTO: Mapping[Channel, pb.Channel] = {
    Channel.IN_APP: pb.CHANNEL_IN_APP,
    Channel.EMAIL: pb.CHANNEL_EMAIL,
    Channel.SMS: pb.CHANNEL_SMS,
}
CHANNEL_FROM_PROTO: Mapping[int, Channel] = {number: channel for channel, number in CHANNEL_TO_PROTO.items()}

DELIVERY_STATE_TO_PROTO: Mapping[DeliveryState, pb.Delivery.State] = {
    DeliveryState.PENDING: pb.Delivery.PENDING,
    DeliveryState.SENT: pb.Delivery.SENT,
    DeliveryState.FAILED: pb.Delivery.FAILED,
}
DELIVERY_STATE_FROM_PROTO: Mapping[int, DeliveryState] = {
    number: state for state, number in DELIVERY_STATE_TO_PROTO.items()
}

BOOKING_STATE_FROM_PROTO: Mapping[int, BookingState] = {
    bookings_pb2.Booking.PENDING: BookingState.PENDING,
    bookings_pb2.Booking.CONFIRMED: BookingState.CONFIRMED,
    bookings_pb2.Booking.AWAITING_APPROVAL: BookingState.AWAITING_APPROVAL,
    bookings_pb2.Booking.WAITLISTED: BookingState.WAITLISTED,
    bookings_pb2.Booking.REJECTED: BookingState.REJECTED,
    bookings_pb2.Booking.CANCELLED: BookingState.CANCELLED,
    bookings_pb2.Booking.EXPIRED: BookingState.EXPIRED,
    bookings_pb2.Booking.AWAITING_PAYMENT: BookingState.AWAITING_PAYMENT,
}
CANCELLER_FROM_PROTO: Mapping[int, Canceller] = {
    bookings_bus.BookingCancelled.GUEST: Canceller.GUEST,
    bookings_bus.BookingCancelled.HOST: Canceller.HOST,
    bookings_bus.BookingCancelled.ADMIN: Canceller.ADMIN,
    bookings_bus.BookingCancelled.EVENT_CANCELLED: Canceller.EVENT_CANCELLED,
}
REJECTION_CAUSE_FROM_PROTO: Mapping[int, RejectionCause] = {
    bookings_bus.BookingRejected.SOLD_OUT: RejectionCause.SOLD_OUT,
    bookings_bus.BookingRejected.HOST_REJECTED: RejectionCause.HOST_REJECTED,
    bookings_bus.BookingRejected.EVENT_NOT_BOOKABLE: RejectionCause.EVENT_NOT_BOOKABLE,
}
REFUND_INITIATOR_FROM_PROTO: Mapping[int, RefundInitiator] = {
    payments_pb2.Refund.ORGANIZER: RefundInitiator.ORGANIZER,
    payments_pb2.Refund.ADMIN: RefundInitiator.ADMIN,
    payments_pb2.Refund.GUEST_CANCELLATION: RefundInitiator.GUEST_CANCELLATION,
    payments_pb2.Refund.HOST_CANCELLATION: RefundInitiator.HOST_CANCELLATION,
    payments_pb2.Refund.EVENT_CANCELLATION: RefundInitiator.EVENT_CANCELLATION,
    payments_pb2.Refund.PAYMENT_REFUSED: RefundInitiator.PAYMENT_REFUSED,
}
PAYMENT_REFUSAL_FROM_PROTO: Mapping[int, PaymentRefusal] = {
    bookings_bus.BookingPaymentRefused.SOLD_OUT: PaymentRefusal.SOLD_OUT,
    bookings_bus.BookingPaymentRefused.EVENT_NOT_BOOKABLE: PaymentRefusal.EVENT_NOT_BOOKABLE,
    bookings_bus.BookingPaymentRefused.BOOKING_ENDED: PaymentRefusal.BOOKING_ENDED,
    bookings_bus.BookingPaymentRefused.ALREADY_PAID: PaymentRefusal.ALREADY_PAID,
    bookings_bus.BookingPaymentRefused.AMOUNT_MISMATCH: PaymentRefusal.AMOUNT_MISMATCH,
    bookings_bus.BookingPaymentRefused.BOOKED_AGAIN: PaymentRefusal.BOOKED_AGAIN,
}
PROVIDERS: Mapping[str, Provider] = {provider.value: provider for provider in Provider}
EVENT_STATE_FROM_PROTO: Mapping[int, EventState] = {
    events_pb2.Event.SCHEDULED: EventState.SCHEDULED,
    events_pb2.Event.CANCELLED: EventState.CANCELLED,
    events_pb2.Event.COMPLETED: EventState.COMPLETED,
}


def delivery_state_filter(number: int) -> DeliveryState | None:
    """ListDeliveries' state filter: None for every state."""
    return enum_filter(number, DELIVERY_STATE_FROM_PROTO, "must be PENDING, SENT or FAILED")


# -- RPC messages -------------------------------------------------------------------------------------


def notification_to_proto(entry: InboxEntry) -> pb.Notification:
    return pb.Notification(
        id=str(entry.id),
        kind=KIND_TO_PROTO[entry.kind],
        title=entry.title,
        body=entry.body,
        link=entry.link,
        read=entry.read,
        create_time=timestamp(entry.created_at),
    )


def delivery_to_proto(delivery: Delivery) -> pb.Delivery:
    return pb.Delivery(
        id=str(delivery.id),
        kind=KIND_TO_PROTO[delivery.kind],
        channel=CHANNEL_TO_PROTO[delivery.channel],
        recipient_id=str(delivery.recipient_id),
        address=delivery.address or "",
        state=DELIVERY_STATE_TO_PROTO[delivery.state],
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        create_time=timestamp(delivery.created_at),
        update_time=timestamp(delivery.updated_at),
    )


def dead_letter_to_proto(letter: DeadLetter) -> pb.DeadLetter:
    return pb.DeadLetter(
        id=letter.id,
        stream=letter.stream,
        event_id=letter.event_id,
        type=letter.type,
        error=letter.error,
        attempts=letter.attempts,
        dead_time=timestamp(letter.dead_time),
    )


def preferences_to_proto(preferences: Mapping[Kind, ChannelChoice]) -> pb.NotificationPreferences:
    return pb.NotificationPreferences(
        kinds=[
            pb.KindPreference(
                kind=KIND_TO_PROTO[kind], in_app=choice.in_app, email=choice.email, sms=choice.sms
            )
            for kind, choice in preferences.items()
        ]
    )


def preference_choices(preferences: pb.NotificationPreferences) -> list[KindChoice]:
    return [
        KindChoice(
            kind=KIND_FROM_PROTO.get(entry.kind),
            choice=ChannelChoice(in_app=entry.in_app, email=entry.email, sms=entry.sms),
        )
        for entry in preferences.kinds
    ]


def send_draft(request: pb.SendNotificationRequest) -> SendDraft:
    return SendDraft(
        event_id=request.event_id,
        title=request.title,
        body=request.body,
        channels=tuple(CHANNEL_FROM_PROTO.get(channel) for channel in request.channels),
    )


# -- other services -----------------------------------------------------------------------------------


def contact_from_proto(user: users_pb2.User) -> Contact:
    return Contact(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        phone=user.phone,
        phone_verified=user.phone_verified,
    )


# An EventSummary comes from the events service's Event here, from a booking's copy of it
# (BookingDetails, other field names) below, and from the projection's rows in the store.
def known_event(event: events_pb2.Event) -> KnownEvent:
    start = moment_or_none(event.start_time) or datetime.now(UTC)
    return KnownEvent(
        summary=EventSummary(
            event_id=event.id,
            title=event.title,
            start_time=start,
            end_time=moment_or_none(event.end_time) or start,
            time_zone=event.time_zone,
            city=event.city,
            venue=event.venue,
        ),
        organizer_id=event.organizer_id,
        state=EVENT_STATE_FROM_PROTO.get(event.state),
        version=moment_or_none(event.update_time) or moment_or_none(event.create_time),
    )


# -- bus messages -------------------------------------------------------------------------------------


def occurred(envelope: envelope_pb2.Envelope) -> datetime:
    """When what the envelope tells happened (now, if the producer did not say)."""
    return moment_or_none(envelope.occurred_at) or datetime.now(UTC)


def registration(message: users_bus.UserRegistered) -> Registration:
    return Registration(user_id=message.user_id, organizer=message.role == users_pb2.ROLE_ORGANIZER)


def verified_user_id(message: users_bus.EmailVerified) -> str:
    return message.user_id


# What users seals each code for (runtime.sealing.Sealer's purpose), by the channel it is sent on:
# the sealed field's full name, as users/v1/bus.proto says. The context is the user's id.
SEALING_PURPOSES: Mapping[Channel, str] = {
    Channel.EMAIL: users_bus.VerificationCodeIssued.DESCRIPTOR.fields_by_name["sealed_code"].full_name,
    Channel.SMS: users_bus.PhoneCodeIssued.DESCRIPTOR.fields_by_name["sealed_code"].full_name,
}


def code_issued(message: users_bus.VerificationCodeIssued) -> CodeIssued:
    """The code for an email address. The deprecated clear `code` is never read: a code in clear is
    copied nowhere, not even from a producer that still fills it."""
    return _code_issued(message, address=message.email)


def phone_code_issued(message: users_bus.PhoneCodeIssued) -> CodeIssued:
    return _code_issued(message, address=message.phone)


def _code_issued(
    message: users_bus.VerificationCodeIssued | users_bus.PhoneCodeIssued, *, address: str
) -> CodeIssued:
    """The two messages differ only in the field that holds the address being verified."""
    return CodeIssued(
        user_id=message.user_id,
        address=address,
        display_name=message.display_name,
        sealed_code=message.sealed_code,
        expire_time=moment_or_none(message.expire_time),
    )


def booking_news(details: bookings_bus.BookingDetails) -> BookingNews:
    start = moment_or_none(details.event_start_time) or datetime.now(UTC)
    return BookingNews(
        booking_id=details.booking_id,
        guest_id=details.guest_id,
        host_id=details.host_id,
        seats=details.seats,
        event=EventSummary(
            event_id=details.event_id,
            title=details.event_title,
            start_time=start,
            end_time=moment_or_none(details.event_end_time) or start,
            time_zone=details.event_time_zone,
            city=details.event_city,
            venue=details.event_venue,
        ),
        state=BOOKING_STATE_FROM_PROTO.get(details.state),
        waitlist_position=details.waitlist_position,
    )


def approval_deadline(message: bookings_bus.BookingAwaitingApproval) -> datetime | None:
    return moment_or_none(message.expire_time)


def rejection_cause(message: bookings_bus.BookingRejected) -> RejectionCause | None:
    return REJECTION_CAUSE_FROM_PROTO.get(message.cause)


def canceller(message: bookings_bus.BookingCancelled) -> Canceller | None:
    return CANCELLER_FROM_PROTO.get(message.cancelled_by)


def previous_state(message: bookings_bus.BookingCancelled) -> BookingState | None:
    return BOOKING_STATE_FROM_PROTO.get(message.previous_state)


def deleted_event_id(message: events_bus.EventDeleted) -> str:
    return message.event.id


def event_change(message: events_bus.EventUpdated) -> EventChange:
    return EventChange(
        changed_fields=list(message.changed_fields),
        previous_start_time=moment_or_none(message.previous_start_time),
        previous_end_time=moment_or_none(message.previous_end_time),
        previous_venue=message.previous_venue,
        previous_city=message.previous_city,
    )


def hold_deadline(message: bookings_bus.BookingAwaitingPayment) -> datetime | None:
    return moment_or_none(message.expire_time)


def payment_refusal(message: bookings_bus.BookingPaymentRefused) -> PaymentRefusal | None:
    return PAYMENT_REFUSAL_FROM_PROTO.get(message.reason)


def refused_amount(message: bookings_bus.BookingPaymentRefused) -> Amount:
    return to_minor(message.amount, "amount")


def _amount(money: money_pb2.Money, currency: str, field_path: str) -> Amount:
    """An amount of a payment; none given is nothing of the payment's currency."""
    if not money.currency_code and not money.units and not money.nanos:
        return Amount(0, currency)
    return to_minor(money, field_path)


def payment_news(details: payments_bus.PaymentDetails) -> PaymentNews:
    """A payment as payments describes it. Its amounts are checked as a client's would be: a
    malformed one fails the message (and ends in the dead letters) rather than a receipt that
    states a wrong sum."""
    amount = to_minor(details.amount, "payment.amount")
    start = moment_or_none(details.event_start_time) or datetime.now(UTC)
    return PaymentNews(
        payment_id=details.payment_id,
        booking_id=details.booking_id,
        buyer_id=details.buyer_id,
        seats=details.seats,
        amount=amount,
        captured=_amount(details.captured, amount.currency, "payment.captured"),
        refunded=_amount(details.refunded, amount.currency, "payment.refunded"),
        provider=PROVIDERS.get(details.provider),
        checkout_url=details.checkout_url,
        hold_expire_time=moment_or_none(details.hold_expire_time),
        refund_hours_before_start=details.refund_policy.full_refund_until_hours_before_start,
        full_refund_deadline=moment_or_none(details.full_refund_deadline),
        event=EventSummary(
            event_id=details.event_id,
            title=details.event_title,
            start_time=start,
            end_time=start,
            time_zone=details.event_time_zone,
        ),
    )


def capture_time(message: payments_bus.PaymentSucceeded) -> datetime | None:
    return moment_or_none(message.capture_time)


def refund_news(message: payments_bus.PaymentRefunded, currency: str) -> RefundNews:
    refund = message.refund
    return RefundNews(
        refund_id=refund.id,
        amount=_amount(refund.amount, currency, "refund.amount"),
        reason=refund.reason,
        initiated_by=REFUND_INITIATOR_FROM_PROTO.get(refund.initiated_by),
    )
