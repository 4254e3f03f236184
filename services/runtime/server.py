"""Server bootstrap shared by every service.

`run_service` is what `python -m services.<name>` calls: settings (fail fast), JSON logs,
migrations, optional extra worker processes on the same port (SO_REUSEPORT), then the grpc.aio
server with health, reflection and the RPC interceptor, until SIGTERM/SIGINT, when health turns
NOT_SERVING, in-flight RPCs get `shutdown_grace` seconds and background tasks stop.
Tests use `start_service` directly to run a real server on port 0 inside their event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from services.runtime import metrics, tracing
from services.runtime.auth import Access, TokenVerifier
from services.runtime.database import Database
from services.runtime.interceptors import RpcInterceptor
from services.runtime.logs import configure_logging
from services.runtime.metrics import Reading
from services.runtime.migrations import run_migrations
from services.runtime.settings import ServiceSettings, load_settings

log = logging.getLogger(__name__)

# Every server describes the whole mesh contract through reflection, so Envoy can route reflection
# to any healthy service and `grpcurl <envoy> list` shows all of them.
MESH_SERVICES = (
    "seatmesh.users.v1.UserService",
    "seatmesh.events.v1.EventService",
    "seatmesh.bookings.v1.BookingService",
    "seatmesh.notifications.v1.NotificationService",
    "seatmesh.payments.v1.PaymentService",
)


def _import_all_contracts() -> None:
    # Importing registers every descriptor in the default pool that reflection serves from.
    from seatmesh.bookings.v1 import bookings_pb2, bus_pb2  # noqa: F401
    from seatmesh.events.v1 import bus_pb2 as events_bus_pb2  # noqa: F401
    from seatmesh.events.v1 import events_pb2  # noqa: F401
    from seatmesh.notifications.v1 import notifications_pb2  # noqa: F401
    from seatmesh.payments.v1 import bus_pb2 as payments_bus_pb2  # noqa: F401
    from seatmesh.payments.v1 import payments_pb2  # noqa: F401
    from seatmesh.users.v1 import bus_pb2 as users_bus_pb2  # noqa: F401
    from seatmesh.users.v1 import users_pb2  # noqa: F401


# gRPC server options every service uses.
SERVER_OPTIONS = [
    # Above Envoy's 1,000 streams per upstream connection, so a burst (a flash sale) makes Envoy
    # open another connection instead of meeting refused streams.
    ("grpc.max_concurrent_streams", 4096),
    # Accept the keepalive pings of the mesh's channels (clients.CHANNEL_OPTIONS: every 30 s, idle
    # or not). The server default refuses pings more often than every 5 minutes without data and
    # then closes the connection with GOAWAY "too_many_pings". (Measured with grpcio 1.85: this is
    # the option a server enforces; min_recv_ping_interval_without_data_ms has no effect.)
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Far above what the edge lets through (max_request_headers_kb), so a long URL is refused there
    # with a JSON 431, never here with an error that lists the request's headers.
    ("grpc.max_metadata_size", 256 * 1024),
]


@dataclass
class Service:
    """What a service's `build()` hands to the bootstrap."""

    name: str
    # Full gRPC service names this server implements (for health).
    service_names: list[str]
    # Functions that add servicers to the server (the generated add_*Servicer_to_server, bound).
    register: list[Callable[[grpc.aio.Server], None]]
    # Full method path -> who may call it (USER when absent).
    access: Mapping[str, Access]
    verifier: TokenVerifier | None
    database: Database | None = None
    # Long-running coroutines started with the server (relay, consumers, periodic jobs).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Called in order on shutdown, after the server stopped.
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    # Backlogs and lags read when Prometheus scrapes (runtime/metrics.py).
    readings: list[Reading] = field(default_factory=list)


# Seconds past the grace period that background tasks get to stop, and each closer to finish.
TASK_STOP_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0


def _task_stack(task: asyncio.Task[None]) -> str:
    buffer = io.StringIO()
    task.print_stack(file=buffer)
    return buffer.getvalue()


@dataclass
class RunningService:
    service: Service
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    tasks: list[asyncio.Task[None]]

    async def stop(self, grace: float = 2.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            # Tasks may finish what they hold (notifications completes the email in flight), but
            # a shutdown never waits forever: what is still running is logged with its stack.
            _, stuck = await asyncio.wait(self.tasks, timeout=grace + TASK_STOP_TIMEOUT)
            for task in stuck:
                log.error(
                    "background task did not stop",
                    extra={"task": task.get_name(), "stack": _task_stack(task)},
                )
        for close in self.service.closers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), timeout=CLOSE_TIMEOUT)
        if self.service.database is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.service.database.close(), timeout=CLOSE_TIMEOUT)


async def _watch_readiness(service: Service, health: HealthServicer) -> None:
    """SERVING only while the database answers; Envoy's health checks follow this."""
    names = ["", *service.service_names]
    current: int | None = None
    while True:
        ok = service.database is None or await service.database.answers()
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        if status != current:
            for name in names:
                await health.set(name, status)
            if current is not None:
                log.warning("health changed", extra={"serving": ok})
            current = status
        await asyncio.sleep(1.0 if ok else 0.3)


async def start_service(
    service: Service, *, host: str = "127.0.0.1", port: int = 0, reuse_port: bool = False
) -> RunningService:
    _import_all_contracts()
    if service.database is not None:
        await service.database.open()
    server = grpc.aio.server(
        interceptors=[RpcInterceptor(service.verifier, service.access)],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0), *SERVER_OPTIONS],
    )
    for register in service.register:
        register(server)
    health = HealthServicer()
    for name in ["", *service.service_names]:
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*MESH_SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    tasks = [asyncio.create_task(_watch_readiness(service, health), name="readiness")]
    for job in service.background:
        tasks.append(asyncio.create_task(job(), name=getattr(job, "__qualname__", "job")))
    return RunningService(service=service, server=server, port=bound, health=health, tasks=tasks)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
BuildFn = Callable[[SettingsT], Awaitable[Service]]


def _die_with_parent() -> None:
    """In a worker child: receive SIGTERM when the parent dies, however it dies (even SIGKILL)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn_workers(module: str, count: int) -> list[subprocess.Popen[bytes]]:
    children = []
    for index in range(1, count):
        env = dict(os.environ, SEATMESH_WORKER_INDEX=str(index), SEATMESH_MIGRATE_ON_START="false")
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", module],
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        )
    return children


async def _serve(build: BuildFn[SettingsT], settings: SettingsT) -> None:
    service = await build(settings)
    running = await start_service(
        service, host=settings.host, port=settings.port, reuse_port=settings.workers > 1
    )
    if settings.metrics_port and os.environ.get("SEATMESH_WORKER_INDEX", "0") == "0":
        metrics.serve(settings.metrics_port, settings.host, service.readings)
    log.info(
        "serving", extra={"address": f"{settings.host}:{running.port}", "services": service.service_names}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down")
    await running.stop(settings.shutdown_grace)


def run_service(
    *, module: str, settings_class: type[SettingsT], build: BuildFn[SettingsT], migrations: Path | None
) -> None:
    settings = load_settings(settings_class)
    name = module.rsplit(".", 1)[-1]
    is_worker_child = "SEATMESH_WORKER_INDEX" in os.environ and os.environ["SEATMESH_WORKER_INDEX"] != "0"
    metrics.prepare_processes(
        service=name,
        port=settings.port,
        workers=settings.workers,
        metrics_port=settings.metrics_port,
        first=not is_worker_child,
    )
    configure_logging(name, settings.log_level, settings.log_format)
    tracing.configure(name, settings.otlp_endpoint, settings.trace_sample_ratio)
    if migrations is not None and settings.migrate_on_start and not is_worker_child:
        try:
            run_migrations(settings.database_url, migrations)
        except Exception as error:
            log.error("migrations failed", exc_info=True)
            print(f"seatmesh: migrations failed: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    children = [] if is_worker_child or settings.workers == 1 else _spawn_workers(module, settings.workers)
    try:
        import uvloop

        uvloop.run(_serve(build, settings))
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=settings.shutdown_grace + 5)
            except subprocess.TimeoutExpired:
                child.kill()
        tracing.shutdown()
