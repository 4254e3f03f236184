"""Tables of the payments database (SQLAlchemy Core).

The DDL itself is in `migrations/versions/` (hand-written); these declarations are the same tables,
indexes and constraints (a test compares them with a migrated database). The database enforces
what must never break: money is integer minor units of one ISO 4217 currency per payment, never
negative; refunds never exceed what was captured (`refunded_minor <= captured_minor`, and every
refund bumps `refunded_minor` in the transaction that writes it); money is captured exactly when a
payment SUCCEEDED; one open (PENDING) payment per booking; one refund per (payment, request id);
and a Stripe event applies once (`stripe_events`).

The report's read model (`report_events`, `report_bookings`) is what the bus said about events and
bookings: payments never reads another service's database.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

from services.runtime.bus.tables import service_metadata

metadata, outbox, inbox = service_metadata()

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("booking_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("organizer_id", Text, nullable=False),
    Column("event_title", Text, nullable=False),
    Column("event_time_zone", Text, nullable=False, server_default=""),
    Column("seats", Integer, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("captured_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("refunded_minor", BigInteger, nullable=False, server_default=text("0")),
    Column("state", Text, nullable=False),
    Column("provider", Text, nullable=False),
    # The provider's checkout (a Stripe Checkout Session) and how many were opened for this
    # payment: a checkout the provider closed is opened anew, under a new idempotency key.
    Column("checkout_id", Text),
    Column("checkout_url", Text, nullable=False, server_default=""),
    Column("checkouts_opened", Integer, nullable=False, server_default=text("0")),
    # The provider's id of the captured payment (a Stripe PaymentIntent): what refunds name.
    Column("provider_payment_id", Text),
    Column("hold_expire_time", DateTime(timezone=True), nullable=False),
    Column("event_start_time", DateTime(timezone=True), nullable=False),
    Column("refund_hours_before_start", Integer, nullable=False),
    Column("failure_reason", Text, nullable=False, server_default=""),
    Column("capture_time", DateTime(timezone=True)),
    Column("request_id", Text),
    Column("request_fingerprint", Text),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("captured_minor >= 0 AND refunded_minor >= 0", name="money_not_negative"),
    CheckConstraint("refunded_minor <= captured_minor", name="refunds_within_capture"),
    CheckConstraint("(state = 'SUCCEEDED') = (captured_minor > 0)", name="captured_when_succeeded"),
    CheckConstraint("state IN ('PENDING', 'SUCCEEDED', 'FAILED', 'EXPIRED')", name="state"),
    CheckConstraint("provider IN ('manual', 'stripe')", name="provider"),
    CheckConstraint("seats >= 1", name="seats_positive"),
    CheckConstraint("refund_hours_before_start >= 0", name="refund_hours"),
    # OpenCheckout's idempotency: one payment per booking and request id (NULLs never clash).
    UniqueConstraint("booking_id", "request_id"),
)
# One open payment per booking at a time, whatever races.
Index(
    "uq_payments_open_booking", payments.c.booking_id, unique=True, postgresql_where=text("state = 'PENDING'")
)
Index("ix_payments_booking", payments.c.booking_id, payments.c.create_time)
# ListPayments: newest first, as buyer, as organizer, per event, and everyone's (admins).
Index("ix_payments_buyer", payments.c.buyer_id, payments.c.create_time, payments.c.id)
Index("ix_payments_organizer", payments.c.organizer_id, payments.c.create_time, payments.c.id)
Index("ix_payments_event", payments.c.event_id, payments.c.create_time, payments.c.id)
Index("ix_payments_newest", payments.c.create_time, payments.c.id)
# The sales report: money captured per event over a period.
Index("ix_payments_captured", payments.c.event_id, payments.c.capture_time)
Index("uq_payments_checkout_id", payments.c.checkout_id, unique=True)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("payment_id", Uuid, ForeignKey("payments.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False),
    Column("initiated_by", Text, nullable=False),
    Column("initiated_by_user_id", Text, nullable=False, server_default=""),
    # The client's request id, or the key of an automatic refund (one per cause and payment).
    Column("request_id", Text, nullable=False),
    Column("request_fingerprint", Text, nullable=False),
    Column("provider_refund_id", Text),
    Column("failure_reason", Text, nullable=False, server_default=""),
    # The refund worker's lease: tries so far and when the next may start.
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint("state IN ('PENDING', 'SUCCEEDED', 'FAILED')", name="state"),
    UniqueConstraint("payment_id", "request_id"),
)
# The refund worker's queue.
Index("ix_refunds_due", refunds.c.next_attempt_time, postgresql_where=text("state = 'PENDING'"))
# The sales report: refunds per period.
Index("ix_refunds_created", refunds.c.create_time)

# Stripe events applied: a webhook delivered again (Stripe retries, replays) is acknowledged and
# ignored.
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The sales report's read model: events as events' bus last described them...
report_events = Table(
    "report_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("organizer_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("state", Text, nullable=False),
    # When the bus event applied last happened: an older one arriving late changes nothing.
    Column("observed_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_report_events_organizer",
    report_events.c.organizer_id,
    report_events.c.start_time,
    report_events.c.event_id,
)
Index("ix_report_events_start", report_events.c.start_time, report_events.c.event_id)

# ...and bookings as bookings' bus last described them.
report_bookings = Table(
    "report_bookings",
    metadata,
    Column("booking_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("state", Text, nullable=False),
    # When it was first confirmed (kept when it is cancelled later: a sale of that day).
    Column("confirm_time", DateTime(timezone=True)),
    Column("observed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_report_bookings_event", report_bookings.c.event_id, report_bookings.c.state)
