"""What a benchmark run is about: its configuration, the mesh it targets, and its results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy.engine import make_url

from scripts.mesh import ROOT, Mesh

WRK_DIR = Path(__file__).resolve().parent.parent / "wrk"
console = Console(stderr=True)


@dataclass
class BenchConfig:
    quick: bool = False
    duration: float = 20.0
    connections: int = 64
    threads: int = 2
    # The constant-rate phase: this share of the steady phase's burst rate, for this long.
    fixed_rate_share: float = 0.5
    fixed_rate_duration: float = 20.0
    flash_buyers: int = 50_000
    flash_seats: int = 5_000
    # The paid runs (holds, then a Stripe webhook per booking): steady booking for this long, and
    # a flash sale of this size.
    paid_duration: float = 10.0
    # A tenth of the free one: at 50,000 buyers for 5,000 seats this 2-core machine's payments
    # service runs out of database connections (README, Performance).
    paid_flash_buyers: int = 5_000
    paid_flash_seats: int = 500
    list_duration: float = 10.0
    ceiling_duration: float = 10.0
    # Seconds a sold-out answer may outlive freed seats (bookings' SEATMESH_SOLD_OUT_WINDOW).
    sold_out_window: float = 1.0
    # Which phases run (phases.PHASES), and the fixed rate when given rather than derived.
    phases: list[str] = field(default_factory=list)
    fixed_rate: float | None = None
    out_dir: Path = ROOT / "var" / "bench"
    workers: int = 1
    envoy_concurrency: int = 2

    @classmethod
    def quick_config(cls) -> BenchConfig:
        return cls(
            quick=True,
            duration=2.0,
            connections=16,
            fixed_rate_duration=2.0,
            flash_buyers=400,
            flash_seats=40,
            paid_duration=1.0,
            paid_flash_buyers=200,
            paid_flash_seats=20,
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
    # The mesh's own processes (services, Envoy, SMTP sink, fake Stripe) by name: their PIDs.
    processes: dict[str, int] = field(default_factory=dict)
    # PostgreSQL's postmaster and Redis, when the benchmark started them (embedded).
    engines: dict[str, int] = field(default_factory=dict)
    # The PostgreSQL server (any database on it), to read pg_stat_database.
    server_url: str = ""
    # Where the SMTP sink stores mail (its index.tsv says when each email arrived).
    mail_dir: Path | None = None
    # The fake Stripe's address when payments use it (the paid runs pay there).
    stripe_url: str | None = None

    @classmethod
    def from_mesh(cls, mesh: Mesh) -> Target:
        engines = {}
        if mesh.postgres is not None:
            engines["postgres"] = int((mesh.postgres.datadir / "postmaster.pid").read_text().split()[0])
        if mesh.redis is not None:
            engines["redis"] = mesh.redis.process.pid
        return cls(
            rest_url=mesh.rest_url,
            edge=mesh.edge,
            key_dir=mesh.var / "keys",
            database_urls={name: mesh.service_database_url(name) for name in mesh.ports},
            issuer=mesh.service_env.get("SEATMESH_JWT_ISSUER", "seatmesh"),
            audience=mesh.service_env.get("SEATMESH_JWT_AUDIENCE", "seatmesh"),
            processes={name: process.popen.pid for name, process in mesh.processes.items()},
            engines=engines,
            server_url=mesh.database_url,
            mail_dir=mesh.var / "mail" if mesh.options.smtp_sink else None,
            stripe_url=mesh.fake_stripe_url,
        )

    def database_name(self, service: str) -> str:
        return str(make_url(self.database_urls[service]).database)


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

    # The phases measured before it (set by run_bench).
    report: dict[str, Any] | None = None
