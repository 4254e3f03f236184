"""Tables of the events database (SQLAlchemy Core).

The DDL itself is in `migrations/versions/` (hand-written); these declarations are the same tables,
indexes and constraints, so the store builds its queries from what really exists (a test compares
them with a migrated database). The database enforces what must never break: the seat invariant
`0 <= seats_taken <= capacity`, one reservation row per reservation id, one review per booking,
and no event deleted while a reservation (even a released one) points at it.

No index covers `seats_taken` (nor any column a reservation writes), so the hottest write in the
system, `UPDATE events SET seats_taken = ...`, stays a HOT update that touches no index; the
migration's `fillfactor = 80` leaves room on each page for those new row versions.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from services.runtime.bus.tables import service_metadata

metadata, outbox, inbox = service_metadata()

# The text search configuration of `events.search`; queries must use the same one.
SEARCH_CONFIG = "english"

events = Table(
    "events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organizer_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("venue", Text, nullable=False, server_default=""),
    Column("capacity", Integer, nullable=False),
    Column("seats_taken", Integer, nullable=False, server_default=text("0")),
    Column("max_seats_per_booking", Integer, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("requires_approval", Boolean, nullable=False, server_default=text("false")),
    Column("state", Text, nullable=False, server_default="SCHEDULED"),
    # Sums, not an average, so the average stays exact however many reviews arrive.
    Column("rating_sum", BigInteger, nullable=False, server_default=text("0")),
    Column("rating_count", Integer, nullable=False, server_default=text("0")),
    Column(
        "rating_average",
        Double,
        Computed("CASE WHEN rating_count > 0 THEN rating_sum::double precision / rating_count ELSE 0 END"),
    ),
    # Full-text search over title (weight A) and description (weight B).
    Column(
        "search",
        TSVECTOR,
        Computed(
            f"setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, title), 'A')"
            f" || setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, description), 'B')"
        ),
    ),
    # Bumped by every edit and state change: the etag.
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    # Bumped by every change of capacity, seats_taken or state: orders availability updates.
    Column("seats_version", BigInteger, nullable=False, server_default=text("0")),
    Column("request_id", Text),
    Column("request_fingerprint", Text),
    Column("cancel_reason", Text),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The price of one seat in minor units of price_currency (ISO 4217); both NULL: a free event.
    Column("price_minor", BigInteger),
    Column("price_currency", Text),
    # Full refund for a guest who cancels at least this many hours before the start.
    Column("refund_full_until_hours", Integer, nullable=False, server_default=text("0")),
    # How long seats are held while a buyer pays.
    Column("payment_hold_seconds", Integer, nullable=False, server_default=text("900")),
    CheckConstraint("seats_taken BETWEEN 0 AND capacity", name="seats_within_capacity"),
    CheckConstraint("capacity BETWEEN 1 AND 100000", name="capacity_range"),
    CheckConstraint("max_seats_per_booking BETWEEN 1 AND capacity", name="max_seats_per_booking"),
    CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="title_length"),
    CheckConstraint("end_time > start_time", name="ends_after_start"),
    CheckConstraint("state IN ('SCHEDULED', 'CANCELLED', 'COMPLETED')", name="state"),
    CheckConstraint("cardinality(tags) <= 10", name="tag_count"),
    CheckConstraint("rating_count >= 0 AND rating_sum >= 0", name="rating_sums"),
    CheckConstraint("(price_minor IS NULL) = (price_currency IS NULL)", name="price_has_currency"),
    # More than zero, and at most 1,000,000 major units in the currency with the most digits (4).
    CheckConstraint("price_minor BETWEEN 1 AND 10000000000", name="price_range"),
    CheckConstraint("price_currency ~ '^[A-Z]{3}$'", name="price_currency"),
    CheckConstraint("refund_full_until_hours BETWEEN 0 AND 8760", name="refund_hours"),
    CheckConstraint("payment_hold_seconds BETWEEN 120 AND 86400", name="payment_hold"),
    # CreateEvent's idempotency: one event per organizer and request id (NULLs never clash).
    UniqueConstraint("organizer_id", "request_id"),
)

# One index per filter and order of ListEvents (keyset: the sort key, then id).
Index("ix_events_start_time", events.c.start_time, events.c.id)
Index("ix_events_create_time", events.c.create_time, events.c.id)
Index("ix_events_rating", events.c.rating_average, events.c.id)
Index("ix_events_city", func.lower(events.c.city), events.c.start_time, events.c.id)
Index("ix_events_organizer", events.c.organizer_id, events.c.start_time, events.c.id)
Index("ix_events_state", events.c.state, events.c.start_time, events.c.id)
Index("ix_events_tags", events.c.tags, postgresql_using="gin")
Index("ix_events_search", events.c.search, postgresql_using="gin")
# The completion job's queue.
Index("ix_events_due", events.c.end_time, postgresql_where=text("state = 'SCHEDULED'"))

# One row per reservation id ever seen. A released reservation keeps its row (released_at set), and
# releasing an id never reserved inserts a "fence" (no event, no seats), so a late ReserveSeats
# with that id can never take seats.
reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", Uuid, primary_key=True),
    # RESTRICT: an event that ever had a reservation can only be cancelled, never deleted.
    Column("event_id", Uuid, ForeignKey("events.id"), index=True),
    Column("seats", Integer, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("released_at", DateTime(timezone=True)),
    # Either real seats of an event, or a fence: released, no event, no seats.
    CheckConstraint(
        "(event_id IS NOT NULL AND seats >= 1)"
        " OR (event_id IS NULL AND seats = 0 AND released_at IS NOT NULL)",
        name="seats_or_fence",
    ),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", Uuid, ForeignKey("events.id"), nullable=False),
    Column("booking_id", Text, nullable=False, unique=True),
    Column("author_id", Text, nullable=False),
    Column("event_rating", SmallInteger, nullable=False),
    Column("host_rating", SmallInteger, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False),
    CheckConstraint("event_rating BETWEEN 1 AND 5", name="event_rating"),
    CheckConstraint("host_rating BETWEEN 1 AND 5", name="host_rating"),
)
# ListReviews: newest first, by event.
Index("ix_reviews_event_newest", reviews.c.event_id, reviews.c.create_time.desc(), reviews.c.id.desc())
