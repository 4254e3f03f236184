"""What notifications says about events: changes, cancellations, reminders, ratings and what
organizers and admins send."""

from __future__ import annotations

from datetime import timedelta

from services.notifications.content.links import Links
from services.notifications.domain.kinds import (
    Kind,
)
from services.notifications.domain.messages import (
    Content,
    EventChange,
    EventSummary,
    describe_offset,
    format_span,
    format_time,
    reason_given,
)


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
    return Content(
        kind=Kind.EVENT_CANCELLED,
        title=f"Event cancelled: {event.title}",
        paragraphs=(
            f"{event.title} has been cancelled; your booking is cancelled and its seats released.",
            *reason_given(reason),
        ),
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
