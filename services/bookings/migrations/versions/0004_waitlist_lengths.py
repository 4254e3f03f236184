"""How many bookings wait in each event's waitlist, kept by the database itself.

Revision ID: 0004

A booking put in line is told its position. Counting the entries ahead of it for every batch of
joins cost a whole line's length each time: a flash sale's tens of thousands of waitlisted buyers
made that count run back to back. The length per event is kept by row triggers on every way into
and out of WAITLISTED (insert, state change, delete), in the same transaction as the change, so a
batch of joins reads it once (under the waitlist's advisory lock) and numbers its entries from there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # No booking may change state between the count below and the triggers that keep it: pods of
    # the previous release keep writing during a rolling deploy, and a change they commit in
    # between would never be counted (a later decrement would then break the CHECK).
    op.execute("LOCK TABLE bookings IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "waitlist_lengths",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("waiting", sa.Integer, nullable=False),
        sa.CheckConstraint("waiting >= 0", name="waiting_not_negative"),
    )
    op.execute(
        """
        INSERT INTO waitlist_lengths (event_id, waiting)
        SELECT event_id, count(*) FROM bookings WHERE state = 'WAITLISTED' GROUP BY event_id;

        CREATE FUNCTION count_waitlist() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' AND OLD.state = 'WAITLISTED' THEN
            UPDATE waitlist_lengths SET waiting = waiting - 1 WHERE event_id = OLD.event_id;
          END IF;
          IF TG_OP <> 'DELETE' AND NEW.state = 'WAITLISTED' THEN
            INSERT INTO waitlist_lengths AS lengths (event_id, waiting) VALUES (NEW.event_id, 1)
            ON CONFLICT (event_id) DO UPDATE SET waiting = lengths.waiting + 1;
          END IF;
          RETURN NULL;
        END $$;

        CREATE TRIGGER waitlist_joined AFTER INSERT ON bookings
        FOR EACH ROW WHEN (NEW.state = 'WAITLISTED') EXECUTE FUNCTION count_waitlist();
        CREATE TRIGGER waitlist_moved AFTER UPDATE OF state ON bookings
        FOR EACH ROW WHEN ((OLD.state = 'WAITLISTED') <> (NEW.state = 'WAITLISTED'))
        EXECUTE FUNCTION count_waitlist();
        CREATE TRIGGER waitlist_left AFTER DELETE ON bookings
        FOR EACH ROW WHEN (OLD.state = 'WAITLISTED') EXECUTE FUNCTION count_waitlist();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER waitlist_left ON bookings;
        DROP TRIGGER waitlist_moved ON bookings;
        DROP TRIGGER waitlist_joined ON bookings;
        DROP FUNCTION count_waitlist();
        """
    )
    op.drop_table("waitlist_lengths")
