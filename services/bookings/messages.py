"""Bookings as protobuf: the API's Booking, and the bus events that announce each change.

Every bus event carries BookingDetails (guest, host, seats, the event's title, times, zone, city and
venue), so notifications can write to the guest and the host without calling anyone back.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from sqlalchemy import Row

from seatmesh.bookings.v1 import bookings_pb2, bus_pb2
from services.bookings.rules import Actor, Announce, Booking, Cause, State, approval_expire_time
from services.runtime.timestamps import timestamp

_STATE = {state: bookings_pb2.Booking.State.Value(state.value) for state in State}
STATE_BY_NUMBER = {number: state for state, number in _STATE.items()}

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


def state_number(state: State) -> int:
    return _STATE[state]


def booking_proto(booking: Booking) -> bookings_pb2.Booking:
    return bookings_pb2.Booking(
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
    )


def details(booking: Booking) -> bus_pb2.BookingDetails:
    return bus_pb2.BookingDetails(
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
    )


def announcement(booking: Booking, announce: Announce) -> Message | None:
    """The bus event of a settlement, a promotion or an expiry; None when there is no news."""
    if announce is Announce.NONE:
        return None
    body = details(booking)
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
        return bus_pb2.BookingExpired(booking=body)
    return rejected(booking)


def rejected(booking: Booking) -> bus_pb2.BookingRejected:
    cause = Cause(booking.reject_cause) if booking.reject_cause else None
    return bus_pb2.BookingRejected(
        booking=details(booking),
        cause=_REJECT_CAUSE.get(cause, bus_pb2.BookingRejected.CAUSE_UNSPECIFIED),  # type: ignore[arg-type]
        reason=booking.end_reason,
    )


def approved(booking: Booking) -> bus_pb2.BookingApproved:
    return bus_pb2.BookingApproved(booking=details(booking))


def cancelled(booking: Booking, previous_state: State) -> bus_pb2.BookingCancelled:
    actor = Actor(booking.cancelled_by) if booking.cancelled_by else None
    return bus_pb2.BookingCancelled(
        booking=details(booking),
        cancelled_by=_ACTOR.get(actor, bus_pb2.BookingCancelled.ACTOR_UNSPECIFIED),  # type: ignore[arg-type]
        reason=booking.end_reason,
        previous_state=_STATE[previous_state],  # type: ignore[arg-type]
    )


def review_proto(row: Row[Any]) -> bookings_pb2.BookingReview:
    return bookings_pb2.BookingReview(
        booking_id=str(row.booking_id),
        event_id=row.event_id,
        guest_id=row.guest_id,
        host_id=row.host_id,
        event_rating=row.event_rating,
        host_rating=row.host_rating,
        comment=row.comment,
        create_time=timestamp(row.create_time),
    )


def guest_rating_proto(row: Row[Any]) -> bookings_pb2.GuestRating:
    return bookings_pb2.GuestRating(
        booking_id=str(row.booking_id),
        event_id=row.event_id,
        guest_id=row.guest_id,
        host_id=row.host_id,
        rating=row.rating,
        create_time=timestamp(row.create_time),
    )
