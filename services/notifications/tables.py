"""Tables of the notifications database (SQLAlchemy Core), as its migrations build them.

What is sent: one `messages` row per (source, kind) holds the content; `notifications` are its in-app
copies (one per recipient), `deliveries` its email and SMS sends (one per channel and recipient).
Both carry a unique key over (message, [channel,] recipient) — and a message is unique per
(source_key, kind) — so a bus message processed twice, or two paths that mean the same thing
(EventCancelled and each BookingCancelled it causes), can never notify anyone twice.

What is known: projections of bookings and events built from the bus (no RPC on the hot path),
the reminder schedule, the users this service has heard of (for an admin's broadcast), preferences.
"""

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.bus.tables import service_metadata

metadata, outbox, inbox = service_metadata()

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    # What caused it: a bus event id, "reminder:<event>:<kind>:<start>", "send:<sender>:<request>"...
    Column("source_key", Text, nullable=False),
    # notifications.v1.Kind name without the KIND_ prefix, e.g. BOOKING_CONFIRMED.
    Column("kind", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("link", Text, nullable=False, server_default=""),
    # Everything the email/SMS templates need (content.Content as JSON).
    Column("content", JSONB, nullable=False),
    # Not worth delivering after this (a code that expired, a reminder of an event that started).
    Column("expires_at", DateTime(timezone=True)),
    # The W3C traceparent of the work that asked for it ("" outside a trace): its sends join that
    # trace later (runtime/tracing.resumed).
    Column("traceparent", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("source_key", "kind", name="uq_messages_source_key_kind"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    Column("recipient_id", Uuid, nullable=False),
    Column("message_id", Uuid, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("read_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("message_id", "recipient_id", name="uq_notifications_message_recipient"),
    Index("ix_notifications_inbox", "recipient_id", text("created_at DESC"), text("id DESC")),
    Index(
        "ix_notifications_unread",
        "recipient_id",
        text("created_at DESC"),
        text("id DESC"),
        postgresql_where=text("read_at IS NULL"),
    ),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=text("gen_random_uuid()")),
    Column("message_id", Uuid, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient_id", Uuid, nullable=False),
    # Set up front for security mail (the address being verified); otherwise looked up when sending.
    Column("address", Text),
    Column("state", Text, nullable=False, server_default="PENDING"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("message_id", "channel", "recipient_id", name="uq_deliveries_message_channel_recipient"),
    CheckConstraint("channel IN ('EMAIL', 'SMS')", name="channel"),
    CheckConstraint("state IN ('PENDING', 'SENT', 'FAILED')", name="state"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("(state = 'SENT') = (sent_at IS NOT NULL)", name="sent_at"),
    Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("state = 'PENDING'")),
    Index("ix_deliveries_listing", text("created_at DESC"), text("id DESC")),
    Index("ix_deliveries_state_listing", "state", text("created_at DESC"), text("id DESC")),
)

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("in_app", Boolean, nullable=False),
    Column("email", Boolean, nullable=False),
    Column("sms", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("user_id", "kind", name="pk_preferences"),
)

# Everyone this service has heard of through the bus: an admin's broadcast goes to them.
known_users = Table(
    "known_users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Whether the account registered as an organizer (its welcome says so); NULL until its
    # UserRegistered was heard of.
    Column("organizer", Boolean),
    # EmailVerified was heard of: the welcome waits for it.
    Column("email_verified", Boolean, nullable=False, server_default=false()),
)

# Events as the bus described them (EventCreated/Updated/...; filled from BookingDetails when an
# event was created before this service listened).
events = Table(
    "events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("organizer_id", Uuid, nullable=False),
    Column("title", Text, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("city", Text, nullable=False, server_default=""),
    Column("venue", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default="SCHEDULED"),
    # The events service's update_time of what we hold; NULL when learned from a booking.
    Column("version", DateTime(timezone=True)),
)

bookings = Table(
    "bookings",
    metadata,
    Column("booking_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("guest_id", Uuid, nullable=False),
    Column("host_id", Uuid, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("state", Text, nullable=False),
    # occurred_at of the bus event that set `state`: an older event never overwrites a newer one.
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_bookings_event_state", "event_id", "state"),
)

reminders = Table(
    "reminders",
    metadata,
    Column("booking_id", Uuid, nullable=False),
    # REMINDER_24H or REMINDER_1H before the event starts; PAYMENT_REMINDER before the booking's
    # payment hold ends.
    Column("kind", Text, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("guest_id", Uuid, nullable=False),
    # The event start it reminds of (a payment reminder: the hold's end), and when to send.
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    # A payment reminder's payment (domain.messages.PaymentDue as JSON): what to pay and where.
    Column("payment", JSONB),
    PrimaryKeyConstraint("booking_id", "kind", name="pk_reminders"),
    CheckConstraint("kind IN ('REMINDER_24H', 'REMINDER_1H', 'PAYMENT_REMINDER')", name="kind"),
    CheckConstraint("(kind = 'PAYMENT_REMINDER') = (payment IS NOT NULL)", name="payment"),
    Index("ix_reminders_due", "due_at"),
    Index("ix_reminders_event", "event_id"),
)

# SendNotification's idempotency: the first call with a request id decides what was sent.
sends = Table(
    "sends",
    metadata,
    Column("sender_id", Uuid, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("recipient_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("sender_id", "request_id", name="pk_sends"),
)
