"""Seeding (verified accounts in bulk, events) and the seat invariant checked after every phase."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from scripts.benchmark.model import BenchFailure, Target
from services.runtime.auth import Role, access_claims
from services.runtime.migrations import libpq_conninfo
from services.users.keyring import signing_key_in_dir

# -- seeding ------------------------------------------------------------------------------------


class Seeder:
    def __init__(self, target: Target) -> None:
        self.target = target
        key = signing_key_in_dir(target.key_dir)
        if key is None:
            raise BenchFailure(
                f"no signing key in {target.key_dir}: is the users service of this mesh running?"
            )
        self.key = key
        from passlib.hash import argon2

        self.password_hash = argon2.hash("bench password 123")

    def token(self, user_id: str, role: Role) -> str:
        claims = access_claims(
            subject=user_id,
            role=role,
            issuer=self.target.issuer,
            audience=self.target.audience,
            ttl_seconds=3600,
            email_verified=True,
        )
        return self.key.sign(claims)

    def users(self, count: int, role: Role = Role.PARTICIPANT) -> list[tuple[str, str]]:
        """`count` verified accounts in the users database, with an access token each."""
        run = uuid.uuid4().hex[:8]
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with psycopg.connect(libpq_conninfo(self.target.database_urls["users"])) as connection:
            with connection.cursor().copy(
                "COPY users (id, email, password_hash, display_name, role, email_verified) FROM STDIN"
            ) as copy:
                for index, user_id in enumerate(ids):
                    copy.write_row(
                        (
                            user_id,
                            f"bench-{run}-{index}@example.com",
                            self.password_hash,
                            f"Bench {index}",
                            role.value,
                            True,
                        )
                    )
            connection.commit()
        return [(user_id, self.token(user_id, role)) for user_id in ids]


def create_event(
    target: Target, organizer_token: str, *, capacity: int, title: str, price_units: int | None = None
) -> str:
    """A scheduled event two days ahead; with `price_units`, paid (that many euros a seat)."""
    start = datetime.now(UTC) + timedelta(days=2)
    body: dict[str, object] = {
        "title": title,
        "description": "seatmesh benchmark",
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "endTime": (start + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
        "timeZone": "Europe/Berlin",
        "city": "Benchtown",
        "venue": "Hall 1",
        "capacity": capacity,
        "maxSeatsPerBooking": 1,
        "tags": ["bench", "music"],
    }
    if price_units is not None:
        body["price"] = {"currencyCode": "EUR", "units": str(price_units)}
    response = httpx.post(
        f"{target.rest_url}/v1/events",
        params={"requestId": str(uuid.uuid4())},
        json=body,
        headers={"Authorization": f"Bearer {organizer_token}"},
        timeout=10,
    )
    if response.status_code != 200:
        raise BenchFailure(f"could not create the event: {response.status_code} {response.text}")
    return str(response.json()["id"])


# -- the invariant -------------------------------------------------------------------------------


def wait_settled(target: Target, event_ids: list[str], timeout: float = 60.0) -> None:
    """Wait until no booking of these events is PENDING. A load generator that stops leaves
    requests in flight; Envoy cancels them, and the reconciler settles those bookings shortly."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_conninfo(target.database_urls["bookings"]), autocommit=True) as connection:
        while True:
            row = connection.execute(
                "SELECT count(*) FROM bookings WHERE event_id = ANY(%s::text[]) AND state = 'PENDING'",
                (event_ids,),
            ).fetchone()
            if not row or row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise BenchFailure(f"{row[0]} bookings still PENDING after {timeout:.0f}s")
            time.sleep(0.2)


def check_invariant(target: Target, event_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per event, once every booking settled: capacity, seats_taken, held seats and booking
    states; raises when they disagree."""
    wait_settled(target, event_ids)
    with psycopg.connect(libpq_conninfo(target.database_urls["events"])) as connection:
        rows = connection.execute(
            "SELECT id::text, capacity, seats_taken FROM events WHERE id = ANY(%s::uuid[])", (event_ids,)
        ).fetchall()
    events = {row[0]: {"capacity": row[1], "seats_taken": row[2]} for row in rows}
    with psycopg.connect(libpq_conninfo(target.database_urls["bookings"])) as connection:
        rows = connection.execute(
            "SELECT event_id::text, state, count(*), coalesce(sum(seats), 0) FROM bookings"
            " WHERE event_id = ANY(%s::text[]) GROUP BY event_id, state",
            (event_ids,),
        ).fetchall()
    for event in events.values():
        event["held_seats"] = 0
    for event_id, state, count, seats in rows:
        event = events[event_id]
        event[state.lower()] = int(count)
        # The states that hold seats at events (a paid booking holds them while its guest pays).
        if state in ("CONFIRMED", "AWAITING_APPROVAL", "AWAITING_PAYMENT"):
            event["held_seats"] += int(seats)
    for event_id, event in events.items():
        if not (event["seats_taken"] == event["held_seats"] <= event["capacity"]):
            raise BenchFailure(f"seat invariant broken for event {event_id}: {event}")
    return events
