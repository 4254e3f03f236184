"""The edge in front of a service that implements nothing yet: REST gets JSON 501, no gRPC headers.

Every RPC of the real services is implemented, so this runs the real Envoy (rendered from the same
template as the mesh's) in front of a server that registers only the generated base servicer,
which is what a service looks like before its issue lands.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from scripts.embedded import free_port
from scripts.envoy_config import SERVICES, EdgeConfig, render
from seatmesh.events.v1 import events_pb2_grpc
from services.events.servicer import ACCESS
from services.runtime.server import RunningService, Service, start_service

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bare_events() -> AsyncIterator[RunningService]:
    servicer = events_pb2_grpc.EventServiceServicer()
    running = await start_service(
        Service(
            name="events",
            service_names=[SERVICES["events"]],
            register=[lambda server: events_pb2_grpc.add_EventServiceServicer_to_server(servicer, server)],
            access=ACCESS,
            verifier=None,
        )
    )
    yield running
    await running.stop(0)


async def test_rest_call_to_an_unimplemented_rpc_is_json_501_without_grpc_headers(
    bare_events: RunningService, tmp_path: Path
) -> None:
    edge_port, admin_port, nowhere = free_port(), free_port(), free_port()
    endpoints = {name: [("127.0.0.1", nowhere)] for name in SERVICES}
    endpoints["events"] = [("127.0.0.1", bare_events.port)]
    config = tmp_path / "envoy.yaml"
    config.write_text(render(EdgeConfig(listen_port=edge_port, admin_port=admin_port, endpoints=endpoints)))
    envoy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "envoy"),
        *("-c", str(config), "--disable-hot-restart", "--concurrency", "1", "--log-level", "error"),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_port}", timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    response = await client.get("/v1/events")
                    if response.status_code != 503:
                        break
                except httpx.TransportError:
                    pass  # Envoy is still starting
                assert time.monotonic() < deadline, "Envoy never saw the events server healthy"
                await asyncio.sleep(0.2)
        assert response.status_code == 501
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["code"] == 12
        for header in ("grpc-status", "grpc-message", "grpc-status-details-bin"):
            assert header not in response.headers
    finally:
        envoy.terminate()
        try:
            await asyncio.wait_for(envoy.wait(), timeout=10)
        except TimeoutError:
            envoy.kill()
            await envoy.wait()
