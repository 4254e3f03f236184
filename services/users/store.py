"""SQL of the users service: `UserStore` reads single statements in autocommit, `UserTransaction`
is the unit of work that holds every write (with the outbox rows it publishes).

Rows never leave this module: they become the domain's `User`, `VerificationCodeRecord` and
`RefreshTokenRecord` here. Static statements are compiled once at import; the few that depend on
the request (a filtered list, a profile update) are built per call.

Pending codes live in one table per channel (`verification_codes` for email, `phone_codes` for
SMS), with the same columns but the address's; `_CodeStatements` is the same SQL on either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import (
    ARRAY,
    Column,
    Table,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.runtime.auth import Role
from services.runtime.database import Database, Executor, Row, Statement, Transaction
from services.users.domain import (
    CodeChannel,
    Rating,
    RatingKind,
    RatingTotals,
    RefreshTokenRecord,
    User,
    UserFilter,
    VerificationCodeRecord,
    email_taken,
)
from services.users.tables import phone_codes, ratings, refresh_tokens, users, verification_codes

# The unique index on lower(email): a second account for an address is refused by it.
EMAIL_UNIQUE_INDEX = "uq_users_email"
# Serialises changes that could leave the platform without an admin.
_ADMIN_LOCK = 0x5EA7_0301
_CLEANUP_LOCK = 0x5EA7_0302
_CLEANUP_BATCH = 5000

# -- statements -----------------------------------------------------------------------------------


def _columns_of(record: type[Any], table: Table) -> list[Column[Any]]:
    """The columns named like a record type's fields: its rows become `record(**row._asdict())`."""
    return [table.c[item.name] for item in dataclasses.fields(record)]


_BY_ID = users.c.id == bindparam("user_id")
USER_BY_ID = Statement.of(select(users).where(_BY_ID))
USER_BY_ID_FOR_UPDATE = Statement.of(select(users).where(_BY_ID).with_for_update())
# lower(email) matches the unique index, so this is an index lookup.
_HAS_EMAIL = func.lower(users.c.email) == bindparam("email")
USER_BY_EMAIL = Statement.of(select(users).where(_HAS_EMAIL))
USER_BY_EMAIL_FOR_UPDATE = Statement.of(select(users).where(_HAS_EMAIL).with_for_update())
# The account that has an address, first, then those changing to it (pending_email is normalised).
USERS_CLAIMING_EMAIL = Statement.of(
    select(users)
    .where(or_(_HAS_EMAIL, users.c.pending_email == bindparam("email")))
    .order_by(_HAS_EMAIL.desc(), users.c.created_at, users.c.id)
    .with_for_update()
)
USERS_BY_IDS = Statement.of(
    select(users).where(users.c.id == func.any(bindparam("user_ids", type_=ARRAY(Uuid))))
)
INSERT_USER = Statement.of(
    insert(users)
    .values(
        id=bindparam("id"),
        email=bindparam("email"),
        password_hash=bindparam("password_hash"),
        display_name=bindparam("display_name"),
        phone=bindparam("phone"),
        role=bindparam("role"),
        email_verified=bindparam("email_verified"),
    )
    .returning(users)
)
SET_PASSWORD_HASH = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"))
    .values(password_hash=bindparam("p_password_hash"), updated_at=func.now())
)
MARK_EMAIL_VERIFIED = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"))
    .values(email_verified=True, updated_at=func.now())
    .returning(users)
)
# Only while the account is still changing to this address: a later change voids the earlier code.
CONFIRM_EMAIL_CHANGE = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"), users.c.pending_email == bindparam("p_email"))
    .values(email=users.c.pending_email, pending_email=None, email_verified=True, updated_at=func.now())
    .returning(users)
)
MARK_PHONE_VERIFIED = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"))
    .values(phone_verified=True, updated_at=func.now())
    .returning(users)
)
SET_ROLE = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"))
    .values(role=bindparam("p_role"), updated_at=func.now())
    .returning(users)
)
SET_ADMIN = Statement.of(
    update(users)
    .where(users.c.id == bindparam("p_user_id"))
    .values(role=Role.ADMIN.value, password_hash=bindparam("p_password_hash"), updated_at=func.now())
    .returning(users)
)
LOCK_ADMIN_CHANGES = Statement.of(select(func.pg_advisory_xact_lock(_ADMIN_LOCK)))
COUNT_OTHER_ADMINS = Statement.of(
    select(func.count())
    .select_from(users)
    .where(users.c.role == Role.ADMIN.value, users.c.id != bindparam("user_id"))
)


_EXPIRED_A_DAY_AGO = func.now() - text("interval '1 day'")


@dataclass(frozen=True)
class _CodeStatements:
    """The SQL of one channel's pending codes: `table` keeps the address in `address_column`."""

    save: Statement
    for_update: Statement
    count_wrong: Statement
    delete: Statement
    delete_expired: Statement

    @classmethod
    def of(cls, table: Table, address_column: str) -> _CodeStatements:
        address = table.c[address_column]
        upsert = pg_insert(table).values(
            {
                "user_id": bindparam("user_id"),
                address_column: bindparam("address"),
                "code_hash": bindparam("code_hash"),
                "expires_at": bindparam("expires_at"),
                "attempts": 0,
            }
        )
        mine = table.c.user_id == bindparam("p_user_id")
        return cls(
            # A new code replaces any earlier one, and its wrong-attempt count starts from zero.
            save=Statement.of(
                upsert.on_conflict_do_update(
                    index_elements=[table.c.user_id],
                    set_={
                        address_column: upsert.excluded[address_column],
                        "code_hash": upsert.excluded.code_hash,
                        "expires_at": upsert.excluded.expires_at,
                        "attempts": 0,
                        "created_at": func.now(),
                    },
                )
            ),
            for_update=Statement.of(
                select(
                    table.c.user_id,
                    address.label("address"),
                    table.c.code_hash,
                    table.c.attempts,
                    table.c.expires_at,
                )
                .where(mine)
                .with_for_update()
            ),
            count_wrong=Statement.of(
                update(table).where(mine).values(attempts=table.c.attempts + 1).returning(table.c.attempts)
            ),
            delete=Statement.of(delete(table).where(mine)),
            delete_expired=Statement.of(delete(table).where(table.c.expires_at < _EXPIRED_A_DAY_AGO)),
        )


CODES = {
    CodeChannel.EMAIL: _CodeStatements.of(verification_codes, "email"),
    CodeChannel.PHONE: _CodeStatements.of(phone_codes, "phone"),
}

INSERT_REFRESH_TOKEN = Statement.of(
    insert(refresh_tokens).values(
        id=bindparam("id"),
        family_id=bindparam("family_id"),
        user_id=bindparam("user_id"),
        token_hash=bindparam("token_hash"),
        expires_at=bindparam("expires_at"),
    )
)
# Locked: two refreshes with one token are decided one after the other.
REFRESH_TOKEN_FOR_UPDATE = Statement.of(
    select(*_columns_of(RefreshTokenRecord, refresh_tokens))
    .where(refresh_tokens.c.token_hash == bindparam("token_hash"))
    .with_for_update()
)
MARK_ROTATED = Statement.of(
    update(refresh_tokens).where(refresh_tokens.c.id == bindparam("p_token_id")).values(rotated_at=func.now())
)
REVOKE_FAMILY = Statement.of(
    update(refresh_tokens)
    .where(refresh_tokens.c.family_id == bindparam("p_family_id"), refresh_tokens.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)
REVOKE_EVERY_FAMILY = Statement.of(
    update(refresh_tokens)
    .where(refresh_tokens.c.user_id == bindparam("p_user_id"), refresh_tokens.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)

_rating_upsert = pg_insert(ratings).values(
    booking_id=bindparam("booking_id"),
    kind=bindparam("kind"),
    user_id=bindparam("user_id"),
    rating=bindparam("rating"),
)
# A repeat or an edit of one booking's rating replaces it.
SAVE_RATING = Statement.of(
    _rating_upsert.on_conflict_do_update(
        index_elements=[ratings.c.booking_id, ratings.c.kind],
        set_={"rating": _rating_upsert.excluded.rating, "user_id": _rating_upsert.excluded.user_id},
    )
)


def _recount_ratings(kind: RatingKind) -> Statement:
    mine = (ratings.c.user_id == bindparam("p_user_id")) & (ratings.c.kind == kind.value)
    return Statement.of(
        update(users)
        .where(users.c.id == bindparam("p_user_id"))
        .values(
            {
                f"{kind.value}_rating_sum": select(func.coalesce(func.sum(ratings.c.rating), 0))
                .where(mine)
                .scalar_subquery(),
                f"{kind.value}_rating_count": select(func.count())
                .select_from(ratings)
                .where(mine)
                .scalar_subquery(),
            }
        )
    )


RECOUNT_RATINGS = {kind: _recount_ratings(kind) for kind in RatingKind}

TRY_CLEANUP_LOCK = Statement.of(select(func.pg_try_advisory_xact_lock(_CLEANUP_LOCK)))
DELETE_EXPIRED_TOKENS = Statement.of(
    delete(refresh_tokens).where(
        refresh_tokens.c.id.in_(
            select(refresh_tokens.c.id)
            .where(refresh_tokens.c.expires_at < _EXPIRED_A_DAY_AGO)
            .limit(_CLEANUP_BATCH)
            .scalar_subquery()
        )
    )
)
# An email change whose code is gone can never be confirmed: the account shows none waiting.
FORGET_UNCONFIRMABLE_EMAIL_CHANGES = Statement.of(
    update(users)
    .where(
        users.c.pending_email.is_not(None),
        ~exists().where(
            verification_codes.c.user_id == users.c.id, verification_codes.c.email == users.c.pending_email
        ),
    )
    .values(pending_email=None, updated_at=func.now())
)


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
