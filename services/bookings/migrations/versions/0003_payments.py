"""Paid bookings: AWAITING_PAYMENT, the terms of a paid booking, its payment, and a reservation id
of its own.

Revision ID: 0003

Existing bookings are free (no terms) and keep their id as their reservation id. The partial
indexes whose predicates name the active states are rebuilt with AWAITING_PAYMENT in the same
transaction, so the uniqueness rules never lapse.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

ACTIVE = "state IN ('PENDING', 'CONFIRMED', 'AWAITING_APPROVAL', 'AWAITING_PAYMENT', 'WAITLISTED')"
RECONCILE = (
    "state = 'PENDING' OR release_pending"
    " OR (state = 'AWAITING_PAYMENT' AND payment_id IS NULL)"
    " OR (state = 'EXPIRED' AND paid_at IS NOT NULL)"
)


def upgrade() -> None:
    op.add_column("bookings", sa.Column("reservation_id", sa.Uuid))
    op.execute("UPDATE bookings SET reservation_id = id")
    op.alter_column("bookings", "reservation_id", nullable=False)
    for column in (
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("currency", sa.Text),
        sa.Column("refund_full_until_hours", sa.Integer),
        sa.Column("payment_hold_seconds", sa.Integer),
        sa.Column("payment_id", sa.Text),
        sa.Column("checkout_url", sa.Text),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("bookings", column)

    op.drop_constraint("ck_bookings_state_known", "bookings", type_="check")
    op.create_check_constraint(
        "ck_bookings_state_known",
        "bookings",
        "state IN ('PENDING', 'CONFIRMED', 'AWAITING_APPROVAL', 'WAITLISTED', 'REJECTED', "
        "'CANCELLED', 'EXPIRED', 'AWAITING_PAYMENT')",
    )
    op.create_check_constraint(
        "ck_bookings_terms_complete",
        "bookings",
        "(amount_minor IS NULL) = (currency IS NULL)"
        " AND (amount_minor IS NULL) = (refund_full_until_hours IS NULL)"
        " AND (amount_minor IS NULL) = (payment_hold_seconds IS NULL)",
    )
    op.create_check_constraint("ck_bookings_amount_positive", "bookings", "amount_minor > 0")
    op.create_check_constraint(
        "ck_bookings_awaiting_payment_has_hold",
        "bookings",
        "(state = 'AWAITING_PAYMENT') <= (hold_expire_time IS NOT NULL AND amount_minor IS NOT NULL)",
    )
    # The money invariant, bookings' half: a paid booking is CONFIRMED only by an accepted payment.
    op.create_check_constraint(
        "ck_bookings_paid_when_confirmed",
        "bookings",
        "(state = 'CONFIRMED' AND amount_minor IS NOT NULL)"
        " <= (paid_at IS NOT NULL AND payment_id IS NOT NULL)",
    )

    op.drop_index("uq_bookings_active_user_event", "bookings")
    op.create_index(
        "uq_bookings_active_user_event",
        "bookings",
        ["user_id", "event_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
    )
    op.drop_index("uq_bookings_active_user_start", "bookings")
    op.create_index(
        "uq_bookings_active_user_start",
        "bookings",
        ["user_id", "event_start_time"],
        unique=True,
        postgresql_where=sa.text(f"{ACTIVE} AND NOT schedule_exempt"),
    )
    op.drop_index("ix_bookings_reconcile", "bookings")
    op.create_index("ix_bookings_reconcile", "bookings", ["retry_at"], postgresql_where=sa.text(RECONCILE))
    op.create_index(
        "ix_bookings_payment_expiry",
        "bookings",
        [sa.text("least(hold_expire_time, event_start_time)")],
        postgresql_where=sa.text("state = 'AWAITING_PAYMENT'"),
    )
