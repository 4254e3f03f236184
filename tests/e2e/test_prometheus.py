"""A real Prometheus (Debian's) scrapes a mesh started the way `make run --workers 2` starts it, with
the shipped rules loaded: the key series exist, counts are exact across two worker processes, and
every series the rules and the Grafana dashboard read is there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from scripts.embedded import free_port, wait_for_port
from scripts.envoy_config import SERVICES
from scripts.mesh import Mesh, MeshOptions
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from tests.support.accounts import signup
from tests.support.engines import Engines

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "seatmesh.json"
LIST_TAGS = "/seatmesh.events.v1.EventService/ListTags"
_SERIES = re.compile(r"\b((?:seatmesh|envoy)_[a-z0-9_]+|up)\b(?!:)")
# Label names are not series: what is inside a selector's braces or a grouping's parentheses.
_LABELS = re.compile(r"\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def series_in(expression: str) -> set[str]:
    return set(_SERIES.findall(_LABELS.sub(" ", expression)))


@pytest.fixture(scope="module")
def mesh_with_workers(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("metrics-mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_metrics",
            redis_prefix=engines.new_redis_prefix(),
            free_ports=True,
            workers=2,
        )
    )
    running.start(timeout=120)
    try:
        yield running
    finally:
        running.stop()


class Prometheus:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)

    def query(self, expression: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/query", params={"query": expression})
        assert response.status_code == 200, f"{expression}: {response.text}"
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def values(self, expression: str) -> dict[str, float]:
        """The query's samples, keyed by their labels as JSON."""
        return {
            json.dumps(sample["metric"], sort_keys=True): float(sample["value"][1])
            for sample in self.query(expression)
        }

    def wait_for(self, expression: str, check: Any = bool, within: float = 30.0) -> dict[str, float]:
        deadline = time.monotonic() + within
        while True:
            found = self.values(expression)
            if check(found):
                return found
            assert time.monotonic() < deadline, f"{expression} is {found} after {within:.0f}s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus(mesh_with_workers: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: install Debian's `prometheus` package (.ci/run does)")
    workdir = tmp_path_factory.mktemp("prometheus")
    jobs = [
        {
            "job_name": name,
            "static_configs": [
                {"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}},
            ],
        }
        for name, port in mesh_with_workers.metrics_ports.items()
    ]
    jobs.append(
        {
            "job_name": "envoy",
            "metrics_path": "/stats/prometheus",
            "static_configs": [
                {"targets": [f"127.0.0.1:{mesh_with_workers.admin_port}"], "labels": {"service": "envoy"}}
            ],
        }
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "recording-rules.yml"), str(RULES / "alert-rules.yml")],
        "scrape_configs": jobs,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        server = Prometheus(f"http://127.0.0.1:{port}")
        server.wait_for("up", lambda found: len(found) == len(SERVICES) + 1)
        yield server
        server.client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def book_one_seat(mesh: Mesh) -> None:
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as rest:
        organizer = signup(rest, mesh, role="ROLE_ORGANIZER")
        guest = signup(rest, mesh)
        start = datetime.now(UTC) + timedelta(days=10)
        created = rest.post(
            "/v1/events",
            params={"requestId": f"metrics-{uuid.uuid4()}"},
            headers=organizer.headers,
            json={
                "title": "Measured night",
                "startTime": iso(start),
                "endTime": iso(start + timedelta(hours=2)),
                "timeZone": "Europe/Berlin",
                "city": "Berlin",
                "venue": "Gauge hall",
                "capacity": 10,
            },
        )
        assert created.status_code == 200, created.text
        booked = rest.post(
            "/v1/bookings",
            params={"requestId": f"metrics-{uuid.uuid4()}"},
            headers=guest.headers,
            json={"eventId": created.json()["id"], "seats": 2},
        )
        assert booked.status_code == 200, booked.text
        assert booked.json()["state"] == "CONFIRMED"


def list_tags_on_fresh_connections(address: str, calls: int) -> None:
    """Each call on a connection of its own: the kernel spreads new connections over the workers
    that share the port (SO_REUSEPORT), so both count some of them."""
    for _ in range(calls):
        with grpc.insecure_channel(address) as channel:
            events_pb2_grpc.EventServiceStub(channel).ListTags(events_pb2.ListTagsRequest(), timeout=5)


def test_prometheus_finds_the_key_series(mesh_with_workers: Mesh, prometheus: Prometheus) -> None:
    book_one_seat(mesh_with_workers)
    calls = 40
    list_tags_on_fresh_connections(mesh_with_workers.service_address("events"), calls)

    # Every target answers: five services (two processes each behind one endpoint) and Envoy.
    up = prometheus.values("up")
    assert sorted(json.loads(labels)["service"] for labels, value in up.items() if value == 1) == sorted(
        [*SERVICES, "envoy"]
    )

    # Exact across the two workers: the endpoint adds up both processes' counts.
    prometheus.wait_for(
        f'sum(seatmesh_rpc_total{{service="events",method="{LIST_TAGS}"}})',
        lambda found: list(found.values()) == [calls],
    )

    # Per-RPC rate, errors, latency for every service, and the recording rules over them.
    for name in SERVICES:
        assert prometheus.values(f'sum(seatmesh_rpc_total{{service="{name}"}})'), name
    prometheus.wait_for('seatmesh_rpc_seconds_bucket{service="bookings"}')
    prometheus.wait_for('service:seatmesh_rpc:rate5m{service="bookings"}')
    prometheus.wait_for('service:seatmesh_rpc_errors:ratio_rate5m{service="events"}')

    # The booking's business outcomes, and the email it sent.
    prometheus.wait_for(
        'seatmesh_bookings_total{outcome="confirmed"}', lambda found: sum(found.values()) >= 1
    )
    prometheus.wait_for("seatmesh_seats_sold_total", lambda found: sum(found.values()) >= 2)
    prometheus.wait_for(
        'seatmesh_notification_deliveries_total{channel="EMAIL",outcome="sent"}',
        lambda found: sum(found.values()) >= 1,
    )
    prometheus.wait_for(
        'seatmesh_notification_delivery_seconds_count{channel="EMAIL"}',
        lambda found: sum(found.values()) >= 1,
    )

    # Backlogs and lags, read at scrape time: every service's outbox, every consumer group.
    outbox = prometheus.wait_for(
        "seatmesh_outbox_oldest_unsent_age_seconds", lambda found: len(found) == len(SERVICES)
    )
    assert all(age < 60 for age in outbox.values()), outbox
    lag = prometheus.wait_for("seatmesh_bus_consumer_lag_seconds")
    groups = {json.loads(labels)["group"] for labels in lag}
    assert {"notifications", "bookings", "events", "users", "payments"} <= groups
    prometheus.wait_for('seatmesh_bus_consumer_pending_messages{group="notifications",stream="bookings"}')
    prometheus.wait_for('seatmesh_bus_dead_letters_total{group="notifications",stream="bookings"}')
    prometheus.wait_for("seatmesh_bookings_reconcile_backlog")
    readings = prometheus.wait_for("seatmesh_metrics_reading_up")
    assert set(readings.values()) == {1.0}, readings

    # Envoy's own stats.
    prometheus.wait_for('envoy_cluster_membership_healthy{envoy_cluster_name="bookings"}')
    prometheus.wait_for("seatmesh:envoy_downstream_rq:rate5m")


def test_every_series_the_rules_and_dashboard_read_is_scraped(
    mesh_with_workers: Mesh, prometheus: Prometheus
) -> None:
    rules = [
        rule
        for path in (RULES / "recording-rules.yml", RULES / "alert-rules.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    dashboard = json.loads(DASHBOARD.read_text())
    panel_expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions = [rule["expr"] for rule in rules] + panel_expressions
    for name in sorted({name for expression in expressions for name in series_in(expression)}):
        prometheus.wait_for(f"count({name})")
    # Each panel's query is valid PromQL for this Prometheus (the query API refuses anything else).
    for expression in panel_expressions:
        prometheus.query(expression)
    # The server loaded the shipped rules, and no alert fires on a healthy mesh.
    loaded = prometheus.client.get("/api/v1/rules").json()["data"]["groups"]
    assert {group["name"] for group in loaded} >= {"seatmesh-rpc", "seatmesh-bus", "seatmesh-availability"}
    firing = prometheus.client.get("/api/v1/alerts").json()["data"]["alerts"]
    assert [alert for alert in firing if alert["state"] == "firing"] == []
