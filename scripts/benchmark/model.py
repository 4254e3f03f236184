"""What a benchmark run is about: its configuration, the mesh it targets, and its results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from scripts.mesh import ROOT, Mesh

WRK_DIR = Path(__file__).resolve().parent.parent / "wrk"
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
