"""Prometheus metrics every service has, named once here, correct with SEATMESH_WORKERS > 1.

Three kinds:
- per-RPC rate, errors and latency, counted by the interceptor (`RPC_TOTAL`, `RPC_SECONDS`);
- counters of what happened (dead letters here; each service's business outcomes in its own
  metrics module), counted where it happens;
- backlogs and lags (outbox, consumer groups, a service's own queues), which are states, not
  events: read when Prometheus scrapes, by `Reading`s (a query, a Redis XINFO, with a timeout) that
  run on the service's event loop, so a scrape always sees the current value and costs nothing
  between scrapes.

Several workers (SEATMESH_WORKERS > 1) run as separate processes on one port, so one process can't
see the others' counters. We use prometheus_client's multiprocess mode: every process counts into
memory-mapped files in one directory, and the metrics endpoint (served by the first process) adds
them up. Chosen over one registry per process with a worker label because the scrape target stays
one address per service instance whatever the worker count (nothing to change in Prometheus when
workers change, and no series that vanish with a worker); the readings, which query shared state,
run once, in the serving process. prometheus_client picks its mode when it is first imported, so
`prepare_processes` restarts the first process in place (exec, same PID) with the directory set,
before any metric exists; the workers inherit it. Only counters and histograms are kept in the files
(no gauge needs a multiprocess mode).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"

RPC_TOTAL = Counter("seatmesh_rpc_total", "RPCs handled", ["method", "code"])
RPC_SECONDS = Histogram(
    "seatmesh_rpc_seconds",
    "RPC handling time",
    ["method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
BUS_DEAD_LETTERS = Counter(
    "seatmesh_bus_dead_letters_total",
    "Bus messages a consumer group gave up on (moved to the dead-letter stream)",
    ["stream", "group"],
)


@dataclass(frozen=True)
class Gauge:
    """A gauge that a Reading fills in at scrape time: its name, help and labels, defined once."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()

    def family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))


OUTBOX_UNSENT = Gauge("seatmesh_outbox_unsent_messages", "Outbox rows not yet published to the bus")
OUTBOX_LAG = Gauge(
    "seatmesh_outbox_oldest_unsent_age_seconds",
    "Age of the oldest outbox row not yet published to the bus (0 when all are sent)",
)
CONSUMER_LAG = Gauge(
    "seatmesh_bus_consumer_lag_seconds",
    "Age of the oldest stream entry not yet delivered to the consumer group (0 when caught up)",
    ("stream", "group"),
)
CONSUMER_LAG_MESSAGES = Gauge(
    "seatmesh_bus_consumer_lag_messages",
    "Stream entries not yet delivered to the consumer group (Redis 7 and newer report it)",
    ("stream", "group"),
)
CONSUMER_PENDING = Gauge(
    "seatmesh_bus_consumer_pending_messages",
    "Messages delivered to the consumer group and not yet acknowledged",
    ("stream", "group"),
)
READING_UP = Gauge(
    "seatmesh_metrics_reading_up",
    "Whether a scrape-time reading answered within its timeout (0: its series are missing)",
    ("reading",),
)


@dataclass(frozen=True)
class Reading:
    """Metrics read when Prometheus scrapes: `read` returns the families with their current values."""

    name: str
    read: Callable[[], Awaitable[Iterable[Metric]]]


class ReadingsCollector:
    """Runs the readings on the service's event loop from prometheus_client's HTTP thread, each
    within `timeout`: a slow database makes its series go missing (and `reading_up` 0), never a
    scrape hang."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, readings: Sequence[Reading], timeout: float = 2.0
    ) -> None:
        self.loop = loop
        self.readings = list(readings)
        self.timeout = timeout

    def describe(self) -> list[Metric]:
        # Registering must not run the readings (that would block the loop that registers).
        return []

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(self._read_all(), self.loop)
        try:
            families, up = future.result(self.timeout + 1.0)
        except concurrent.futures.TimeoutError:
            # The event loop itself did not get to it: every reading is down for this scrape.
            future.cancel()
            families, up = [], dict.fromkeys((reading.name for reading in self.readings), False)
        yield from families
        gauge = READING_UP.family()
        for name, answered in up.items():
            gauge.add_metric([name], 1.0 if answered else 0.0)
        yield gauge

    async def _read_all(self) -> tuple[list[Metric], dict[str, bool]]:
        results = await asyncio.gather(*(self._read(reading) for reading in self.readings))
        families = [family for found in results if found is not None for family in found]
        return families, {
            reading.name: found is not None for reading, found in zip(self.readings, results, strict=True)
        }

    async def _read(self, reading: Reading) -> list[Metric] | None:
        try:
            return list(await asyncio.wait_for(reading.read(), self.timeout))
        except Exception:
            log.warning("metrics reading failed", exc_info=True, extra={"reading": reading.name})
            return None


def multiprocess_mode() -> bool:
    """Whether this process counts into the shared directory (decided when prometheus_client was
    imported)."""
    return values.ValueClass is not values.MutexValue


def prepare_processes(*, service: str, port: int, workers: int, metrics_port: int, first: bool) -> None:
    """Before anything counts: with several workers and metrics on, make sure every process counts
    into one directory; in the first process, empty that directory of a previous run's files.

    The directory is PROMETHEUS_MULTIPROC_DIR when set (a volume of its own in a container), else
    one per service and port under the temporary directory. Set, it is used with one worker too.
    """
    if multiprocess_mode():
        if first:
            # Modules imported before this call already count into files of this PID: keep those.
            _empty(Path(os.environ[MULTIPROCESS_DIRECTORY]), keep_pid=os.getpid())
        return
    if workers > 1 and metrics_port:
        # prometheus_client chose its single-process mode when it was imported: start again, same
        # PID, with the directory in the environment from the first instruction on. It must exist
        # (and be empty of a previous run's files) before the new process's imports count into it.
        directory = Path(tempfile.gettempdir()) / f"seatmesh-metrics-{service}-{port}"
        _empty(directory, keep_pid=None)
        os.execve(sys.executable, sys.orig_argv, {**os.environ, MULTIPROCESS_DIRECTORY: str(directory)})


def _empty(directory: Path, *, keep_pid: int | None) -> None:
    """Create `directory` if needed and remove the counter files of processes gone (a previous run)."""
    directory.mkdir(parents=True, exist_ok=True)
    own = f"_{keep_pid}.db" if keep_pid is not None else None
    for stale in directory.glob("*.db"):
        if own is None or not stale.name.endswith(own):
            stale.unlink(missing_ok=True)


def serve(port: int, host: str, readings: Sequence[Reading]) -> None:
    """Serve /metrics on `host:port` from a thread: this process's (or, with workers, every
    worker's) counters and histograms, and the readings, run on the calling event loop."""
    collector = ReadingsCollector(asyncio.get_running_loop(), readings)
    if multiprocess_mode():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
