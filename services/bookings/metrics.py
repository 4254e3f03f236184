"""What bookings tells Prometheus about the business, named once here: bookings by the outcome they
settled with, seats sold, holds that ran out, and the reconciler's backlog (read at scrape time).

The counters are counted once their transaction committed, so a rolled-back attempt counts nothing.
"""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from sqlalchemy import and_, func, select, text

from services.bookings.domain import Booking, State
from services.bookings.tables import RECONCILE_SQL, bookings
from services.runtime.database import Database, Statement
from services.runtime.metrics import Gauge, Reading

# The state a reservation attempt settled a booking in, lower case.
OUTCOMES = ("confirmed", "awaiting_approval", "awaiting_payment", "waitlisted", "rejected")
# approval: the host did not answer in time; payment: the guest did not pay in time.
HOLDS = ("approval", "payment")

BOOKINGS = Counter("seatmesh_bookings_total", "Bookings by the outcome they settled with", ["outcome"])
SEATS_SOLD = Counter("seatmesh_seats_sold_total", "Seats of bookings that became CONFIRMED")
HOLD_EXPIRIES = Counter("seatmesh_hold_expiries_total", "Seat holds that ran out and expired", ["hold"])
# Every series exists from the start at 0, so the first booking or expiry shows as an increase.
for _outcome in OUTCOMES:
    BOOKINGS.labels(_outcome)
for _hold in HOLDS:
    HOLD_EXPIRIES.labels(_hold)

# The state a hold was in when it ran out.
_HOLD_OF = {State.AWAITING_APPROVAL: "approval", State.AWAITING_PAYMENT: "payment"}


def count_settlement(before: Booking, after: Booking) -> None:
    """A reservation attempt settled `before` (PENDING) as `after` (the statement committed)."""
    if after.state is before.state:
        return
    outcome = after.state.value.lower()
    if outcome in OUTCOMES:
        BOOKINGS.labels(outcome).inc()
    if after.state is State.CONFIRMED:
        SEATS_SOLD.inc(after.seats)


def count_early_answer(state: State) -> None:
    """A request answered without a reservation (its event known to be sold out): refused, or
    written WAITLISTED; counted with the outcomes of those that asked events."""
    BOOKINGS.labels(state.value.lower()).inc()


def count_confirmed(booking: Booking) -> None:
    """A held booking became CONFIRMED later (approved, or paid): its seats are sold now."""
    if booking.state is State.CONFIRMED:
        SEATS_SOLD.inc(booking.seats)


async def count_confirmed_after_commit(booking: Booking) -> None:
    count_confirmed(booking)


async def count_hold_expiries(previous_states: list[State]) -> None:
    for previous in previous_states:
        hold = _HOLD_OF.get(previous)
        if hold is not None:
            HOLD_EXPIRIES.labels(hold).inc()


RECONCILE_BACKLOG = Gauge(
    "seatmesh_bookings_reconcile_backlog",
    "Bookings the reconciler should have finished by now: PENDING reservations, unconfirmed"
    " releases, unopened checkouts and late payments, due and not yet taken",
)
RECONCILE_OLDEST = Gauge(
    "seatmesh_bookings_reconcile_oldest_due_seconds",
    "How long the longest-waiting due booking of the reconciler has been due (0 when none is)",
)

c = bookings.c
_BACKLOG = Statement.of(
    select(
        func.count(),
        func.coalesce(func.extract("epoch", func.now() - func.min(c.retry_at)), 0),
    ).where(and_(text(f"({RECONCILE_SQL})"), c.retry_at <= func.now()))
)


def reconcile_backlog(database: Database) -> Reading:
    async def read() -> list[Metric]:
        backlog, oldest = RECONCILE_BACKLOG.family(), RECONCILE_OLDEST.family()
        row = await database.row(_BACKLOG)
        if row is not None:
            backlog.add_metric([], float(row[0]))
            oldest.add_metric([], float(row[1]))
        return [backlog, oldest]

    return Reading("reconciler backlog", read)
