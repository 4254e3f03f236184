"""What notifications says about bookings: confirmations, requests and answers, the waitlist,
expiries and cancellations."""

from __future__ import annotations

from datetime import datetime

from services.notifications.content.links import Links
from services.notifications.domain.kinds import (
    BookingState,
    Canceller,
    Kind,
    RejectionCause,
)
from services.notifications.domain.messages import (
    BookingSummary,
    Content,
    format_time,
    reason_given,
    seats_text,
)


def booking_confirmed(booking: BookingSummary, links: Links) -> Content:
    return Content(
        kind=Kind.BOOKING_CONFIRMED,
        title=f"Booking confirmed: {booking.event.title}",
        paragraphs=(f"You're in: {seats_text(booking.seats)} for {booking.event.title}.",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def request_sent(booking: BookingSummary, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" The host has until {format_time(expire_time, booking.event.time_zone)} to answer."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.BOOKING_AWAITING_APPROVAL,
        title=f"Request sent: {booking.event.title}",
        paragraphs=(
            f"Your request for {seats_text(booking.seats)} is waiting for the host's approval; "
            f"the seats are held for you meanwhile.{until}",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your request",
    )


def approval_requested(booking: BookingSummary, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" Answer before {format_time(expire_time, booking.event.time_zone)}, or the request expires "
        "and the seats are released."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.APPROVAL_REQUESTED,
        title=f"New booking request: {booking.event.title}",
        paragraphs=(f"A guest asks for {seats_text(booking.seats)} at {booking.event.title}.{until}",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="Approve or reject",
    )


def booking_approved(booking: BookingSummary, links: Links) -> Content:
    return Content(
        kind=Kind.BOOKING_APPROVED,
        title=f"Request approved: {booking.event.title}",
        paragraphs=(
            f"The host approved your request: {seats_text(booking.seats)} for {booking.event.title}.",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


REJECTION_CAUSES = {
    RejectionCause.SOLD_OUT: "The event is sold out.",
    RejectionCause.HOST_REJECTED: "The host declined your request.",
    RejectionCause.EVENT_NOT_BOOKABLE: "The event is no longer open for booking.",
}


def booking_rejected(
    booking: BookingSummary, cause: RejectionCause | None, reason: str, links: Links
) -> Content:
    known = REJECTION_CAUSES.get(cause) if cause is not None else None
    return Content(
        kind=Kind.BOOKING_REJECTED,
        title=f"Booking not accepted: {booking.event.title}",
        paragraphs=(known or "Your booking could not be accepted.", *reason_given(reason)),
        facts=booking.facts(),
        link=links.event(booking.event.event_id),
        action="See the event",
    )


def booking_expired(booking: BookingSummary, previous_state: BookingState | None, links: Links) -> Content:
    if previous_state is BookingState.AWAITING_PAYMENT:
        return Content(
            kind=Kind.BOOKING_EXPIRED,
            title=f"Time to pay ran out: {booking.event.title}",
            paragraphs=(
                "Your hold on the seats ended before your payment arrived, so the seats were released. "
                "Nothing was charged.",
                "A payment already on its way still counts if seats are free when it arrives; "
                "otherwise all of it is refunded.",
            ),
            facts=booking.facts(),
            link=links.event(booking.event.event_id),
            action="See the event",
        )
    what = (
        "Your place on the waitlist expired: no seats became free before the event."
        if previous_state is BookingState.WAITLISTED
        else "The host did not answer your request in time, so it expired and the seats were released."
    )
    return Content(
        kind=Kind.BOOKING_EXPIRED,
        title=f"Request expired: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_waitlisted(booking: BookingSummary, links: Links) -> Content:
    position = f" You are number {booking.waitlist_position} in line." if booking.waitlist_position else ""
    return Content(
        kind=Kind.BOOKING_WAITLISTED,
        title=f"On the waitlist: {booking.event.title}",
        paragraphs=(
            f"{booking.event.title} is sold out, so you are on the waitlist for "
            f"{seats_text(booking.seats)}.{position} If seats free up, they go to you automatically "
            "and we'll tell you.",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_promoted(booking: BookingSummary, awaiting_approval: bool, links: Links) -> Content:
    what = (
        "Seats freed up and are held for you; the host still has to approve your request."
        if awaiting_approval
        else f"Seats freed up: you're in with {seats_text(booking.seats)}."
    )
    return Content(
        kind=Kind.BOOKING_PROMOTED,
        title=f"Off the waitlist: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


CANCELLERS = {
    Canceller.GUEST: "You cancelled this booking.",
    Canceller.HOST: "The host cancelled your booking.",
    Canceller.ADMIN: "An administrator cancelled your booking.",
    Canceller.EVENT_CANCELLED: "The event was cancelled.",
}


def booking_cancelled(
    booking: BookingSummary, cancelled_by: Canceller | None, reason: str, links: Links
) -> Content:
    known = CANCELLERS.get(cancelled_by) if cancelled_by is not None else None
    return Content(
        kind=Kind.BOOKING_CANCELLED,
        title=f"Booking cancelled: {booking.event.title}",
        paragraphs=(known or "Your booking was cancelled.", *reason_given(reason)),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def guest_cancelled(booking: BookingSummary, reason: str, links: Links) -> Content:
    return Content(
        kind=Kind.GUEST_CANCELLED,
        title=f"A guest cancelled: {booking.event.title}",
        paragraphs=(
            f"A guest cancelled their booking of {seats_text(booking.seats)}; the seats are free again.",
            *reason_given(reason),
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View the booking",
    )
