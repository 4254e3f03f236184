"""The report: a Markdown table and JSON under var/bench/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def markdown(report: dict[str, Any]) -> str:
    ceiling = report["ceiling_rate"] or 1.0
    lines = [
        "| measurement | result | vs ceiling | p50 ms | p99 ms | errors | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["results"]:
        per_second = result["unit"] in ("req/s", "confirmed/s")
        ratio = f"{result['rate'] / ceiling:.2f}" if per_second else ""
        p50 = f"{result['p50_ms']:.1f}" if result["p50_ms"] is not None else ""
        p99 = f"{result['p99_ms']:.1f}" if result["p99_ms"] is not None else ""
        value = (
            f"{result['rate']:,.0f} {result['unit']}"
            if per_second
            else f"{result['rate']:.2f} {result['unit']}"
        )
        cells = [result["name"], value, ratio, p50, p99, str(result["errors"]), result["loader"]]
        lines.append("| " + " | ".join(cells) + " |")
    rss = ", ".join(f"{name} {size:.0f} MB" for name, size in sorted(report["rss_mb"].items()))
    lines.append("")
    lines.append(f"RSS at the end: {rss}.")
    return "\n".join(lines)


def save(report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if report["quick"] else "")
    (out_dir / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / f"{stamp}.md").write_text(markdown(report) + "\n")
    return out_dir / f"{stamp}.md"
