"""The short, bounded schema-driven fuzz of `make test` (scripts/fuzz runs the long one).

Schemathesis, from gen/openapi.json as the edge serves it, against every operation as a real
participant, organizer and admin: no server error, status and content type as documented, bodies
as the schema says, error reasons as the spec lists them (scripts/openapi/hooks.py).

It has a mesh of its own: the fuzz signs people up, publishes events and announces to every user,
which would disturb the other end-to-end tests sharing the session's mesh (their inboxes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.mesh import Mesh, MeshOptions
from scripts.openapi.fuzz import Identity, identities, run_schemathesis
from tests.support.engines import Engines

# Cases per operation and phase, and a time budget per identity, so three runs stay within about
# two minutes on two cores; the seed is fixed so a failure here can be replayed exactly.
MAX_EXAMPLES = 10
MAX_SECONDS = 30
SEED = 12


@pytest.fixture(scope="module")
def fuzz_mesh(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("fuzz-mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_fuzz",
            redis_prefix=f"{engines.redis_prefix}fuzz:",
            free_ports=True,
            env={"SEATMESH_LOG_LEVEL": "WARNING"},
        )
    )
    running.start(timeout=90)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def signed_in(fuzz_mesh: Mesh) -> dict[str, Identity]:
    return {identity.role: identity for identity in identities(fuzz_mesh)}


@pytest.mark.parametrize("role", ["participant", "organizer", "admin"])
def test_every_operation_keeps_the_contract_under_fuzzing(
    fuzz_mesh: Mesh, signed_in: dict[str, Identity], role: str
) -> None:
    result = run_schemathesis(
        fuzz_mesh.rest_url,
        signed_in[role],
        max_examples=MAX_EXAMPLES,
        seed=SEED,
        workers=1,
        max_time=MAX_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-12_000:] + result.stderr[-3_000:]
