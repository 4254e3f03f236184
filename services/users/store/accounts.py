"""`UserStore` reads single statements in autocommit, `UserTransaction` is the unit of work that
holds every write (with the outbox rows it publishes); the statements are in `statements.py`.

Rows never leave this package: they become the domain's `User`, `VerificationCodeRecord` and
`RefreshTokenRecord` here. Static statements are compiled once at import; the few that depend on
the request (a filtered list, a profile update) are built per call.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime

import psycopg
from sqlalchemy import (
    func,
    select,
    tuple_,
    update,
)

from services.runtime.auth import Role
from services.runtime.database import Database, Executor, Row, Transaction
from services.users.domain import (
    CodeChannel,
    Rating,
    RatingTotals,
    RefreshTokenRecord,
    User,
    UserFilter,
    VerificationCodeRecord,
    email_taken,
)
from services.users.store.statements import (
    CODES,
    CONFIRM_EMAIL_CHANGE,
    COUNT_OTHER_ADMINS,
    DELETE_EXPIRED_TOKENS,
    EMAIL_UNIQUE_INDEX,
    FORGET_UNCONFIRMABLE_EMAIL_CHANGES,
    INSERT_REFRESH_TOKEN,
    INSERT_USER,
    LOCK_ADMIN_CHANGES,
    MARK_EMAIL_VERIFIED,
    MARK_PHONE_VERIFIED,
    MARK_ROTATED,
    RECOUNT_RATINGS,
    REFRESH_TOKEN_FOR_UPDATE,
    REVOKE_EVERY_FAMILY,
    REVOKE_FAMILY,
    SAVE_RATING,
    SET_ADMIN,
    SET_PASSWORD_HASH,
    SET_ROLE,
    TRY_CLEANUP_LOCK,
    USER_BY_EMAIL,
    USER_BY_EMAIL_FOR_UPDATE,
    USER_BY_ID,
    USER_BY_ID_FOR_UPDATE,
    USERS_BY_IDS,
    USERS_CLAIMING_EMAIL,
)
from services.users.tables import users

# -- rows -> domain -------------------------------------------------------------------------------


def _user(row: Row) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        display_name=row.display_name,
        phone=row.phone,
        role=Role(row.role),
        email_verified=row.email_verified,
        phone_verified=row.phone_verified,
        pending_email=row.pending_email,
        time_zone=row.time_zone,
        locale=row.locale,
        host_rating=RatingTotals(row.host_rating_sum, row.host_rating_count),
        guest_rating=RatingTotals(row.guest_rating_sum, row.guest_rating_count),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _user_or_none(row: Row | None) -> User | None:
    return None if row is None else _user(row)


@contextlib.contextmanager
def _email_unique() -> Iterator[None]:
    """Turns the unique index's refusal of a second account for an address into EMAIL_TAKEN."""
    try:
        yield
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name == EMAIL_UNIQUE_INDEX:
            raise email_taken() from None
        raise


class UserReads:
    """Lookups of accounts, the same in autocommit and inside a unit of work."""

    def _executor(self) -> Executor:
        raise NotImplementedError

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        return _user_or_none(await self._executor().row(USER_BY_ID, user_id=user_id))

    async def user_by_email(self, email: str) -> User | None:
        """`email` normalized (domain.normalize_email)."""
        return _user_or_none(await self._executor().row(USER_BY_EMAIL, email=email))


class UserStore(UserReads):
    def __init__(self, database: Database) -> None:
        self.database = database

    def _executor(self) -> Executor:
        return self.database

    def transaction(self) -> contextlib.AbstractAsyncContextManager[UserTransaction]:
        return self.database.transaction(UserTransaction)

    async def users_by_ids(self, user_ids: Sequence[uuid.UUID]) -> list[User]:
        """The accounts with these ids, in the order asked for; unknown ids are left out."""
        if not user_ids:
            return []
        rows = await self.database.rows(USERS_BY_IDS, user_ids=list(user_ids))
        found = {row.id: _user(row) for row in rows}
        return [found[user_id] for user_id in user_ids if user_id in found]

    async def list_users(
        self, wanted: UserFilter, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[User]:
        """Oldest first, keyset on (created_at, id)."""
        query = select(users).order_by(users.c.created_at, users.c.id).limit(limit)
        if wanted.role is not None:
            query = query.where(users.c.role == wanted.role.value)
        if wanted.email_prefix:
            escaped = wanted.email_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(users.c.email).like(escaped + "%", escape="\\"))
        if after is not None:
            query = query.where(tuple_(users.c.created_at, users.c.id) > tuple_(*after))
        return [_user(row) for row in await self.database.rows(query)]


class UserTransaction(Transaction, UserReads):
    """The users service's writes; they commit together with the bus events published beside them."""

    def _executor(self) -> Executor:
        return self

    # -- accounts ---------------------------------------------------------------------------------

    async def user_for_update(self, user_id: uuid.UUID) -> User | None:
        return _user_or_none(await self.row(USER_BY_ID_FOR_UPDATE, user_id=user_id))

    async def user_by_email_for_update(self, email: str) -> User | None:
        """`email` normalized (domain.normalize_email)."""
        return _user_or_none(await self.row(USER_BY_EMAIL_FOR_UPDATE, email=email))

    async def insert_user(
        self,
        *,
        email: str,
        password_hash: str,
        display_name: str,
        phone: str,
        role: Role,
        email_verified: bool = False,
    ) -> User:
        """A new account; EMAIL_TAKEN when the address has one (the unique index decides races)."""
        # A savepoint, so a duplicate leaves this unit of work usable.
        with _email_unique():
            async with self.connection.transaction():
                row = await self.row(
                    INSERT_USER,
                    id=uuid.uuid4(),
                    email=email,
                    password_hash=password_hash,
                    display_name=display_name,
                    phone=phone,
                    role=role.value,
                    email_verified=email_verified,
                )
        return _user(row)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.execute(SET_PASSWORD_HASH, p_user_id=user_id, p_password_hash=password_hash)

    async def update_profile(self, user_id: uuid.UUID, updates: dict[str, str | bool]) -> User | None:
        """Apply `ProfileChanges.updates()` (which never touch the account's email itself)."""
        statement = (
            update(users)
            .where(users.c.id == user_id)
            .values({**updates, "updated_at": func.now()})
            .returning(users)
        )
        return _user_or_none(await self.row(statement))

    async def users_claiming_email(self, email: str) -> list[User]:
        """Locked: the account that has `email` (first), then those changing to it."""
        return [_user(row) for row in await self.rows(USERS_CLAIMING_EMAIL, email=email)]

    async def mark_email_verified(self, user_id: uuid.UUID) -> User:
        """The pending email code is used up and the account's address verified."""
        await self.execute(CODES[CodeChannel.EMAIL].delete, p_user_id=user_id)
        return _user(await self.row(MARK_EMAIL_VERIFIED, p_user_id=user_id))

    async def confirm_email_change(self, user_id: uuid.UUID, email: str) -> User:
        """The account moves to the address it was changing to, verified; EMAIL_TAKEN when another
        account has it by now (the unique index decides races)."""
        await self.execute(CODES[CodeChannel.EMAIL].delete, p_user_id=user_id)
        with _email_unique():
            async with self.connection.transaction():
                row = await self.row(CONFIRM_EMAIL_CHANGE, p_user_id=user_id, p_email=email)
        return _user(row)

    async def mark_phone_verified(self, user_id: uuid.UUID) -> User:
        """The pending SMS code is used up and the account's number verified."""
        await self.execute(CODES[CodeChannel.PHONE].delete, p_user_id=user_id)
        return _user(await self.row(MARK_PHONE_VERIFIED, p_user_id=user_id))

    async def lock_admin_changes(self) -> None:
        """Held to the end of the transaction: two admins demoting each other cannot both succeed."""
        await self.execute(LOCK_ADMIN_CHANGES)

    async def count_other_admins(self, user_id: uuid.UUID) -> int:
        return int(await self.scalar(COUNT_OTHER_ADMINS, user_id=user_id))

    async def end_every_session(self, user_id: uuid.UUID) -> int:
        """Revoke every refresh token of the account, from every sign-in; how many were live."""
        return await self.execute(REVOKE_EVERY_FAMILY, p_user_id=user_id)

    async def set_role(self, user_id: uuid.UUID, role: Role) -> User:
        """The account's new role, which ends every session it has: a refresh token issued under
        the old role must not carry on (nor one someone else held, waiting for a promotion)."""
        await self.end_every_session(user_id)
        return _user(await self.row(SET_ROLE, p_user_id=user_id, p_role=role.value))

    async def make_admin(self, user_id: uuid.UUID, password_hash: str) -> User:
        """The operator's promotion: admin, with the password the operator chose, and no session
        from before (the same reasons as `set_role`)."""
        await self.end_every_session(user_id)
        return _user(await self.row(SET_ADMIN, p_user_id=user_id, p_password_hash=password_hash))

    # -- verification codes -----------------------------------------------------------------------

    async def save_verification_code(
        self,
        channel: CodeChannel,
        user_id: uuid.UUID,
        *,
        address: str,
        code_hash: bytes,
        expires_at: datetime,
    ) -> None:
        """The user's one pending code on `channel`, for the address it is sent to."""
        await self.execute(
            CODES[channel].save, user_id=user_id, address=address, code_hash=code_hash, expires_at=expires_at
        )

    async def verification_code_for_update(
        self, channel: CodeChannel, user_id: uuid.UUID
    ) -> VerificationCodeRecord | None:
        row = await self.row(CODES[channel].for_update, p_user_id=user_id)
        return None if row is None else VerificationCodeRecord(**row._asdict())

    async def count_wrong_code(self, channel: CodeChannel, user_id: uuid.UUID) -> int:
        """One more wrong attempt at the pending code; how many there were now."""
        return int(await self.scalar(CODES[channel].count_wrong, p_user_id=user_id))

    # -- refresh tokens ---------------------------------------------------------------------------

    async def insert_refresh_token(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None:
        await self.execute(
            INSERT_REFRESH_TOKEN,
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user_id,
            token_hash=token_hash,
            expires_at=expires_at,
        )

    async def refresh_token_for_update(self, token_hash: bytes) -> RefreshTokenRecord | None:
        row = await self.row(REFRESH_TOKEN_FOR_UPDATE, token_hash=token_hash)
        return None if row is None else RefreshTokenRecord(**row._asdict())

    async def mark_rotated(self, token_id: uuid.UUID) -> None:
        await self.execute(MARK_ROTATED, p_token_id=token_id)

    async def revoke_family(self, family_id: uuid.UUID) -> int:
        """Revoke every token of a login that is not revoked yet; how many that were."""
        return await self.execute(REVOKE_FAMILY, p_family_id=family_id)

    # -- ratings ----------------------------------------------------------------------------------

    async def record_rating(self, rating: Rating) -> None:
        """Store one booking's rating and refresh the user's totals (nothing for unknown users).

        Totals are recomputed from the rows rather than incremented, so applying the same event
        twice, or events out of order, always ends in the same numbers.
        """
        # Locking the user first makes concurrent ratings of one user recompute one after the
        # other, each statement seeing the rows the previous one committed.
        if await self.user_for_update(rating.user_id) is None:
            return
        await self.execute(
            SAVE_RATING,
            booking_id=rating.booking_id,
            kind=rating.kind.value,
            user_id=rating.user_id,
            rating=rating.stars,
        )
        await self.execute(RECOUNT_RATINGS[rating.kind], p_user_id=rating.user_id)

    # -- housekeeping -----------------------------------------------------------------------------

    async def delete_expired(self) -> int:
        """Drop refresh tokens and codes that expired a day ago, and the email changes those codes
        were for; one replica at a time does it."""
        if not await self.scalar(TRY_CLEANUP_LOCK):
            return 0
        removed = await self.execute(DELETE_EXPIRED_TOKENS)
        for statements in CODES.values():
            removed += await self.execute(statements.delete_expired)
        await self.execute(FORGET_UNCONFIRMABLE_EMAIL_CHANGES)
        return removed
