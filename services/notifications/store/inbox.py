"""In-app notifications as their recipient sees them, and each user's channel preferences.

Every statement names the recipient: a user sees and marks only their own notifications, and
someone else's looks exactly like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Text, any_, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.sql import Select
from sqlalchemy.types import Uuid

from services.notifications.domain.kinds import Kind
from services.notifications.domain.records import InboxEntry
from services.notifications.domain.rules import ChannelChoice
from services.notifications.tables import messages, notifications, preferences
from services.runtime.database import Database, Executor, Statement


def _entries() -> Select[Any]:
    return select(
        notifications.c.id,
        notifications.c.read_at,
        notifications.c.created_at,
        messages.c.kind,
        messages.c.title,
        messages.c.body,
        messages.c.link,
    ).select_from(notifications.join(messages, messages.c.id == notifications.c.message_id))


_mine = notifications.c.recipient_id == bindparam("p_user_id", type_=Uuid)
_BY_IDS = Statement.of(
    _entries()
    .where(_mine, notifications.c.id == any_(bindparam("p_ids", type_=ARRAY(Uuid))))
    .order_by(notifications.c.created_at, notifications.c.id)
)
_ONE = Statement.of(_entries().where(_mine, notifications.c.id == bindparam("p_id", type_=Uuid)))
_MARK_READ = Statement.of(
    update(notifications)
    .where(_mine, notifications.c.id == bindparam("p_id", type_=Uuid), notifications.c.read_at.is_(None))
    .values(read_at=func.now())
)
_MARK_ALL_READ = Statement.of(
    update(notifications).where(_mine, notifications.c.read_at.is_(None)).values(read_at=func.now())
)

_PREFERENCES = Statement.of(
    select(preferences).where(preferences.c.user_id == bindparam("p_user_id", type_=Uuid))
)
_preference = insert(preferences).values(
    user_id=bindparam("p_user_id", type_=Uuid),
    kind=bindparam("p_kind", type_=Text),
    in_app=bindparam("p_in_app", type_=Boolean),
    email=bindparam("p_email", type_=Boolean),
    sms=bindparam("p_sms", type_=Boolean),
)
_SAVE_PREFERENCE = Statement.of(
    _preference.on_conflict_do_update(
        constraint="pk_preferences",
        set_={
            "in_app": _preference.excluded.in_app,
            "email": _preference.excluded.email,
            "sms": _preference.excluded.sms,
            "updated_at": func.now(),
        },
    )
)


def _entry(row: Any) -> InboxEntry:
    return InboxEntry(
        id=row.id,
        kind=Kind(row.kind),
        title=row.title,
        body=row.body,
        link=row.link,
        read=row.read_at is not None,
        created_at=row.created_at,
    )


class InboxReads:
    """A user's notifications and preferences (part of NotificationStore)."""

    database: Database

    async def notifications(
        self, *, user_id: str, unread_only: bool, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[InboxEntry]:
        """Newest first; `after` is the last (created_at, id) of the previous page."""
        query = (
            _entries()
            .where(notifications.c.recipient_id == uuid.UUID(user_id))
            .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
            .limit(limit)
        )
        if unread_only:
            query = query.where(notifications.c.read_at.is_(None))
        if after is not None:
            query = query.where(tuple_(notifications.c.created_at, notifications.c.id) < tuple_(*after))
        return [_entry(row) for row in await self.database.rows(query)]

    async def notifications_by_id(self, *, user_id: str, ids: Sequence[str]) -> list[InboxEntry]:
        """The user's own among `ids`, oldest first (what the live feed announced)."""
        rows = await self.database.rows(_BY_IDS, p_user_id=user_id, p_ids=[uuid.UUID(value) for value in ids])
        return [_entry(row) for row in rows]

    async def preferences(self, user_id: str) -> dict[Kind, ChannelChoice]:
        """What the user set; kinds they never set are not in it."""
        rows = await self.database.rows(_PREFERENCES, p_user_id=user_id)
        return {
            Kind(row.kind): ChannelChoice(in_app=row.in_app, email=row.email, sms=row.sms) for row in rows
        }


class InboxWrites(Executor):
    """Marking notifications read, saving preferences (part of NotificationTransaction)."""

    async def mark_read(self, *, user_id: str, notification_id: uuid.UUID) -> InboxEntry | None:
        """Mark one of the user's notifications read; None when they have no such notification."""
        await self.execute(_MARK_READ, p_user_id=user_id, p_id=notification_id)
        row = await self.row(_ONE, p_user_id=user_id, p_id=notification_id)
        return _entry(row) if row is not None else None

    async def mark_all_read(self, *, user_id: str) -> int:
        """How many notifications were unread."""
        return await self.execute(_MARK_ALL_READ, p_user_id=user_id)

    async def save_preferences(self, user_id: str, choices: Mapping[Kind, ChannelChoice]) -> None:
        await self.execute_many(
            _SAVE_PREFERENCE,
            [
                {
                    "p_user_id": user_id,
                    "p_kind": kind,
                    "p_in_app": choice.in_app,
                    "p_email": choice.email,
                    "p_sms": choice.sms,
                }
                for kind, choice in sorted(choices.items())
            ],
        )
