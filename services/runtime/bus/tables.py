"""The outbox and inbox tables every service's database has (its first migration creates them)."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

from services.runtime.migrations import NAMING_CONVENTION

NOTIFY_CHANNEL = "seatmesh_outbox"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False),
        Column("type", Text, nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        # Named as PostgreSQL named it when the first migration created it (no naming convention).
        UniqueConstraint("event_id", name="outbox_event_id_key"),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class ServiceMetadata(NamedTuple):
    metadata: MetaData
    outbox: Table
    inbox: Table


def service_metadata() -> ServiceMetadata:
    """The MetaData of a service's tables.py: constraints named by the convention Alembic finds them
    again by, and the bus's outbox and inbox already in it (every service's first migration builds
    them)."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    return ServiceMetadata(metadata, outbox_table(metadata), inbox_table(metadata))


def create_bus_tables_v1(op: Any) -> None:
    """The outbox and inbox DDL, version 1, for a service's first Alembic migration.

    A statement-level trigger wakes the relay at commit (NOTIFY is transactional), so events leave
    within milliseconds without polling.
    """
    metadata = MetaData()
    outbox = outbox_table(metadata)
    inbox = inbox_table(metadata)
    bind = op.get_bind()
    outbox.create(bind)
    inbox.create(bind)
    op.execute(
        f"""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', ''); RETURN NULL; END $$;
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
        """
    )
