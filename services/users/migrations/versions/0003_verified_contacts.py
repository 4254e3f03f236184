"""Verified phone numbers (and their SMS codes), and email changes that wait for their code.

Additive only, so replicas still running the previous release keep working while it applies.
Existing numbers start unverified: no SMS goes to them until their owners confirm them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("phone_verified", sa.Boolean, nullable=False, server_default=sa.text("false"))
    )
    op.add_column("users", sa.Column("pending_email", sa.Text))
    op.create_check_constraint(
        op.f("ck_users_pending_email_normalised"),
        "users",
        "pending_email = lower(btrim(pending_email)) AND pending_email <> ''",
    )
    op.create_index(
        op.f("ix_users_pending_email"),
        "users",
        ["pending_email"],
        postgresql_where=sa.text("pending_email IS NOT NULL"),
    )

    op.create_table(
        "phone_codes",
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("code_hash", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_phone_codes_attempts")),
    )


def downgrade() -> None:
    op.drop_table("phone_codes")
    op.drop_index(op.f("ix_users_pending_email"), table_name="users")
    op.drop_constraint(op.f("ck_users_pending_email_normalised"), "users", type_="check")
    op.drop_column("users", "pending_email")
    op.drop_column("users", "phone_verified")
