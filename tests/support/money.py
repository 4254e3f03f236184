"""The money invariants, checked in the databases as the seat invariant is (e2e tests, the benchmark):

1. no paid booking is CONFIRMED without a SUCCEEDED payment of it, of its amount and currency;
2. every SUCCEEDED payment belongs to the CONFIRMED booking it paid for, or is refunded in full
   (refunds on their way count: they are written before the provider is asked);
3. what a payment says was refunded is the sum of its refunds the provider did not refuse, and
   never more than it captured;
4. per event, captured - refunded is the revenue the sales report shows (when a report is given).

Bookings and payments agree only once the bus delivered everything in flight, so callers wait with
`wait_money_settled`, which retries until the invariants hold or the time is up (then it reports
what still disagrees).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg

from services.runtime.migrations import libpq_conninfo


@dataclass(frozen=True)
class _Booking:
    id: str
    event_id: str
    state: str
    amount_minor: int | None
    currency: str | None
    payment_id: str | None


@dataclass(frozen=True)
class _Payment:
    id: str
    booking_id: str
    event_id: str
    state: str
    currency: str
    captured_minor: int
    refunded_minor: int
    refunds_minor: int


def _bookings(url: str, event_ids: list[str] | None) -> dict[str, _Booking]:
    where = "WHERE event_id = ANY(%s::text[])" if event_ids is not None else ""
    with psycopg.connect(libpq_conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT id::text, event_id::text, state, amount_minor, currency, payment_id FROM bookings "
            + where,
            (event_ids,) if event_ids is not None else (),
        ).fetchall()
    return {row[0]: _Booking(*row) for row in rows}


def _payments(url: str, event_ids: list[str] | None) -> dict[str, _Payment]:
    where = "WHERE p.event_id = ANY(%s::uuid[])" if event_ids is not None else ""
    with psycopg.connect(libpq_conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT p.id::text, p.booking_id::text, p.event_id::text, p.state, p.currency, p.captured_minor,"
            " p.refunded_minor, coalesce(sum(r.amount_minor) FILTER (WHERE r.state <> 'FAILED'), 0)"
            " FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id " + where + " GROUP BY p.id",
            (event_ids,) if event_ids is not None else (),
        ).fetchall()
    return {row[0]: _Payment(*row[:-1], refunds_minor=int(row[-1])) for row in rows}


def revenue_by_event(payments_url: str) -> dict[str, tuple[str, int]]:
    """Per event with payments: (currency, captured - refunded) as the payments say."""
    return {
        payment.event_id: (payment.currency, total)
        for payment, total in _sums(_payments(payments_url, None)).values()
    }


def _sums(payments: Mapping[str, _Payment]) -> dict[str, tuple[_Payment, int]]:
    sums: dict[str, tuple[_Payment, int]] = {}
    for payment in payments.values():
        _, total = sums.get(payment.event_id, (payment, 0))
        sums[payment.event_id] = (payment, total + payment.captured_minor - payment.refunded_minor)
    return sums


def money_invariant_violations(
    bookings_url: str,
    payments_url: str,
    *,
    event_ids: list[str] | None = None,
    reported_revenue: Mapping[str, tuple[str, int]] | None = None,
) -> list[str]:
    """Every way the databases break the money invariants now (empty: they hold)."""
    bookings = _bookings(bookings_url, event_ids)
    payments = _payments(payments_url, event_ids)
    broken: list[str] = []
    for booking in bookings.values():
        if booking.state != "CONFIRMED" or booking.amount_minor is None:
            continue
        payment = payments.get(booking.payment_id or "")
        if payment is None or payment.state != "SUCCEEDED" or payment.booking_id != booking.id:
            broken.append(f"booking {booking.id} is CONFIRMED without a succeeded payment of it ({payment})")
        elif (payment.captured_minor, payment.currency) != (booking.amount_minor, booking.currency):
            broken.append(f"booking {booking.id} costs {booking.amount_minor} {booking.currency}; {payment}")
    for payment in payments.values():
        if payment.refunded_minor != payment.refunds_minor or payment.refunded_minor > payment.captured_minor:
            broken.append(f"payment {payment.id}: refunded does not match its refunds: {payment}")
        if payment.state != "SUCCEEDED":
            continue
        booking = bookings.get(payment.booking_id)
        kept = booking is not None and booking.state == "CONFIRMED" and booking.payment_id == payment.id
        if not kept and payment.refunded_minor != payment.captured_minor:
            broken.append(
                f"payment {payment.id} succeeded, its booking ({booking}) does not keep it,"
                " and it is not refunded"
            )
    if reported_revenue is not None:
        for event_id, (payment, total) in _sums(payments).items():
            if reported_revenue.get(event_id) != (payment.currency, total):
                broken.append(
                    f"event {event_id}: payments say {total} {payment.currency}, the report "
                    f"{reported_revenue.get(event_id)}"
                )
    return broken


def wait_money_settled(
    bookings_url: str,
    payments_url: str,
    *,
    event_ids: list[str] | None = None,
    within: float = 30.0,
) -> None:
    """Until the money invariants hold (the bus caught up); AssertionError naming what disagrees."""
    deadline = time.monotonic() + within
    while True:
        broken = money_invariant_violations(bookings_url, payments_url, event_ids=event_ids)
        if not broken:
            return
        if time.monotonic() > deadline:
            raise AssertionError("money invariants broken:\n" + "\n".join(broken))
        time.sleep(0.2)
