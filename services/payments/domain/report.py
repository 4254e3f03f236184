"""The organizers' sales report: what it covers (whose events, which period) and what it says.

Payments owns it because revenue and refunds are payments' own records: the report needs nothing
but those and what the bus said about events (title, capacity, start, state) and bookings (seats,
state, when confirmed), kept as a read model here. No other service's database is read.

Numbers: a period bounds when money moved and when bookings were confirmed; `fill_rate` and the
waitlist are as they are now. Revenue is captured - refunded (refunds on their way included), per
currency, so it always equals what the payments say.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from services.runtime.auth import Principal, Role
from services.runtime.errors import ServiceError, Violations, not_found, permission_denied

DEFAULT_REPORT_PAGE = 50
MAX_REPORT_PAGE = 200


class EventState(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class ReportScope:
    """Whose events a report covers and over which period ([start, end); None: unbounded start)."""

    organizer_id: str | None
    event_id: uuid.UUID | None
    start: datetime | None
    end: datetime


def report_scope(
    principal: Principal,
    *,
    organizer_id: str,
    event_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ReportScope:
    """Organizers see their own events; admins anyone's (one organizer's, or all)."""
    if principal.role not in (Role.ORGANIZER, Role.ADMIN):
        raise permission_denied("the sales report is for organizers and admins", reason="ROLE_REQUIRED")
    found = Violations()
    event = found.uuid(event_id, "event_id") if event_id else None
    if organizer_id:
        found.uuid(organizer_id, "organizer_id")
    until = end or now
    if start is not None:
        found.check(start < until, "start_time", "must be before end_time (default: now)")
    found.raise_if_any()
    if principal.is_admin:
        whose = organizer_id or None
    elif organizer_id and organizer_id != principal.subject:
        raise permission_denied("only admins see other organizers' sales", reason="ROLE_REQUIRED")
    else:
        whose = principal.subject
    return ReportScope(organizer_id=whose, event_id=event, start=start, end=until)


def event_not_in_report(event_id: uuid.UUID) -> ServiceError:
    """An event the report does not cover: unknown, or another organizer's."""
    return not_found(
        "seatmesh.events.v1.Event", str(event_id), f"no sales report of event {event_id} for you"
    )


@dataclass(frozen=True)
class ReportEvent:
    """An event as the read model knows it."""

    event_id: uuid.UUID
    organizer_id: str
    title: str
    start_time: datetime
    capacity: int
    state: EventState


@dataclass(frozen=True)
class MoneyByCurrency:
    """Sums of one currency (minor units)."""

    currency: str
    captured_minor: int = 0
    refunded_minor: int = 0
    refund_count: int = 0

    @property
    def revenue_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


@dataclass(frozen=True)
class DaySales:
    day: date
    bookings: int
    seats: int
    # None: a day without money (a free event's bookings).
    money: MoneyByCurrency | None


@dataclass(frozen=True)
class EventSales:
    event: ReportEvent
    seats_sold: int
    seats_confirmed_now: int
    waitlist_length: int
    money: MoneyByCurrency | None
    days: tuple[DaySales, ...]

    @property
    def fill_rate(self) -> float:
        return fill_rate(self.seats_confirmed_now, self.event.capacity)


@dataclass(frozen=True)
class CurrencyTotals:
    money: MoneyByCurrency
    seats_sold: int


def fill_rate(seats: int, capacity: int) -> float:
    if capacity <= 0:
        return 0.0
    return min(seats / capacity, 1.0)
