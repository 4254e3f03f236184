"""Messages remember the trace that asked for them.

An email or SMS is sent later, by the delivery worker, from the rows a bus message created; the
W3C traceparent kept on the message lets that send join the booking's trace as a span of its own.
Existing rows get "" (no trace).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("messages", sa.Column("traceparent", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("messages", "traceparent")
