"""`python -m scripts.benchmark` (what `scripts/bench` runs): the command line."""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from rich.table import Table

from scripts.benchmark.model import BenchConfig, BenchFailure, Target, console
from scripts.benchmark.phases import run_bench
from scripts.benchmark.report import markdown, save
from scripts.mesh import ROOT, Mesh, MeshOptions
from services.runtime.migrations import drop_databases
from services.runtime.redis import delete_keys


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
