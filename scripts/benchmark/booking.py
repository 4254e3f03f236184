"""Steady booking (free and paid events) with what it costs per confirmed booking, and the
constant-rate phase.

A steady phase's window runs from the start of the load until the SMTP sink received the last email
those bookings set off (confirmations; for a paid event the receipts too): a system that confirms
fast by leaving its emails behind is not fast. Over that window it counts CPU per process and
PostgreSQL commits per database (accounting.py); the sustained rate is the confirmed bookings over
the window, the burst rate the same bookings over the time the load ran.

A paid phase books (every booking holds its seat, AWAITING_PAYMENT, with a checkout at the fake
Stripe), then pays every checkout as a buyer would: the fake Stripe sends its signed
`checkout.session.completed` webhook through Envoy to payments, whose PaymentSucceeded confirms the
booking. The money invariants are checked after (tests/support/money.py).
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
import uuid
from typing import Any

import httpx
import psycopg

from scripts.benchmark.accounting import STATS_FLUSH, CommitCounter, CpuSnapshot, MailLog
from scripts.benchmark.load import _tool, python_load, run_wrk
from scripts.benchmark.model import BenchConfig, BenchFailure, Result, Target
from scripts.benchmark.openloop import booking_request, open_loop
from scripts.benchmark.seeding import Seeder, check_invariant, create_event
from services.runtime.migrations import libpq_conninfo
from tests.support.money import money_invariant_violations

# How long the emails of a phase may take after its load ended.
MAIL_TIMEOUT = 300.0
# How long paying every hold may take.
PAYMENT_TIMEOUT = 300.0


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (wrk, h2load) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Window:
    """What the mesh spends from now until the last email of a phase arrived."""

    def __init__(self, target: Target, commits: CommitCounter | None) -> None:
        self.processes = {**target.processes, **target.engines}
        self.mail = MailLog(target.mail_dir / "index.tsv") if target.mail_dir is not None else None
        self.commits = commits
        self.wall_start = time.time()
        self.cpu_start = CpuSnapshot.take(self.processes)
        self.commits_start = commits.read() if commits is not None else None
        self.generator_start = _children_cpu() + time.process_time()

    def close(self, confirmed: int, emails: dict[str, int]) -> dict[str, Any]:
        """Wait for `emails` (count per X-Seatmesh-Kind), then the costs per confirmed booking."""
        last_email = None
        if self.mail is not None:
            last_email = self.mail.wait_for(emails, MAIL_TIMEOUT)
            if last_email is None:
                raise BenchFailure(
                    f"emails missing after {MAIL_TIMEOUT:.0f}s: {self.mail.counts} of {emails}"
                )
        cpu = CpuSnapshot.take(self.processes).since(self.cpu_start)
        generator = _children_cpu() + time.process_time() - self.generator_start
        ended = last_email if last_email is not None else time.time()
        window = ended - self.wall_start
        per_booking = max(confirmed, 1)
        detail: dict[str, Any] = {
            "window_s": window,
            "sustained_rate": confirmed / window if window > 0 else 0.0,
            "emails": emails,
            "cpu_ms_per_booking": {name: seconds * 1000 / per_booking for name, seconds in cpu.items()},
            "cpu_ms_per_booking_total": sum(cpu.values()) * 1000 / per_booking,
            "load_generator_cpu_ms_per_booking": generator * 1000 / per_booking,
        }
        if self.commits is not None and self.commits_start is not None:
            # Every backend reports its counts within PostgreSQL's idle interval.
            time.sleep(STATS_FLUSH)
            commits = self.commits.since(self.commits_start, self.commits.read())
            detail["commits_per_booking"] = {name: count / per_booking for name, count in commits.items()}
            detail["commits_per_booking_total"] = sum(commits.values()) / per_booking
            detail["idle_commits_per_second"] = self.commits.idle_rate
        return detail


# -- paying holds --------------------------------------------------------------------------------


def _count_states(target: Target, event_id: str) -> dict[str, int]:
    with psycopg.connect(libpq_conninfo(target.database_urls["bookings"]), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM bookings WHERE event_id = %s GROUP BY state", (event_id,)
        ).fetchall()
    return {str(state): int(count) for state, count in rows}


def _open_checkouts(target: Target, event_id: str, paid: set[str]) -> list[str]:
    with psycopg.connect(libpq_conninfo(target.database_urls["payments"]), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT checkout_id FROM payments WHERE event_id = %s AND state = 'PENDING'"
            " AND checkout_id IS NOT NULL",
            (event_id,),
        ).fetchall()
    return [row[0] for row in rows if row[0] not in paid]


async def _complete(stripe_url: str, sessions: list[str], concurrency: int) -> int:
    """The buyers pay at the fake Stripe's checkout; it sends each signed webhook to the edge."""
    paid = 0
    queue = list(sessions)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stripe_url, limits=limits, timeout=30) as client:

        async def payer() -> None:
            nonlocal paid
            while queue:
                session = queue.pop()
                response = await client.post(f"/pay/{session}/complete")
                if response.status_code == 200:
                    paid += 1

        await asyncio.gather(*(payer() for _ in range(concurrency)))
    return paid


def pay_every_hold(target: Target, event_id: str, *, concurrency: int = 16) -> int:
    """Pay every booking of the event that holds seats awaiting payment; returns how many are
    CONFIRMED once none awaits payment any more."""
    if target.stripe_url is None:
        raise BenchFailure("the paid runs need the fake Stripe (payments provider stripe)")
    paid: set[str] = set()
    deadline = time.monotonic() + PAYMENT_TIMEOUT
    while True:
        states = _count_states(target, event_id)
        if not states.get("AWAITING_PAYMENT") and not states.get("PENDING"):
            return states.get("CONFIRMED", 0)
        if time.monotonic() > deadline:
            raise BenchFailure(f"holds still unpaid after {PAYMENT_TIMEOUT:.0f}s: {states}")
        # A checkout the booking's request did not open in time is opened by bookings' reconciler.
        sessions = _open_checkouts(target, event_id, paid)
        if sessions:
            asyncio.run(_complete(target.stripe_url, sessions, concurrency))
            paid.update(sessions)
        else:
            time.sleep(0.1)


def check_money(target: Target, event_ids: list[str], within: float = 60.0) -> None:
    """The money invariants, once the bus delivered what is in flight; BenchFailure when broken."""
    deadline = time.monotonic() + within
    while True:
        broken = money_invariant_violations(
            target.database_urls["bookings"], target.database_urls["payments"], event_ids=event_ids
        )
        if not broken:
            return
        if time.monotonic() > deadline:
            raise BenchFailure("money invariants broken: " + "; ".join(broken[:5]))
        time.sleep(0.2)


# -- steady booking ------------------------------------------------------------------------------


def _book_with_wrk(
    target: Target, config: BenchConfig, guests: list[tuple[str, str]], event_id: str, duration: float
) -> tuple[dict[str, Any], str]:
    if _tool("wrk"):
        with tempfile.NamedTemporaryFile("w", suffix=".tokens") as tokens:
            tokens.write("\n".join(token for _, token in guests))
            tokens.flush()
            raw = run_wrk(
                target,
                "book.lua",
                "/v1/bookings",
                connections=config.connections,
                threads=config.threads,
                duration=duration,
                env={
                    "BENCH_TOKENS": tokens.name,
                    "BENCH_EVENT_ID": event_id,
                    "BENCH_RUN_ID": uuid.uuid4().hex[:8],
                },
            )
        return raw, "wrk"
    per_worker = len(guests) // config.connections

    def make_request(index: int, sequence: int) -> tuple[str, str, dict[str, Any]]:
        _, token = guests[(index * per_worker + sequence) % len(guests)]
        return (
            "POST",
            "/v1/bookings",
            {
                "params": {"requestId": str(uuid.uuid4())},
                "json": {"eventId": event_id, "seats": 1},
                "headers": {"Authorization": f"Bearer {token}"},
            },
        )

    raw = asyncio.run(python_load(target, make_request, connections=config.connections, duration=duration))
    return raw, "python"


def phase_steady_booking(
    target: Target,
    config: BenchConfig,
    seeder: Seeder,
    organizer: str,
    commits: CommitCounter | None,
    *,
    paid: bool = False,
) -> Result:
    """Closed-loop booking at `config.connections` connections, each booking by a distinct user."""
    duration = config.paid_duration if paid else config.duration
    # More users than the run can possibly use: every booking is by a distinct user.
    guests = seeder.users(int(duration * (1500 if config.quick else 3000)) + 1000)
    event_id = create_event(
        target, organizer, capacity=100_000, title="Steady booking", price_units=25 if paid else None
    )
    window = Window(target, commits)
    raw, loader = _book_with_wrk(target, config, guests, event_id, duration)
    load_seconds = raw["duration_us"] / 1e6
    counts = check_invariant(target, [event_id])[event_id]
    answered = raw.get("states", {})
    if paid:
        holds = counts.get("awaiting_payment", 0)
        confirmed = pay_every_hold(target, event_id)
        if confirmed != holds:
            raise BenchFailure(f"{holds} holds were paid but {confirmed} bookings are confirmed")
        counts = check_invariant(target, [event_id])[event_id]
        emails = {"BOOKING_CONFIRMED": confirmed, "PAYMENT_RECEIPT": confirmed}
    else:
        confirmed = counts.get("confirmed", 0)
        emails = {"BOOKING_CONFIRMED": confirmed}
    if confirmed == 0:
        raise BenchFailure(f"no booking was confirmed: {raw}")
    costs = window.close(confirmed, emails)
    if paid:
        check_money(target, [event_id])
    name = (
        "steady booking, paid event (REST, JWT, 1 seat each; then a Stripe webhook each)"
        if paid
        else "steady booking (REST, JWT, 1 seat each)"
    )
    return Result(
        name=name,
        rate=confirmed / load_seconds if load_seconds else 0.0,
        unit="confirmed/s",
        p50_ms=raw.get("p50_us", 0) / 1000,
        p99_ms=raw.get("p99_us", 0) / 1000,
        errors=int(raw.get("errors", 0)) + int(raw.get("non_2xx", 0)),
        loader=loader,
        detail={
            "statuses": raw.get("statuses", {}),
            "states": answered,
            "confirmed": confirmed,
            "requests": raw["requests"],
            "load_s": load_seconds,
            "connections": config.connections,
            "invariant": "holds",
            "money": "holds" if paid else None,
            "event": counts,
            **costs,
        },
    )


# -- latency at a fixed rate --------------------------------------------------------------------


def phase_fixed_rate(
    target: Target, config: BenchConfig, seeder: Seeder, organizer: str, rate: float
) -> Result:
    """Bookings sent on a fixed schedule (open loop) at `rate` per second; latency from due time."""
    count = int(rate * config.fixed_rate_duration) + 1
    guests = seeder.users(count)
    event_id = create_event(target, organizer, capacity=100_000, title="Fixed rate")
    host, _, port = target.edge.partition(":")
    run = uuid.uuid4().hex[:8]
    requests = [
        booking_request(target.edge, token, event_id, f"{run}-{index}")
        for index, (_, token) in enumerate(guests)
    ]
    cpu = time.process_time()
    result = asyncio.run(
        open_loop(host, int(port), requests.__getitem__, rate=rate, duration=config.fixed_rate_duration)
    )
    generator = time.process_time() - cpu
    summary = result.summary()
    counts = check_invariant(target, [event_id])[event_id]
    if counts.get("confirmed", 0) == 0:
        raise BenchFailure(f"no booking was confirmed at a fixed rate: {summary}")
    return Result(
        name=f"fixed rate: {rate:,.0f} bookings/s (REST, open loop)",
        rate=summary["achieved_rate"],
        unit="req/s",
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        errors=summary["errors"] + summary["non_2xx"],
        loader="open loop",
        detail={
            **summary,
            "generator_cpu_s": generator,
            "confirmed": counts.get("confirmed", 0),
            "invariant": "holds",
            "event": counts,
        },
    )
