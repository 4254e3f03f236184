"""SQL of the notifications service (SQLAlchemy Core on the caller's connection/transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Interval,
    Select,
    String,
    and_,
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

# Hot statements are built once with bind parameters: building SQLAlchemy constructs costs more CPU
# than running them, and a bus consumer runs several per message.

# -- recipients -------------------------------------------------------------------------------------


def _people(source: str) -> Any:
    """A one-column (user_id) subquery of recipients, by kind of source."""
    if source == "ids":
        people = select(func.unnest(bindparam("user_ids", type_=ARRAY(Uuid))).label("user_id"))
    elif source == "event":
        people = (
            select(bookings.c.guest_id.label("user_id"))
            .where(
                bookings.c.event_id == bindparam("event_id", type_=Uuid),
                bookings.c.state.in_(bindparam("states", expanding=True)),
            )
            .distinct()
        )
    else:
        people = select(known_users.c.user_id.label("user_id"))
    return people.subquery("people")


@dataclass(frozen=True)
class Recipients:
    """Who a message is for: `source` picks the prebuilt query, `params` fill it in."""

    source: str
    params: dict[str, Any]


def recipients_by_id(user_ids: Iterable[str]) -> Recipients:
    return Recipients("ids", {"user_ids": sorted({uuid.UUID(str(user_id)) for user_id in user_ids})})


def event_guests(event_id: str, states: Sequence[str]) -> Recipients:
    return Recipients("event", {"event_id": uuid.UUID(event_id), "states": list(states)})


def everyone_known() -> Recipients:
    return Recipients("everyone", {})


_COUNT = {
    source: select(func.count()).select_from(_people(source)) for source in ("ids", "event", "everyone")
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

SECURITY_DELIVERY = (
    insert(deliveries)
    .values(
        message_id=bindparam("message_id"),
        kind=bindparam("kind"),
        channel=EMAIL,
        recipient_id=bindparam("recipient_id"),
        address=bindparam("address"),
    )
    .on_conflict_do_nothing(constraint="uq_deliveries_message_channel_recipient")
)


def _fan_out(source: str) -> tuple[Any, Any]:
    """(in-app insert, deliveries insert) for one kind of recipients, honouring preferences.

    `want_*` parameters carry what the sender asked for; a stored preference row (or the default
    when there is none) decides per recipient and channel.
    """
    people = _people(source)
    chosen = preferences.alias("chosen")
    joined = people.outerjoin(
        chosen, and_(chosen.c.user_id == people.c.user_id, chosen.c.kind == bindparam("kind"))
    )
    message_id = bindparam("message_id", type_=Uuid)

    def allowed(want: str, column: Any, default: bool) -> Any:
        return and_(bindparam(want, type_=Boolean), func.coalesce(column, true() if default else false()))

    in_app = (
        insert(notifications)
        .from_select(
            ["message_id", "recipient_id"],
            select(message_id, people.c.user_id)
            .select_from(joined)
            .where(allowed("want_in_app", chosen.c.in_app, DEFAULT_CHOICE.in_app)),
        )
        .on_conflict_do_nothing(constraint="uq_notifications_message_recipient")
    )
    sends = [
        select(message_id, bindparam("kind", type_=String), literal(channel, String), people.c.user_id)
        .select_from(joined)
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
    return in_app, outgoing


FAN_OUT = {source: _fan_out(source) for source in ("ids", "event", "everyone")}


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
    message_id: uuid.UUID = (
        await connection.execute(
            UPSERT_MESSAGE,
            {
                "source_key": source_key,
                "kind": kind,
                "title": content.title,
                "body": content.body,
                "link": content.link,
                "content": content.to_json(),
                "expires_at": content.expires_at,
            },
        )
    ).scalar_one()
    if content.kind in SECURITY_KINDS:
        for user_id in recipients.params.get("user_ids", ()):
            await connection.execute(
                SECURITY_DELIVERY,
                {"message_id": message_id, "kind": kind, "recipient_id": user_id, "address": address},
            )
        return message_id
    wanted = channels if channels is not None else {IN_APP, EMAIL, SMS}
    params = {
        **recipients.params,
        "message_id": message_id,
        "kind": kind,
        "want_in_app": IN_APP in wanted,
        "want_email": EMAIL in wanted,
        "want_sms": SMS in wanted,
    }
    in_app, outgoing = FAN_OUT[recipients.source]
    if IN_APP in wanted:
        await connection.execute(in_app, params)
    if wanted & {EMAIL, SMS}:
        await connection.execute(outgoing, params)
    return message_id


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
APPLY_BOOKING = _booking_row.on_conflict_do_update(
    index_elements=[bookings.c.booking_id],
    set_={
        "state": _booking_row.excluded.state,
        "seats": _booking_row.excluded.seats,
        "changed_at": _booking_row.excluded.changed_at,
    },
    where=bookings.c.changed_at <= _booking_row.excluded.changed_at,
).returning(bookings.c.booking_id)


async def apply_booking(
    connection: AsyncConnection,
    *,
    booking_id: str,
    event_id: str,
    guest_id: str,
    host_id: str,
    seats: int,
    state: str,
    changed_at: datetime,
) -> bool:
    """Record a booking's new state; False when a newer state is already known (a late message)."""
    applied = await connection.execute(
        APPLY_BOOKING,
        {
            "booking_id": uuid.UUID(booking_id),
            "event_id": uuid.UUID(event_id),
            "guest_id": uuid.UUID(guest_id),
            "host_id": uuid.UUID(host_id),
            "seats": seats,
            "state": state,
            "changed_at": changed_at,
        },
    )
    return applied.first() is not None


async def booking_state(connection: AsyncConnection, booking_id: str) -> str | None:
    state = await connection.scalar(
        select(bookings.c.state).where(bookings.c.booking_id == uuid.UUID(booking_id))
    )
    return str(state) if state is not None else None


LEARN_EVENT = (
    insert(events)
    .values(
        event_id=bindparam("event_id"),
        organizer_id=bindparam("organizer_id"),
        title=bindparam("title"),
        start_time=bindparam("start_time"),
        end_time=bindparam("end_time"),
        time_zone=bindparam("time_zone"),
        city=bindparam("city"),
        venue=bindparam("venue"),
    )
    .on_conflict_do_nothing()
)


async def learn_event(connection: AsyncConnection, event: EventFacts, organizer_id: str) -> None:
    """What a booking says about its event, kept only when the events service told us nothing yet."""
    await connection.execute(LEARN_EVENT, {**_event_values(event), "organizer_id": uuid.UUID(organizer_id)})


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


_reminder_row = insert(reminders).values(
    booking_id=bindparam("booking_id"),
    kind=bindparam("kind"),
    event_id=bindparam("event_id"),
    guest_id=bindparam("guest_id"),
    start_time=bindparam("start_time"),
    due_at=bindparam("due_at"),
)
SCHEDULE_REMINDER = _reminder_row.on_conflict_do_update(
    constraint="pk_reminders",
    set_={"start_time": _reminder_row.excluded.start_time, "due_at": _reminder_row.excluded.due_at},
)


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
    await connection.execute(
        SCHEDULE_REMINDER,
        [
            {
                "booking_id": uuid.UUID(booking_id),
                "kind": kind,
                "event_id": uuid.UUID(event_id),
                "guest_id": uuid.UUID(guest_id),
                "start_time": start_time,
                "due_at": due_at,
            }
            for kind, due_at in due
        ],
    )


DROP_BOOKING_REMINDERS = delete(reminders).where(reminders.c.booking_id == bindparam("booking_id"))


async def drop_booking_reminders(connection: AsyncConnection, booking_id: str) -> None:
    await connection.execute(DROP_BOOKING_REMINDERS, {"booking_id": uuid.UUID(booking_id)})


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
        deliveries.c.channel.in_(bindparam("channels", expanding=True)),
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


async def claim_deliveries(
    connection: AsyncConnection, *, channels: Sequence[str], limit: int, lease: float
) -> list[ClaimedDelivery]:
    """Take due deliveries for `lease` seconds and count the attempt now (a crash counts too)."""
    rows = (
        await connection.execute(
            CLAIM_DELIVERIES, {"channels": list(channels), "limit": limit, "lease": timedelta(seconds=lease)}
        )
    ).all()
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


MARK_SENT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"), deliveries.c.state == "PENDING")
    .values(
        state="SENT", sent_at=func.now(), updated_at=func.now(), address=bindparam("sent_to"), last_error=""
    )
)


async def mark_sent(connection: AsyncConnection, delivery: ClaimedDelivery, address: str) -> None:
    await connection.execute(MARK_SENT, {"delivery_id": delivery.id, "sent_to": address})
    await _scrub_secret(connection, delivery)


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
