"""Bookings as protobuf, and protobuf as bookings: the API's Booking, reviews and ratings, the events
service's Event as the facts bookings keeps, and the bus events that announce each change.

Every bus event carries BookingDetails (guest, host, seats, the event's title, times, zone, city and
venue; a paid booking's amount and payment), so notifications can write to the guest and the host
without calling anyone back. The payments service's checkout request and bus events are read and
written here too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from google.protobuf.message import Message
from google.type.money_pb2 import Money

from seatmesh.bookings.v1 import bookings_pb2, bus_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.payments.v1 import bus_pb2 as payments_bus_pb2
from seatmesh.payments.v1 import payments_pb2
from services.bookings.domain import (
    DEFAULT_PAYMENT_HOLD,
    Actor,
    Announce,
    Booking,
    Cause,
    EventFacts,
    GuestRating,
    RefusalReason,
    Review,
    State,
    SucceededPayment,
    approval_expire_time,
    hold_end,
    refusal_reason,
)
from services.runtime.money import Amount, money_of, to_minor
from services.runtime.pagination import enum_filter
from services.runtime.timestamps import timestamp

_STATE = {state: bookings_pb2.Booking.State.Value(state.value) for state in State}
_STATE_BY_NUMBER = {number: state for state, number in _STATE.items()}

_REJECT_CAUSE = {
    Cause.SOLD_OUT: bus_pb2.BookingRejected.SOLD_OUT,
    Cause.HOST_REJECTED: bus_pb2.BookingRejected.HOST_REJECTED,
    Cause.EVENT_NOT_BOOKABLE: bus_pb2.BookingRejected.EVENT_NOT_BOOKABLE,
    Cause.EVENT_STARTED: bus_pb2.BookingRejected.EVENT_NOT_BOOKABLE,
}

_ACTOR = {
    Actor.GUEST: bus_pb2.BookingCancelled.GUEST,
    Actor.HOST: bus_pb2.BookingCancelled.HOST,
    Actor.ADMIN: bus_pb2.BookingCancelled.ADMIN,
    Actor.EVENT_CANCELLED: bus_pb2.BookingCancelled.EVENT_CANCELLED,
}

_REFUSAL_REASON = {
    reason: bus_pb2.BookingPaymentRefused.Reason.Value(reason.value) for reason in RefusalReason
}

_EVENT_STATE = {
    events_pb2.Event.SCHEDULED: "SCHEDULED",
    events_pb2.Event.CANCELLED: "CANCELLED",
    events_pb2.Event.COMPLETED: "COMPLETED",
}


# -- requests -----------------------------------------------------------------------------------


def state_filter_from_proto(number: int) -> State | None:
    """ListBookings' state filter: None when unset."""
    return enum_filter(number, _STATE_BY_NUMBER, "is not a booking state")


def lists_as_host(perspective: int) -> bool:
    """Whether ListBookings lists the bookings of the caller's events (else the caller's own)."""
    return perspective == bookings_pb2.ListBookingsRequest.HOST


# -- replies ------------------------------------------------------------------------------------
# The builders here and below name every field one by one, so they look alike (the duplicates tool
# pairs them); a shared helper would hide which proto field comes from which domain field.


def booking_to_proto(booking: Booking) -> bookings_pb2.Booking:
    message = bookings_pb2.Booking(
        id=str(booking.id),
        event_id=booking.event_id,
        user_id=booking.user_id,
        seats=booking.seats,
        state=_STATE[booking.state],  # type: ignore[arg-type]
        waitlist_position=booking.waitlist_position,
        event_title=booking.event_title,
        event_start_time=timestamp(booking.event_start_time),
        event_time_zone=booking.event_time_zone,
        create_time=timestamp(booking.create_time),
        update_time=timestamp(booking.update_time),
        payment_id=booking.payment_id or "",
        checkout_url=(booking.checkout_url or "") if booking.state == State.AWAITING_PAYMENT else "",
    )
    if booking.terms is not None:
        message.amount.CopyFrom(money_of(booking.terms.amount))
    holding = hold_end(booking)
    if holding is not None and booking.state in (State.AWAITING_APPROVAL, State.AWAITING_PAYMENT):
        message.hold_expire_time.CopyFrom(timestamp(holding))
    return message


def review_to_proto(review: Review) -> bookings_pb2.BookingReview:
    return bookings_pb2.BookingReview(
        booking_id=str(review.booking_id),
        event_id=review.event_id,
        guest_id=review.guest_id,
        host_id=review.host_id,
        event_rating=review.event_rating,
        host_rating=review.host_rating,
        comment=review.comment,
        create_time=timestamp(review.create_time),
    )


def guest_rating_to_proto(rating: GuestRating) -> bookings_pb2.GuestRating:
    return bookings_pb2.GuestRating(
        booking_id=str(rating.booking_id),
        event_id=rating.event_id,
        guest_id=rating.guest_id,
        host_id=rating.host_id,
        rating=rating.rating,
        create_time=timestamp(rating.create_time),
    )


# -- the events service -------------------------------------------------------------------------


def event_facts_from_proto(event: events_pb2.Event) -> EventFacts:
    return EventFacts(
        id=event.id,
        organizer_id=event.organizer_id,
        title=event.title,
        start_time=event.start_time.ToDatetime(tzinfo=UTC),
        end_time=event.end_time.ToDatetime(tzinfo=UTC),
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
        capacity=event.capacity,
        max_seats_per_booking=event.max_seats_per_booking,
        requires_approval=event.requires_approval,
        state=_EVENT_STATE.get(event.state, "UNKNOWN"),
        update_time=event.update_time.ToDatetime(tzinfo=UTC) if event.HasField("update_time") else None,
        price=_price(event.price) if event.HasField("price") else None,
        refund_policy=event.refund_policy.full_refund_until_hours_before_start,
        payment_hold=timedelta(seconds=event.payment_hold.seconds)
        if event.HasField("payment_hold")
        else DEFAULT_PAYMENT_HOLD,
    )


def _price(price: Money) -> Amount:
    # Events validated it when the organizer set it.
    return to_minor(price, "event.price")


# -- bus events ---------------------------------------------------------------------------------


def booking_details_to_proto(booking: Booking) -> bus_pb2.BookingDetails:
    details = bus_pb2.BookingDetails(
        booking_id=str(booking.id),
        event_id=booking.event_id,
        guest_id=booking.user_id,
        host_id=booking.host_id,
        seats=booking.seats,
        state=_STATE[booking.state],  # type: ignore[arg-type]
        event_title=booking.event_title,
        event_start_time=timestamp(booking.event_start_time),
        event_end_time=timestamp(booking.event_end_time),
        event_time_zone=booking.event_time_zone,
        event_city=booking.event_city,
        event_venue=booking.event_venue,
        waitlist_position=booking.waitlist_position,
        payment_id=booking.payment_id or "",
    )
    if booking.terms is not None:
        details.amount.CopyFrom(money_of(booking.terms.amount))
    return details


def announcement(booking: Booking, announce: Announce) -> Message | None:
    """The bus event of a settlement, a promotion or an expiry; None when there is no news."""
    if announce is Announce.NONE:
        return None
    body = booking_details_to_proto(booking)
    if announce is Announce.CONFIRMED:
        return bus_pb2.BookingConfirmed(booking=body)
    if announce is Announce.AWAITING_APPROVAL:
        message = bus_pb2.BookingAwaitingApproval(booking=body)
        expire = approval_expire_time(booking)
        if expire is not None:
            message.expire_time.CopyFrom(timestamp(expire))
        return message
    if announce is Announce.PROMOTED:
        return bus_pb2.BookingPromoted(booking=body)
    if announce is Announce.WAITLISTED:
        return bus_pb2.BookingWaitlisted(booking=body)
    if announce is Announce.EXPIRED:
        return booking_expired(booking)
    if announce is Announce.AWAITING_PAYMENT:
        origin = (
            bus_pb2.BookingAwaitingPayment.PROMOTED
            if booking.was_waitlisted
            else bus_pb2.BookingAwaitingPayment.BOOKED
        )
        return booking_awaiting_payment(booking, origin)
    if announce is Announce.PAYMENT_REFUSED:
        # A late payment whose seats are gone.
        cause = Cause(booking.reject_cause) if booking.reject_cause else None
        return accepted_payment_refused(booking, refusal_reason(cause))
    return booking_rejected(booking)


def booking_awaiting_payment(
    booking: Booking, origin: bus_pb2.BookingAwaitingPayment.Origin
) -> bus_pb2.BookingAwaitingPayment:
    message = bus_pb2.BookingAwaitingPayment(booking=booking_details_to_proto(booking), origin=origin)
    expire = hold_end(booking)
    if expire is not None:
        message.expire_time.CopyFrom(timestamp(expire))
    return message


def payment_refused(
    booking: Booking, payment_id: str, reason: RefusalReason, amount: Amount
) -> bus_pb2.BookingPaymentRefused:
    return bus_pb2.BookingPaymentRefused(
        booking=booking_details_to_proto(booking),
        payment_id=payment_id,
        reason=_REFUSAL_REASON[reason],  # type: ignore[arg-type]
        amount=money_of(amount),
    )


def accepted_payment_refused(booking: Booking, reason: RefusalReason) -> bus_pb2.BookingPaymentRefused:
    """The refusal of the late payment `booking` accepted (of its amount: judge_payment checked)
    and then could not keep."""
    assert booking.payment_id is not None
    assert booking.terms is not None
    return payment_refused(booking, booking.payment_id, reason, booking.terms.amount)


def unknown_booking_payment_refused(
    message: payments_bus_pb2.PaymentSucceeded,
) -> bus_pb2.BookingPaymentRefused:
    """The refusal of a payment for a booking this service does not know, from what payments said."""
    payment = message.payment
    return bus_pb2.BookingPaymentRefused(
        booking=bus_pb2.BookingDetails(
            booking_id=payment.booking_id,
            event_id=payment.event_id,
            guest_id=payment.buyer_id,
            host_id=payment.organizer_id,
            seats=payment.seats,
            event_title=payment.event_title,
        ),
        payment_id=payment.payment_id,
        reason=bus_pb2.BookingPaymentRefused.BOOKING_ENDED,
        amount=payment.captured if payment.HasField("captured") else payment.amount,
    )


def approval_announcement(booking: Booking) -> Message:
    """What an approval announces: BookingApproved, or for a paid event the hold for its payment."""
    if booking.state == State.AWAITING_PAYMENT:
        return booking_awaiting_payment(booking, bus_pb2.BookingAwaitingPayment.APPROVED)
    return booking_approved(booking)


def booking_expired(booking: Booking) -> bus_pb2.BookingExpired:
    return bus_pb2.BookingExpired(booking=booking_details_to_proto(booking))


def booking_rejected(booking: Booking) -> bus_pb2.BookingRejected:
    cause = Cause(booking.reject_cause) if booking.reject_cause else None
    return bus_pb2.BookingRejected(
        booking=booking_details_to_proto(booking),
        cause=_REJECT_CAUSE.get(cause, bus_pb2.BookingRejected.CAUSE_UNSPECIFIED),  # type: ignore[arg-type]
        reason=booking.end_reason,
    )


def booking_approved(booking: Booking) -> bus_pb2.BookingApproved:
    return bus_pb2.BookingApproved(booking=booking_details_to_proto(booking))


def booking_cancelled(booking: Booking, previous_state: State) -> bus_pb2.BookingCancelled:
    actor = Actor(booking.cancelled_by) if booking.cancelled_by else None
    return bus_pb2.BookingCancelled(
        booking=booking_details_to_proto(booking),
        cancelled_by=_ACTOR.get(actor, bus_pb2.BookingCancelled.ACTOR_UNSPECIFIED),  # type: ignore[arg-type]
        reason=booking.end_reason,
        previous_state=_STATE[previous_state],  # type: ignore[arg-type]
    )


# -- the payments service ------------------------------------------------------------------------


def checkout_request(booking: Booking) -> payments_pb2.OpenCheckoutRequest:
    """OpenCheckout for a booking awaiting payment, from what it agreed to (its terms)."""
    assert booking.terms is not None
    hold = hold_end(booking)
    assert hold is not None
    return payments_pb2.OpenCheckoutRequest(
        booking=payments_pb2.CheckoutBooking(
            booking_id=str(booking.id),
            event_id=booking.event_id,
            event_title=booking.event_title,
            buyer_id=booking.user_id,
            organizer_id=booking.host_id,
            seats=booking.seats,
            amount=money_of(booking.terms.amount),
            hold_expire_time=timestamp(hold),
            event_start_time=timestamp(booking.event_start_time),
            refund_policy=events_pb2.RefundPolicy(
                full_refund_until_hours_before_start=booking.terms.refund_policy
            ),
            event_time_zone=booking.event_time_zone,
        ),
        # One payment per booking: a repeat (the reconciler's) gets the payment the first opened.
        request_id=str(booking.id),
    )


def succeeded_payment(message: payments_bus_pb2.PaymentSucceeded) -> SucceededPayment:
    """What PaymentSucceeded says was paid: what was captured (the amount due, if it does not say)."""
    payment = message.payment
    paid = payment.captured if payment.HasField("captured") else payment.amount
    return SucceededPayment(
        payment_id=payment.payment_id,
        booking_id=uuid.UUID(payment.booking_id),
        amount=to_minor(paid, "payment.captured"),
    )


def review_submitted(review: Review) -> bus_pb2.ReviewSubmitted:
    return bus_pb2.ReviewSubmitted(review=review_to_proto(review))


def guest_rated(rating: GuestRating) -> bus_pb2.GuestRated:
    return bus_pb2.GuestRated(rating=guest_rating_to_proto(rating))
