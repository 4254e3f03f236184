"""What the users service's bus events tell of accounts: the role each registered with and whether
its email address is verified (the welcome waits for both).

Each event records its half in one upsert that returns the whole row. The upsert locks the row, so
when registration and verification are handled at the same time by two consumers, the second sees
the first's half once it committed, and exactly one of them finds the account complete (the
welcome's message key covers the rest: a redelivery or an address verified again).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, bindparam, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.types import Uuid

from services.notifications.domain.records import Account
from services.notifications.tables import known_users
from services.runtime.database import Executor, Statement

_columns = (known_users.c.user_id, known_users.c.organizer, known_users.c.email_verified)
_registered = insert(known_users).values(
    user_id=bindparam("user_id", type_=Uuid), organizer=bindparam("organizer", type_=Boolean)
)
_REGISTERED = Statement.of(
    _registered.on_conflict_do_update(
        index_elements=[known_users.c.user_id], set_={"organizer": _registered.excluded.organizer}
    ).returning(*_columns)
)
_verified = insert(known_users).values(user_id=bindparam("user_id", type_=Uuid), email_verified=true())
_EMAIL_VERIFIED = Statement.of(
    _verified.on_conflict_do_update(
        index_elements=[known_users.c.user_id], set_={"email_verified": true()}
    ).returning(*_columns)
)


def _account(row: Any) -> Account:
    return Account(user_id=str(row.user_id), organizer=row.organizer, email_verified=row.email_verified)


class Accounts(Executor):
    """Registrations and verifications (part of NotificationTransaction)."""

    async def account_registered(self, user_id: str, *, organizer: bool) -> Account:
        [row] = await self.rows(_REGISTERED, user_id=user_id, organizer=organizer)
        return _account(row)

    async def email_verified(self, user_id: str) -> Account:
        [row] = await self.rows(_EMAIL_VERIFIED, user_id=user_id)
        return _account(row)
