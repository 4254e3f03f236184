"""`python -m scripts.benchmark` (what `scripts/bench` runs): the command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import uuid
from pathlib import Path

from scripts.benchmark.model import BenchConfig, BenchFailure, Target, console
from scripts.benchmark.phases import PHASES, run_bench
from scripts.benchmark.report import markdown, save
from scripts.envoy_config import SERVICES
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
    parser.add_argument("--stripe-url", help="with --url: that mesh's fake Stripe, for the paid phases")
    parser.add_argument("--duration", type=float, help="seconds of steady booking (default 20)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("SEATMESH_WORKERS", "1")),
        help="server processes per service when the benchmark starts the mesh",
    )
    parser.add_argument("--envoy-concurrency", type=int, default=2)
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"which phases to run, comma-separated (default all: {','.join(PHASES)})",
    )
    parser.add_argument("--flash-buyers", type=int, help="buyers of the flash sales (default 50,000)")
    parser.add_argument("--flash-seats", type=int, help="seats of the flash sales (default 5,000)")
    parser.add_argument(
        "--fixed-rate",
        type=float,
        help="bookings/s of the fixed-rate phase (default: half the steady burst rate)",
    )
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
    config.fixed_rate = args.fixed_rate
    if args.flash_buyers:
        config.flash_buyers = config.paid_flash_buyers = args.flash_buyers
    if args.flash_seats:
        config.flash_seats = config.paid_flash_seats = args.flash_seats
    config.phases = [phase.strip() for phase in args.phases.split(",") if phase.strip()]
    unknown = set(config.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")

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
                    for name in ("users", "events", "bookings", "notifications", "payments")
                },
                issuer="seatmesh",
                audience="seatmesh",
                server_url=args.database_url,
                mail_dir=args.var / "mail",
                stripe_url=args.stripe_url,
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
                        env={
                            "SEATMESH_LOG_LEVEL": "WARNING",
                            # The paid phases pay at the local fake Stripe (its webhooks confirm).
                            "SEATMESH_PAYMENTS_PROVIDER": "stripe",
                            "SEATMESH_SOLD_OUT_WINDOW": str(config.sold_out_window),
                        },
                    )
                )
                mesh.start(timeout=120)
            target = Target.from_mesh(mesh)
        report = run_bench(target, config)
    except BenchFailure as failure:
        console.print(f"[bold red]benchmark failed a correctness check:[/] {failure}")
        if failure.report is not None:
            # What was measured before it, for whoever investigates.
            path = save(failure.report, config.out_dir)
            console.print(f"saved what was measured before it: {path}")
            print(markdown(failure.report))
        raise SystemExit(1) from None
    finally:
        if mesh is not None:
            _stop(mesh, run_prefix)
    path = save(report, config.out_dir)
    console.print(f"saved {path} and {path.with_suffix('.json')}")
    print(markdown(report))


def _stop(mesh: Mesh, run_prefix: str) -> None:
    """Stop the mesh and leave nothing of this run behind: its databases and keys are dropped from
    the servers, embedded ones too (their data directories would otherwise grow with every run,
    and the next run would measure their upkeep)."""
    for name in ["envoy", *reversed(list(SERVICES)), *list(mesh.processes)]:
        mesh.stop_service(name)
    with contextlib.suppress(Exception):
        drop_databases(mesh.database_url, f"{run_prefix}_")
    with contextlib.suppress(Exception):
        delete_keys(mesh.redis_url, f"{run_prefix}:")
    mesh.stop()


if __name__ == "__main__":
    main()
