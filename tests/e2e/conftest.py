"""The whole mesh, started the way `make run` starts it, once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scripts.mesh import Mesh, MeshOptions
from tests.support.engines import Engines


@pytest.fixture(scope="session")
def mesh(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_mesh",
            redis_prefix=engines.redis_prefix,
            free_ports=True,
            # A short completion interval so reviews (after EventCompleted) are testable quickly.
            env={"SEATMESH_LOG_LEVEL": "INFO", "SEATMESH_COMPLETION_INTERVAL": "1"},
        )
    )
    running.start(timeout=90)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def rest(mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as client:
        yield client
