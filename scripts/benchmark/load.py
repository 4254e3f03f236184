"""Load generators: wrk and h2load when installed, a Python one otherwise."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx

from scripts.benchmark.model import WRK_DIR, BenchConfig, BenchFailure, Target

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
