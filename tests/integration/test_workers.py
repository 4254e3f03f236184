"""SEATMESH_WORKERS: several server processes on one port, and none outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.embedded import free_port
from tests.support.engines import Engines
from tests.support.services import TEST_SERVICE_SECRET


def _serving(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _listeners(port: int) -> set[int]:
    return {
        connection.pid
        for connection in psutil.net_connections("tcp")
        if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN
    }


def test_workers_share_a_port_and_die_with_their_parent(engines: Engines) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    env.update(
        SEATMESH_DATABASE_URL=engines.new_database("events"),
        SEATMESH_REDIS_URL=engines.redis_url,
        SEATMESH_REDIS_PREFIX=engines.new_redis_prefix(),
        SEATMESH_PORT=str(port),
        SEATMESH_WORKERS="2",
        SEATMESH_SERVICE_SECRET=TEST_SERVICE_SECRET,
        SEATMESH_LOG_LEVEL="WARNING",
    )
    parent = subprocess.Popen([sys.executable, "-m", "services.events"], env=env, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # Both processes listen on the same port (SO_REUSEPORT).
        while len(_listeners(port)) < 2 or not _serving(f"127.0.0.1:{port}"):
            assert parent.poll() is None, "the service exited"
            assert time.monotonic() < deadline, f"two workers did not start: {_listeners(port)}"
            time.sleep(0.1)
        (worker,) = psutil.Process(parent.pid).children()
        assert _listeners(port) == {parent.pid, worker.pid}
        # However the parent dies, its worker follows.
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs([worker], timeout=15)
        assert not alive
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
