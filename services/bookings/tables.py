"""Tables of the bookings database (SQLAlchemy Core), the same as the migrations build them
(tests/integration/test_migrations.py compares the two).

The rules that must never break live here as constraints, not in Python: one active booking per
user and event, no two active bookings of one user at the same start time (partial unique
indexes, so they hold under races), one review and one guest rating per booking (primary keys),
and no booking of a paid event CONFIRMED without a payment bookings accepted (a CHECK).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from services.runtime.bus.tables import service_metadata

metadata, outbox, inbox = service_metadata()

STATES = (
    "PENDING",
    "CONFIRMED",
    "AWAITING_APPROVAL",
    "WAITLISTED",
    "REJECTED",
    "CANCELLED",
    "EXPIRED",
    "AWAITING_PAYMENT",
)
# A user holds (or waits for) a place only through these; the uniqueness rules cover only them.
ACTIVE_SQL = "state IN ('PENDING', 'CONFIRMED', 'AWAITING_APPROVAL', 'AWAITING_PAYMENT', 'WAITLISTED')"
# The reconciler's work (see jobs.Reconciler): reservations whose outcome is unknown, releases events
# has not confirmed, payment holds whose checkout is not open yet, and late payments waiting to take
# their seats again. The claim statement says the same, so the planner uses the partial index.
RECONCILE_SQL = (
    "state = 'PENDING' OR release_pending"
    " OR (state = 'AWAITING_PAYMENT' AND payment_id IS NULL)"
    " OR (state = 'EXPIRED' AND paid_at IS NOT NULL)"
)

# Names the store maps to the rule that refused an insert (domain.InTheWay).
UQ_REQUEST = "uq_bookings_user_request"
UQ_ACTIVE_EVENT = "uq_bookings_active_user_event"
UQ_ACTIVE_START = "uq_bookings_active_user_start"

# First come, first served: the order in which bookings joined the waitlist.
waitlist_sequence = Sequence("bookings_waitlist_seq", metadata=metadata)

bookings = Table(
    "bookings",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Text, nullable=False),
    # Client-chosen idempotency key of CreateBooking (per user); NULL when the client sent none.
    Column("request_id", Text),
    Column("event_id", Text, nullable=False),
    # The event's organizer, copied so the host sees and manages bookings without asking events.
    Column("host_id", Text, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("join_waitlist", Boolean, nullable=False, server_default=text("false")),
    Column("state", Text, nullable=False),
    # Copies of the event, kept current from the bus (EventUpdated), so lists, notifications and the
    # schedule rule need no call to events.
    Column("event_title", Text, nullable=False),
    Column("event_start_time", DateTime(timezone=True), nullable=False),
    Column("event_end_time", DateTime(timezone=True), nullable=False),
    Column("event_time_zone", Text, nullable=False),
    Column("event_city", Text, nullable=False, server_default=""),
    Column("event_venue", Text, nullable=False, server_default=""),
    # The event's update_time our copy is from: an older update arriving late changes nothing.
    Column("event_updated_at", DateTime(timezone=True)),
    # True when the organizer moved the event onto the start time of another active booking of
    # this guest: both bookings stand (the guest did nothing wrong) and this one steps out of the
    # schedule index until the event moves again.
    Column("schedule_exempt", Boolean, nullable=False, server_default=text("false")),
    Column("waitlist_seq", BigInteger),
    # AWAITING_APPROVAL: when the host's time to answer runs out (the event's start ends it sooner).
    Column("hold_expire_time", DateTime(timezone=True)),
    # Why a booking ended: SOLD_OUT, EVENT_NOT_BOOKABLE, EVENT_STARTED, HOST_REJECTED, SCHEDULE_CONFLICT.
    Column("reject_cause", Text),
    # GUEST, HOST, ADMIN or EVENT_CANCELLED.
    Column("cancelled_by", Text),
    # The reason the guest, host or admin gave when cancelling or rejecting.
    Column("end_reason", Text, nullable=False, server_default=""),
    # The booking may hold seats at events that must be given back (ReleaseSeats with its id).
    Column("release_pending", Boolean, nullable=False, server_default=text("false")),
    # When the reconciler next looks at a PENDING booking or a pending release (a lease: a replica
    # that takes the row moves it forward, so no other replica takes it meanwhile).
    Column("retry_at", DateTime(timezone=True)),
    Column("attempts", SmallInteger, nullable=False, server_default=text("0")),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The id its seats are reserved under at events: the booking's own, or a new one when a payment
    # that came after the hold expired takes seats again (a released id stays fenced at events).
    Column("reservation_id", Uuid, nullable=False),
    # A paid event's booking (all four NULL when free): the total in minor units of `currency`, the
    # refund policy (full refund until N hours before the start) and the payment hold, as of when
    # its seats were reserved.
    Column("amount_minor", BigInteger),
    Column("currency", Text),
    Column("refund_full_until_hours", Integer),
    Column("payment_hold_seconds", Integer),
    # The payments service's payment: the open one while AWAITING_PAYMENT, then the one that paid.
    Column("payment_id", Text),
    Column("checkout_url", Text),
    # When a succeeded payment (payment_id) was accepted for this booking.
    Column("paid_at", DateTime(timezone=True)),
    CheckConstraint("seats >= 1", name="seats_positive"),
    CheckConstraint("state IN (" + ", ".join(f"'{state}'" for state in STATES) + ")", name="state_known"),
    CheckConstraint("(state = 'WAITLISTED') <= (waitlist_seq IS NOT NULL)", name="waitlisted_has_place"),
    CheckConstraint(
        "(state = 'AWAITING_APPROVAL') <= (hold_expire_time IS NOT NULL)", name="awaiting_has_expiry"
    ),
    CheckConstraint(
        "(amount_minor IS NULL) = (currency IS NULL)"
        " AND (amount_minor IS NULL) = (refund_full_until_hours IS NULL)"
        " AND (amount_minor IS NULL) = (payment_hold_seconds IS NULL)",
        name="terms_complete",
    ),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint(
        "(state = 'AWAITING_PAYMENT') <= (hold_expire_time IS NOT NULL AND amount_minor IS NOT NULL)",
        name="awaiting_payment_has_hold",
    ),
    # The money invariant, bookings' half: a paid booking is CONFIRMED only by an accepted payment.
    CheckConstraint(
        "(state = 'CONFIRMED' AND amount_minor IS NOT NULL)"
        " <= (paid_at IS NOT NULL AND payment_id IS NOT NULL)",
        name="paid_when_confirmed",
    ),
    Index(UQ_REQUEST, "user_id", "request_id", unique=True, postgresql_where=text("request_id IS NOT NULL")),
    Index(UQ_ACTIVE_EVENT, "user_id", "event_id", unique=True, postgresql_where=text(ACTIVE_SQL)),
    Index(
        UQ_ACTIVE_START,
        "user_id",
        "event_start_time",
        unique=True,
        postgresql_where=text(f"{ACTIVE_SQL} AND NOT schedule_exempt"),
    ),
    # ListBookings as guest and as host, newest first (keyset).
    Index("ix_bookings_guest_list", "user_id", text("create_time DESC"), text("id DESC")),
    Index("ix_bookings_host_list", "host_id", text("create_time DESC"), text("id DESC")),
    # Every booking of an event (bus handlers: cancelled, moved).
    Index("ix_bookings_event", "event_id"),
    # The waitlist of an event in order, and positions in it.
    Index("ix_bookings_waitlist", "event_id", "waitlist_seq", postgresql_where=text("state = 'WAITLISTED'")),
    # The reconciler's work (RECONCILE_SQL).
    Index("ix_bookings_reconcile", "retry_at", postgresql_where=text(RECONCILE_SQL)),
    # Expiry of approval holds and of waitlist entries.
    Index(
        "ix_bookings_hold_expiry", "hold_expire_time", postgresql_where=text("state = 'AWAITING_APPROVAL'")
    ),
    Index(
        "ix_bookings_waiting_start",
        "event_start_time",
        postgresql_where=text("state IN ('AWAITING_APPROVAL', 'WAITLISTED')"),
    ),
)
# Expiry of payment holds: the hold's end, or the event's start if sooner.
Index(
    "ix_bookings_payment_expiry",
    func.least(bookings.c.hold_expire_time, bookings.c.event_start_time),
    postgresql_where=text("state = 'AWAITING_PAYMENT'"),
)

# How many bookings wait in each event's waitlist: kept by triggers on bookings (migration 0004),
# read by a batch of waitlist joins to number its entries.
waitlist_lengths = Table(
    "waitlist_lengths",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("waiting", Integer, nullable=False),
    CheckConstraint("waiting >= 0", name="waiting_not_negative"),
)

# Events whose end passed (EventCompleted from the bus): reviews open for their confirmed bookings.
completed_events = Table(
    "completed_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("completed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One review per booking, by its guest.
reviews = Table(
    "reviews",
    metadata,
    Column("booking_id", Uuid, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("guest_id", Text, nullable=False),
    Column("host_id", Text, nullable=False),
    Column("event_rating", SmallInteger, nullable=False),
    Column("host_rating", SmallInteger, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("event_rating BETWEEN 1 AND 5", name="event_rating_range"),
    CheckConstraint("host_rating BETWEEN 1 AND 5", name="host_rating_range"),
    CheckConstraint("char_length(comment) <= 2000", name="comment_length"),
)

# One rating of the guest per booking, by the host. Shaped like `reviews` on purpose (keyed by the
# booking, its parties copied) but a table of its own: the host's record, not the guest's.
guest_ratings = Table(
    "guest_ratings",
    metadata,
    Column("booking_id", Uuid, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("guest_id", Text, nullable=False),
    Column("host_id", Text, nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
)
