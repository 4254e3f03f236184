"""Tables of the events database (SQLAlchemy Core).

The DDL itself is in `migrations/versions/` (hand-written); these declarations mirror it so the
store can build queries. The database enforces what must never break: the seat invariant
`0 <= seats_taken <= capacity`, one reservation row per reservation id, one review per booking,
and no event deleted while a reservation (even a released one) points at it.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

from services.runtime.bus.tables import inbox_table, outbox_table
from services.runtime.migrations import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

# The text search configuration of `events.search`; queries must use the same one.
SEARCH_CONFIG = "english"

events = Table(
    "events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organizer_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("venue", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("seats_taken", Integer, nullable=False),
    Column("max_seats_per_booking", Integer, nullable=False),
    Column("tags", ARRAY(Text), nullable=False),
    Column("requires_approval", Boolean, nullable=False),
    Column("state", Text, nullable=False),
    # Sums, not an average, so the average stays exact however many reviews arrive.
    Column("rating_sum", BigInteger, nullable=False),
    Column("rating_count", Integer, nullable=False),
    Column(
        "rating_average",
        Double,
        Computed("CASE WHEN rating_count > 0 THEN rating_sum::double precision / rating_count ELSE 0 END"),
        nullable=False,
    ),
    # Full-text search over title (weight A) and description (weight B).
    Column(
        "search",
        TSVECTOR,
        Computed(
            f"setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, title), 'A')"
            f" || setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, description), 'B')"
        ),
        nullable=False,
    ),
    # Bumped by every edit and state change: the etag.
    Column("version", BigInteger, nullable=False),
    # Bumped by every change of capacity, seats_taken or state: orders availability updates.
    Column("seats_version", BigInteger, nullable=False),
    Column("request_id", Text),
    Column("request_fingerprint", Text),
    Column("cancel_reason", Text),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

# One row per reservation id ever seen. A released reservation keeps its row (released_at set), and
# releasing an id never reserved inserts a "fence" (no event, no seats), so a late ReserveSeats
# with that id can never take seats.
reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", Uuid, primary_key=True),
    Column("event_id", Uuid, ForeignKey("events.id")),
    Column("seats", Integer, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
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
    Column("comment", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)
