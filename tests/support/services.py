"""Run one real service in the test's event loop: its own fresh database, a Redis namespace, port 0.

    async with serve_service("events", tokens, engines) as running:
        channel = grpc.aio.insecure_channel(running.address)

Tokens come from the test TokenFactory (no users service needed); pass `users_address` etc. in
`settings` to point the service at other in-process services.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.server import RunningService, start_service
from services.runtime.settings import ServiceSettings
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory

# Every service refuses to start without a service secret of at least 32 bytes.
TEST_SERVICE_SECRET = "tests-service-secret-0123456789abcdef"


@dataclass
class ServiceUnderTest:
    running: RunningService
    settings: ServiceSettings

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"


async def wait_serving(address: str, within: float = 15.0) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"service at {address} is not serving")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def serve_service(
    name: str,
    tokens: TokenFactory,
    engines: Engines,
    *,
    database_url: str | None = None,
    overrides: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[ServiceUnderTest]:
    """Start services.<name> with a fresh migrated database (or `database_url`) on port 0."""
    app = importlib.import_module(f"services.{name}.app")
    settings_module = importlib.import_module(f"services.{name}.settings")
    settings_class = getattr(settings_module, f"{name.capitalize()}Settings")
    values: dict[str, Any] = {
        "database_url": database_url or engines.new_database(name),
        "redis_url": engines.redis_url,
        "redis_prefix": engines.new_redis_prefix(),
        "migrate_on_start": False,
        "port": 0,
        "log_format": "text",
        "service_secret": TEST_SERVICE_SECRET,
    }
    values.update(settings)
    configured = settings_class(**values)
    build_overrides = {"verifier": tokens.verifier(), "credentials": tokens.credentials(name)}
    build_overrides.update(overrides or {})
    service = await app.build(configured, **build_overrides)
    running = await start_service(service)
    try:
        await wait_serving(f"127.0.0.1:{running.port}")
        yield ServiceUnderTest(running=running, settings=configured)
    finally:
        await running.stop(0)
