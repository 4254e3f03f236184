"""Payments, refunds, Stripe events applied, and the sales report's read model.

Revision ID: 0002
Revises: 0001

Money is integer minor units of the payment's ISO 4217 currency. What must never break is a
constraint here, not a rule in code: refunds never exceed the capture (`refunded_minor` is bumped
by the statement that writes each refund), money is captured exactly when a payment succeeded, and
a booking has at most one open (PENDING) payment.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE payments (
            id uuid PRIMARY KEY,
            booking_id uuid NOT NULL,
            event_id uuid NOT NULL,
            buyer_id text NOT NULL,
            organizer_id text NOT NULL,
            event_title text NOT NULL,
            event_time_zone text NOT NULL DEFAULT '',
            seats integer NOT NULL,
            currency text NOT NULL,
            amount_minor bigint NOT NULL,
            captured_minor bigint NOT NULL DEFAULT 0,
            refunded_minor bigint NOT NULL DEFAULT 0,
            state text NOT NULL,
            provider text NOT NULL,
            checkout_id text,
            checkout_url text NOT NULL DEFAULT '',
            checkouts_opened integer NOT NULL DEFAULT 0,
            provider_payment_id text,
            hold_expire_time timestamptz NOT NULL,
            event_start_time timestamptz NOT NULL,
            refund_hours_before_start integer NOT NULL,
            failure_reason text NOT NULL DEFAULT '',
            capture_time timestamptz,
            request_id text,
            request_fingerprint text,
            version bigint NOT NULL DEFAULT 1,
            create_time timestamptz NOT NULL DEFAULT now(),
            update_time timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_payments_currency CHECK (currency ~ '^[A-Z]{3}$'),
            CONSTRAINT ck_payments_amount_positive CHECK (amount_minor > 0),
            CONSTRAINT ck_payments_money_not_negative CHECK (captured_minor >= 0 AND refunded_minor >= 0),
            CONSTRAINT ck_payments_refunds_within_capture CHECK (refunded_minor <= captured_minor),
            CONSTRAINT ck_payments_captured_when_succeeded CHECK ((state = 'SUCCEEDED') = (captured_minor > 0)),
            CONSTRAINT ck_payments_state CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED', 'EXPIRED')),
            CONSTRAINT ck_payments_provider CHECK (provider IN ('manual', 'stripe')),
            CONSTRAINT ck_payments_seats_positive CHECK (seats >= 1),
            CONSTRAINT ck_payments_refund_hours CHECK (refund_hours_before_start >= 0),
            -- OpenCheckout's idempotency: one payment per booking and request id (NULLs never clash).
            CONSTRAINT uq_payments_booking_id_request_id UNIQUE (booking_id, request_id)
        );
        -- One open payment per booking at a time, whatever races.
        CREATE UNIQUE INDEX uq_payments_open_booking ON payments (booking_id) WHERE state = 'PENDING';
        CREATE INDEX ix_payments_booking ON payments (booking_id, create_time);
        -- ListPayments: newest first, as buyer, as organizer, per event, and everyone's (admins).
        CREATE INDEX ix_payments_buyer ON payments (buyer_id, create_time, id);
        CREATE INDEX ix_payments_organizer ON payments (organizer_id, create_time, id);
        CREATE INDEX ix_payments_event ON payments (event_id, create_time, id);
        CREATE INDEX ix_payments_newest ON payments (create_time, id);
        -- The sales report: money captured per event over a period.
        CREATE INDEX ix_payments_captured ON payments (event_id, capture_time);
        CREATE UNIQUE INDEX uq_payments_checkout_id ON payments (checkout_id);

        CREATE TABLE refunds (
            id uuid PRIMARY KEY,
            payment_id uuid NOT NULL REFERENCES payments (id),
            amount_minor bigint NOT NULL,
            reason text NOT NULL DEFAULT '',
            state text NOT NULL,
            initiated_by text NOT NULL,
            initiated_by_user_id text NOT NULL DEFAULT '',
            request_id text NOT NULL,
            request_fingerprint text NOT NULL,
            provider_refund_id text,
            failure_reason text NOT NULL DEFAULT '',
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_time timestamptz NOT NULL DEFAULT now(),
            create_time timestamptz NOT NULL DEFAULT now(),
            update_time timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_refunds_amount_positive CHECK (amount_minor > 0),
            CONSTRAINT ck_refunds_state CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
            CONSTRAINT uq_refunds_payment_id_request_id UNIQUE (payment_id, request_id)
        );
        -- The refund worker's queue.
        CREATE INDEX ix_refunds_due ON refunds (next_attempt_time) WHERE state = 'PENDING';
        -- The sales report: refunds per period.
        CREATE INDEX ix_refunds_created ON refunds (create_time);

        -- Stripe events applied: a webhook delivered again is acknowledged and ignored.
        CREATE TABLE stripe_events (
            event_id text PRIMARY KEY,
            type text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        );

        -- The sales report's read model, from the bus.
        CREATE TABLE report_events (
            event_id uuid PRIMARY KEY,
            organizer_id text NOT NULL,
            title text NOT NULL,
            start_time timestamptz NOT NULL,
            capacity integer NOT NULL,
            state text NOT NULL,
            observed_at timestamptz NOT NULL
        );
        CREATE INDEX ix_report_events_organizer ON report_events (organizer_id, start_time, event_id);
        CREATE INDEX ix_report_events_start ON report_events (start_time, event_id);

        CREATE TABLE report_bookings (
            booking_id uuid PRIMARY KEY,
            event_id uuid NOT NULL,
            seats integer NOT NULL,
            state text NOT NULL,
            confirm_time timestamptz,
            observed_at timestamptz NOT NULL
        );
        CREATE INDEX ix_report_bookings_event ON report_bookings (event_id, state);
        """
    )
