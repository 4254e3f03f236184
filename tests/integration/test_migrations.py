"""The tables each store queries (`services/<name>/tables.py`) are the tables its migrations build.

Migrations are written by hand; `tables.py` declares the same tables for SQLAlchemy Core. Alembic's
autogenerate compares a freshly migrated database with the declarations: any difference (a column,
a type, a nullability, an index, a unique or check constraint, a foreign key) is drift, and a query
built from the declarations could be wrong against the real schema.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from services.runtime.migrations import sqlalchemy_url
from tests.support.engines import Engines

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(path.parent.name for path in ROOT.glob("services/*/migrations"))


def _ignored(difference: object) -> bool:
    # Column comments are documentation, not schema.
    return isinstance(difference, tuple) and difference[0] in {"modify_comment", "add_table_comment"}


@pytest.mark.parametrize("service", SERVICES)
def test_tables_match_the_migrated_schema(service: str, engines: Engines) -> None:
    url = engines.new_database(service, ROOT / "services" / service / "migrations")
    metadata = importlib.import_module(f"services.{service}.tables").metadata
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": False, "target_metadata": metadata},
            )
            differences = [item for item in compare_metadata(context, metadata) if not _ignored(item)]
    finally:
        engine.dispose()
    assert differences == [], f"{service}: tables.py and the migrations disagree:\n" + "\n".join(
        map(str, differences)
    )
