"""Messages, in-app notifications, deliveries, preferences, projections, reminders, sends.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()"))


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "messages",
        _id(),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False, server_default=""),
        sa.Column("content", JSONB, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("source_key", "kind", name="uq_messages_source_key_kind"),
    )

    op.create_table(
        "notifications",
        _id(),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("message_id", sa.Uuid, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_notifications_message_id_messages", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("message_id", "recipient_id", name="uq_notifications_message_recipient"),
    )
    op.create_index(
        "ix_notifications_inbox", "notifications", ["recipient_id", sa.text("created_at DESC"), sa.text("id DESC")]
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["recipient_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    # Live delivery (WatchNotifications): NOTIFY is transactional, so listeners hear of a row only
    # once it is committed. The payload is "<recipient_id> <notification_id>".
    op.execute(
        """
        CREATE FUNCTION notifications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('seatmesh_inbox', NEW.recipient_id::text || ' ' || NEW.id::text); RETURN NULL; END $$;
        CREATE TRIGGER notifications_notify AFTER INSERT ON notifications
        FOR EACH ROW EXECUTE FUNCTION notifications_notify();
        """
    )

    op.create_table(
        "deliveries",
        _id(),
        sa.Column("message_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("state", sa.Text, nullable=False, server_default="PENDING"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now("next_attempt_at"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        _now("created_at"),
        _now("updated_at"),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_deliveries_message_id_messages", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("message_id", "channel", "recipient_id", name="uq_deliveries_message_channel_recipient"),
        sa.CheckConstraint("channel IN ('EMAIL', 'SMS')", name="ck_deliveries_channel"),
        sa.CheckConstraint("state IN ('PENDING', 'SENT', 'FAILED')", name="ck_deliveries_state"),
        sa.CheckConstraint("attempts >= 0", name="ck_deliveries_attempts"),
        sa.CheckConstraint("(state = 'SENT') = (sent_at IS NOT NULL)", name="ck_deliveries_sent_at"),
    )
    op.create_index(
        "ix_deliveries_due", "deliveries", ["next_attempt_at"], postgresql_where=sa.text("state = 'PENDING'")
    )
    op.create_index("ix_deliveries_listing", "deliveries", [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index(
        "ix_deliveries_state_listing", "deliveries", ["state", sa.text("created_at DESC"), sa.text("id DESC")]
    )
    # Wakes the delivery workers at commit instead of waiting for their next poll.
    op.execute(
        """
        CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('seatmesh_deliveries', ''); RETURN NULL; END $$;
        CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
        FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();
        """
    )

    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("in_app", sa.Boolean, nullable=False),
        sa.Column("email", sa.Boolean, nullable=False),
        sa.Column("sms", sa.Boolean, nullable=False),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("user_id", "kind", name="pk_preferences"),
    )

    op.create_table(
        "known_users",
        sa.Column("user_id", sa.Uuid, nullable=False),
        _now("first_seen"),
        sa.PrimaryKeyConstraint("user_id", name="pk_known_users"),
    )

    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("organizer_id", sa.Uuid, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False, server_default=""),
        sa.Column("venue", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.Text, nullable=False, server_default="SCHEDULED"),
        sa.Column("version", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )

    op.create_table(
        "bookings",
        sa.Column("booking_id", sa.Uuid, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("guest_id", sa.Uuid, nullable=False),
        sa.Column("host_id", sa.Uuid, nullable=False),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", name="pk_bookings"),
    )
    op.create_index("ix_bookings_event_state", "bookings", ["event_id", "state"])

    op.create_table(
        "reminders",
        sa.Column("booking_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("guest_id", sa.Uuid, nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", "kind", name="pk_reminders"),
        sa.CheckConstraint("kind IN ('REMINDER_24H', 'REMINDER_1H')", name="ck_reminders_kind"),
    )
    op.create_index("ix_reminders_due", "reminders", ["due_at"])
    op.create_index("ix_reminders_event", "reminders", ["event_id"])

    op.create_table(
        "sends",
        sa.Column("sender_id", sa.Uuid, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("recipient_count", sa.Integer, nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("sender_id", "request_id", name="pk_sends"),
    )
