"""The edge starts traces only when an OTLP endpoint is configured, samples as the services do, and
Envoy accepts the configuration that does (with the stats listener containers use)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.envoy_config import SERVICES, EdgeConfig, render


def config(**overrides: Any) -> EdgeConfig:
    return EdgeConfig(endpoints={name: [("127.0.0.1", 1)] for name in SERVICES}, **overrides)


def edge_manager(rendered: str) -> dict[str, Any]:
    document = yaml.safe_load(rendered)
    (edge,) = [
        listener for listener in document["static_resources"]["listeners"] if listener["name"] == "edge"
    ]
    manager: dict[str, Any] = edge["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def clusters(rendered: str) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(rendered)
    return {cluster["name"]: cluster for cluster in document["static_resources"]["clusters"]}


def test_without_an_endpoint_the_edge_traces_nothing() -> None:
    rendered = render(config(otlp_endpoint="", stats_port=0))
    assert "tracing" not in edge_manager(rendered)
    assert "otlp_collector" not in clusters(rendered)
    assert "opentelemetry" not in rendered


def test_with_an_endpoint_the_edge_starts_traces_and_samples_like_the_services() -> None:
    rendered = render(
        config(otlp_endpoint="http://otel-collector.observability:4317", trace_sample_ratio=0.25)
    )
    tracing = edge_manager(rendered)["tracing"]
    assert tracing["random_sampling"] == {"value": 25.0}
    assert tracing["provider"]["name"] == "envoy.tracers.opentelemetry"
    provider = tracing["provider"]["typed_config"]
    assert provider["service_name"] == "envoy"
    assert provider["grpc_service"]["envoy_grpc"]["cluster_name"] == "otlp_collector"
    (endpoint,) = clusters(rendered)["otlp_collector"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "otel-collector.observability",
        "port_value": 4317,
    }


@pytest.mark.parametrize("endpoint", ["https://collector:4317", "collector"])
def test_a_malformed_endpoint_is_refused_when_rendering(endpoint: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        render(config(otlp_endpoint=endpoint))


def test_envoy_accepts_the_tracing_and_stats_configuration(tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(
        render(config(otlp_endpoint="http://127.0.0.1:4317", trace_sample_ratio=0.1, stats_port=9902))
    )
    envoy = Path(sys.executable).parent / "envoy"
    finished = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    (stats,) = [
        listener
        for listener in yaml.safe_load(path.read_text())["static_resources"]["listeners"]
        if listener["name"] == "stats"
    ]
    routes = stats["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"
    ]
    # Only the Prometheus page of the admin interface, never its other (mutating) endpoints.
    assert [route["match"]["path"] for route in routes] == ["/stats/prometheus"]
