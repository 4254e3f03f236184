"""The welcome waits for a verified address; verification codes rest only sealed.

`known_users` learns what the bus tells of accounts: the role each registered with and whether its
email is verified. Accounts heard of before this revision have no registration here (NULL): they
were welcomed when they registered and are not welcomed again.

Codes used to be kept in clear in a message's content until sent. Any still there are removed, and
their pending deliveries given up: the user asks for a new code (they expire within minutes anyway).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("known_users", sa.Column("organizer", sa.Boolean))
    op.add_column(
        "known_users", sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.execute(
        """
        UPDATE deliveries
        SET state = 'FAILED', updated_at = now(),
            last_error = 'its verification code was stored in clear: removed on upgrade; ask for a new code'
        WHERE state = 'PENDING'
          AND message_id IN (SELECT id FROM messages WHERE content->>'code' <> '');
        UPDATE messages SET content = content - 'code' WHERE content ? 'code';
        """
    )
