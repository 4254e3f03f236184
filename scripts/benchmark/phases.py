"""What is measured, phase by phase, and the run that strings them together."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import psutil

from scripts.benchmark.accounting import CommitCounter
from scripts.benchmark.booking import phase_fixed_rate, phase_steady_booking
from scripts.benchmark.flash import phase_flash_sale, phase_sold_out_window
from scripts.benchmark.load import grpc_health_ceiling, load_get
from scripts.benchmark.model import BenchConfig, BenchFailure, Result, Target, console
from scripts.benchmark.seeding import Seeder
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


# In the order they run.
PHASES = ("ceiling", "steady", "fixed", "lists", "flash", "window", "paid", "paid-flash")


def run_bench(target: Target, config: BenchConfig) -> dict[str, Any]:
    chosen = [phase for phase in PHASES if phase in (config.phases or PHASES)]
    if target.stripe_url is None:
        chosen = [phase for phase in chosen if not phase.startswith("paid")]
    results: list[Result] = []
    commits: CommitCounter | None = None
    if target.server_url:
        commits = CommitCounter(
            target.server_url, {name: target.database_name(name) for name in target.database_urls}
        )
    try:
        rss = _run_phases(target, config, chosen, commits, results)
    except BenchFailure as failure:
        failure.report = _report(target, config, results, phase_rss(target))
        raise
    return _report(target, config, results, rss)


def _report(
    target: Target, config: BenchConfig, results: list[Result], rss: dict[str, float]
) -> dict[str, Any]:
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


def _run_phases(
    target: Target,
    config: BenchConfig,
    chosen: list[str],
    commits: CommitCounter | None,
    results: list[Result],
) -> dict[str, float]:
    with console.status("seeding an organizer") as status:
        seeder = Seeder(target)
        ((_, organizer),) = seeder.users(1, Role.ORGANIZER)
        if commits is not None and not config.quick and {"steady", "paid"} & set(chosen):
            status.update("measuring what the idle mesh commits")
            commits.measure_idle()
        burst: float | None = None
        for number, phase in enumerate(chosen, start=1):
            step = f"{number}/{len(chosen)}"
            if phase == "ceiling":
                status.update(f"{step} the stack's ceiling")
                results += phase_ceiling(target, config)
            elif phase == "steady":
                status.update(
                    f"{step} steady booking for {config.duration:.0f}s at {config.connections} connections"
                )
                steady = phase_steady_booking(target, config, seeder, organizer, commits)
                burst = steady.rate
                results.append(steady)
            elif phase == "fixed":
                rate = config.fixed_rate or max(1.0, (burst or 100.0) * config.fixed_rate_share)
                status.update(
                    f"{step} {rate:.0f} bookings/s at a fixed rate for {config.fixed_rate_duration:.0f}s"
                )
                results.append(phase_fixed_rate(target, config, seeder, organizer, rate))
            elif phase == "lists":
                status.update(f"{step} event lists")
                results += phase_lists(target, config)
            elif phase == "flash":
                status.update(
                    f"{step} flash sale: {config.flash_buyers:,} buyers for {config.flash_seats:,} seats"
                )
                results.append(phase_flash_sale(target, config, seeder, organizer))
            elif phase == "window":
                status.update(f"{step} sold out, seats freed, booked again")
                results.append(phase_sold_out_window(target, config, seeder, organizer))
            elif phase == "paid":
                status.update(
                    f"{step} steady booking of a paid event for {config.paid_duration:.0f}s, then paying"
                )
                results.append(phase_steady_booking(target, config, seeder, organizer, commits, paid=True))
            elif phase == "paid-flash":
                status.update(
                    f"{step} paid flash sale: {config.paid_flash_buyers:,} buyers for"
                    f" {config.paid_flash_seats:,} seats, then paying"
                )
                results.append(phase_flash_sale(target, config, seeder, organizer, paid=True))
        status.update("memory")
        return phase_rss(target)
