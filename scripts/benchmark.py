"""The flash-sale and throughput benchmark behind `scripts/bench`; everything goes through Envoy.

Phases: (1) the stack's own ceiling — gRPC health checks through Envoy (h2load) and a trivial REST
GET (wrk); (2) steady booking — distinct users booking one seat each on a very large event over REST
with JWTs (wrk + Lua); (3) event lists, with and without filters, cached and uncached; (4) a flash
sale — thousands of buyers at once for a few hundred seats, over gRPC through Envoy; (5) the RSS of
every process. After each booking phase the seat invariant is checked in the databases:
seats_taken == sum(seats of CONFIRMED + AWAITING_APPROVAL bookings) <= capacity.

Users are seeded as real verified accounts (one bulk insert into the users database) with access
tokens minted by the mesh's own signing key, so seeding takes seconds, not an hour of Argon2.
Without wrk/h2load (Debian packages) a slower Python load generator stands in and the report says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import psycopg
from rich.console import Console
from rich.table import Table

from scripts.mesh import ROOT, Mesh, MeshOptions
from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc
from services.runtime.auth import Role, access_claims
from services.runtime.db import drop_databases, libpq_conninfo
from services.runtime.redis import delete_keys
from services.users.keyring import signing_key_in_dir

WRK_DIR = Path(__file__).resolve().parent / "wrk"
console = Console(stderr=True)


@dataclass
class BenchConfig:
    quick: bool = False
    duration: float = 20.0
    connections: int = 64
    threads: int = 2
    flash_buyers: int = 5000
    flash_seats: int = 500
    list_duration: float = 10.0
    ceiling_duration: float = 10.0
    out_dir: Path = ROOT / "var" / "bench"
    workers: int = 1
    envoy_concurrency: int = 2

    @classmethod
    def quick_config(cls) -> BenchConfig:
        return cls(
            quick=True,
            duration=2.0,
            connections=16,
            flash_buyers=400,
            flash_seats=40,
            list_duration=0.5,
            ceiling_duration=0.5,
        )


@dataclass
class Target:
    """The mesh under test: where it answers and where its data lives."""

    rest_url: str
    edge: str
    key_dir: Path
    database_urls: dict[str, str]
    issuer: str
    audience: str
    processes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_mesh(cls, mesh: Mesh) -> Target:
        return cls(
            rest_url=mesh.rest_url,
            edge=mesh.edge,
            key_dir=mesh.var / "keys",
            database_urls={name: mesh.service_database_url(name) for name in mesh.ports},
            issuer=mesh.service_env.get("SEATMESH_JWT_ISSUER", "seatmesh"),
            audience=mesh.service_env.get("SEATMESH_JWT_AUDIENCE", "seatmesh"),
            processes={name: process.popen.pid for name, process in mesh.processes.items()},
        )


@dataclass
class Result:
    name: str
    rate: float
    unit: str = "req/s"
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    loader: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class BenchFailure(AssertionError):
    """A correctness check failed: the numbers of this run mean nothing."""


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


def create_event(target: Target, organizer_token: str, *, capacity: int, title: str) -> str:
    start = datetime.now(UTC) + timedelta(days=2)
    body = {
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
        if state in ("CONFIRMED", "AWAITING_APPROVAL"):
            event["held_seats"] += int(seats)
    for event_id, event in events.items():
        if not (event["seats_taken"] == event["held_seats"] <= event["capacity"]):
            raise BenchFailure(f"seat invariant broken for event {event_id}: {event}")
    return events


# -- load generators ------------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    return shutil.which(name)


def run_wrk(
    target: Target,
    script: str,
    path: str,
    *,
    connections: int,
    threads: int,
    duration: float,
    env: dict[str, str],
) -> dict[str, Any]:
    wrk = _tool("wrk")
    assert wrk is not None
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(max(connections, threads)),
        "-d",
        f"{max(duration, 1):.0f}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        target.rest_url + path,
    ]
    environment = dict(os.environ, BENCH_LUA_PATH=str(WRK_DIR), BENCH_THREADS=str(threads), **env)
    finished = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=duration + 120
    )
    for line in finished.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return result
    raise BenchFailure(f"wrk gave no result: {finished.stdout[-500:]} {finished.stderr[-500:]}")


async def python_load(
    target: Target, make_request: Any, *, connections: int, duration: float
) -> dict[str, Any]:
    """A stand-in for wrk: `connections` workers each send requests back to back for `duration`."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    states: Counter[str] = Counter()
    errors = 0
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=target.rest_url, limits=limits, timeout=10) as client:

        async def worker(index: int) -> None:
            nonlocal errors
            sequence = 0
            while time.monotonic() < deadline:
                sequence += 1
                method, path, kwargs = make_request(index, sequence)
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, **kwargs)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(response.status_code)] += 1
                if method == "POST":
                    body = response.json()
                    states[body.get("state") or _reason(body) or "UNKNOWN"] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(index) for index in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "errors": errors,
        "non_2xx": sum(count for status, count in statuses.items() if not status.startswith("2")),
        "p50_us": _percentile(latencies, 50) * 1e6,
        "p99_us": _percentile(latencies, 99) * 1e6,
        "statuses": dict(statuses),
        "states": dict(states),
    }


def _reason(body: dict[str, Any]) -> str | None:
    for detail in body.get("details") or []:
        if detail.get("reason"):
            return str(detail["reason"])
    return None


def _percentile(ordered: list[float], percent: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def load_get(
    target: Target, config: BenchConfig, path: str, *, bust: bool, duration: float
) -> tuple[dict[str, Any], str]:
    if _tool("wrk"):
        env = {"BENCH_PATH": path, "BENCH_BUST": "1" if bust else "0"}
        return run_wrk(
            target,
            "get.lua",
            path,
            connections=config.connections,
            threads=config.threads,
            duration=duration,
            env=env,
        ), "wrk"

    def make_request(index: int, sequence: int) -> tuple[str, str, dict[str, Any]]:
        if not bust:
            return "GET", path, {}
        separator = "&" if "?" in path else "?"
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=index * 50_000_000 + sequence)
        return "GET", f"{path}{separator}startTimeAfter={moment.strftime('%Y-%m-%dT%H:%M:%SZ')}", {}

    return asyncio.run(
        python_load(target, make_request, connections=config.connections, duration=duration)
    ), "python"


def grpc_health_ceiling(target: Target, config: BenchConfig) -> tuple[dict[str, Any], str]:
    h2load = _tool("h2load")
    if h2load:
        with tempfile.NamedTemporaryFile(suffix=".bin") as body:
            body.write(b"\x00\x00\x00\x00\x00")  # one gRPC frame: an empty HealthCheckRequest
            body.flush()
            finished = subprocess.run(
                [
                    h2load,
                    "-D",
                    f"{max(config.ceiling_duration, 1):.0f}",
                    "-c",
                    str(config.connections),
                    "-m",
                    "16",
                    "-t",
                    str(config.threads),
                    "-d",
                    body.name,
                    "-H",
                    "content-type: application/grpc",
                    "-H",
                    "te: trailers",
                    f"http://{target.edge}/grpc.health.v1.Health/Check",
                ],
                capture_output=True,
                text=True,
                timeout=config.ceiling_duration + 60,
            )
        return _parse_h2load(finished.stdout), "h2load"
    return asyncio.run(_grpc_health_python(target, config)), "python"


def _parse_h2load(output: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("finished in"):
            result["rate"] = float(words[3])
        elif line.startswith("requests:"):
            counts = {name: int(number) for number, name in re.findall(r"(\d+) (\w+)", line)}
            result["requests"] = counts.get("done", 0)
            result["errors"] = counts.get("failed", 0) + counts.get("errored", 0) + counts.get("timeout", 0)
        elif line.startswith("time for request:"):
            result["mean_us"] = _h2load_time(words[5])
    if "rate" not in result:
        raise BenchFailure(f"h2load gave no result: {output[-500:]}")
    return result


def _h2load_time(text: str) -> float:
    for suffix, factor in (("us", 1.0), ("ms", 1e3), ("s", 1e6)):
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


async def _grpc_health_python(target: Target, config: BenchConfig) -> dict[str, Any]:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    count = 0
    deadline = time.monotonic() + config.ceiling_duration
    async with grpc.aio.insecure_channel(target.edge) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def worker() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                count += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(config.connections)))
        return {"rate": count / (time.monotonic() - started), "requests": count, "errors": 0}


# -- phases ----------------------------------------------------------------------------------------


def _latency_result(name: str, raw: dict[str, Any], loader: str, **detail: Any) -> Result:
    seconds = raw["duration_us"] / 1e6
    return Result(
        name=name,
        rate=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw.get("p50_us", 0) / 1000,
        p99_ms=raw.get("p99_us", 0) / 1000,
        errors=int(raw.get("errors", 0)) + int(raw.get("non_2xx", 0)),
        loader=loader,
        detail={"statuses": raw.get("statuses", {}), **detail},
    )


def phase_ceiling(target: Target, config: BenchConfig) -> list[Result]:
    health, loader = grpc_health_ceiling(target, config)
    grpc_result = Result(
        name="ceiling: gRPC Health/Check through Envoy",
        rate=health["rate"],
        errors=health.get("errors", 0),
        p50_ms=health.get("mean_us", 0) / 1000 if health.get("mean_us") else None,
        loader=loader,
        detail={"note": "h2load reports the mean, shown as p50"} if loader == "h2load" else {},
    )
    raw, loader = load_get(target, config, "/v1/tags", bust=False, duration=config.ceiling_duration)
    return [grpc_result, _latency_result("ceiling: REST GET /v1/tags", raw, loader)]


def phase_steady_booking(target: Target, config: BenchConfig, seeder: Seeder, organizer: str) -> Result:
    # More users than the run can possibly use: every booking is by a distinct user.
    user_count = int(config.duration * (1500 if config.quick else 3000)) + 1000
    guests = seeder.users(user_count)
    event_id = create_event(target, organizer, capacity=100_000, title="Steady booking")
    started = datetime.now(UTC)
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
                duration=config.duration,
                env={
                    "BENCH_TOKENS": tokens.name,
                    "BENCH_EVENT_ID": event_id,
                    "BENCH_RUN_ID": uuid.uuid4().hex[:8],
                },
            )
        loader = "wrk"
    else:
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

        raw = asyncio.run(
            python_load(target, make_request, connections=config.connections, duration=config.duration)
        )
        loader = "python"
    counts = check_invariant(target, [event_id])[event_id]
    confirmed = counts.get("confirmed", 0)
    seconds = raw["duration_us"] / 1e6
    result = _latency_result(
        "steady booking (REST, JWT, 1 seat each)", raw, loader, states=raw.get("states", {})
    )
    result.rate = confirmed / seconds if seconds else 0.0
    result.unit = "confirmed/s"
    result.detail.update(
        confirmed=confirmed,
        requests=raw["requests"],
        invariant="holds",
        event=counts,
        started=started.isoformat(),
    )
    if confirmed == 0:
        raise BenchFailure(f"no booking was confirmed: {raw}")
    return result


def phase_lists(target: Target, config: BenchConfig) -> list[Result]:
    results = []
    for label, path in (
        ("list: GET /v1/events?pageSize=20", "/v1/events?pageSize=20"),
        (
            "list: with filters (city, tags, hasAvailableSeats)",
            "/v1/events?pageSize=20&city=Benchtown&tags=music&hasAvailableSeats=true",
        ),
    ):
        for bust in (False, True):
            raw, loader = load_get(target, config, path, bust=bust, duration=config.list_duration)
            name = f"{label}, {'uncached' if bust else 'cached'}"
            results.append(_latency_result(name, raw, loader))
    return results


async def _flash_sale(target: Target, buyers: list[tuple[str, str]], event_id: str) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(target.edge) for _ in range(8)]
    outcomes: list[tuple[str, float]] = []
    try:
        stubs = [bookings_pb2_grpc.BookingServiceStub(channel) for channel in channels]
        gate = asyncio.Event()

        async def buy(index: int, token: str) -> None:
            await gate.wait()
            request = bookings_pb2.CreateBookingRequest(
                booking=bookings_pb2.Booking(event_id=event_id, seats=1, join_waitlist=index % 2 == 0),
                request_id=str(uuid.uuid4()),
            )
            try:
                booking = await stubs[index % len(stubs)].CreateBooking(
                    request, metadata=(("authorization", f"Bearer {token}"),), timeout=60
                )
                outcome = bookings_pb2.Booking.State.Name(booking.state)
            except grpc.aio.AioRpcError as error:
                from services.runtime.errors import error_reason

                outcome = error_reason(error) or error.code().name
            outcomes.append((outcome, time.monotonic()))

        tasks = [asyncio.create_task(buy(index, token)) for index, (_, token) in enumerate(buyers)]
        await asyncio.sleep(0.2)  # every buyer is waiting at the gate
        started = time.monotonic()
        gate.set()
        await asyncio.gather(*tasks)
        finished = time.monotonic()
    finally:
        for channel in channels:
            await channel.close()
    confirmed_times = sorted(moment for outcome, moment in outcomes if outcome == "CONFIRMED")
    return {
        "outcomes": dict(Counter(outcome for outcome, _ in outcomes)),
        "answered": len(outcomes),
        "all_answered_s": finished - started,
        "sold_out_s": (confirmed_times[-1] - started) if confirmed_times else None,
    }


def phase_flash_sale(target: Target, config: BenchConfig, seeder: Seeder, organizer: str) -> Result:
    buyers = seeder.users(config.flash_buyers)
    event_id = create_event(target, organizer, capacity=config.flash_seats, title="Flash sale")
    sale = asyncio.run(_flash_sale(target, buyers, event_id))
    counts = check_invariant(target, [event_id])[event_id]
    outcomes = sale["outcomes"]
    if counts.get("confirmed", 0) != config.flash_seats or outcomes.get("CONFIRMED", 0) != config.flash_seats:
        raise BenchFailure(f"flash sale did not sell exactly {config.flash_seats} seats: {counts} {outcomes}")
    if sale["answered"] != len(buyers):
        raise BenchFailure(f"{len(buyers) - sale['answered']} buyers got no answer")
    unexplained = {
        outcome: count
        for outcome, count in outcomes.items()
        if outcome not in ("CONFIRMED", "WAITLISTED", "REJECTED", "SOLD_OUT")
    }
    if unexplained:
        raise BenchFailure(f"buyers got answers other than confirmed, waitlisted or sold out: {unexplained}")
    return Result(
        name=f"flash sale: {len(buyers)} buyers, {config.flash_seats} seats (gRPC)",
        rate=sale["sold_out_s"] or 0.0,
        unit="s to sell out",
        loader="grpc.aio",
        detail={**sale, "event": counts, "invariant": "holds"},
    )


def phase_rss(target: Target) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for name, pid in target.processes.items():
        try:
            process = psutil.Process(pid)
            members = [process, *process.children(recursive=True)]
            sizes[name] = sum(member.memory_info().rss for member in members) / 2**20
        except psutil.NoSuchProcess:
            continue
    return sizes


# -- the run ---------------------------------------------------------------------------------------


def run_bench(target: Target, config: BenchConfig) -> dict[str, Any]:
    results: list[Result] = []
    with console.status("seeding an organizer") as status:
        seeder = Seeder(target)
        ((_, organizer),) = seeder.users(1, Role.ORGANIZER)
        status.update("1/5 measuring the stack's ceiling")
        results += phase_ceiling(target, config)
        status.update(f"2/5 steady booking for {config.duration:.0f}s at {config.connections} connections")
        results.append(phase_steady_booking(target, config, seeder, organizer))
        status.update("3/5 event lists")
        results += phase_lists(target, config)
        status.update(f"4/5 flash sale: {config.flash_buyers} buyers for {config.flash_seats} seats")
        results.append(phase_flash_sale(target, config, seeder, organizer))
        status.update("5/5 memory")
        rss = phase_rss(target)
    ceiling = max((r.rate for r in results if r.name.startswith("ceiling")), default=0.0)
    return {
        "when": datetime.now(UTC).isoformat(),
        "quick": config.quick,
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        "config": {key: str(value) for key, value in asdict(config).items()},
        "ceiling_rate": ceiling,
        "results": [asdict(result) for result in results],
        "rss_mb": rss,
    }


def markdown(report: dict[str, Any]) -> str:
    ceiling = report["ceiling_rate"] or 1.0
    lines = [
        "| measurement | result | vs ceiling | p50 ms | p99 ms | errors | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["results"]:
        per_second = result["unit"] in ("req/s", "confirmed/s")
        ratio = f"{result['rate'] / ceiling:.2f}" if per_second else ""
        p50 = f"{result['p50_ms']:.1f}" if result["p50_ms"] is not None else ""
        p99 = f"{result['p99_ms']:.1f}" if result["p99_ms"] is not None else ""
        value = (
            f"{result['rate']:,.0f} {result['unit']}"
            if per_second
            else f"{result['rate']:.2f} {result['unit']}"
        )
        cells = [result["name"], value, ratio, p50, p99, str(result["errors"]), result["loader"]]
        lines.append("| " + " | ".join(cells) + " |")
    rss = ", ".join(f"{name} {size:.0f} MB" for name, size in sorted(report["rss_mb"].items()))
    lines.append("")
    lines.append(f"RSS at the end: {rss}.")
    return "\n".join(lines)


def save(report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if report["quick"] else "")
    (out_dir / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / f"{stamp}.md").write_text(markdown(report) + "\n")
    return out_dir / f"{stamp}.md"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 5-second version (correctness smoke test)")
    parser.add_argument(
        "--url", help="target a running mesh (its REST/gRPC address, e.g. http://127.0.0.1:8080)"
    )
    parser.add_argument(
        "--var", type=Path, default=ROOT / "var", help="with --url: that mesh's var/ directory (signing keys)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="with --url: its PostgreSQL server (defaults to DATABASE_URL)",
    )
    parser.add_argument("--database-prefix", default="seatmesh")
    parser.add_argument("--duration", type=float, help="seconds of steady booking (default 20)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("SEATMESH_WORKERS", "1")),
        help="server processes per service when the benchmark starts the mesh",
    )
    parser.add_argument("--envoy-concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where results are written")
    args = parser.parse_args()
    config = BenchConfig.quick_config() if args.quick else BenchConfig()
    if args.duration:
        config.duration = args.duration
    if args.connections:
        config.connections = args.connections
    config.workers = args.workers
    config.envoy_concurrency = args.envoy_concurrency
    config.out_dir = args.out

    mesh: Mesh | None = None
    run_prefix = f"bench{uuid.uuid4().hex[:6]}"
    try:
        if args.url:
            if not args.database_url:
                parser.error("--url needs --database-url (or DATABASE_URL) to check the invariant")
            from scripts.mesh import database_url_for

            edge = args.url.removeprefix("http://").rstrip("/")
            target = Target(
                rest_url=args.url.rstrip("/"),
                edge=edge,
                key_dir=args.var / "keys",
                database_urls={
                    name: database_url_for(args.database_url, f"{args.database_prefix}_{name}")
                    for name in ("users", "events", "bookings", "notifications")
                },
                issuer="seatmesh",
                audience="seatmesh",
            )
        else:
            with console.status(f"starting the mesh ({config.workers} workers per service)"):
                mesh = Mesh(
                    MeshOptions(
                        var_dir=ROOT / "var" / "bench-mesh",
                        database_url=os.environ.get("DATABASE_URL") or None,
                        redis_url=os.environ.get("REDIS_URL") or None,
                        database_prefix=run_prefix,
                        redis_prefix=f"{run_prefix}:",
                        free_ports=True,
                        workers=config.workers,
                        envoy_concurrency=config.envoy_concurrency,
                        env={"SEATMESH_LOG_LEVEL": "WARNING"},
                    )
                )
                mesh.start(timeout=120)
            target = Target.from_mesh(mesh)
        report = run_bench(target, config)
    except BenchFailure as failure:
        console.print(f"[bold red]benchmark failed a correctness check:[/] {failure}")
        raise SystemExit(1) from None
    finally:
        if mesh is not None:
            mesh.stop()
            # On servers we were given, leave nothing behind (embedded ones live in var/).
            if os.environ.get("DATABASE_URL"):
                drop_databases(os.environ["DATABASE_URL"], f"{run_prefix}_")
            if os.environ.get("REDIS_URL"):
                delete_keys(os.environ["REDIS_URL"], f"{run_prefix}:")
    path = save(report, config.out_dir)
    table = Table(title="seatmesh benchmark" + (" (quick)" if config.quick else ""))
    for column in ("measurement", "result", "vs ceiling", "p50 ms", "p99 ms", "errors", "load"):
        table.add_column(column)
    for line in markdown(report).splitlines()[2:]:
        if line.startswith("|"):
            table.add_row(*[cell.strip() for cell in line.strip("|").split("|")])
    console.print(table)
    console.print(markdown(report).splitlines()[-1])
    console.print(f"saved {path} and {path.with_suffix('.json')}")
    print(markdown(report))


if __name__ == "__main__":
    main()
