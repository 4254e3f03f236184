"""The outbox and inbox of the bus.

Revision ID: 0001
"""

from alembic import op

from services.runtime.bus.tables import create_bus_tables_v1

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_bus_tables_v1(op)
