"""The report: Markdown tables and JSON under var/bench/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The order of the per-process table; anything else measured follows.
PROCESS_ORDER = [
    "postgres",
    "bookings",
    "notifications",
    "events",
    "payments",
    "users",
    "envoy",
    "redis",
    "smtp-sink",
    "fake-stripe",
]


def _results_table(report: dict[str, Any]) -> list[str]:
    ceiling = report["ceiling_rate"] or 1.0
    lines = [
        "| measurement | result | vs ceiling | p50 ms | p99 ms | errors | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["results"]:
        per_second = result["unit"] in ("req/s", "confirmed/s")
        ratio = f"{result['rate'] / ceiling:.2f}" if per_second and report["ceiling_rate"] else ""
        p50 = f"{result['p50_ms']:.1f}" if result["p50_ms"] is not None else ""
        p99 = f"{result['p99_ms']:.1f}" if result["p99_ms"] is not None else ""
        value = (
            f"{result['rate']:,.0f} {result['unit']}"
            if per_second
            else f"{result['rate']:.2f} {result['unit']}"
        )
        cells = [result["name"], value, ratio, p50, p99, str(result["errors"]), result["loader"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _costs(report: dict[str, Any]) -> list[str]:
    """Per steady phase: CPU per confirmed booking per process, commits per database, the rates."""
    steady = [result for result in report["results"] if "cpu_ms_per_booking" in result["detail"]]
    if not steady:
        return []
    titles = ["paid event" if result["detail"].get("money") else "free event" for result in steady]
    measured = {name for result in steady for name in result["detail"]["cpu_ms_per_booking"]}
    names = [name for name in PROCESS_ORDER if name in measured] + sorted(measured - set(PROCESS_ORDER))
    lines = [
        "",
        "Steady booking, per confirmed booking, from the start of the load until the last email"
        " of those bookings arrived:",
        "",
        "| ms CPU per booking | " + " | ".join(titles) + " |",
        "|---|" + "---:|" * len(steady),
    ]
    for name in names:
        cells = [f"{result['detail']['cpu_ms_per_booking'].get(name, 0.0):.2f}" for result in steady]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = [f"**{result['detail']['cpu_ms_per_booking_total']:.2f}**" for result in steady]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    generator = [f"{result['detail']['load_generator_cpu_ms_per_booking']:.2f}" for result in steady]
    lines.append("| (load generator and benchmark, not in the total) | " + " | ".join(generator) + " |")
    if all("commits_per_booking" in result["detail"] for result in steady):
        databases = sorted({name for result in steady for name in result["detail"]["commits_per_booking"]})
        lines += ["", "| PostgreSQL commits per booking | " + " | ".join(titles) + " |"]
        lines.append("|---|" + "---:|" * len(steady))
        for database in databases:
            cells = [f"{result['detail']['commits_per_booking'].get(database, 0.0):.2f}" for result in steady]
            lines.append(f"| {database} | " + " | ".join(cells) + " |")
        totals = [f"**{result['detail']['commits_per_booking_total']:.2f}**" for result in steady]
        lines.append("| **total** | " + " | ".join(totals) + " |")
    lines.append("")
    for title, result in zip(titles, steady, strict=True):
        detail = result["detail"]
        lines.append(
            f"Rates, {title}: {result['rate']:,.0f} confirmed/s while the load ran ({detail['load_s']:.1f} s,"
            f" {detail['confirmed']:,} confirmed); **{detail['sustained_rate']:,.0f}/s sustained**, counted"
            f" until the last of their emails arrived {detail['window_s']:.1f} s after the load started."
        )
    return lines


def _details(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for result in report["results"]:
        detail = result["detail"]
        if result["name"].startswith("fixed rate"):
            lines.append(
                f"Fixed rate: {detail['target_rate']:,.0f} bookings/s asked, {detail['achieved_rate']:,.0f}/s"
                f" answered; latency from each request's due time p50 {detail['p50_ms']:.1f} ms, p90"
                f" {detail['p90_ms']:.1f} ms, p99 {detail['p99_ms']:.1f} ms, max {detail['max_ms']:.1f} ms"
                f" ({detail['connections']} connections opened, {detail['states']})."
            )
        elif result["name"].startswith("flash sale"):
            lines.append(
                f"{result['name']}: sold out in {detail['sold_out_s']:.2f} s, every buyer answered in"
                f" {detail['all_answered_s']:.2f} s (answers p50 {detail['answer_p50_s']:.2f} s, p90"
                f" {detail['answer_p90_s']:.2f} s, p99 {detail['answer_p99_s']:.2f} s); {detail['outcomes']};"
                f" {detail['sold_out_answers_shed_early']:,} sold-out answers without a booking row;"
                f" {detail.get('buyers_who_asked_again', 0):,} buyers told EVENTS_UNAVAILABLE asked again;"
                f" the client used {detail['client_cpu_s']:.1f} s of CPU; CPU seconds meanwhile: "
                + ", ".join(
                    f"{name} {seconds:.1f}" for name, seconds in sorted(detail.get("cpu_s", {}).items())
                )
                + "."
            )
        elif result["name"].startswith("sold out, seats freed"):
            lines.append(
                f"Sold out, {detail['freed']} seats freed: the first booking after them was confirmed"
                f" {result['rate']:.3f} s later (window {detail['window_s']} s); attempts"
                f" {detail['attempts_after_freeing']}."
            )
    return ["", *lines] if lines else []


def markdown(report: dict[str, Any]) -> str:
    lines = _results_table(report) + _costs(report) + _details(report)
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
