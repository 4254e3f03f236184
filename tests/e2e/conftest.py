"""The whole mesh, started the way `make run` starts it, once for the e2e tests; and a second one
whose payments take Stripe's way (against the fake Stripe), also once, for the tests that pay."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scripts.mesh import Mesh, MeshOptions
from tests.support.engines import Engines
from tests.support.money import wait_money_settled


@pytest.fixture(scope="package")
def mesh(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_mesh",
            redis_prefix=engines.redis_prefix,
            free_ports=True,
            # A short completion interval so reviews (after EventCompleted) are testable quickly;
            # every test signs people up from 127.0.0.1, far more than one address may in an hour.
            env={
                "SEATMESH_LOG_LEVEL": "INFO",
                "SEATMESH_COMPLETION_INTERVAL": "1",
                "SEATMESH_SIGNUP_MAX_PER_IP": "100000",
            },
        )
    )
    running.start(timeout=90)
    try:
        yield running
        # As the seat invariant after each booking test: the money invariants over everything
        # this mesh sold, once the bus caught up.
        wait_money_settled(running.service_database_url("bookings"), running.service_database_url("payments"))
    finally:
        running.stop()


@pytest.fixture
def rest(mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="package")
def stripe_mesh(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh started as `SEATMESH_PAYMENTS_PROVIDER=stripe make run` starts it: payments open
    Stripe Checkout Sessions at scripts/fake_stripe.py, whose signed webhooks come back through the
    edge. Databases and streams of their own, beside the main mesh's."""
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("stripe-mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_pay",
            redis_prefix=f"{engines.redis_prefix}pay:",
            free_ports=True,
            env={
                "SEATMESH_LOG_LEVEL": "INFO",
                "SEATMESH_PAYMENTS_PROVIDER": "stripe",
                "SEATMESH_RECONCILE_INTERVAL": "0.2",
                "SEATMESH_REFUND_RETRY_INTERVAL": "0.5",
                "SEATMESH_SIGNUP_MAX_PER_IP": "100000",
            },
        )
    )
    running.start(timeout=90)
    try:
        yield running
        # As the seat invariant after each booking test: the money invariants over everything
        # this mesh sold, once the bus caught up.
        wait_money_settled(running.service_database_url("bookings"), running.service_database_url("payments"))
    finally:
        running.stop()


@pytest.fixture
def stripe_rest(stripe_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stripe_mesh.rest_url, timeout=20) as client:
        yield client
