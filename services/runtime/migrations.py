"""A service's database as an operator sees it: where it is, creating it, migrating it (Alembic,
under an advisory lock so replicas migrate once), and dropping test databases.

What runs at request time is in `database.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import MetaData, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

# Constraint names that Alembic can find again (and that read well in error messages).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Any number unique to "migrations"; every service has its own database, so one constant is enough.
_MIGRATION_LOCK = 0x5EA7_0001


def sqlalchemy_url(url: str) -> URL:
    """postgresql://... (what people write) -> postgresql+psycopg://... (what SQLAlchemy needs)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def libpq_conninfo(url: str | URL, database: str | None = None) -> str:
    """A libpq connection string for psycopg, optionally for another database on the same server."""
    parsed = sqlalchemy_url(str(url) if isinstance(url, str) else url.render_as_string(hide_password=False))
    if database is not None:
        parsed = parsed.set(database=database)
    params = {
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
        "host": parsed.host,
        "port": str(parsed.port) if parsed.port else None,
    }
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return psycopg.conninfo.make_conninfo(**{key: value for key, value in params.items() if value})


def ensure_database(url: str) -> None:
    """Create the service's database if it does not exist yet (safe when replicas race)."""
    name = sqlalchemy_url(url).database
    if not name:
        raise ValueError("the database URL must name a database")
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=10):
            return
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            raise
    with psycopg.connect(
        libpq_conninfo(url, database="postgres"), autocommit=True, connect_timeout=10
    ) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database", extra={"database": name})
        except psycopg.errors.DuplicateDatabase:
            pass


def run_migrations(url: str, migrations_dir: Path) -> None:
    """Bring the database to the newest revision. Replicas starting together take turns."""
    from alembic import command
    from alembic.config import Config

    ensure_database(url)
    engine = create_sync_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            try:
                config = Config()
                config.set_main_option("script_location", str(migrations_dir))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def run_migrations_online(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py: run on the connection run_migrations() passed in."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through services.runtime.migrations.run_migrations")
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def drop_databases(server_url: str, prefix: str) -> list[str]:
    """Drop every database whose name starts with `prefix` (tests and benchmarks clean up)."""
    if not prefix:
        raise ValueError("refusing to drop databases without a prefix")
    with psycopg.connect(libpq_conninfo(server_url, database="postgres"), autocommit=True) as admin:
        names = [
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
            )
        ]
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return names
