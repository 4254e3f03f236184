"""Domain rules of notifications, without I/O: who gets what on which channel, retries, reminders."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from seatmesh.notifications.v1 import notifications_pb2

Kind = notifications_pb2.Kind

IN_APP = "IN_APP"
EMAIL = "EMAIL"
SMS = "SMS"
# Channels that go through the delivery worker (in-app rows need no sending).
SENT_CHANNELS = (EMAIL, SMS)

CHANNEL_NAMES = {
    notifications_pb2.CHANNEL_IN_APP: IN_APP,
    notifications_pb2.CHANNEL_EMAIL: EMAIL,
    notifications_pb2.CHANNEL_SMS: SMS,
}
CHANNEL_NUMBERS = {name: number for number, name in CHANNEL_NAMES.items()}

# Security mail goes to the address being verified, by email, whatever the preferences say.
SECURITY_KINDS = frozenset({Kind.KIND_VERIFICATION_CODE})

# Bookings that hold (or wait for) seats: they hear about changes to their event.
ACTIVE_BOOKING_STATES = ("CONFIRMED", "AWAITING_APPROVAL", "WAITLISTED")
# Bookings that attend: reminders, "rate your event", organizer messages.
ATTENDING_STATES = ("CONFIRMED",)


def kind_name(kind: int) -> str:
    """KIND_BOOKING_CONFIRMED -> BOOKING_CONFIRMED (how kinds are stored)."""
    return Kind.Name(kind).removeprefix("KIND_")  # type: ignore[arg-type]


def kind_number(name: str) -> int:
    return Kind.Value("KIND_" + name)


def configurable_kinds() -> list[int]:
    """Kinds a user can tune: all but the unspecified value and security mail."""
    return [
        value for value in Kind.values() if value != Kind.KIND_UNSPECIFIED and value not in SECURITY_KINDS
    ]


@dataclass(frozen=True)
class ChannelChoice:
    in_app: bool
    email: bool
    sms: bool

    def channels(self) -> set[str]:
        chosen = set()
        if self.in_app:
            chosen.add(IN_APP)
        if self.email:
            chosen.add(EMAIL)
        if self.sms:
            chosen.add(SMS)
        return chosen


# In-app and email on, SMS off (it costs money and a phone number is optional).
DEFAULT_CHOICE = ChannelChoice(in_app=True, email=True, sms=False)


def effective_preferences(stored: Mapping[int, ChannelChoice]) -> dict[int, ChannelChoice]:
    """One entry per configurable kind: what the user set, defaults for the rest."""
    return {kind: stored.get(kind, DEFAULT_CHOICE) for kind in configurable_kinds()}


def requested_channels(channels: Iterable[int]) -> set[str]:
    """SendNotification's channel list; empty means in-app and email."""
    names = {CHANNEL_NAMES[channel] for channel in channels if channel in CHANNEL_NAMES}
    return names or {IN_APP, EMAIL}


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the attempt that just failed (1 = the first).

    "Equal jitter": half the exponential delay is kept, half is random, so retries of many
    deliveries that failed together spread out but never come back sooner than half the delay.
    """
    exponential = min(cap, base * 2 ** max(0, attempt - 1))
    rng = rng or random.Random()
    return exponential / 2 + rng.uniform(0, exponential / 2)


@dataclass(frozen=True)
class ReminderOffsets:
    before_24h: timedelta
    before_1h: timedelta

    def items(self) -> list[tuple[str, timedelta]]:
        return [("REMINDER_24H", self.before_24h), ("REMINDER_1H", self.before_1h)]


def reminders_for(
    start_time: datetime, confirmed_at: datetime, offsets: ReminderOffsets
) -> list[tuple[str, datetime]]:
    """(kind, due time) of the reminders a booking confirmed at `confirmed_at` should get.

    A reminder whose due time had already passed when the booking was confirmed is skipped: who
    books two hours ahead has just been told when it starts and needs no "tomorrow" reminder.
    """
    due = [(kind, start_time - offset) for kind, offset in offsets.items()]
    return [(kind, when) for kind, when in due if when > confirmed_at]


def reminder_still_useful(start_time: datetime, now: datetime) -> bool:
    """A reminder that is late (the mesh was down at its due time) goes out only before the start."""
    return now < start_time


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
