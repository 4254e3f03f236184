"""Session-wide fixtures: the database and Redis servers every test shares (namespaced per run)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.engines import Engines
from tests.support.tokens import TokenFactory


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    started = Engines.start(
        os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), tmp_path_factory.mktemp("engines")
    )
    try:
        yield started
    finally:
        started.cleanup()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()
