"""The reminder schedule: one row per (booking, kind) with its due time, moved with the event and
gone with the booking or the event; claimed by the reminder job when due.

Besides the reminders before an event starts, a booking that holds seats until its guest pays has
one before its hold ends (PAYMENT_REMINDER, due at the hold's end less the offset), which carries
what it reminds of (the payment, as JSON) and is gone once the booking is paid or over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import DateTime, Integer, String, bindparam, delete, func, literal, select, tuple_, union_all
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.types import Text, Uuid

from services.notifications.domain.kinds import BookingState, Kind
from services.notifications.domain.messages import PaymentDue
from services.notifications.domain.records import DueReminder
from services.notifications.store.projections import event_summary
from services.notifications.tables import bookings, events, reminders
from services.runtime.database import Executor, Statement

# The reminders before an event starts, one optional due time each: plain parameters rather than
# arrays, which cost more to send than the rest of the statement.
REMINDER_KINDS = (Kind.REMINDER_24H, Kind.REMINDER_1H)


def _schedule_reminders() -> Any:
    rows = insert(reminders).from_select(
        ["booking_id", "kind", "event_id", "guest_id", "start_time", "due_at"],
        union_all(
            *(
                select(
                    bindparam("booking_id", type_=Uuid),
                    literal(kind.value, Text),
                    bindparam("event_id", type_=Uuid),
                    bindparam("guest_id", type_=Uuid),
                    bindparam("start_time", type_=DateTime(timezone=True)),
                    bindparam(f"due_{kind}", type_=DateTime(timezone=True)),
                ).where(bindparam(f"due_{kind}", type_=DateTime(timezone=True)).is_not(None))
                for kind in REMINDER_KINDS
            )
        ),
    )
    return rows.on_conflict_do_update(
        constraint="pk_reminders",
        set_={"start_time": rows.excluded.start_time, "due_at": rows.excluded.due_at},
    )


_SCHEDULE = Statement.of(_schedule_reminders())
_DROP_BOOKING = Statement.of(
    delete(reminders).where(reminders.c.booking_id == bindparam("booking_id", type_=Uuid))
)
_DROP_EVENT = Statement.of(delete(reminders).where(reminders.c.event_id == bindparam("event_id", type_=Uuid)))
# A moved event moves the reminders of its start; a hold's end does not move with it.
_DROP_EVENT_STARTS = Statement.of(
    delete(reminders).where(
        reminders.c.event_id == bindparam("event_id", type_=Uuid),
        reminders.c.kind != Kind.PAYMENT_REMINDER.value,
    )
)
_payment_reminder = insert(reminders).values(
    booking_id=bindparam("booking_id", type_=Uuid),
    kind=Kind.PAYMENT_REMINDER.value,
    event_id=bindparam("event_id", type_=Uuid),
    guest_id=bindparam("guest_id", type_=Uuid),
    start_time=bindparam("hold_expire_time", type_=DateTime(timezone=True)),
    due_at=bindparam("due_at", type_=DateTime(timezone=True)),
    payment=bindparam("payment", type_=reminders.c.payment.type),
)
# The checkout opened again (a new attempt, a closed page opened anew): the reminder points there.
_SCHEDULE_PAYMENT = Statement.of(
    _payment_reminder.on_conflict_do_update(
        constraint="pk_reminders",
        set_={
            name: _payment_reminder.excluded[name]
            for name in ("event_id", "guest_id", "start_time", "due_at", "payment")
        },
    )
)
_DROP_PAYMENT = Statement.of(
    delete(reminders).where(
        reminders.c.booking_id == bindparam("booking_id", type_=Uuid),
        reminders.c.kind == Kind.PAYMENT_REMINDER.value,
    )
)
# Every confirmed guest of the event gets the reminder of one kind, due at the given time.
_ARM_EVENT = Statement.of(
    insert(reminders)
    .from_select(
        ["booking_id", "kind", "event_id", "guest_id", "start_time", "due_at"],
        select(
            bookings.c.booking_id,
            bindparam("kind", type_=String),
            bookings.c.event_id,
            bookings.c.guest_id,
            bindparam("start_time", type_=DateTime(timezone=True)),
            bindparam("due_at", type_=DateTime(timezone=True)),
        ).where(
            bookings.c.event_id == bindparam("event_id", type_=Uuid),
            bookings.c.state == BookingState.CONFIRMED.value,
        ),
    )
    .on_conflict_do_nothing()
)

_due = (
    select(reminders)
    .where(reminders.c.due_at <= func.now())
    .order_by(reminders.c.due_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_CLAIM_DUE = Statement.of(
    select(
        _due,
        events.c.title,
        events.c.start_time.label("event_start_time"),
        events.c.end_time,
        events.c.time_zone,
        events.c.city,
        events.c.venue,
        bookings.c.state.label("booking_state"),
    ).select_from(
        _due.outerjoin(events, events.c.event_id == _due.c.event_id).outerjoin(
            bookings, bookings.c.booking_id == _due.c.booking_id
        )
    )
)
_DELETE = Statement.of(
    delete(reminders).where(
        tuple_(reminders.c.booking_id, reminders.c.kind).in_(
            select(
                func.unnest(bindparam("booking_ids", type_=ARRAY(Uuid))),
                func.unnest(bindparam("kinds", type_=ARRAY(Text))),
            )
        )
    )
)
_NOW = Statement.of(select(func.now()))


def _due_reminder(row: Any) -> DueReminder:
    payment = PaymentDue.from_json(row.payment) if row.payment is not None else None
    event = None
    if row.title is not None:
        # The reminded start time, with the rest of the event as the projection holds it; a
        # payment reminder's start_time is its hold's end, so its event starts when the event does.
        event = event_summary(row)
        if payment is not None:
            event = dataclasses.replace(event, start_time=row.event_start_time)
    return DueReminder(
        booking_id=row.booking_id,
        event_id=row.event_id,
        kind=Kind(row.kind),
        guest_id=row.guest_id,
        start_time=row.start_time,
        event=event,
        payment=payment,
        booking_state=BookingState(row.booking_state) if row.booking_state is not None else None,
    )


class Reminders(Executor):
    """The writes of the reminder schedule (part of NotificationTransaction). Those whose result
    nobody reads are deferred: they go with the transaction's next statement, in one round trip."""

    async def schedule_reminders(
        self,
        *,
        booking_id: str,
        event_id: str,
        guest_id: str,
        start_time: datetime,
        due: Sequence[tuple[Kind, datetime]],
    ) -> None:
        if not due:
            return
        due_at = dict(due)
        if not due_at.keys() <= set(REMINDER_KINDS):
            raise ValueError(f"unknown reminder kinds: {sorted(due_at.keys() - set(REMINDER_KINDS))}")
        self.defer(
            _SCHEDULE,
            booking_id=booking_id,
            event_id=event_id,
            guest_id=guest_id,
            start_time=start_time,
            **{f"due_{kind}": due_at.get(kind) for kind in REMINDER_KINDS},
        )

    async def drop_booking_reminders(self, booking_id: str) -> None:
        self.defer(_DROP_BOOKING, booking_id=booking_id)

    async def schedule_payment_reminder(self, *, guest_id: str, due: PaymentDue, due_at: datetime) -> None:
        """Remind the guest at `due_at` to pay before the hold ends; replaces the booking's earlier one."""
        self.defer(
            _SCHEDULE_PAYMENT,
            booking_id=due.booking_id,
            event_id=due.event.event_id,
            guest_id=guest_id,
            hold_expire_time=due.hold_expire_time,
            due_at=due_at,
            payment=Jsonb(due.to_json()),
        )

    async def drop_payment_reminder(self, booking_id: str) -> None:
        """The booking was paid, or will never be: nothing to remind of."""
        self.defer(_DROP_PAYMENT, booking_id=booking_id)

    async def drop_event_reminders(self, event_id: str) -> None:
        self.defer(_DROP_EVENT, event_id=event_id)

    async def rearm_event_reminders(
        self, *, event_id: str, start_time: datetime, due: Sequence[tuple[Kind, datetime]]
    ) -> None:
        """The event moved: every confirmed guest's reminders follow the new start time.

        Reminders already sent for the old time are armed again for the new one (the date changed,
        so a reminder of it is news); `due` holds those still ahead of when the event moved.
        """
        await self.execute(_DROP_EVENT_STARTS, event_id=event_id)
        for kind, due_at in due:
            await self.execute(_ARM_EVENT, event_id=event_id, kind=kind, start_time=start_time, due_at=due_at)

    async def claim_due_reminders(self, limit: int) -> list[DueReminder]:
        """Due reminders, locked for this transaction (other replicas skip them), with their event."""
        return [_due_reminder(row) for row in await self.rows(_CLAIM_DUE, limit=limit)]

    async def delete_reminders(self, handled: Iterable[DueReminder]) -> None:
        handled = list(handled)
        if handled:
            await self.execute(
                _DELETE,
                booking_ids=[reminder.booking_id for reminder in handled],
                kinds=[reminder.kind for reminder in handled],
            )

    async def now(self) -> datetime:
        """The database's clock (the one due times are compared with)."""
        moment: datetime = await self.scalar(_NOW)
        return moment
