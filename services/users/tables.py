"""Tables of the users database (SQLAlchemy Core), exactly as the migrations build them.

Migrations 0002 and 0003 create what this declares; tests/integration/test_migrations.py compares the
two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from services.runtime.bus.tables import service_metadata

metadata, outbox, inbox = service_metadata()

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Stored normalised (trimmed, lower case); the unique index makes "any case" one account.
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("phone", Text, nullable=False, server_default=""),
    Column("role", Text, nullable=False),
    Column("email_verified", Boolean, nullable=False, server_default=text("false")),
    # SMS go only to a number confirmed with a code sent to it; a new number starts unconfirmed.
    Column("phone_verified", Boolean, nullable=False, server_default=text("false")),
    # The address the account is changing to, until the code sent there comes back; sign-in keeps
    # using `email` meanwhile. Normalised like `email`; not unique: whoever confirms first wins.
    Column("pending_email", Text),
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("locale", Text, nullable=False, server_default="en"),
    Column("host_rating_sum", BigInteger, nullable=False, server_default="0"),
    Column("host_rating_count", Integer, nullable=False, server_default="0"),
    Column("guest_rating_sum", BigInteger, nullable=False, server_default="0"),
    Column("guest_rating_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # People only: services authenticate with a secret and never have a row here.
    CheckConstraint("role IN ('participant', 'organizer', 'admin')", name="role"),
    CheckConstraint("email = lower(btrim(email)) AND email <> ''", name="email_normalised"),
    CheckConstraint("display_name <> ''", name="display_name"),
    CheckConstraint(
        "pending_email = lower(btrim(pending_email)) AND pending_email <> ''", name="pending_email_normalised"
    ),
    CheckConstraint(
        "host_rating_count >= 0 AND guest_rating_count >= 0"
        " AND host_rating_sum >= 0 AND guest_rating_sum >= 0",
        name="ratings",
    ),
    Index("uq_users_email", text("lower(email)"), unique=True),
    Index("ix_users_created_at_id", "created_at", "id"),
    Index("ix_users_admins", "id", postgresql_where=text("role = 'admin'")),
    Index("ix_users_pending_email", "pending_email", postgresql_where=text("pending_email IS NOT NULL")),
)

# One pending email code per user; a new code replaces the old one.
verification_codes = Table(
    "verification_codes",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # The address the code was sent to: a code never verifies an address it was not sent to.
    Column("email", Text, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("attempts >= 0", name="attempts"),
)

# One pending SMS code per user, by the same rules as the email codes above.
phone_codes = Table(
    "phone_codes",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # The number the code was sent to: a code never verifies a number it was not sent to.
    Column("phone", Text, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("attempts >= 0", name="attempts"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Every token rotated from one login shares its family; reuse of a rotated one revokes it all.
    Column("family_id", Uuid, nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the opaque token; the token itself is never stored.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
    Index("ix_refresh_tokens_expires_at", "expires_at"),
)

# Ratings from bookings' bus events, one per (booking, kind): redelivery or an edit never counts twice.
ratings = Table(
    "ratings",
    metadata,
    Column("booking_id", Text, primary_key=True),
    # host: a guest rated the host of an event; guest: a host rated a guest.
    Column("kind", Text, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('host', 'guest')", name="kind"),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
    Index("ix_ratings_user_id_kind", "user_id", "kind"),
)
