"""Paid events: a price per seat, a refund policy and a payment hold.

Revision ID: 0003
Revises: 0002

Existing events stay free (no price). The new columns have constant defaults, so adding them
rewrites no rows.
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE events
            ADD COLUMN price_minor bigint,
            ADD COLUMN price_currency text,
            ADD COLUMN refund_full_until_hours integer NOT NULL DEFAULT 0,
            ADD COLUMN payment_hold_seconds integer NOT NULL DEFAULT 900,
            ADD CONSTRAINT ck_events_price_has_currency
                CHECK ((price_minor IS NULL) = (price_currency IS NULL)),
            -- More than zero, and at most 1,000,000 major units in the currency with the most digits (4).
            ADD CONSTRAINT ck_events_price_range CHECK (price_minor BETWEEN 1 AND 10000000000),
            ADD CONSTRAINT ck_events_price_currency CHECK (price_currency ~ '^[A-Z]{3}$'),
            ADD CONSTRAINT ck_events_refund_hours CHECK (refund_full_until_hours BETWEEN 0 AND 8760),
            ADD CONSTRAINT ck_events_payment_hold CHECK (payment_hold_seconds BETWEEN 120 AND 86400)
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE events
            DROP COLUMN payment_hold_seconds,
            DROP COLUMN refund_full_until_hours,
            DROP COLUMN price_currency,
            DROP COLUMN price_minor
        """
    )
