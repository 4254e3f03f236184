"""One mesh for the security tests (the gRPC fuzz and the authorization matrix), started the way
`make run` starts it, with payments on the fake Stripe so Stripe's webhook RPC is reachable.

It is the package's own: the fuzz signs people up, announces to everyone and changes roles, which
belongs in no other test's data. The throttles a single test client from 127.0.0.1 would exhaust
(sign-ups, codes, failed sign-ins: the fuzz sends hundreds of each) are raised; the throttles
themselves are proven by their own tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scripts.mesh import Mesh, MeshOptions
from tests.security.transport import MeshClient, mesh_client
from tests.support.engines import Engines


@pytest.fixture(scope="package")
def security_mesh(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("security-mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_sec",
            redis_prefix=f"{engines.redis_prefix}sec:",
            free_ports=True,
            env={
                # The console SMS provider prints the phone codes the matrix reads back only in dev
                # mode (it withholds them otherwise).
                "SEATMESH_DEV_MODE": "true",
                "SEATMESH_LOG_LEVEL": "INFO",
                "SEATMESH_PAYMENTS_PROVIDER": "stripe",
                # Events end within seconds of being booked, so reviews open during the run.
                "SEATMESH_COMPLETION_INTERVAL": "1",
                "SEATMESH_SIGNUP_MAX_PER_IP": "100000",
                "SEATMESH_LOGIN_MAX_FAILURES_PER_IP": "100000",
            },
        )
    )
    running.start(timeout=120)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def rest(security_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=security_mesh.rest_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="package")
def client(security_mesh: Mesh) -> Iterator[MeshClient]:
    with mesh_client(security_mesh) as made:
        yield made
