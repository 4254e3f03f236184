"""What a phase costs: CPU per process read from /proc, PostgreSQL commits per database, and the
moment the SMTP sink received the last email a phase waits for.

CPU: for every process tree (a service with its worker children, Envoy, the PostgreSQL postmaster
with all its backends, Redis, the SMTP sink, the fake Stripe) the user + system time of each live
member plus what its members' reaped children used (`cutime`/`cstime`), so backends and workers
that come and go during the window are counted too. Two snapshots make a window.

Commits: `pg_stat_database.xact_commit` per database. Backends report their counts when they go
idle, at most once a second, and an idle one may hold them back up to 10 s (PostgreSQL's
PGSTAT_IDLE_INTERVAL), so the closing snapshot is read `STATS_FLUSH` seconds after the window ends,
and what the mesh commits when idle (background loops) is measured once and taken out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

from services.runtime.migrations import libpq_conninfo

# Longer than PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s): every backend has reported by then.
STATS_FLUSH = 11.0


# -- CPU ---------------------------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process, its descendants and every child they reaped."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            # Exited between the listing and now: its parent's reaped-children times will hold it.
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    seconds: dict[str, float]

    @classmethod
    def take(cls, processes: Mapping[str, int]) -> CpuSnapshot:
        return cls(time.monotonic(), {name: tree_cpu_seconds(pid) for name, pid in processes.items()})

    def since(self, start: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per process between `start` and this snapshot."""
        return {name: max(0.0, value - start.seconds.get(name, 0.0)) for name, value in self.seconds.items()}


# -- commits -----------------------------------------------------------------------------------------


def read_commits(server_url: str, databases: Iterable[str]) -> dict[str, int]:
    """xact_commit per database, read from the maintenance database (so reading adds none to them)."""
    names = list(databases)
    with psycopg.connect(libpq_conninfo(server_url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


@dataclass
class CommitCounter:
    """Commits per service database; `idle_rate` is what the mesh commits per second doing nothing."""

    server_url: str
    # service name -> database name
    databases: dict[str, str]
    idle_rate: dict[str, float] = field(default_factory=dict)

    def read(self) -> tuple[float, dict[str, int]]:
        counts = read_commits(self.server_url, self.databases.values())
        return time.monotonic(), {
            service: counts.get(database, 0) for service, database in self.databases.items()
        }

    def measure_idle(self, seconds: float = STATS_FLUSH) -> None:
        """The background loops' commit rate, over a quiet `seconds` that follows a flush interval."""
        time.sleep(STATS_FLUSH)
        started, before = self.read()
        time.sleep(seconds)
        ended, after = self.read()
        self.idle_rate = {
            service: max(0.0, (after[service] - before[service]) / (ended - started)) for service in before
        }

    def since(
        self, start: tuple[float, dict[str, int]], end: tuple[float, dict[str, int]]
    ) -> dict[str, float]:
        """Commits per database between two readings, less what the idle mesh commits meanwhile."""
        elapsed = end[0] - start[0]
        return {
            service: max(
                0.0, end[1][service] - start[1][service] - self.idle_rate.get(service, 0.0) * elapsed
            )
            for service in end[1]
        }


# -- the SMTP sink's record of what it received -----------------------------------------------------


class MailLog:
    """Follows the SMTP sink's index (scripts/smtp_sink.py: one `time<TAB>kind<TAB>recipients` line
    per message received), from the moment it is created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as index:
            index.seek(self.offset)
            chunk = index.read()
        # A line still being written is read next time.
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            moment, _, rest = line.partition("\t")
            kind = rest.partition("\t")[0]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.last[kind] = max(self.last.get(kind, 0.0), float(moment))

    def wait_for(self, wanted: Mapping[str, int], timeout: float) -> float | None:
        """Wall-clock time of the last of the `wanted` emails (count per kind) once all came; None
        if they did not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if all(self.counts.get(kind, 0) >= count for kind, count in wanted.items()):
                return max((self.last.get(kind, 0.0) for kind in wanted), default=time.time())
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
