"""Who a message is for, and the message itself with its in-app rows and deliveries.

A bus message turns into one statement here: the message is created once (unique per source key
and kind), then its in-app notifications and deliveries for every recipient, per preferences, all
in data-modifying CTEs, so it costs one round trip, not three. The statements are built once, one
per kind of recipient list, and compiled once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import (
    Boolean,
    String,
    and_,
    any_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.sql import Select
from sqlalchemy.types import Text, Uuid

from services.notifications.domain.kinds import SECURITY_KINDS, Channel
from services.notifications.domain.messages import Content
from services.notifications.domain.records import Recipients, ToEventGuests, ToEveryoneKnown, ToUsers
from services.notifications.domain.rules import DEFAULT_CHOICE
from services.notifications.tables import (
    bookings,
    deliveries,
    known_users,
    messages,
    notifications,
    preferences,
)
from services.runtime import tracing
from services.runtime.database import Executor, Statement

# One prebuilt query per kind of recipient list.
ONE, IDS, EVENT, EVERYONE = "one", "ids", "event", "everyone"


def _people(source: str) -> Select[Any]:
    """A one-column (user_id) query of recipients, by kind of source."""
    if source == ONE:
        return select(bindparam("user_id", type_=Uuid).label("user_id"))
    if source == IDS:
        return select(func.unnest(bindparam("user_ids", type_=ARRAY(Uuid))).label("user_id"))
    if source == EVENT:
        return (
            select(bookings.c.guest_id.label("user_id"))
            .where(
                bookings.c.event_id == bindparam("event_id", type_=Uuid),
                bookings.c.state == any_(bindparam("states", type_=ARRAY(Text))),
            )
            .distinct()
        )
    # Everyone known; but an account whose registration was heard of (organizer not NULL) only
    # once its email address is verified: as with the welcome, nothing goes to an address nobody
    # confirmed. Accounts known otherwise (from before registrations were followed, or from
    # bookings and events, which take a verified address) are reached as they always were.
    return select(known_users.c.user_id.label("user_id")).where(
        or_(known_users.c.email_verified, known_users.c.organizer.is_(None))
    )


def _audience(recipients: Recipients) -> tuple[str, dict[str, Any]]:
    """The prebuilt query for these recipients and its parameters."""
    match recipients:
        case ToUsers(user_ids=user_ids):
            ids = sorted({uuid.UUID(str(user_id)) for user_id in user_ids})
            # One person (most messages) needs no array parameter, which costs more to send than
            # the rest of the statement.
            return (ONE, {"user_id": ids[0]}) if len(ids) == 1 else (IDS, {"user_ids": ids})
        case ToEventGuests(event_id=event_id, states=states):
            return EVENT, {"event_id": uuid.UUID(event_id), "states": list(states)}
        case ToEveryoneKnown():
            return EVERYONE, {}


_COUNT = {
    source: Statement.of(select(func.count()).select_from(_people(source).subquery("people")))
    for source in (ONE, IDS, EVENT, EVERYONE)
}

_upsert_message = insert(messages).values(
    source_key=bindparam("source_key"),
    kind=bindparam("kind"),
    title=bindparam("title"),
    body=bindparam("body"),
    link=bindparam("link"),
    content=bindparam("content", type_=messages.c.content.type),
    expires_at=bindparam("expires_at", type_=messages.c.expires_at.type),
    traceparent=bindparam("traceparent"),
)
# DO UPDATE (a no-op) rather than DO NOTHING so the id comes back when the message exists, also
# when another transaction inserted it concurrently.
_UPSERT_MESSAGE = _upsert_message.on_conflict_do_update(
    constraint="uq_messages_source_key_kind", set_={"kind": _upsert_message.excluded.kind}
).returning(messages.c.id)


def _fan_out(source: str) -> Select[Any]:
    """One statement: the message (created once), its in-app rows and its deliveries.

    The in-app rows and deliveries honour preferences: `want_*` parameters carry what the sender
    asked for; a stored preference row (or the default when there is none) decides per recipient
    and channel.
    """
    message = _UPSERT_MESSAGE.cte("message")
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
        select(
            message.c.id, bindparam("kind", type_=String), literal(channel.value, String), people.c.user_id
        )
        .select_from(everyone)
        .where(allowed(want, column, default))
        for channel, want, column, default in (
            (Channel.EMAIL, "want_email", chosen.c.email, DEFAULT_CHOICE.email),
            (Channel.SMS, "want_sms", chosen.c.sms, DEFAULT_CHOICE.sms),
        )
    ]
    outgoing = (
        insert(deliveries)
        .from_select(["message_id", "kind", "channel", "recipient_id"], union_all(*sends))
        .on_conflict_do_nothing(constraint="uq_deliveries_message_channel_recipient")
    )
    return select(message.c.id).add_cte(in_app.cte("in_app"), outgoing.cte("outgoing"))


def _security_mail(source: str) -> Select[Any]:
    """The message and its one delivery (an email or an SMS) to the address being verified,
    whatever the preferences say."""
    message = _UPSERT_MESSAGE.cte("message")
    people = _people(source).cte("people")
    outgoing = (
        insert(deliveries)
        .from_select(
            ["message_id", "kind", "channel", "recipient_id", "address"],
            select(
                message.c.id,
                bindparam("kind", type_=String),
                bindparam("channel", type_=String),
                people.c.user_id,
                bindparam("address", type_=String),
            ).select_from(message.join(people, true())),
        )
        .on_conflict_do_nothing(constraint="uq_deliveries_message_channel_recipient")
    )
    return select(message.c.id).add_cte(outgoing.cte("outgoing"))


_FAN_OUT = {source: Statement.of(_fan_out(source)) for source in (ONE, IDS, EVENT, EVERYONE)}
_SECURITY_MAIL = {source: Statement.of(_security_mail(source)) for source in (ONE, IDS)}

_REMEMBER_USERS = Statement.of(
    insert(known_users)
    .from_select(["user_id"], select(func.unnest(bindparam("user_ids", type_=ARRAY(Uuid)))))
    .on_conflict_do_nothing()
)


def _fan_out_statement(
    source_key: str,
    content: Content,
    recipients: Recipients,
    channels: Collection[Channel] | None,
    address: str | None,
) -> tuple[Statement, dict[str, Any]]:
    """The statement that creates the message, its in-app rows and deliveries, and its values."""
    source, people = _audience(recipients)
    message = {
        "source_key": source_key,
        "kind": content.kind,
        "title": content.title,
        "body": content.body,
        "link": content.link,
        "content": Jsonb(content.to_json()),
        "expires_at": content.expires_at,
        "traceparent": tracing.traceparent(),
    }
    if content.kind in SECURITY_KINDS:
        [channel] = channels if channels is not None else [Channel.EMAIL]
        return _SECURITY_MAIL[source], {**message, **people, "channel": channel, "address": address}
    wanted = set(Channel) if channels is None else set(channels)
    return _FAN_OUT[source], {
        **message,
        **people,
        "want_in_app": Channel.IN_APP in wanted,
        "want_email": Channel.EMAIL in wanted,
        "want_sms": Channel.SMS in wanted,
    }


class FanOut(Executor):
    """The writes that create messages (part of NotificationTransaction)."""

    async def notify(
        self,
        *,
        source_key: str,
        content: Content,
        recipients: Recipients,
        channels: Collection[Channel] | None = None,
        address: str | None = None,
    ) -> uuid.UUID:
        """Create the message once and its in-app rows and deliveries for every recipient, per
        preferences.

        `channels` limits what the sender asked for (None: every channel the preferences allow).
        Security kinds go to `address` whatever the preferences say, on the one channel named (by
        email unless told otherwise). Safe to repeat: the unique keys turn a second call for the
        same (source_key, kind) into no new rows.
        """
        statement, values = _fan_out_statement(source_key, content, recipients, channels, address)
        [row] = await self.rows(statement, **values)
        message_id: uuid.UUID = row.id
        return message_id

    async def queue_notification(
        self,
        *,
        source_key: str,
        content: Content,
        recipients: Recipients,
        channels: Collection[Channel] | None = None,
        address: str | None = None,
    ) -> None:
        """As `notify`, for a caller that needs no message id: the statement goes with the
        transaction's next one (in one round trip), or before its commit."""
        statement, values = _fan_out_statement(source_key, content, recipients, channels, address)
        self.defer(statement, **values)

    async def count_recipients(self, recipients: Recipients) -> int:
        source, people = _audience(recipients)
        return int(await self.scalar(_COUNT[source], **people) or 0)

    async def remember_users(self, user_ids: Iterable[str]) -> None:
        """Everyone named on the bus is someone an admin's announcement reaches."""
        ids = sorted({uuid.UUID(str(user_id)) for user_id in user_ids if user_id})
        if ids:
            self.defer(_REMEMBER_USERS, user_ids=ids)
