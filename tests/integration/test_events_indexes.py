"""Every ListEvents filter and order, and the inventory statements, are served by an index.

Runs the exact statements the store builds through `EXPLAIN` on 10,000 analysed events with
realistic selectivity (50 cities, 500 organizers, 200 tags). Run with `-s` to see the plans.

`has_available_seats` is the one filter without an index of its own, on purpose: an index on
`seats_taken` would turn every reservation (the hottest write there is) from a HOT update that
touches no index into one that writes every index of the table. It is a filter on the rows the
order's index yields; most events have free seats, so it rarely reads many extra rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.sql import ClauseElement

from services.events.domain import ListQuery, Order, State
from services.events.store import event_transaction, inventory, listing
from services.runtime.database import Database, Statement
from tests.integration.test_events_helpers import generated_events, insert_events, open_database
from tests.support.engines import Engines

CITIES = [f"City {n}" for n in range(50)]
TAGS = [f"tag{n}" for n in range(200)]


@pytest.fixture(scope="module")
async def analysed(engines: Engines) -> AsyncIterator[tuple[Database, list[dict[str, Any]]]]:
    database = await open_database(engines.new_database("events"))
    rows = generated_events(10_000, seed=11, organizers=500, cities=CITIES, tags=TAGS)
    await insert_events(database, rows)
    # A reservation per event, so the planner sees a real reservations table too.
    await database.execute(
        text(
            "INSERT INTO reservations (reservation_id, event_id, seats)"
            " SELECT gen_random_uuid(), id, 1 FROM events"
        )
    )
    await database.execute(text("ANALYZE events"))
    await database.execute(text("ANALYZE reservations"))
    yield database, rows
    await database.close()


async def _plan(
    database: Database, statement: Statement | ClauseElement, params: dict[str, Any] | None = None
) -> str:
    compiled = statement if isinstance(statement, Statement) else Statement.of(statement)
    explain = Statement("EXPLAIN " + compiled.sql, compiled.defaults)
    return "\n".join(row[0] for row in await database.rows(explain, **(params or {})))


def _cases(rows: list[dict[str, Any]]) -> list[tuple[str, ListQuery, Any, list[str]]]:
    base = min(row["start_time"] for row in rows)
    first = sorted(rows, key=lambda row: (row["start_time"], row["id"]))[40]
    return [
        ("order start_time", ListQuery(), None, ["Index Scan using ix_events_start_time"]),
        (
            "order start_time desc",
            ListQuery(order=Order.START_TIME_DESC),
            None,
            ["Index Scan Backward using ix_events_start_time"],
        ),
        (
            "order rating desc",
            ListQuery(order=Order.RATING_DESC),
            None,
            ["Index Scan Backward using ix_events_rating"],
        ),
        (
            "order create_time desc",
            ListQuery(order=Order.CREATE_TIME_DESC),
            None,
            ["Index Scan Backward using ix_events_create_time"],
        ),
        ("city", ListQuery(city="city 7"), None, ["ix_events_city"]),
        ("organizer_id", ListQuery(organizer_id=rows[0]["organizer_id"]), None, ["ix_events_organizer"]),
        ("state", ListQuery(state=State.CANCELLED), None, ["ix_events_state"]),
        ("tags", ListQuery(tags=("tag17",)), None, ["Bitmap Index Scan on ix_events_tags"]),
        ("query", ListQuery(query="saxophone"), None, ["Bitmap Index Scan on ix_events_search"]),
        (
            "start_time window",
            ListQuery(
                start_time_after=base + timedelta(hours=50), start_time_before=base + timedelta(hours=53)
            ),
            None,
            ["ix_events_start_time", "Index Cond: ((start_time >="],
        ),
        (
            "min_rating, best first",
            ListQuery(order=Order.RATING_DESC, min_rating=4.5),
            None,
            ["Index Scan Backward using ix_events_rating", "Index Cond: (rating_average >="],
        ),
        (
            "has_available_seats (no index of its own, see above)",
            ListQuery(has_available_seats=True),
            None,
            ["Index Scan using ix_events_start_time", "Filter: (seats_taken < capacity)"],
        ),
        (
            "next page (keyset)",
            ListQuery(),
            (first["start_time"], first["id"]),
            ["Index Scan using ix_events_start_time", "Index Cond: (ROW(start_time, id) > ROW("],
        ),
    ]


async def test_every_filter_and_order_uses_an_index(
    analysed: tuple[Database, list[dict[str, Any]]],
) -> None:
    database, rows = analysed
    for name, query, after, expected in _cases(rows):
        plan = await _plan(database, listing.list_statement(query, after, 21))
        print(f"\n-- {name}\n{plan}")
        for fragment in expected:
            assert fragment in plan, f"{name}: expected {fragment!r} in\n{plan}"


async def test_inventory_and_jobs_find_their_rows_by_index(
    analysed: tuple[Database, list[dict[str, Any]]],
) -> None:
    database, rows = analysed
    params = {"p_event_id": rows[0]["id"], "p_seats": 2, "p_reservation_id": uuid.uuid4(), "p_limit": 500}
    for name, statement, expected in [
        ("reserve", inventory.RESERVE, ["events_pkey", "reservations_pkey"]),
        ("release", inventory.RELEASE, ["events_pkey", "reservations_pkey"]),
        ("completion job", event_transaction.COMPLETE_DUE, ["ix_events_due"]),
    ]:
        plan = await _plan(database, statement, params)
        print(f"\n-- {name}\n{plan}")
        for fragment in expected:
            assert fragment in plan, f"{name}: expected {fragment!r} in\n{plan}"
