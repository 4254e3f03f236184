"""Events, seat reservations and reviews.

Revision ID: 0002
Revises: 0001

The seat invariant lives in the schema: `CHECK (seats_taken BETWEEN 0 AND capacity)`. No index
covers `seats_taken` (nor any column a reservation writes), so the hottest write in the system,
`UPDATE events SET seats_taken = ...`, stays a HOT update that touches no index; `fillfactor`
leaves room on each page for those new row versions.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE events (
            id uuid PRIMARY KEY,
            organizer_id text NOT NULL,
            title text NOT NULL,
            description text NOT NULL DEFAULT '',
            start_time timestamptz NOT NULL,
            end_time timestamptz NOT NULL,
            time_zone text NOT NULL,
            city text NOT NULL,
            venue text NOT NULL DEFAULT '',
            capacity integer NOT NULL,
            seats_taken integer NOT NULL DEFAULT 0,
            max_seats_per_booking integer NOT NULL,
            tags text[] NOT NULL DEFAULT '{}',
            requires_approval boolean NOT NULL DEFAULT false,
            state text NOT NULL DEFAULT 'SCHEDULED',
            rating_sum bigint NOT NULL DEFAULT 0,
            rating_count integer NOT NULL DEFAULT 0,
            rating_average double precision GENERATED ALWAYS AS (
                CASE WHEN rating_count > 0 THEN rating_sum::double precision / rating_count ELSE 0 END
            ) STORED,
            search tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english'::regconfig, title), 'A')
                || setweight(to_tsvector('english'::regconfig, description), 'B')
            ) STORED,
            version bigint NOT NULL DEFAULT 1,
            seats_version bigint NOT NULL DEFAULT 0,
            request_id text,
            request_fingerprint text,
            cancel_reason text,
            create_time timestamptz NOT NULL DEFAULT now(),
            update_time timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_events_seats_within_capacity CHECK (seats_taken BETWEEN 0 AND capacity),
            CONSTRAINT ck_events_capacity_range CHECK (capacity BETWEEN 1 AND 100000),
            CONSTRAINT ck_events_max_seats_per_booking CHECK (max_seats_per_booking BETWEEN 1 AND capacity),
            CONSTRAINT ck_events_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
            CONSTRAINT ck_events_ends_after_start CHECK (end_time > start_time),
            CONSTRAINT ck_events_state CHECK (state IN ('SCHEDULED', 'CANCELLED', 'COMPLETED')),
            CONSTRAINT ck_events_tag_count CHECK (cardinality(tags) <= 10),
            CONSTRAINT ck_events_rating_sums CHECK (rating_count >= 0 AND rating_sum >= 0),
            -- CreateEvent's idempotency: one event per organizer and request id (NULLs never clash).
            CONSTRAINT uq_events_organizer_id_request_id UNIQUE (organizer_id, request_id)
        ) WITH (fillfactor = 80);

        -- One index per filter and order of ListEvents (keyset: the sort key, then id).
        CREATE INDEX ix_events_start_time ON events (start_time, id);
        CREATE INDEX ix_events_create_time ON events (create_time, id);
        CREATE INDEX ix_events_rating ON events (rating_average, id);
        CREATE INDEX ix_events_city ON events (lower(city), start_time, id);
        CREATE INDEX ix_events_organizer ON events (organizer_id, start_time, id);
        CREATE INDEX ix_events_state ON events (state, start_time, id);
        CREATE INDEX ix_events_tags ON events USING gin (tags);
        CREATE INDEX ix_events_search ON events USING gin (search);
        -- The completion job's queue.
        CREATE INDEX ix_events_due ON events (end_time) WHERE state = 'SCHEDULED';

        CREATE TABLE reservations (
            reservation_id uuid PRIMARY KEY,
            -- RESTRICT: an event that ever had a reservation can only be cancelled, never deleted.
            event_id uuid REFERENCES events (id),
            seats integer NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now(),
            released_at timestamptz,
            -- Either real seats of an event, or a fence: released, no event, no seats.
            CONSTRAINT ck_reservations_seats_or_fence CHECK (
                (event_id IS NOT NULL AND seats >= 1)
                OR (event_id IS NULL AND seats = 0 AND released_at IS NOT NULL)
            )
        );
        CREATE INDEX ix_reservations_event_id ON reservations (event_id);

        CREATE TABLE reviews (
            id uuid PRIMARY KEY,
            event_id uuid NOT NULL REFERENCES events (id),
            booking_id text NOT NULL,
            author_id text NOT NULL,
            event_rating smallint NOT NULL,
            host_rating smallint NOT NULL,
            comment text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL,
            CONSTRAINT uq_reviews_booking_id UNIQUE (booking_id),
            CONSTRAINT ck_reviews_event_rating CHECK (event_rating BETWEEN 1 AND 5),
            CONSTRAINT ck_reviews_host_rating CHECK (host_rating BETWEEN 1 AND 5)
        );
        CREATE INDEX ix_reviews_event_newest ON reviews (event_id, create_time DESC, id DESC);
        """
    )
