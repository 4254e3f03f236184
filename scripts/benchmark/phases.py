"""What is measured, phase by phase, and the run that strings them together."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import grpc
import psutil

from scripts.benchmark.load import _tool, grpc_health_ceiling, load_get, python_load, run_wrk
from scripts.benchmark.model import BenchConfig, BenchFailure, Result, Target, console
from scripts.benchmark.seeding import Seeder, check_invariant, create_event
from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc
from services.runtime.auth import Role

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
