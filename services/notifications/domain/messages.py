"""What a message says and what it talks about, as plain data.

A `Content` is composed once, when the trigger is handled (content.py), and stored with the
message: its title and body are the in-app notification; the email and SMS templates render it for
each recipient (adding their name). Times are shown in the event's own time zone.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notifications.domain.kinds import Kind
from services.runtime.money import Amount


@dataclass(frozen=True)
class Content:
    kind: Kind
    title: str
    paragraphs: tuple[str, ...]
    # Key details shown as a small table: (label, value).
    facts: tuple[tuple[str, str], ...] = ()
    link: str = ""
    action: str = ""
    # A verification code as the users service sealed it (services/runtime/sealing.py). It stays
    # sealed wherever the message rests; the delivery worker opens it only to render the email or
    # SMS that shows it, and it is blanked once that is sent or given up.
    sealed_code: bytes = b""
    # Don't deliver after this: a code that expired, a reminder of an event that started.
    expires_at: datetime | None = None
    # Who it's for when there is no directory lookup (security mail).
    recipient_name: str = ""
    # Security mail and the like: no "manage your preferences" footer, because preferences don't apply.
    transactional: bool = False

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
            "kind": self.kind.value,
            "title": self.title,
            "paragraphs": list(self.paragraphs),
            "facts": [list(fact) for fact in self.facts],
            "link": self.link,
            "action": self.action,
            "sealed_code": base64.b64encode(self.sealed_code).decode(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "recipient_name": self.recipient_name,
            "transactional": self.transactional,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        expires = data.get("expires_at")
        return cls(
            kind=Kind(data["kind"]),
            title=str(data["title"]),
            paragraphs=tuple(data.get("paragraphs", ())),
            facts=tuple((str(label), str(value)) for label, value in data.get("facts", ())),
            link=str(data.get("link", "")),
            action=str(data.get("action", "")),
            sealed_code=base64.b64decode(data.get("sealed_code", "")),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            recipient_name=str(data.get("recipient_name", "")),
            transactional=bool(data.get("transactional", False)),
        )


@dataclass(frozen=True)
class EventSummary:
    """The event as a notification describes it (from a booking's details or an events message)."""

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


@dataclass(frozen=True)
class BookingSummary:
    """A booking as a notification describes it."""

    booking_id: str
    seats: int
    event: EventSummary
    waitlist_position: int = 0

    def facts(self) -> tuple[tuple[str, str], ...]:
        return self.event.facts(("Seats", seats_text(self.seats)))


@dataclass(frozen=True)
class PaymentDue:
    """What a guest still has to pay to keep a booking's held seats, where, and until when: what
    the "payment due" message and the reminder before the hold ends say.

    Kept as JSON with the reminder's schedule row, since the payment is not otherwise known here.
    """

    payment_id: str
    booking_id: str
    seats: int
    amount: Amount
    # The provider's checkout page; empty when the guest pays the organizer (manual payments).
    checkout_url: str
    hold_expire_time: datetime
    # The event as the payment describes it (title, start, time zone), for when the events
    # projection does not know it.
    event: EventSummary

    def to_json(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "booking_id": self.booking_id,
            "seats": self.seats,
            "amount_minor": self.amount.minor,
            "currency": self.amount.currency,
            "checkout_url": self.checkout_url,
            "hold_expire_time": self.hold_expire_time.isoformat(),
            "event_id": self.event.event_id,
            "event_title": self.event.title,
            "event_start_time": self.event.start_time.isoformat(),
            "event_end_time": self.event.end_time.isoformat(),
            "event_time_zone": self.event.time_zone,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaymentDue:
        return cls(
            payment_id=str(data["payment_id"]),
            booking_id=str(data["booking_id"]),
            seats=int(data["seats"]),
            amount=Amount(int(data["amount_minor"]), str(data["currency"])),
            checkout_url=str(data["checkout_url"]),
            hold_expire_time=datetime.fromisoformat(data["hold_expire_time"]),
            event=EventSummary(
                event_id=str(data["event_id"]),
                title=str(data["event_title"]),
                start_time=datetime.fromisoformat(data["event_start_time"]),
                end_time=datetime.fromisoformat(data["event_end_time"]),
                time_zone=str(data["event_time_zone"]),
            ),
        )


@dataclass(frozen=True)
class EventChange:
    """What EventUpdated says changed; previous values as they were."""

    changed_fields: Sequence[str]
    previous_start_time: datetime | None = None
    previous_end_time: datetime | None = None
    previous_venue: str = ""
    previous_city: str = ""


def seats_text(seats: int) -> str:
    return "1 seat" if seats == 1 else f"{seats} seats"


def reason_given(reason: str) -> tuple[str, ...]:
    """The paragraph quoting the reason a person gave (for a cancellation, a rejection, a refund);
    none when they gave none."""
    return (f"Reason given: {reason}",) if reason else ()


def refund_policy_text(hours_before_start: int, deadline: datetime | None, time_zone: str) -> str:
    """The event's refund policy as a guest reads it: until when cancelling gives everything back."""
    if hours_before_start <= 0 or deadline is None:
        return "If you cancel before the event starts, you get everything back; after that, nothing."
    ahead = describe_offset(timedelta(hours=hours_before_start))
    return (
        f"If you cancel at least {ahead} before the start, that is until "
        f"{format_time(deadline, time_zone)}, you get everything back; after that, nothing."
    )


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
    return str(name)


def _on_clock(moments: Sequence[datetime], tz: ZoneInfo) -> list[datetime]:
    """The moments on the zone's clock, or all of them in UTC when the zone's clock reads a date no
    datetime can hold (the last hours of year 9999 east of UTC, the first of year 1 west of it):
    a message about such an event still says when it is, correctly, instead of failing."""
    try:
        return [moment.astimezone(tz) for moment in moments]
    except OverflowError:
        return [moment.astimezone(UTC) for moment in moments]


def _describe(local: datetime) -> str:
    return f"{local:%A}, {local.day} {local:%B %Y, %H:%M} {_zone_label(local)}"


def format_time(moment: datetime, time_zone: str) -> str:
    """'Saturday, 5 December 2026, 18:00 CET (Europe/Berlin)' (UTC when the zone is unknown)."""
    [local] = _on_clock([moment], zone(time_zone))
    return _describe(local)


def format_span(start: datetime, end: datetime, time_zone: str) -> str:
    """'Saturday, 5 December 2026, 18:00–21:00 CET (Europe/Berlin)'; both dates when it spans days."""
    local_start, local_end = _on_clock([start, end], zone(time_zone))
    if local_start == local_end:
        # Only the start is known (a payment names no end): a moment, not a span.
        return _describe(local_start)
    if local_start.date() != local_end.date():
        return f"{_describe(local_start)} – {_describe(local_end)}"
    day = f"{local_start:%A}, {local_start.day} {local_start:%B %Y}"
    if local_start.tzname() == local_end.tzname():
        return f"{day}, {local_start:%H:%M}–{local_end:%H:%M} {_zone_label(local_start)}"
    # The clocks change during the event: say which offset each time is in.
    return f"{day}, {local_start:%H:%M} {local_start.tzname()} – {local_end:%H:%M} {_zone_label(local_end)}"


def describe_offset(offset: timedelta) -> str:
    """'24 hours', '1 hour', '90 minutes', '30 seconds' — how far ahead a reminder is."""
    seconds = int(offset.total_seconds())
    if seconds % 86_400 == 0 and seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"
