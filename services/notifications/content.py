"""What each kind of notification says: a `Content` composed from what happened (no I/O).

Composed once, when the trigger is handled, and stored with the message (see domain/messages.py).
Times are shown in the event's own time zone, links start at SEATMESH_PUBLIC_URL.

Each composer spells its message out in full: they are alike in shape and differ in words, and a
message is read and changed as a whole, so they deliberately share no template of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.domain.kinds import BookingState, Canceller, Kind, RejectionCause
from services.notifications.domain.messages import (
    BookingSummary,
    Content,
    EventChange,
    EventSummary,
    describe_offset,
    format_span,
    format_time,
    seats_text,
)


@dataclass(frozen=True)
class Links:
    """Where things are on the public edge, for the links in messages."""

    public_url: str

    def _url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    def events(self) -> str:
        return self._url("/v1/events")

    def event(self, event_id: str) -> str:
        return self._url(f"/v1/events/{event_id}")

    def booking(self, booking_id: str) -> str:
        return self._url(f"/v1/bookings/{booking_id}")

    def my_bookings_of(self, event_id: str) -> str:
        return self._url(f"/v1/bookings?eventId={event_id}")

    def notifications(self) -> str:
        return self._url("/v1/notifications")

    def preferences(self) -> str:
        return self._url("/v1/notifications/preferences")


# -- users ------------------------------------------------------------------------------------------


def _expires_in(expire_time: datetime | None, now: datetime) -> str:
    if expire_time is None:
        return ""
    left = max(1, round((expire_time - now).total_seconds() / 60))
    return f" It expires in {left} minutes."


def verification_code(
    *, sealed_code: bytes, display_name: str, expire_time: datetime | None, now: datetime
) -> Content:
    return Content(
        kind=Kind.VERIFICATION_CODE,
        title="Verify your email address",
        # The code itself is only in `sealed_code` (the templates show it opened), so no text of
        # the message ever holds it.
        paragraphs=(
            f"Enter this code to confirm your email address.{_expires_in(expire_time, now)} "
            "If you did not sign up for seatmesh, ignore this email.",
        ),
        sealed_code=sealed_code,
        expires_at=expire_time,
        recipient_name=display_name,
        transactional=True,
    )


def phone_verification_code(
    *, sealed_code: bytes, display_name: str, expire_time: datetime | None, now: datetime
) -> Content:
    """Sent by SMS, which shows only the code; the title and paragraphs say what the stored message
    was."""
    return Content(
        kind=Kind.VERIFICATION_CODE,
        title="Verify your phone number",
        paragraphs=(f"Enter this code to confirm your phone number.{_expires_in(expire_time, now)}",),
        sealed_code=sealed_code,
        expires_at=expire_time,
        recipient_name=display_name,
        transactional=True,
    )


def welcome(*, organizer: bool, links: Links) -> Content:
    what = (
        "Publish your first event and share it: guests book seats, and you can approve each one if you like."
        if organizer
        else "Find an event you like and book your seats; we'll remind you before it starts."
    )
    return Content(
        kind=Kind.WELCOME,
        title="Welcome to seatmesh",
        paragraphs=("Thanks for joining seatmesh.", what),
        link=links.events(),
        action="Browse events",
    )


# -- bookings ---------------------------------------------------------------------------------------


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
    paragraphs = [known or "Your booking could not be accepted."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.BOOKING_REJECTED,
        title=f"Booking not accepted: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.event(booking.event.event_id),
        action="See the event",
    )


def booking_expired(booking: BookingSummary, previous_state: BookingState | None, links: Links) -> Content:
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
    paragraphs = [known or "Your booking was cancelled."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.BOOKING_CANCELLED,
        title=f"Booking cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def guest_cancelled(booking: BookingSummary, reason: str, links: Links) -> Content:
    paragraphs = [
        f"A guest cancelled their booking of {seats_text(booking.seats)}; the seats are free again."
    ]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.GUEST_CANCELLED,
        title=f"A guest cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View the booking",
    )


# -- events -----------------------------------------------------------------------------------------


def describe_changes(event: EventSummary, change: EventChange) -> list[str]:
    """One line per change guests care about: 'Time: <before> → <after>'."""
    fields = set(change.changed_fields)
    lines = []
    if fields & {"start_time", "end_time"}:
        before_start = change.previous_start_time or event.start_time
        before_end = change.previous_end_time or event.end_time
        lines.append(f"Time: {format_span(before_start, before_end, event.time_zone)} → {event.when()}")
    if "venue" in fields:
        lines.append(f"Venue: {change.previous_venue or '(none)'} → {event.venue or '(none)'}")
    if "city" in fields:
        lines.append(f"City: {change.previous_city or '(none)'} → {event.city or '(none)'}")
    if "time_zone" in fields and not fields & {"start_time", "end_time"}:
        lines.append(f"Time zone: now {event.time_zone}")
    known = {"start_time", "end_time", "venue", "city", "time_zone"}
    for name in sorted(fields - known):
        lines.append(f"{name.replace('_', ' ').capitalize()} changed")
    return lines


def event_updated(event: EventSummary, change: EventChange, links: Links) -> Content:
    changes = describe_changes(event, change)
    return Content(
        kind=Kind.EVENT_UPDATED,
        title=f"Event changed: {event.title}",
        paragraphs=(
            f"The organizer changed {event.title}:",
            "\n".join(changes) if changes else "Some details changed.",
        ),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def event_cancelled(event: EventSummary, reason: str, links: Links) -> Content:
    paragraphs = [f"{event.title} has been cancelled; your booking is cancelled and its seats released."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.EVENT_CANCELLED,
        title=f"Event cancelled: {event.title}",
        paragraphs=tuple(paragraphs),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def reminder(event: EventSummary, kind: Kind, offset: timedelta, links: Links) -> Content:
    return Content(
        kind=kind,
        title=f"Reminder: {event.title} starts in {describe_offset(offset)}",
        paragraphs=(
            f"{event.title} starts {format_time(event.start_time, event.time_zone)}. See you there!",
        ),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
        # Sent late only while the event hasn't started.
        expires_at=event.start_time,
    )


def rate_event(event: EventSummary, links: Links) -> Content:
    return Content(
        kind=Kind.RATE_EVENT,
        title=f"How was {event.title}?",
        paragraphs=(
            f"Thanks for coming to {event.title}. Rate the event and its host from your booking; "
            "it helps other guests choose.",
        ),
        facts=event.facts(),
        link=links.my_bookings_of(event.event_id),
        action="Rate your event",
    )


def organizer_message(event: EventSummary, title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.ORGANIZER_MESSAGE,
        title=f"{event.title}: {title}",
        paragraphs=(body,),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def announcement(title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.ANNOUNCEMENT,
        title=title,
        paragraphs=(body,),
        link=links.notifications(),
        action="Open your notifications",
    )
