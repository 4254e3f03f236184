"""`scripts/bench --quick` as a smoke test: it must run and its correctness checks must hold.

Only correctness is asserted (the seat invariant, an exact sell-out, every buyer answered, a sold-out
event answered early without a booking row, freed seats sold again within the documented window,
the money invariants of the paid runs); timings are the benchmark's business, never a test's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.engines import Engines

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_and_its_invariants_hold(engines: Engines, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    env.update(DATABASE_URL=engines.server_url, REDIS_URL=engines.redis_url)
    finished = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    (report_file,) = tmp_path.glob("*.json")
    report = json.loads(report_file.read_text())
    results = {result["name"].split(":")[0]: result for result in report["results"]}
    steady = results["steady booking (REST, JWT, 1 seat each)"]
    assert steady["detail"]["invariant"] == "holds"
    assert steady["detail"]["confirmed"] > 0
    # What a booking costs is counted for every process of the mesh, and every email arrived.
    assert set(steady["detail"]["cpu_ms_per_booking"]) >= {
        "users",
        "events",
        "bookings",
        "notifications",
        "payments",
        "envoy",
        "smtp-sink",
    }
    assert set(steady["detail"]["commits_per_booking"]) >= {"bookings", "events", "notifications"}
    assert steady["detail"]["sustained_rate"] > 0
    fixed = next(result for name, result in results.items() if name.startswith("fixed rate"))
    assert fixed["detail"]["invariant"] == "holds"
    assert fixed["detail"]["requests"] > 0
    for name, paid in (("flash sale", False), ("flash sale, paid event", True)):
        sale = results[name]
        assert sale["detail"]["invariant"] == "holds"
        event = sale["detail"]["event"]
        assert event["confirmed"] == event["capacity"] == event["seats_taken"]
        assert sale["detail"]["answered"] == sum(sale["detail"]["outcomes"].values())
        assert (sale["detail"].get("money") == "holds") is paid
    window = results["sold out, seats freed, booked again (REST)"]
    assert window["detail"]["invariant"] == "holds"
    # Once the event is known to be sold out, refusals are answered without a booking row.
    assert window["detail"]["refusals_shed_early"] > 0
    assert window["detail"]["attempts_after_freeing"].get("CONFIRMED") == window["detail"]["freed"]
    paid_steady = next(result for name, result in results.items() if name.startswith("steady booking, paid"))
    assert paid_steady["detail"]["money"] == "holds"
    assert paid_steady["detail"]["confirmed"] > 0
    assert set(report["rss_mb"]) >= {"users", "events", "bookings", "notifications", "envoy"}
    assert (tmp_path / report_file.name.replace(".json", ".md")).exists()
