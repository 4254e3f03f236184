"""Bookings, the waitlist sequence, completed events, reviews and guest ratings.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

ACTIVE = "state IN ('PENDING', 'CONFIRMED', 'AWAITING_APPROVAL', 'WAITLISTED')"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE bookings_waitlist_seq")
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("host_id", sa.Text, nullable=False),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("join_waitlist", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("event_title", sa.Text, nullable=False),
        sa.Column("event_start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_time_zone", sa.Text, nullable=False),
        sa.Column("event_city", sa.Text, nullable=False, server_default=""),
        sa.Column("event_venue", sa.Text, nullable=False, server_default=""),
        sa.Column("event_updated_at", sa.DateTime(timezone=True)),
        sa.Column("schedule_exempt", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("waitlist_seq", sa.BigInteger),
        sa.Column("hold_expire_time", sa.DateTime(timezone=True)),
        sa.Column("reject_cause", sa.Text),
        sa.Column("cancelled_by", sa.Text),
        sa.Column("end_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("release_pending", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
        sa.CheckConstraint("seats >= 1", name="ck_bookings_seats_positive"),
        sa.CheckConstraint(
            "state IN ('PENDING', 'CONFIRMED', 'AWAITING_APPROVAL', 'WAITLISTED', 'REJECTED', "
            "'CANCELLED', 'EXPIRED')",
            name="ck_bookings_state_known",
        ),
        sa.CheckConstraint(
            "(state = 'WAITLISTED') <= (waitlist_seq IS NOT NULL)", name="ck_bookings_waitlisted_has_place"
        ),
        sa.CheckConstraint(
            "(state = 'AWAITING_APPROVAL') <= (hold_expire_time IS NOT NULL)",
            name="ck_bookings_awaiting_has_expiry",
        ),
    )
    # The uniqueness rules of booking, enforced under races by PostgreSQL itself.
    op.create_index(
        "uq_bookings_user_request",
        "bookings",
        ["user_id", "request_id"],
        unique=True,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_index(
        "uq_bookings_active_user_event",
        "bookings",
        ["user_id", "event_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index(
        "uq_bookings_active_user_start",
        "bookings",
        ["user_id", "event_start_time"],
        unique=True,
        postgresql_where=sa.text(f"{ACTIVE} AND NOT schedule_exempt"),
    )
    op.create_index(
        "ix_bookings_guest_list", "bookings", ["user_id", sa.text("create_time DESC"), sa.text("id DESC")]
    )
    op.create_index(
        "ix_bookings_host_list", "bookings", ["host_id", sa.text("create_time DESC"), sa.text("id DESC")]
    )
    op.create_index("ix_bookings_event", "bookings", ["event_id"])
    op.create_index(
        "ix_bookings_waitlist",
        "bookings",
        ["event_id", "waitlist_seq"],
        postgresql_where=sa.text("state = 'WAITLISTED'"),
    )
    op.create_index(
        "ix_bookings_reconcile",
        "bookings",
        ["retry_at"],
        postgresql_where=sa.text("state = 'PENDING' OR release_pending"),
    )
    op.create_index(
        "ix_bookings_hold_expiry",
        "bookings",
        ["hold_expire_time"],
        postgresql_where=sa.text("state = 'AWAITING_APPROVAL'"),
    )
    op.create_index(
        "ix_bookings_waiting_start",
        "bookings",
        ["event_start_time"],
        postgresql_where=sa.text("state IN ('AWAITING_APPROVAL', 'WAITLISTED')"),
    )

    op.create_table(
        "completed_events",
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("event_id", name="pk_completed_events"),
    )
    op.create_table(
        "reviews",
        sa.Column("booking_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("guest_id", sa.Text, nullable=False),
        sa.Column("host_id", sa.Text, nullable=False),
        sa.Column("event_rating", sa.SmallInteger, nullable=False),
        sa.Column("host_rating", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("booking_id", name="pk_reviews"),
        sa.CheckConstraint("event_rating BETWEEN 1 AND 5", name="ck_reviews_event_rating_range"),
        sa.CheckConstraint("host_rating BETWEEN 1 AND 5", name="ck_reviews_host_rating_range"),
        sa.CheckConstraint("char_length(comment) <= 2000", name="ck_reviews_comment_length"),
    )
    op.create_table(
        "guest_ratings",
        sa.Column("booking_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("guest_id", sa.Text, nullable=False),
        sa.Column("host_id", sa.Text, nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("booking_id", name="pk_guest_ratings"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_guest_ratings_rating_range"),
    )


def downgrade() -> None:
    op.drop_table("guest_ratings")
    op.drop_table("reviews")
    op.drop_table("completed_events")
    op.drop_table("bookings")
    op.execute("DROP SEQUENCE bookings_waitlist_seq")
