"""Accounts, verification codes, refresh tokens and ratings.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False, server_default=""),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("email_verified", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("time_zone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("locale", sa.Text, nullable=False, server_default="en"),
        sa.Column("host_rating_sum", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("host_rating_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("guest_rating_sum", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("guest_rating_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("role IN ('participant', 'organizer', 'admin')", name="ck_users_role"),
        sa.CheckConstraint(
            "email = lower(btrim(email)) AND email <> ''", name="ck_users_email_normalised"
        ),
        sa.CheckConstraint("display_name <> ''", name="ck_users_display_name"),
        sa.CheckConstraint(
            "host_rating_count >= 0 AND guest_rating_count >= 0"
            " AND host_rating_sum >= 0 AND guest_rating_sum >= 0",
            name="ck_users_ratings",
        ),
    )
    op.create_index("uq_users_email", "users", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    op.create_index("ix_users_admins", "users", ["id"], postgresql_where=sa.text("role = 'admin'"))

    op.create_table(
        "verification_codes",
        sa.Column(
            "user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("code_hash", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("attempts >= 0", name="ck_verification_codes_attempts"),
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("family_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])

    op.create_table(
        "ratings",
        sa.Column("booking_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("booking_id", "kind", name="pk_ratings"),
        sa.CheckConstraint("kind IN ('host', 'guest')", name="ck_ratings_kind"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_ratings_rating"),
    )
    op.create_index("ix_ratings_user_id_kind", "ratings", ["user_id", "kind"])


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("refresh_tokens")
    op.drop_table("verification_codes")
    op.drop_table("users")
