"""What each kind of notification says, as plain data (no I/O).

A `Content` is composed once, when the trigger is handled, and stored with the message: its title
and body are the in-app notification; the email and SMS templates render it for each recipient
(adding their name). Times are shown in the event's own time zone, links start at
SEATMESH_PUBLIC_URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from seatmesh.notifications.v1 import notifications_pb2
from services.notifications.rules import describe_offset, kind_name

Kind = notifications_pb2.Kind


@dataclass(frozen=True)
class Content:
    kind: int
    title: str
    paragraphs: tuple[str, ...]
    # Key details shown as a small table: (label, value).
    facts: tuple[tuple[str, str], ...] = ()
    link: str = ""
    action: str = ""
    # A verification code, shown prominently (and in the subject).
    code: str = ""
    # Don't deliver after this: a code that expired, a reminder of an event that started.
    expires_at: datetime | None = None
    # Who it's for when there is no directory lookup (security mail).
    recipient_name: str = ""
    # Security mail and the like: no "manage your preferences" footer, because preferences don't apply.
    transactional: bool = False

    @property
    def kind_name(self) -> str:
        return kind_name(self.kind)

    @property
    def subject(self) -> str:
        return f"{self.code} is your seatmesh verification code" if self.code else self.title

    @property
    def body(self) -> str:
        """The in-app body: the paragraphs, then the facts."""
        parts = list(self.paragraphs)
        if self.facts:
            parts.append("\n".join(f"{label}: {value}" for label, value in self.facts))
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies every nested tuple, a measurable share of
        # what a bus message costs.
        return {
            "kind": self.kind,
            "title": self.title,
            "paragraphs": list(self.paragraphs),
            "facts": [list(fact) for fact in self.facts],
            "link": self.link,
            "action": self.action,
            "code": self.code,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "recipient_name": self.recipient_name,
            "transactional": self.transactional,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        expires = data.get("expires_at")
        return cls(
            kind=int(data["kind"]),
            title=str(data["title"]),
            paragraphs=tuple(data.get("paragraphs", ())),
            facts=tuple((str(label), str(value)) for label, value in data.get("facts", ())),
            link=str(data.get("link", "")),
            action=str(data.get("action", "")),
            code=str(data.get("code", "")),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            recipient_name=str(data.get("recipient_name", "")),
            transactional=bool(data.get("transactional", False)),
        )


@dataclass(frozen=True)
class Links:
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

    def pending_requests(self, event_id: str) -> str:
        return self._url(f"/v1/bookings?as=HOST&state=AWAITING_APPROVAL&eventId={event_id}")

    def notifications(self) -> str:
        return self._url("/v1/notifications")

    def preferences(self) -> str:
        return self._url("/v1/notifications/preferences")


@dataclass(frozen=True)
class EventFacts:
    """The event as a notification describes it (from BookingDetails or an events bus message)."""

    event_id: str
    title: str
    start_time: datetime
    end_time: datetime
    time_zone: str
    city: str = ""
    venue: str = ""

    def when(self) -> str:
        return format_span(self.start_time, self.end_time, self.time_zone)

    def where(self) -> str:
        return ", ".join(part for part in (self.venue, self.city) if part)

    def facts(self, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        rows = [("Event", self.title), ("When", self.when())]
        if self.where():
            rows.append(("Where", self.where()))
        return (*rows, *extra)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _zone_label(local: datetime) -> str:
    """'CET (Europe/Berlin)'; the zone name alone when it has no letter abbreviation ('+04')."""
    name = getattr(local.tzinfo, "key", "UTC")
    abbreviation = local.tzname() or ""
    if abbreviation and abbreviation[0].isalpha() and abbreviation != name:
        return f"{abbreviation} ({name})"
    return name


def format_time(moment: datetime, time_zone: str) -> str:
    """'Saturday, 5 December 2026, 18:00 CET (Europe/Berlin)' (UTC when the zone is unknown)."""
    local = moment.astimezone(zone(time_zone))
    return f"{local:%A}, {local.day} {local:%B %Y, %H:%M} {_zone_label(local)}"


def format_span(start: datetime, end: datetime, time_zone: str) -> str:
    """'Saturday, 5 December 2026, 18:00–21:00 CET (Europe/Berlin)'; both dates when it spans days."""
    tz = zone(time_zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.date() != local_end.date():
        return f"{format_time(start, time_zone)} – {format_time(end, time_zone)}"
    day = f"{local_start:%A}, {local_start.day} {local_start:%B %Y}"
    if local_start.tzname() == local_end.tzname():
        return f"{day}, {local_start:%H:%M}–{local_end:%H:%M} {_zone_label(local_start)}"
    # The clocks change during the event: say which offset each time is in.
    return f"{day}, {local_start:%H:%M} {local_start.tzname()} – {local_end:%H:%M} {_zone_label(local_end)}"


def _seats(seats: int) -> str:
    return "1 seat" if seats == 1 else f"{seats} seats"


# -- users ------------------------------------------------------------------------------------------


def verification_code(
    *, code: str, display_name: str, expire_time: datetime | None, now: datetime
) -> Content:
    minutes = ""
    if expire_time is not None:
        left = max(1, round((expire_time - now).total_seconds() / 60))
        minutes = f" It expires in {left} minutes."
    return Content(
        kind=Kind.KIND_VERIFICATION_CODE,
        title="Verify your email address",
        # The code itself is only in `code` (the templates show it), so it can be scrubbed once sent.
        paragraphs=(
            f"Enter this code to confirm your email address.{minutes} "
            "If you did not sign up for seatmesh, ignore this email.",
        ),
        code=code,
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
        kind=Kind.KIND_WELCOME,
        title="Welcome to seatmesh",
        paragraphs=("Thanks for joining seatmesh.", what),
        link=links.events(),
        action="Browse events",
    )


# -- bookings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingFacts:
    booking_id: str
    seats: int
    event: EventFacts
    waitlist_position: int = 0

    def facts(self) -> tuple[tuple[str, str], ...]:
        return self.event.facts(("Seats", _seats(self.seats)))


def booking_confirmed(booking: BookingFacts, links: Links) -> Content:
    return Content(
        kind=Kind.KIND_BOOKING_CONFIRMED,
        title=f"Booking confirmed: {booking.event.title}",
        paragraphs=(f"You're in: {_seats(booking.seats)} for {booking.event.title}.",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def request_sent(booking: BookingFacts, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" The host has until {format_time(expire_time, booking.event.time_zone)} to answer."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.KIND_BOOKING_AWAITING_APPROVAL,
        title=f"Request sent: {booking.event.title}",
        paragraphs=(
            f"Your request for {_seats(booking.seats)} is waiting for the host's approval; "
            f"the seats are held for you meanwhile.{until}",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your request",
    )


def approval_requested(booking: BookingFacts, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" Answer before {format_time(expire_time, booking.event.time_zone)}, or the request expires "
        "and the seats are released."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.KIND_APPROVAL_REQUESTED,
        title=f"New booking request: {booking.event.title}",
        paragraphs=(f"A guest asks for {_seats(booking.seats)} at {booking.event.title}.{until}",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="Approve or reject",
    )


def booking_approved(booking: BookingFacts, links: Links) -> Content:
    return Content(
        kind=Kind.KIND_BOOKING_APPROVED,
        title=f"Request approved: {booking.event.title}",
        paragraphs=(f"The host approved your request: {_seats(booking.seats)} for {booking.event.title}.",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


REJECTION_CAUSES = {
    "SOLD_OUT": "The event is sold out.",
    "HOST_REJECTED": "The host declined your request.",
    "EVENT_NOT_BOOKABLE": "The event is no longer open for booking.",
}


def booking_rejected(booking: BookingFacts, cause: str, reason: str, links: Links) -> Content:
    paragraphs = [REJECTION_CAUSES.get(cause, "Your booking could not be accepted.")]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.KIND_BOOKING_REJECTED,
        title=f"Booking not accepted: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.event(booking.event.event_id),
        action="See the event",
    )


def booking_expired(booking: BookingFacts, previous_state: str, links: Links) -> Content:
    what = (
        "Your place on the waitlist expired: no seats became free before the event."
        if previous_state == "WAITLISTED"
        else "The host did not answer your request in time, so it expired and the seats were released."
    )
    return Content(
        kind=Kind.KIND_BOOKING_EXPIRED,
        title=f"Request expired: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_waitlisted(booking: BookingFacts, links: Links) -> Content:
    position = f" You are number {booking.waitlist_position} in line." if booking.waitlist_position else ""
    return Content(
        kind=Kind.KIND_BOOKING_WAITLISTED,
        title=f"On the waitlist: {booking.event.title}",
        paragraphs=(
            f"{booking.event.title} is sold out, so you are on the waitlist for "
            f"{_seats(booking.seats)}.{position} If seats free up, they go to you automatically "
            "and we'll tell you.",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_promoted(booking: BookingFacts, awaiting_approval: bool, links: Links) -> Content:
    what = (
        "Seats freed up and are held for you; the host still has to approve your request."
        if awaiting_approval
        else f"Seats freed up: you're in with {_seats(booking.seats)}."
    )
    return Content(
        kind=Kind.KIND_BOOKING_PROMOTED,
        title=f"Off the waitlist: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


CANCELLERS = {
    "GUEST": "You cancelled this booking.",
    "HOST": "The host cancelled your booking.",
    "ADMIN": "An administrator cancelled your booking.",
    "EVENT_CANCELLED": "The event was cancelled.",
}


def booking_cancelled(booking: BookingFacts, cancelled_by: str, reason: str, links: Links) -> Content:
    paragraphs = [CANCELLERS.get(cancelled_by, "Your booking was cancelled.")]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.KIND_BOOKING_CANCELLED,
        title=f"Booking cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def guest_cancelled(booking: BookingFacts, reason: str, links: Links) -> Content:
    paragraphs = [f"A guest cancelled their booking of {_seats(booking.seats)}; the seats are free again."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.KIND_GUEST_CANCELLED,
        title=f"A guest cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View the booking",
    )


# -- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventChange:
    """What EventUpdated says changed; previous values as they were."""

    changed_fields: Sequence[str]
    previous_start_time: datetime | None = None
    previous_end_time: datetime | None = None
    previous_venue: str = ""
    previous_city: str = ""


def describe_changes(event: EventFacts, change: EventChange) -> list[str]:
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


def event_updated(event: EventFacts, change: EventChange, links: Links) -> Content:
    changes = describe_changes(event, change)
    return Content(
        kind=Kind.KIND_EVENT_UPDATED,
        title=f"Event changed: {event.title}",
        paragraphs=(
            f"The organizer changed {event.title}:",
            "\n".join(changes) if changes else "Some details changed.",
        ),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def event_cancelled(event: EventFacts, reason: str, links: Links) -> Content:
    paragraphs = [f"{event.title} has been cancelled; your booking is cancelled and its seats released."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.KIND_EVENT_CANCELLED,
        title=f"Event cancelled: {event.title}",
        paragraphs=tuple(paragraphs),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def reminder(event: EventFacts, kind: int, offset: timedelta, links: Links) -> Content:
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


def rate_event(event: EventFacts, links: Links) -> Content:
    return Content(
        kind=Kind.KIND_RATE_EVENT,
        title=f"How was {event.title}?",
        paragraphs=(
            f"Thanks for coming to {event.title}. Rate the event and its host from your booking; "
            "it helps other guests choose.",
        ),
        facts=event.facts(),
        link=links.my_bookings_of(event.event_id),
        action="Rate your event",
    )


def organizer_message(event: EventFacts, title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.KIND_ORGANIZER_MESSAGE,
        title=f"{event.title}: {title}",
        paragraphs=(body,),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def announcement(title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.KIND_ANNOUNCEMENT,
        title=title,
        paragraphs=(body,),
        link=links.notifications(),
        action="Open your notifications",
    )


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
