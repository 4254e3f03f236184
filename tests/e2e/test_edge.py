"""The edge: one Envoy listener for REST and gRPC in front of the four services."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.envoy_config import SERVICES
from scripts.mesh import Mesh
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from seatmesh.users.v1 import users_pb2, users_pb2_grpc

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def test_grpcurl_lists_the_four_services(mesh: Mesh) -> None:
    listed = subprocess.run(
        [GRPCURL, "-plaintext", mesh.edge, "list"], capture_output=True, text=True, check=True, timeout=20
    ).stdout.split()
    for full_name in SERVICES.values():
        assert full_name in listed
    assert "grpc.health.v1.Health" in listed


def test_each_service_is_serving_through_envoy(mesh: Mesh) -> None:
    with grpc.insecure_channel(mesh.edge) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for full_name in SERVICES.values():
            reply = health.Check(health_pb2.HealthCheckRequest(service=full_name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, full_name


def test_unknown_path_is_a_json_404(rest: httpx.Client) -> None:
    response = rest.get("/v1/nonexistent")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == 5
    assert "grpc-status" not in response.headers


def test_unknown_query_parameter_is_a_json_400(rest: httpx.Client) -> None:
    response = rest.get("/v1/events", params={"bogus": "1"})
    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_malformed_json_body_is_a_json_400(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/users:register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 3


@pytest.mark.parametrize(
    "method",
    [
        "/seatmesh.events.v1.EventService/ReserveSeats",
        "/seatmesh.events.v1.EventService/ReleaseSeats",
        "/seatmesh.events.v1.EventService/BatchGetEvents",
        "/seatmesh.users.v1.UserService/IssueServiceToken",
        "/seatmesh.users.v1.UserService/BatchGetUsers",
    ],
)
def test_internal_rpcs_are_refused_at_the_edge(mesh: Mesh, rest: httpx.Client, method: str) -> None:
    # As gRPC...
    with grpc.insecure_channel(mesh.edge) as channel:
        call = channel.unary_unary(method, request_serializer=lambda m: b"", response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as raised:
            call(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # ...and as anything else aimed at the same path.
    response = rest.post(method, json={})
    assert response.status_code == 403
    assert response.json()["code"] == 7


def test_internal_rpc_is_refused_even_with_a_token_shape(mesh: Mesh) -> None:
    with grpc.insecure_channel(mesh.edge) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ReserveSeats(
                events_pb2.ReserveSeatsRequest(event_id="x", seats=1, reservation_id="y"),
                metadata=(("authorization", "Bearer not.a.token"),),
                timeout=5,
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_rest_errors_from_services_are_json_without_grpc_headers(rest: httpx.Client) -> None:
    response = rest.get("/v1/users/00000000-0000-0000-0000-000000000000")
    assert response.status_code >= 400
    assert response.headers["content-type"].startswith("application/json")
    assert "code" in response.json()
    for header in ("grpc-status", "grpc-message", "grpc-status-details-bin"):
        assert header not in response.headers


def test_missing_token_is_a_json_401(rest: httpx.Client) -> None:
    response = rest.get("/v1/bookings")
    assert response.status_code == 401
    assert response.json()["code"] == 16


def test_grpc_without_token_is_unauthenticated(mesh: Mesh) -> None:
    with grpc.insecure_channel(mesh.edge) as channel:
        stub = users_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _cluster_healthy(mesh: Mesh, cluster: str) -> bool:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{mesh.admin_port}/clusters?format=json", timeout=5
    ) as reply:
        status = json.load(reply)
    for entry in status["cluster_statuses"]:
        if entry["name"] == cluster:
            return all(
                not host.get("health_status", {}).get("failed_active_health_check")
                for host in entry["host_statuses"]
            )
    raise AssertionError(f"no cluster {cluster}")


def _wait(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_killed_service_turns_unhealthy_and_recovers_without_restarting_envoy(
    mesh: Mesh, rest: httpx.Client
) -> None:
    envoy_pid = mesh.processes["envoy"].popen.pid
    mesh.kill_service("events")
    try:
        _wait(lambda: not _cluster_healthy(mesh, "events"), 10, "Envoy marking events unhealthy")
        response = rest.get("/v1/tags")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["code"] == 14
        with grpc.insecure_channel(mesh.edge) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                health.Check(health_pb2.HealthCheckRequest(service=SERVICES["events"]), timeout=5)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            # The others are untouched.
            reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICES["users"]), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        mesh.start_service("events")
    _wait(lambda: _cluster_healthy(mesh, "events"), 30, "events recovering")
    mesh.wait_healthy(timeout=30)
    assert rest.get("/v1/tags").status_code != 503
    assert mesh.processes["envoy"].popen.pid == envoy_pid
