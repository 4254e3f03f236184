"""Reminders before a booking's payment hold ends.

A PAYMENT_REMINDER row carries the payment it reminds of (what to pay, where), which nothing else
in this database knows; reminders of an event's start carry none.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("reminders", sa.Column("payment", JSONB))
    # 0002 named it with the naming convention's prefix twice (the name it gave was prefixed again).
    op.drop_constraint(op.f("ck_reminders_ck_reminders_kind"), "reminders", type_="check")
    op.create_check_constraint(
        op.f("ck_reminders_kind"),
        "reminders",
        "kind IN ('REMINDER_24H', 'REMINDER_1H', 'PAYMENT_REMINDER')",
    )
    op.create_check_constraint(
        op.f("ck_reminders_payment"),
        "reminders",
        "(kind = 'PAYMENT_REMINDER') = (payment IS NOT NULL)",
    )
