"""Proto <-> domain for payments: the API's Payment and SalesReport, the checkout bookings asks
for, the bus events payments publishes and the other services' bus events it reads. Pure
functions; nothing else in the service builds or reads a message field by field.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import bus_pb2, payments_pb2
from services.payments.domain import (
    CancelledBy,
    CheckoutFields,
    CurrencyTotals,
    EventSales,
    EventState,
    Initiator,
    MoneyByCurrency,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    ReportEvent,
)
from services.runtime.errors import bad_field
from services.runtime.money import Amount, from_minor, to_minor
from services.runtime.pagination import enum_filter
from services.runtime.timestamps import moment, moment_or_none, timestamp

_PAYMENT_STATE = {
    PaymentState.PENDING: payments_pb2.Payment.PENDING,
    PaymentState.SUCCEEDED: payments_pb2.Payment.SUCCEEDED,
    PaymentState.FAILED: payments_pb2.Payment.FAILED,
    PaymentState.EXPIRED: payments_pb2.Payment.EXPIRED,
}
_PAYMENT_STATE_BY_NUMBER: dict[int, PaymentState] = {
    number: state for state, number in _PAYMENT_STATE.items()
}
_REFUND_STATE = {
    RefundState.PENDING: payments_pb2.Refund.PENDING,
    RefundState.SUCCEEDED: payments_pb2.Refund.SUCCEEDED,
    RefundState.FAILED: payments_pb2.Refund.FAILED,
}
_INITIATOR = {
    Initiator.ORGANIZER: payments_pb2.Refund.ORGANIZER,
    Initiator.ADMIN: payments_pb2.Refund.ADMIN,
    Initiator.GUEST_CANCELLATION: payments_pb2.Refund.GUEST_CANCELLATION,
    Initiator.HOST_CANCELLATION: payments_pb2.Refund.HOST_CANCELLATION,
    Initiator.EVENT_CANCELLATION: payments_pb2.Refund.EVENT_CANCELLATION,
    Initiator.PAYMENT_REFUSED: payments_pb2.Refund.PAYMENT_REFUSED,
}
_EVENT_STATE: dict[int, EventState] = {
    events_pb2.Event.SCHEDULED: EventState.SCHEDULED,
    events_pb2.Event.CANCELLED: EventState.CANCELLED,
    events_pb2.Event.COMPLETED: EventState.COMPLETED,
}
_REPORT_EVENT_STATE = {
    EventState.SCHEDULED: payments_pb2.EventSales.SCHEDULED,
    EventState.CANCELLED: payments_pb2.EventSales.CANCELLED,
    EventState.COMPLETED: payments_pb2.EventSales.COMPLETED,
}
_CANCELLED_BY: dict[int, CancelledBy] = {
    bookings_bus_pb2.BookingCancelled.GUEST: CancelledBy.GUEST,
    bookings_bus_pb2.BookingCancelled.HOST: CancelledBy.HOST,
    bookings_bus_pb2.BookingCancelled.ADMIN: CancelledBy.ADMIN,
    bookings_bus_pb2.BookingCancelled.EVENT_CANCELLED: CancelledBy.EVENT_CANCELLED,
}


# -- requests -----------------------------------------------------------------------------------


def checkout_fields_from_proto(booking: payments_pb2.CheckoutBooking) -> CheckoutFields:
    if not booking.HasField("amount"):
        raise bad_field("booking.amount", "is required")
    return CheckoutFields(
        booking_id=booking.booking_id,
        event_id=booking.event_id,
        event_title=booking.event_title,
        buyer_id=booking.buyer_id,
        organizer_id=booking.organizer_id,
        seats=booking.seats,
        amount=to_minor(booking.amount, "booking.amount", allow_zero=False),
        hold_expire_time=moment(booking.hold_expire_time, "booking.hold_expire_time")
        if booking.HasField("hold_expire_time")
        else None,
        event_start_time=moment(booking.event_start_time, "booking.event_start_time")
        if booking.HasField("event_start_time")
        else None,
        refund_hours_before_start=booking.refund_policy.full_refund_until_hours_before_start,
        event_time_zone=booking.event_time_zone,
    )


def refund_request_amount(request: payments_pb2.RefundPaymentRequest) -> Amount | None:
    """RefundPayment's amount; None for "everything left"."""
    if not request.HasField("amount"):
        return None
    return to_minor(request.amount, "amount", allow_zero=False)


def lists_as_organizer(perspective: int) -> bool:
    if perspective not in payments_pb2.ListPaymentsRequest.Perspective.values():
        raise bad_field("as", "must be BUYER or ORGANIZER")
    return perspective == payments_pb2.ListPaymentsRequest.ORGANIZER


def state_filter_from_proto(number: int) -> PaymentState | None:
    """ListPayments' state filter: None when unset."""
    return enum_filter(number, _PAYMENT_STATE_BY_NUMBER, "is not a payment state")


def optional_moment(stamp: timestamp_pb2.Timestamp, present: bool, field_path: str) -> datetime | None:
    return moment(stamp, field_path) if present else None


# -- replies ------------------------------------------------------------------------------------


def refund_to_proto(refund: Refund, currency: str) -> payments_pb2.Refund:
    return payments_pb2.Refund(
        id=str(refund.id),
        amount=from_minor(refund.amount_minor, currency),
        reason=refund.reason,
        state=_REFUND_STATE[refund.state],
        initiated_by=_INITIATOR[refund.initiated_by],
        initiated_by_user_id=refund.initiated_by_user_id,
        create_time=timestamp(refund.create_time),
        update_time=timestamp(refund.update_time),
    )


def _refund_policy(payment: Payment) -> events_pb2.RefundPolicy:
    return events_pb2.RefundPolicy(full_refund_until_hours_before_start=payment.refund_hours_before_start)


def payment_to_proto(payment: Payment) -> payments_pb2.Payment:
    return payments_pb2.Payment(
        id=str(payment.id),
        booking_id=str(payment.booking_id),
        event_id=str(payment.event_id),
        buyer_id=payment.buyer_id,
        organizer_id=payment.organizer_id,
        event_title=payment.event_title,
        seats=payment.seats,
        amount=from_minor(payment.amount_minor, payment.currency),
        state=_PAYMENT_STATE[payment.state],
        provider=payment.provider.value,
        checkout_url=payment.checkout_url,
        hold_expire_time=timestamp(payment.hold_expire_time),
        captured=from_minor(payment.captured_minor, payment.currency),
        refunded=from_minor(payment.refunded_minor, payment.currency),
        refunds=[refund_to_proto(refund, payment.currency) for refund in payment.refunds],
        refund_policy=_refund_policy(payment),
        full_refund_deadline=timestamp(payment.full_refund_deadline),
        event_start_time=timestamp(payment.event_start_time),
        failure_reason=payment.failure_reason,
        create_time=timestamp(payment.create_time),
        update_time=timestamp(payment.update_time),
        etag=payment.etag,
    )


# -- the bus events payments publishes ----------------------------------------------------------


# Much like payment_to_proto, but another message (the bus's, with its own fields): each maps its own.
def payment_details(payment: Payment) -> bus_pb2.PaymentDetails:
    return bus_pb2.PaymentDetails(
        payment_id=str(payment.id),
        booking_id=str(payment.booking_id),
        event_id=str(payment.event_id),
        buyer_id=payment.buyer_id,
        organizer_id=payment.organizer_id,
        event_title=payment.event_title,
        seats=payment.seats,
        amount=from_minor(payment.amount_minor, payment.currency),
        captured=from_minor(payment.captured_minor, payment.currency),
        refunded=from_minor(payment.refunded_minor, payment.currency),
        state=_PAYMENT_STATE[payment.state],
        provider=payment.provider.value,
        refund_policy=_refund_policy(payment),
        full_refund_deadline=timestamp(payment.full_refund_deadline),
        event_start_time=timestamp(payment.event_start_time),
        event_time_zone=payment.event_time_zone,
        checkout_url=payment.checkout_url,
        hold_expire_time=timestamp(payment.hold_expire_time),
    )


def payment_opened(payment: Payment) -> bus_pb2.PaymentOpened:
    return bus_pb2.PaymentOpened(payment=payment_details(payment))


def payment_succeeded(payment: Payment) -> bus_pb2.PaymentSucceeded:
    assert payment.capture_time is not None
    return bus_pb2.PaymentSucceeded(
        payment=payment_details(payment), capture_time=timestamp(payment.capture_time)
    )


def payment_failed(payment: Payment) -> bus_pb2.PaymentFailed:
    return bus_pb2.PaymentFailed(payment=payment_details(payment), reason=payment.failure_reason)


def payment_expired(payment: Payment) -> bus_pb2.PaymentExpired:
    return bus_pb2.PaymentExpired(payment=payment_details(payment))


def payment_refunded(payment: Payment, refund: Refund) -> bus_pb2.PaymentRefunded:
    return bus_pb2.PaymentRefunded(
        payment=payment_details(payment), refund=refund_to_proto(refund, payment.currency)
    )


# -- other services' bus events -----------------------------------------------------------------


def report_event_from_proto(event: events_pb2.Event) -> ReportEvent:
    return ReportEvent(
        event_id=uuid.UUID(event.id),
        organizer_id=event.organizer_id,
        title=event.title,
        start_time=moment(event.start_time),
        capacity=event.capacity,
        state=_EVENT_STATE.get(event.state, EventState.SCHEDULED),
    )


def booking_state_name(number: int) -> str:
    """A booking state as bookings names it ("CONFIRMED", "AWAITING_PAYMENT"...), whatever states
    bookings has: the report only compares names."""
    return (
        str(bookings_pb2.Booking.State.Name(number)) if number in bookings_pb2.Booking.State.values() else ""
    )


def cancelled_by_from_proto(actor: int) -> CancelledBy:
    return _CANCELLED_BY.get(actor, CancelledBy.UNKNOWN)


def occurred_at(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    return moment_or_none(stamp)


# -- the sales report ---------------------------------------------------------------------------


def _money_fields(money: MoneyByCurrency | None) -> dict[str, object]:
    if money is None:
        return {}
    return {
        "captured": from_minor(money.captured_minor, money.currency),
        "refunded": from_minor(money.refunded_minor, money.currency),
    }


def event_sales_to_proto(sales: EventSales) -> payments_pb2.EventSales:
    money = sales.money
    message = payments_pb2.EventSales(
        event_id=str(sales.event.event_id),
        organizer_id=sales.event.organizer_id,
        event_title=sales.event.title,
        event_start_time=timestamp(sales.event.start_time),
        event_state=_REPORT_EVENT_STATE[sales.event.state],
        capacity=sales.event.capacity,
        seats_sold=sales.seats_sold,
        fill_rate=sales.fill_rate,
        waitlist_length=sales.waitlist_length,
        days=[
            payments_pb2.DaySales(
                day=day.day.isoformat(), bookings=day.bookings, seats=day.seats, **_money_fields(day.money)
            )
            for day in sales.days
        ],
    )
    if money is not None:
        message.captured.CopyFrom(from_minor(money.captured_minor, money.currency))
        message.refunded.CopyFrom(from_minor(money.refunded_minor, money.currency))
        message.revenue.CopyFrom(from_minor(money.revenue_minor, money.currency))
        message.refund_count = money.refund_count
    return message


def totals_to_proto(totals: CurrencyTotals) -> payments_pb2.CurrencyTotals:
    money = totals.money
    return payments_pb2.CurrencyTotals(
        captured=from_minor(money.captured_minor, money.currency),
        refunded=from_minor(money.refunded_minor, money.currency),
        revenue=from_minor(money.revenue_minor, money.currency),
        seats_sold=totals.seats_sold,
    )
