"""The sales report's statements: a page of the scope's events from the read model, then their
bookings (read model) and money (payments and refunds, this service's own records), and the
totals per currency over the whole scope. Built per call: the scope and period come with the
request.

Money in a period: captures whose capture_time falls in it, and refunds (not refused by the
provider) made in it; days are UTC dates.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    Uuid,
    and_,
    cast,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.types import DateTime

from services.payments.domain import (
    CurrencyTotals,
    DaySales,
    EventSales,
    EventState,
    MoneyByCurrency,
    PaymentState,
    RefundState,
    ReportEvent,
    ReportScope,
)
from services.payments.tables import payments, refunds, report_bookings, report_events
from services.runtime.database import Database

_CONFIRMED = "CONFIRMED"
_WAITLISTED = "WAITLISTED"


def _in_period(column: ColumnElement[Any], scope: ReportScope) -> list[ColumnElement[bool]]:
    bounds = [column < literal(scope.end, type_=DateTime(timezone=True))]
    if scope.start is not None:
        bounds.append(column >= literal(scope.start, type_=DateTime(timezone=True)))
    return bounds


def _utc_day(column: ColumnElement[Any]) -> ColumnElement[date]:
    return cast(func.timezone("UTC", column), Date)


def _scope_events(scope: ReportScope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if scope.organizer_id is not None:
        conditions.append(report_events.c.organizer_id == scope.organizer_id)
    if scope.event_id is not None:
        conditions.append(report_events.c.event_id == scope.event_id)
    return conditions


def events_page(scope: ReportScope, after: tuple[datetime, uuid.UUID] | None, limit: int) -> Select[Any]:
    conditions = _scope_events(scope)
    if after is not None:
        boundary = tuple_(literal(after[0], type_=DateTime(timezone=True)), literal(after[1], type_=Uuid))
        conditions.append(tuple_(report_events.c.start_time, report_events.c.event_id) > boundary)
    return (
        select(report_events)
        .where(*conditions)
        .order_by(report_events.c.start_time, report_events.c.event_id)
        .limit(limit)
    )


def _money_moves(scope: ReportScope, events: ColumnElement[bool] | None) -> Any:
    """One row per capture and per refund in the period: event, currency, day and the amounts."""
    captures = select(
        payments.c.event_id,
        payments.c.currency,
        _utc_day(payments.c.capture_time).label("day"),
        payments.c.captured_minor.label("captured"),
        literal(0, type_=BigInteger).label("refunded"),
        literal(0, type_=Integer).label("refund_count"),
    ).where(payments.c.state == PaymentState.SUCCEEDED.value, *_in_period(payments.c.capture_time, scope))
    given_back = (
        select(
            payments.c.event_id,
            payments.c.currency,
            _utc_day(refunds.c.create_time).label("day"),
            literal(0, type_=BigInteger).label("captured"),
            refunds.c.amount_minor.label("refunded"),
            literal(1, type_=Integer).label("refund_count"),
        )
        .join(payments, payments.c.id == refunds.c.payment_id)
        .where(refunds.c.state != RefundState.FAILED.value, *_in_period(refunds.c.create_time, scope))
    )
    if events is not None:
        captures = captures.where(events)
        given_back = given_back.where(events)
    return union_all(captures, given_back).subquery("moves")


def money_by_day(scope: ReportScope, event_ids: list[uuid.UUID]) -> Select[Any]:
    moves = _money_moves(scope, payments.c.event_id.in_(event_ids))
    return select(
        moves.c.event_id,
        moves.c.currency,
        moves.c.day,
        func.sum(moves.c.captured).label("captured"),
        func.sum(moves.c.refunded).label("refunded"),
        func.sum(moves.c.refund_count).label("refund_count"),
    ).group_by(moves.c.event_id, moves.c.currency, moves.c.day)


def bookings_summary(scope: ReportScope, event_ids: list[uuid.UUID]) -> Select[Any]:
    confirmed = report_bookings.c.state == _CONFIRMED
    sold = and_(confirmed, *_in_period(report_bookings.c.confirm_time, scope))
    return (
        select(
            report_bookings.c.event_id,
            func.coalesce(func.sum(report_bookings.c.seats).filter(sold), 0).label("seats_sold"),
            func.coalesce(func.sum(report_bookings.c.seats).filter(confirmed), 0).label("seats_now"),
            func.count().filter(report_bookings.c.state == _WAITLISTED).label("waitlist"),
        )
        .where(report_bookings.c.event_id.in_(event_ids))
        .group_by(report_bookings.c.event_id)
    )


def bookings_by_day(scope: ReportScope, event_ids: list[uuid.UUID]) -> Select[Any]:
    day = _utc_day(report_bookings.c.confirm_time).label("day")
    return (
        select(
            report_bookings.c.event_id,
            day,
            func.count().label("bookings"),
            func.sum(report_bookings.c.seats).label("seats"),
        )
        .where(report_bookings.c.event_id.in_(event_ids), *_in_period(report_bookings.c.confirm_time, scope))
        .group_by(report_bookings.c.event_id, day)
    )


def totals(scope: ReportScope) -> Select[Any]:
    in_scope = payments.c.event_id.in_(select(report_events.c.event_id).where(*_scope_events(scope)))
    moves = _money_moves(scope, in_scope)
    return select(
        moves.c.currency,
        func.sum(moves.c.captured).label("captured"),
        func.sum(moves.c.refunded).label("refunded"),
        func.sum(moves.c.refund_count).label("refund_count"),
    ).group_by(moves.c.currency)


def seats_sold_by_currency(scope: ReportScope) -> Select[Any]:
    """Seats confirmed in the period, per currency their events sell in (free events have none)."""
    selling = (
        select(payments.c.event_id, payments.c.currency)
        .where(payments.c.event_id.in_(select(report_events.c.event_id).where(*_scope_events(scope))))
        .distinct()
        .subquery("selling")
    )
    return (
        select(selling.c.currency, func.sum(report_bookings.c.seats).label("seats"))
        .join_from(report_bookings, selling, selling.c.event_id == report_bookings.c.event_id)
        .where(report_bookings.c.state == _CONFIRMED, *_in_period(report_bookings.c.confirm_time, scope))
        .group_by(selling.c.currency)
    )


async def read_report(
    database: Database, scope: ReportScope, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[list[EventSales], list[CurrencyTotals]]:
    """Up to `limit` events of the scope after `after` (by start time), with their sales, and the
    scope's totals per currency."""
    event_rows = await database.rows(events_page(scope, after, limit))
    events = [
        ReportEvent(
            event_id=row.event_id,
            organizer_id=row.organizer_id,
            title=row.title,
            start_time=row.start_time,
            capacity=row.capacity,
            state=EventState(row.state),
        )
        for row in event_rows
    ]
    ids = [event.event_id for event in events]
    summaries: dict[uuid.UUID, Any] = {}
    days: dict[uuid.UUID, dict[date, dict[str, Any]]] = defaultdict(dict)
    money: dict[uuid.UUID, MoneyByCurrency] = {}
    if ids:
        summaries = {row.event_id: row for row in await database.rows(bookings_summary(scope, ids))}
        for row in await database.rows(bookings_by_day(scope, ids)):
            days[row.event_id][row.day] = {"bookings": row.bookings, "seats": int(row.seats), "money": None}
        for row in await database.rows(money_by_day(scope, ids)):
            day_money = MoneyByCurrency(
                row.currency, int(row.captured), int(row.refunded), int(row.refund_count)
            )
            entry = days[row.event_id].setdefault(row.day, {"bookings": 0, "seats": 0, "money": None})
            entry["money"] = day_money
            known = money.get(row.event_id, MoneyByCurrency(row.currency))
            money[row.event_id] = MoneyByCurrency(
                row.currency,
                known.captured_minor + day_money.captured_minor,
                known.refunded_minor + day_money.refunded_minor,
                known.refund_count + day_money.refund_count,
            )
    sales = []
    for event in events:
        summary = summaries.get(event.event_id)
        sales.append(
            EventSales(
                event=event,
                seats_sold=int(summary.seats_sold) if summary else 0,
                seats_confirmed_now=int(summary.seats_now) if summary else 0,
                waitlist_length=int(summary.waitlist) if summary else 0,
                money=money.get(event.event_id),
                days=tuple(
                    DaySales(day=day, bookings=entry["bookings"], seats=entry["seats"], money=entry["money"])
                    for day, entry in sorted(days[event.event_id].items())
                ),
            )
        )
    seats = {row.currency: int(row.seats) for row in await database.rows(seats_sold_by_currency(scope))}
    currency_totals = [
        CurrencyTotals(
            MoneyByCurrency(row.currency, int(row.captured), int(row.refunded), int(row.refund_count)),
            seats.get(row.currency, 0),
        )
        for row in await database.rows(totals(scope))
    ]
    return sales, sorted(currency_totals, key=lambda total: total.money.currency)
