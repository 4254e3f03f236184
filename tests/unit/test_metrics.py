"""The runtime's metrics plumbing: readings run on the service's event loop at scrape time and never
hang a scrape; several worker processes count into one directory whose sum the endpoint serves.

The series themselves, scraped by a real Prometheus from a mesh with two workers per service, are
tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.metrics import OUTBOX_LAG, READING_UP, Reading, ReadingsCollector

ROOT = Path(__file__).resolve().parents[2]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_readings_run_on_the_service_loop_when_prometheus_scrapes() -> None:
    loop = asyncio.get_running_loop()
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def outbox() -> list[Metric]:
        ran_on.append(asyncio.get_running_loop())
        family = OUTBOX_LAG.family()
        family.add_metric([], 4.5)
        return [family]

    async def stuck() -> list[Metric]:
        await asyncio.sleep(60)
        return []

    async def broken() -> list[Metric]:
        raise ConnectionError("database away")

    registry = CollectorRegistry()
    registry.register(
        ReadingsCollector(
            loop, [Reading("outbox", outbox), Reading("stuck", stuck), Reading("broken", broken)], timeout=0.3
        )
    )
    assert not ran_on, "registering must not run the readings"
    # prometheus_client's HTTP server collects from a thread of its own while the loop runs.
    found = await asyncio.to_thread(samples, registry)
    assert ran_on == [loop]
    assert found[("seatmesh_outbox_oldest_unsent_age_seconds", ())] == 4.5
    up = {labels[0][1]: value for (name, labels), value in found.items() if name == READING_UP.name}
    assert up == {"outbox": 1.0, "stuck": 0.0, "broken": 0.0}


def test_a_scrape_does_not_hang_when_the_event_loop_is_busy() -> None:
    loop = asyncio.new_event_loop()
    try:

        async def never_scheduled() -> list[Metric]:
            return []

        # Nothing runs this loop: the collector gives up after its timeout and says so.
        registry = CollectorRegistry()
        registry.register(ReadingsCollector(loop, [Reading("outbox", never_scheduled)], timeout=0.1))
        found = samples(registry)
        # The abandoned reading is cancelled once the loop gets to it.
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    assert found == {(READING_UP.name, (("reading", "outbox"),)): 0.0}


WORKER = textwrap.dedent(
    """
    import json, os, sys
    from services.runtime import metrics

    metrics.prepare_processes(
        service="events", port=int(sys.argv[1]), workers=2, metrics_port=9464, first=sys.argv[2] == "first"
    )
    metrics.RPC_TOTAL.labels("/seatmesh.events.v1.EventService/GetEvent", "OK").inc(int(sys.argv[3]))
    print(json.dumps({"pid": os.getpid(), "multiprocess": metrics.multiprocess_mode(),
                      "directory": os.environ.get(metrics.MULTIPROCESS_DIRECTORY)}))
    """
)


def test_workers_count_into_one_directory(tmp_path: Path) -> None:
    """With workers and metrics on, the first process restarts itself (same PID) in multiprocess
    mode and empties the directory; a worker inherits the directory; the endpoint's sum is theirs."""
    port = "50999"
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env["TMPDIR"] = str(tmp_path)
    directory = tmp_path / f"seatmesh-metrics-events-{port}"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"a previous run's file")

    def run(role: str, count: int, environment: dict[str, str]) -> dict[str, object]:
        finished = subprocess.run(
            [sys.executable, "-c", WORKER, port, role, str(count)],
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert finished.returncode == 0, finished.stderr
        result: dict[str, object] = json.loads(finished.stdout)
        return result

    first = run("first", 3, env)
    assert first["multiprocess"] is True
    assert first["directory"] == str(directory)
    assert not (directory / "counter_1.db").exists()
    worker = run("worker", 4, {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert worker["multiprocess"] is True

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    found = samples(registry)
    method = (("code", "OK"), ("method", "/seatmesh.events.v1.EventService/GetEvent"))
    assert found[("seatmesh_rpc_total", method)] == 7.0


def test_one_worker_keeps_the_single_process_mode(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        from services.runtime import metrics
        metrics.prepare_processes(service="events", port=1, workers=1, metrics_port=9464, first=True)
        print(metrics.multiprocess_mode())
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    finished = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "False"
