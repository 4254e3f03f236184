"""SQL of the notifications service (SQLAlchemy Core on the caller's connection/transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import (
    Boolean,
    DateTime,
    Interval,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from services.notifications.content import Content, EventFacts
from services.notifications.models import (
    bookings,
    deliveries,
    events,
    known_users,
    messages,
    notifications,
    preferences,
    reminders,
    sends,
)
from services.notifications.rules import (
    DEFAULT_CHOICE,
    EMAIL,
    IN_APP,
    SECURITY_KINDS,
    SMS,
    ChannelChoice,
    ReminderOffsets,
    kind_name,
    kind_number,
)
from services.runtime.rawsql import Compiled, RawPool

# Hot statements are built once with bind parameters: building SQLAlchemy constructs costs more CPU
# than running them, and a bus consumer runs several per message. The hottest — what a bus message
# turns into — are compiled once more to SQL text and run on the caller's own psycopg connection
# (`_run`): inside the caller's transaction as before, without SQLAlchemy's execution machinery,
# which measured at about three times the client CPU of the statement itself.


async def _run(connection: AsyncConnection, statement: Compiled, **values: Any) -> list[Any]:
    """Run a compiled statement in the transaction `connection` holds; its rows as named tuples."""
    sync = connection.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        # Inside a transaction the connection is checked out: a plain attribute, no greenlet hop.
        raw = sync.connection.driver_connection
    else:
        raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    cursor = raw.cursor(row_factory=namedtuple_row)
    await cursor.execute(statement.sql, statement.params(**values))
    return await cursor.fetchall() if cursor.description is not None else []


# -- recipients -------------------------------------------------------------------------------------


def _people(source: str) -> Any:
    """A one-column (user_id) query of recipients, by kind of source."""
    if source == "one":
        people = select(bindparam("user_id", type_=Uuid).label("user_id"))
    elif source == "ids":
        people = select(func.unnest(bindparam("user_ids", type_=ARRAY(Uuid))).label("user_id"))
    elif source == "event":
        people = (
            select(bookings.c.guest_id.label("user_id"))
            .where(
                bookings.c.event_id == bindparam("event_id", type_=Uuid),
                bookings.c.state == any_(bindparam("states", type_=ARRAY(Text))),
            )
            .distinct()
        )
    else:
        people = select(known_users.c.user_id.label("user_id"))
    return people


@dataclass(frozen=True)
class Recipients:
    """Who a message is for: `source` picks the prebuilt query, `params` fill it in."""

    source: str
    params: dict[str, Any]


def recipients_by_id(user_ids: Iterable[str]) -> Recipients:
    ids = sorted({uuid.UUID(str(user_id)) for user_id in user_ids})
    # One person (most messages) needs no array parameter, which costs more to send than the rest.
    return Recipients("one", {"user_id": ids[0]}) if len(ids) == 1 else Recipients("ids", {"user_ids": ids})


def event_guests(event_id: str, states: Sequence[str]) -> Recipients:
    return Recipients("event", {"event_id": uuid.UUID(event_id), "states": list(states)})


def everyone_known() -> Recipients:
    return Recipients("everyone", {})


_COUNT = {
    source: select(func.count()).select_from(_people(source).subquery("people"))
    for source in ("one", "ids", "event", "everyone")
}


async def count_recipients(connection: AsyncConnection, recipients: Recipients) -> int:
    return int(await connection.scalar(_COUNT[recipients.source], recipients.params) or 0)


# -- fan-out ----------------------------------------------------------------------------------------

_upsert_message = insert(messages).values(
    source_key=bindparam("source_key"),
    kind=bindparam("kind"),
    title=bindparam("title"),
    body=bindparam("body"),
    link=bindparam("link"),
    content=bindparam("content", type_=messages.c.content.type),
    expires_at=bindparam("expires_at", type_=messages.c.expires_at.type),
)
# DO UPDATE (a no-op) rather than DO NOTHING so the id comes back when the message exists, also
# when another transaction inserted it concurrently.
UPSERT_MESSAGE = _upsert_message.on_conflict_do_update(
    constraint="uq_messages_source_key_kind", set_={"kind": _upsert_message.excluded.kind}
).returning(messages.c.id)


def _fan_out(source: str) -> Any:
    """One statement: the message (created once), its in-app rows and its deliveries.

    The in-app rows and deliveries honour preferences: `want_*` parameters carry what the sender
    asked for; a stored preference row (or the default when there is none) decides per recipient
    and channel. All in data-modifying CTEs, so a bus message costs one round trip, not three.
    """
    message = UPSERT_MESSAGE.cte("message")
    people = _people(source).cte("people")
    chosen = preferences.alias("chosen")
    everyone = message.join(people, true()).outerjoin(
        chosen, and_(chosen.c.user_id == people.c.user_id, chosen.c.kind == bindparam("kind"))
    )

    def allowed(want: str, column: Any, default: bool) -> Any:
        return and_(bindparam(want, type_=Boolean), func.coalesce(column, true() if default else false()))

    in_app = (
        insert(notifications)
        .from_select(
            ["message_id", "recipient_id"],
            select(message.c.id, people.c.user_id)
            .select_from(everyone)
            .where(allowed("want_in_app", chosen.c.in_app, DEFAULT_CHOICE.in_app)),
        )
        .on_conflict_do_nothing(constraint="uq_notifications_message_recipient")
    )
    sends = [
        select(message.c.id, bindparam("kind", type_=String), literal(channel, String), people.c.user_id)
        .select_from(everyone)
        .where(allowed(want, column, default))
        for channel, want, column, default in (
            (EMAIL, "want_email", chosen.c.email, DEFAULT_CHOICE.email),
            (SMS, "want_sms", chosen.c.sms, DEFAULT_CHOICE.sms),
        )
    ]
    outgoing = (
        insert(deliveries)
        .from_select(["message_id", "kind", "channel", "recipient_id"], union_all(*sends))
        .on_conflict_do_nothing(constraint="uq_deliveries_message_channel_recipient")
    )
    return select(message.c.id).add_cte(in_app.cte("in_app"), outgoing.cte("outgoing"))


def _security_mail(source: str) -> Any:
    """The message and its email to the address being verified, whatever the preferences say."""
    message = UPSERT_MESSAGE.cte("message")
    people = _people(source).cte("people")
    outgoing = (
        insert(deliveries)
        .from_select(
            ["message_id", "kind", "channel", "recipient_id", "address"],
            select(
                message.c.id,
                bindparam("kind", type_=String),
                literal(EMAIL, String),
                people.c.user_id,
                bindparam("address", type_=String),
            ).select_from(message.join(people, true())),
        )
        .on_conflict_do_nothing(constraint="uq_deliveries_message_channel_recipient")
    )
    return select(message.c.id).add_cte(outgoing.cte("outgoing"))


FAN_OUT = {source: Compiled.of(_fan_out(source)) for source in ("one", "ids", "event", "everyone")}
SECURITY_MAIL = {source: Compiled.of(_security_mail(source)) for source in ("one", "ids")}


async def notify(
    connection: AsyncConnection,
    *,
    source_key: str,
    content: Content,
    recipients: Recipients,
    channels: set[str] | None = None,
    address: str | None = None,
) -> uuid.UUID:
    """Create the message once and its in-app rows and deliveries for every recipient, per preferences.

    `channels` limits what the sender asked for (None: every channel the preferences allow).
    Security kinds go by email to `address` whatever the preferences say. Safe to repeat: the
    unique keys turn a second call for the same (source_key, kind) into no new rows.
    """
    kind = kind_name(content.kind)
    message = {
        "source_key": source_key,
        "kind": kind,
        "title": content.title,
        "body": content.body,
        "link": content.link,
        "content": Jsonb(content.to_json()),
        "expires_at": content.expires_at,
    }
    if content.kind in SECURITY_KINDS:
        statement = SECURITY_MAIL[recipients.source]
        rows = await _run(connection, statement, **message, **recipients.params, address=address)
        return rows[0].id
    wanted = channels if channels is not None else {IN_APP, EMAIL, SMS}
    rows = await _run(
        connection,
        FAN_OUT[recipients.source],
        **message,
        **recipients.params,
        want_in_app=IN_APP in wanted,
        want_email=EMAIL in wanted,
        want_sms=SMS in wanted,
    )
    return rows[0].id


REMEMBER_USERS = (
    insert(known_users)
    .from_select(["user_id"], select(func.unnest(bindparam("user_ids", type_=ARRAY(Uuid)))))
    .on_conflict_do_nothing()
)


async def remember_users(connection: AsyncConnection, user_ids: Iterable[str]) -> None:
    ids = sorted({uuid.UUID(str(user_id)) for user_id in user_ids if user_id})
    if ids:
        await connection.execute(REMEMBER_USERS, {"user_ids": ids})


# -- projections ------------------------------------------------------------------------------------

_booking_row = insert(bookings).values(
    booking_id=bindparam("booking_id"),
    event_id=bindparam("event_id"),
    guest_id=bindparam("guest_id"),
    host_id=bindparam("host_id"),
    seats=bindparam("seats"),
    state=bindparam("state"),
    changed_at=bindparam("changed_at"),
)
_applied = _booking_row.on_conflict_do_update(
    index_elements=[bookings.c.booking_id],
    set_={
        "state": _booking_row.excluded.state,
        "seats": _booking_row.excluded.seats,
        "changed_at": _booking_row.excluded.changed_at,
    },
    where=bookings.c.changed_at <= _booking_row.excluded.changed_at,
).returning(bookings.c.booking_id)
# What a booking says about its event, kept only when the events service told us nothing yet.
_learned = (
    insert(events)
    .values(
        event_id=bindparam("event_id"),
        organizer_id=bindparam("host_id"),
        title=bindparam("title"),
        start_time=bindparam("start_time"),
        end_time=bindparam("end_time"),
        time_zone=bindparam("time_zone"),
        city=bindparam("city"),
        venue=bindparam("venue"),
    )
    .on_conflict_do_nothing()
)


_remembered = (
    insert(known_users)
    .from_select(
        ["user_id"],
        union(select(bindparam("guest_id", type_=Uuid)), select(bindparam("host_id", type_=Uuid))),
    )
    .on_conflict_do_nothing()
)


def _apply_booking() -> Any:
    """One statement for a booking message: learn its event and users, record its new state.

    It reads as the database was before the statement (data-modifying CTEs don't see each
    other), which is what the caller needs: the booking's previous state, whether this message
    was fresh (its state was applied), and the events service's view of the event if we have one.
    """
    applied = _applied.cte("applied")
    one = select(literal(1).label("one")).subquery("one")
    previous = select(bookings.c.state).where(bookings.c.booking_id == bindparam("booking_id"))
    return (
        select(
            select(applied.c.booking_id).exists().label("fresh"),
            previous.scalar_subquery().label("previous_state"),
            events.c.event_id,
            events.c.title,
            events.c.start_time,
            events.c.end_time,
            events.c.time_zone,
            events.c.city,
            events.c.venue,
        )
        .select_from(one.outerjoin(events, events.c.event_id == bindparam("event_id")))
        .add_cte(_learned.cte("learned"), _remembered.cte("remembered"))
    )


APPLY_BOOKING = Compiled.of(_apply_booking())


@dataclass(frozen=True)
class AppliedBooking:
    # False when a newer state was already known (a late message): nothing was changed.
    fresh: bool
    previous_state: str | None
    # The events service's view of the event; None when only bookings told us about it.
    event: EventFacts | None


async def apply_booking(
    connection: AsyncConnection,
    *,
    booking_id: str,
    guest_id: str,
    host_id: str,
    seats: int,
    state: str,
    changed_at: datetime,
    event: EventFacts,
) -> AppliedBooking:
    """Record a booking's new state (and, if still unknown, its event and users)."""
    # Ids go as text (the statement casts them): PostgreSQL checks them as it would UUID objects.
    [row] = await _run(
        connection,
        APPLY_BOOKING,
        event_id=event.event_id,
        title=event.title,
        start_time=event.start_time,
        end_time=event.end_time,
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
        booking_id=booking_id,
        guest_id=guest_id,
        host_id=host_id,
        seats=seats,
        state=state,
        changed_at=changed_at,
    )
    return AppliedBooking(
        fresh=row.fresh,
        previous_state=row.previous_state,
        event=_facts(row) if row.event_id is not None else None,
    )


async def apply_event(
    connection: AsyncConnection, event: EventFacts, *, organizer_id: str, state: str, version: datetime
) -> bool:
    """Record the events service's view of an event; False when a newer version is already known."""
    stmt = insert(events).values(
        **_event_values(event), organizer_id=uuid.UUID(organizer_id), state=state, version=version
    )
    columns = [
        "organizer_id",
        "title",
        "start_time",
        "end_time",
        "time_zone",
        "city",
        "venue",
        "state",
        "version",
    ]
    applied = await connection.execute(
        stmt.on_conflict_do_update(
            index_elements=[events.c.event_id],
            set_={name: stmt.excluded[name] for name in columns},
            where=or_(events.c.version.is_(None), events.c.version <= stmt.excluded.version),
        ).returning(events.c.event_id)
    )
    return applied.first() is not None


def _event_values(event: EventFacts) -> dict[str, Any]:
    return {
        "event_id": uuid.UUID(event.event_id),
        "title": event.title,
        "start_time": event.start_time,
        "end_time": event.end_time,
        "time_zone": event.time_zone,
        "city": event.city,
        "venue": event.venue,
    }


def _facts(row: Any) -> EventFacts:
    return EventFacts(
        event_id=str(row.event_id),
        title=row.title,
        start_time=row.start_time,
        end_time=row.end_time,
        time_zone=row.time_zone,
        city=row.city,
        venue=row.venue,
    )


async def event_organizer(connection: AsyncConnection, event_id: str) -> str | None:
    """Who organizes an event, as far as the bus told us (events first, then any booking's host)."""
    key = uuid.UUID(event_id)
    organizer = await connection.scalar(select(events.c.organizer_id).where(events.c.event_id == key))
    if organizer is None:
        organizer = await connection.scalar(
            select(bookings.c.host_id).where(bookings.c.event_id == key).limit(1)
        )
    return str(organizer) if organizer is not None else None


EVENT_FACTS = select(events).where(events.c.event_id == bindparam("event_id"))


async def event_facts(connection: AsyncConnection, event_id: str) -> EventFacts | None:
    row = (await connection.execute(EVENT_FACTS, {"event_id": uuid.UUID(event_id)})).first()
    return _facts(row) if row is not None else None


# -- reminders --------------------------------------------------------------------------------------


# The kinds the reminders table allows (its CHECK constraint), one optional due time each: plain
# parameters rather than arrays, which cost more to send than the rest of the statement.
REMINDER_KINDS = ("REMINDER_24H", "REMINDER_1H")


def _schedule_reminders() -> Any:
    rows = insert(reminders).from_select(
        ["booking_id", "kind", "event_id", "guest_id", "start_time", "due_at"],
        union_all(
            *(
                select(
                    bindparam("booking_id", type_=Uuid),
                    literal(kind, Text),
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


SCHEDULE_REMINDERS = Compiled.of(_schedule_reminders())


async def schedule_reminders(
    connection: AsyncConnection,
    *,
    booking_id: str,
    event_id: str,
    guest_id: str,
    start_time: datetime,
    due: Sequence[tuple[str, datetime]],
) -> None:
    if not due:
        return
    due_at = dict(due)
    if not due_at.keys() <= set(REMINDER_KINDS):
        raise ValueError(f"unknown reminder kinds: {sorted(due_at.keys() - set(REMINDER_KINDS))}")
    await _run(
        connection,
        SCHEDULE_REMINDERS,
        booking_id=booking_id,
        event_id=event_id,
        guest_id=guest_id,
        start_time=start_time,
        **{f"due_{kind}": due_at.get(kind) for kind in REMINDER_KINDS},
    )


DROP_BOOKING_REMINDERS = Compiled.of(
    delete(reminders).where(reminders.c.booking_id == bindparam("booking_id", type_=Uuid))
)


async def drop_booking_reminders(connection: AsyncConnection, booking_id: str) -> None:
    await _run(connection, DROP_BOOKING_REMINDERS, booking_id=uuid.UUID(booking_id))


async def drop_event_reminders(connection: AsyncConnection, event_id: str) -> None:
    await connection.execute(delete(reminders).where(reminders.c.event_id == uuid.UUID(event_id)))


async def rearm_event_reminders(
    connection: AsyncConnection,
    *,
    event_id: str,
    start_time: datetime,
    offsets: ReminderOffsets,
    changed_at: datetime,
) -> None:
    """The event moved: every confirmed guest's reminders follow the new start time.

    Reminders already sent for the old time are armed again for the new one (the date changed, so
    a reminder of it is news), unless their new due time had passed when the event moved.
    """
    key = uuid.UUID(event_id)
    await connection.execute(delete(reminders).where(reminders.c.event_id == key))
    for kind, offset in offsets.items():
        due_at = start_time - offset
        if due_at <= changed_at:
            continue
        await connection.execute(
            insert(reminders)
            .from_select(
                ["booking_id", "kind", "event_id", "guest_id", "start_time", "due_at"],
                select(
                    bookings.c.booking_id,
                    literal(kind, String),
                    bookings.c.event_id,
                    bookings.c.guest_id,
                    literal(start_time, reminders.c.start_time.type),
                    literal(due_at, reminders.c.due_at.type),
                ).where(bookings.c.event_id == key, bookings.c.state == "CONFIRMED"),
            )
            .on_conflict_do_nothing()
        )


@dataclass(frozen=True)
class DueReminder:
    booking_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    guest_id: uuid.UUID
    start_time: datetime
    event: EventFacts | None


async def claim_due_reminders(connection: AsyncConnection, limit: int) -> list[DueReminder]:
    """Due reminders, locked for this transaction (other replicas skip them), with their event."""
    due = (
        select(reminders)
        .where(reminders.c.due_at <= func.now())
        .order_by(reminders.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    rows = (
        await connection.execute(
            select(
                due, events.c.title, events.c.end_time, events.c.time_zone, events.c.city, events.c.venue
            ).select_from(due.outerjoin(events, events.c.event_id == due.c.event_id))
        )
    ).all()
    claimed = []
    for row in rows:
        event = None
        if row.title is not None:
            event = EventFacts(
                event_id=str(row.event_id),
                title=row.title,
                start_time=row.start_time,
                end_time=row.end_time,
                time_zone=row.time_zone,
                city=row.city,
                venue=row.venue,
            )
        claimed.append(
            DueReminder(
                booking_id=row.booking_id,
                event_id=row.event_id,
                kind=row.kind,
                guest_id=row.guest_id,
                start_time=row.start_time,
                event=event,
            )
        )
    return claimed


async def delete_reminders(connection: AsyncConnection, keys: Iterable[tuple[uuid.UUID, str]]) -> None:
    keys = list(keys)
    if keys:
        await connection.execute(
            delete(reminders).where(tuple_(reminders.c.booking_id, reminders.c.kind).in_(keys))
        )


# -- deliveries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    id: uuid.UUID
    message_id: uuid.UUID
    channel: str
    recipient_id: uuid.UUID
    address: str | None
    attempts: int
    created_at: datetime
    content: Content
    expires_at: datetime | None


_due = (
    select(deliveries.c.id)
    .where(
        deliveries.c.state == "PENDING",
        deliveries.c.next_attempt_at <= func.now(),
        deliveries.c.channel == any_(bindparam("channels", type_=ARRAY(Text))),
    )
    .order_by(deliveries.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .cte("due")
)
CLAIM_DELIVERIES = (
    update(deliveries)
    .where(deliveries.c.id == _due.c.id, messages.c.id == deliveries.c.message_id)
    .values(
        attempts=deliveries.c.attempts + 1,
        next_attempt_at=func.now() + bindparam("lease", type_=Interval),
        updated_at=func.now(),
    )
    .returning(
        deliveries.c.id,
        deliveries.c.message_id,
        deliveries.c.channel,
        deliveries.c.recipient_id,
        deliveries.c.address,
        deliveries.c.attempts,
        deliveries.c.created_at,
        messages.c.content,
        messages.c.expires_at,
    )
)

_sent = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"), deliveries.c.state == "PENDING")
    .values(
        state="SENT", sent_at=func.now(), updated_at=func.now(), address=bindparam("sent_to"), last_error=""
    )
)
MARK_SENT = _sent
# A verification code is kept only until its email is sent or given up: the same statement
# blanks it in the message.
MARK_SENT_AND_SCRUB = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"))
    .values(content=messages.c.content.op("||")(func.jsonb_build_object("code", "")))
    .add_cte(_sent.cte("sent"))
)

# The worker's two statements per batch and message run alone, each atomic by itself: on the
# worker's own autocommit connections (services/runtime/rawsql.py), without a transaction around.
_CLAIM_DELIVERIES = Compiled.of(CLAIM_DELIVERIES)
_MARK_SENT = Compiled.of(MARK_SENT)
_MARK_SENT_AND_SCRUB = Compiled.of(MARK_SENT_AND_SCRUB)


async def claim_deliveries(
    pool: RawPool, *, channels: Sequence[str], limit: int, lease: float
) -> list[ClaimedDelivery]:
    """Take due deliveries for `lease` seconds and count the attempt now (a crash counts too)."""
    rows = await pool.execute(
        _CLAIM_DELIVERIES, channels=list(channels), limit=limit, lease=timedelta(seconds=lease)
    )
    return [
        ClaimedDelivery(
            id=row.id,
            message_id=row.message_id,
            channel=row.channel,
            recipient_id=row.recipient_id,
            address=row.address,
            attempts=row.attempts,
            created_at=row.created_at,
            content=Content.from_json(row.content),
            expires_at=row.expires_at,
        )
        for row in sorted(rows, key=lambda row: (row.created_at, row.id))
    ]


async def mark_sent(pool: RawPool, delivery: ClaimedDelivery, address: str) -> None:
    statement = _MARK_SENT_AND_SCRUB if delivery.content.code else _MARK_SENT
    await pool.execute(statement, delivery_id=delivery.id, message_id=delivery.message_id, sent_to=address)


async def mark_refused(
    connection: AsyncConnection,
    delivery: ClaimedDelivery,
    *,
    address: str | None,
    error: str,
    permanent: bool,
    max_attempts: int,
    retry_in: float,
) -> str:
    """The recipient was refused: retry later, or FAILED when permanent or out of attempts."""
    final = permanent or delivery.attempts >= max_attempts
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery.id, deliveries.c.state == "PENDING")
        .values(
            state="FAILED" if final else "PENDING",
            next_attempt_at=func.now() + timedelta(seconds=retry_in),
            updated_at=func.now(),
            address=address if address is not None else deliveries.c.address,
            last_error=error[:500],
        )
    )
    if final:
        await _scrub_secret(connection, delivery)
    return "FAILED" if final else "PENDING"


async def release(
    connection: AsyncConnection,
    claimed: Sequence[ClaimedDelivery],
    *,
    error: str,
    retry_in: float,
    max_age: float,
) -> None:
    """The channel was down: give the deliveries back without spending their attempt.

    One that has waited longer than `max_age` in all is given up (FAILED), so a permanently broken
    configuration shows up as failures instead of an ever-growing queue.
    """
    if not claimed:
        return
    ids = [delivery.id for delivery in claimed]
    too_old = deliveries.c.created_at < func.now() - timedelta(seconds=max_age)
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids), deliveries.c.state == "PENDING")
        .values(
            state=case((too_old, "FAILED"), else_="PENDING"),
            attempts=func.greatest(deliveries.c.attempts - 1, 0),
            next_attempt_at=func.now() + timedelta(seconds=retry_in),
            updated_at=func.now(),
            last_error=error[:500],
        )
    )


async def expire(connection: AsyncConnection, delivery: ClaimedDelivery, reason: str) -> None:
    await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery.id, deliveries.c.state == "PENDING")
        .values(state="FAILED", updated_at=func.now(), last_error=reason)
    )
    await _scrub_secret(connection, delivery)


async def _scrub_secret(connection: AsyncConnection, delivery: ClaimedDelivery) -> None:
    """A verification code is kept only until its email is sent or given up."""
    if delivery.content.code:
        await connection.execute(
            update(messages)
            .where(messages.c.id == delivery.message_id)
            .values(content=messages.c.content.op("||")(literal({"code": ""}, messages.c.content.type)))
        )


async def list_deliveries(
    connection: AsyncConnection, *, state: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Any]:
    query = select(deliveries).order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
    if state:
        query = query.where(deliveries.c.state == state)
    if after is not None:
        query = query.where(tuple_(deliveries.c.created_at, deliveries.c.id) < tuple_(*after))
    return list((await connection.execute(query)).all())


# -- in-app -----------------------------------------------------------------------------------------

_INBOX_COLUMNS = (
    notifications.c.id,
    notifications.c.read_at,
    notifications.c.created_at,
    messages.c.kind,
    messages.c.title,
    messages.c.body,
    messages.c.link,
)


def _inbox_query() -> Select[Any]:
    return select(*_INBOX_COLUMNS).select_from(
        notifications.join(messages, messages.c.id == notifications.c.message_id)
    )


async def list_notifications(
    connection: AsyncConnection,
    *,
    user_id: str,
    unread_only: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    query = (
        _inbox_query()
        .where(notifications.c.recipient_id == uuid.UUID(user_id))
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(notifications.c.read_at.is_(None))
    if after is not None:
        query = query.where(tuple_(notifications.c.created_at, notifications.c.id) < tuple_(*after))
    return list((await connection.execute(query)).all())


async def notifications_by_id(connection: AsyncConnection, *, user_id: str, ids: Sequence[str]) -> list[Any]:
    query = (
        _inbox_query()
        .where(
            notifications.c.recipient_id == uuid.UUID(user_id),
            notifications.c.id.in_([uuid.UUID(value) for value in ids]),
        )
        .order_by(notifications.c.created_at, notifications.c.id)
    )
    return list((await connection.execute(query)).all())


async def mark_read(connection: AsyncConnection, *, user_id: str, notification_id: uuid.UUID) -> Any | None:
    await connection.execute(
        update(notifications)
        .where(
            notifications.c.id == notification_id,
            notifications.c.recipient_id == uuid.UUID(user_id),
            notifications.c.read_at.is_(None),
        )
        .values(read_at=func.now())
    )
    return (
        await connection.execute(
            _inbox_query().where(
                notifications.c.id == notification_id, notifications.c.recipient_id == uuid.UUID(user_id)
            )
        )
    ).first()


async def mark_all_read(connection: AsyncConnection, *, user_id: str) -> int:
    result = await connection.execute(
        update(notifications)
        .where(notifications.c.recipient_id == uuid.UUID(user_id), notifications.c.read_at.is_(None))
        .values(read_at=func.now())
    )
    return int(result.rowcount or 0)


# -- preferences ------------------------------------------------------------------------------------


async def load_preferences(connection: AsyncConnection, user_id: str) -> dict[int, ChannelChoice]:
    rows = await connection.execute(select(preferences).where(preferences.c.user_id == uuid.UUID(user_id)))
    return {
        kind_number(row.kind): ChannelChoice(in_app=row.in_app, email=row.email, sms=row.sms) for row in rows
    }


async def save_preferences(
    connection: AsyncConnection, user_id: str, choices: dict[int, ChannelChoice]
) -> None:
    if not choices:
        return
    stmt = insert(preferences).values(
        [
            {
                "user_id": uuid.UUID(user_id),
                "kind": kind_name(kind),
                "in_app": choice.in_app,
                "email": choice.email,
                "sms": choice.sms,
            }
            for kind, choice in sorted(choices.items())
        ]
    )
    await connection.execute(
        stmt.on_conflict_do_update(
            constraint="pk_preferences",
            set_={
                "in_app": stmt.excluded.in_app,
                "email": stmt.excluded.email,
                "sms": stmt.excluded.sms,
                "updated_at": func.now(),
            },
        )
    )


# -- SendNotification idempotency -------------------------------------------------------------------


@dataclass(frozen=True)
class PriorSend:
    fingerprint: str
    recipient_count: int


async def claim_send(
    connection: AsyncConnection, *, sender_id: str, request_id: str, fingerprint: str
) -> PriorSend | None:
    """None when this request id is new (and now taken); otherwise what the first call did.

    A concurrent call with the same id waits on the primary key until the first commits, then
    sees its row.
    """
    inserted = await connection.execute(
        insert(sends)
        .values(
            sender_id=uuid.UUID(sender_id), request_id=request_id, fingerprint=fingerprint, recipient_count=0
        )
        .on_conflict_do_nothing()
        .returning(sends.c.request_id)
    )
    if inserted.first() is not None:
        return None
    row = (
        await connection.execute(
            select(sends.c.fingerprint, sends.c.recipient_count).where(
                sends.c.sender_id == uuid.UUID(sender_id), sends.c.request_id == request_id
            )
        )
    ).one()
    return PriorSend(fingerprint=row.fingerprint, recipient_count=row.recipient_count)


async def record_send(
    connection: AsyncConnection, *, sender_id: str, request_id: str, recipient_count: int
) -> None:
    await connection.execute(
        update(sends)
        .where(sends.c.sender_id == uuid.UUID(sender_id), sends.c.request_id == request_id)
        .values(recipient_count=recipient_count)
    )
