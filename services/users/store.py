"""SQL of the users service (SQLAlchemy Core on the async engine).

Every function takes the caller's connection, so the servicer decides what shares a transaction
(the state change and its outbox row always do).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Row, delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.users.models import ratings, refresh_tokens, users, verification_codes

EMAIL_UNIQUE_INDEX = "uq_users_email"
# Serialises changes that could leave the platform without an admin.
_ADMIN_LOCK = 0x5EA7_0301
_CLEANUP_LOCK = 0x5EA7_0302


class EmailTaken(Exception):
    """The unique index on lower(email) refused a second account for the address."""


def _violated(error: sqlalchemy.exc.IntegrityError) -> str:
    diag = getattr(error.orig, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


# -- users ------------------------------------------------------------------------------------


async def user_by_id(
    connection: AsyncConnection, user_id: uuid.UUID, *, lock: bool = False
) -> Row[Any] | None:
    query = select(users).where(users.c.id == user_id)
    if lock:
        query = query.with_for_update()
    return (await connection.execute(query)).first()


async def user_by_email(connection: AsyncConnection, email: str) -> Row[Any] | None:
    # lower(email) matches the unique index, so this is an index lookup.
    return (await connection.execute(select(users).where(func.lower(users.c.email) == email))).first()


async def users_by_ids(connection: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
    if not user_ids:
        return []
    return list((await connection.execute(select(users).where(users.c.id.in_(user_ids)))).all())


async def insert_user(
    connection: AsyncConnection,
    *,
    email: str,
    password_hash: str,
    display_name: str,
    phone: str,
    role: str,
    email_verified: bool = False,
) -> Row[Any]:
    try:
        # A savepoint, so a duplicate leaves the caller's transaction usable.
        async with connection.begin_nested():
            return (
                await connection.execute(
                    pg_insert(users)
                    .values(
                        id=uuid.uuid4(),
                        email=email,
                        password_hash=password_hash,
                        display_name=display_name,
                        phone=phone,
                        role=role,
                        email_verified=email_verified,
                    )
                    .returning(users)
                )
            ).one()
    except sqlalchemy.exc.IntegrityError as error:
        if _violated(error) == EMAIL_UNIQUE_INDEX:
            raise EmailTaken(email) from None
        raise


async def set_password_hash(connection: AsyncConnection, user_id: uuid.UUID, password_hash: str) -> None:
    await connection.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash, updated_at=func.now())
    )


async def update_profile(
    connection: AsyncConnection, user_id: uuid.UUID, changes: dict[str, Any]
) -> Row[Any] | None:
    """Apply profile changes; a new email address is unverified until its code is entered."""
    values: dict[str, Any] = dict(changes, updated_at=func.now())
    try:
        async with connection.begin_nested():
            return (
                await connection.execute(
                    update(users).where(users.c.id == user_id).values(**values).returning(users)
                )
            ).first()
    except sqlalchemy.exc.IntegrityError as error:
        if _violated(error) == EMAIL_UNIQUE_INDEX:
            raise EmailTaken(str(changes.get("email", ""))) from None
        raise


async def mark_email_verified(connection: AsyncConnection, user_id: uuid.UUID) -> Row[Any]:
    return (
        await connection.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(email_verified=True, updated_at=func.now())
            .returning(users)
        )
    ).one()


async def list_users(
    connection: AsyncConnection,
    *,
    role: str | None,
    email_prefix: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Row[Any]]:
    """Oldest first, keyset on (created_at, id)."""
    query = select(users).order_by(users.c.created_at, users.c.id).limit(limit)
    if role:
        query = query.where(users.c.role == role)
    if email_prefix:
        escaped = email_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(users.c.email).like(escaped + "%", escape="\\"))
    if after is not None:
        query = query.where(tuple_(users.c.created_at, users.c.id) > tuple_(*after))
    return list((await connection.execute(query)).all())


async def lock_admin_changes(connection: AsyncConnection) -> None:
    """Held to the end of the transaction: two admins demoting each other cannot both succeed."""
    await connection.execute(select(func.pg_advisory_xact_lock(_ADMIN_LOCK)))


async def count_other_admins(connection: AsyncConnection, user_id: uuid.UUID) -> int:
    return int(
        (
            await connection.execute(
                select(func.count()).select_from(users).where(users.c.role == "admin", users.c.id != user_id)
            )
        ).scalar_one()
    )


async def set_role(connection: AsyncConnection, user_id: uuid.UUID, role: str) -> Row[Any]:
    return (
        await connection.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(role=role, updated_at=func.now())
            .returning(users)
        )
    ).one()


async def make_admin(connection: AsyncConnection, user_id: uuid.UUID, password_hash: str | None) -> Row[Any]:
    values: dict[str, Any] = {"role": "admin", "email_verified": True, "updated_at": func.now()}
    if password_hash is not None:
        values["password_hash"] = password_hash
    await connection.execute(delete(verification_codes).where(verification_codes.c.user_id == user_id))
    return (
        await connection.execute(update(users).where(users.c.id == user_id).values(**values).returning(users))
    ).one()


# -- verification codes -----------------------------------------------------------------------


async def save_verification_code(
    connection: AsyncConnection, *, user_id: uuid.UUID, email: str, code_hash: bytes, expires_at: datetime
) -> None:
    """A new code replaces any earlier one, and its wrong-attempt count starts from zero."""
    statement = pg_insert(verification_codes).values(
        user_id=user_id, email=email, code_hash=code_hash, expires_at=expires_at, attempts=0
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[verification_codes.c.user_id],
            set_={
                "email": statement.excluded.email,
                "code_hash": statement.excluded.code_hash,
                "expires_at": statement.excluded.expires_at,
                "attempts": 0,
                "created_at": func.now(),
            },
        )
    )


async def verification_code_for_update(connection: AsyncConnection, user_id: uuid.UUID) -> Row[Any] | None:
    return (
        await connection.execute(
            select(verification_codes).where(verification_codes.c.user_id == user_id).with_for_update()
        )
    ).first()


async def count_wrong_code(connection: AsyncConnection, user_id: uuid.UUID) -> int:
    return int(
        (
            await connection.execute(
                update(verification_codes)
                .where(verification_codes.c.user_id == user_id)
                .values(attempts=verification_codes.c.attempts + 1)
                .returning(verification_codes.c.attempts)
            )
        ).scalar_one()
    )


async def delete_verification_code(connection: AsyncConnection, user_id: uuid.UUID) -> None:
    await connection.execute(delete(verification_codes).where(verification_codes.c.user_id == user_id))


# -- refresh tokens ---------------------------------------------------------------------------


async def insert_refresh_token(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    expires_at: datetime,
) -> None:
    await connection.execute(
        refresh_tokens.insert().values(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user_id,
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )


async def refresh_token_for_update(connection: AsyncConnection, token_hash: bytes) -> Row[Any] | None:
    """The token row, locked: two refreshes with one token are decided one after the other."""
    return (
        await connection.execute(
            select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update()
        )
    ).first()


async def mark_rotated(connection: AsyncConnection, token_id: uuid.UUID) -> None:
    await connection.execute(
        update(refresh_tokens).where(refresh_tokens.c.id == token_id).values(rotated_at=func.now())
    )


async def revoke_family(connection: AsyncConnection, family_id: uuid.UUID) -> int:
    result = await connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return int(result.rowcount or 0)


# -- ratings ----------------------------------------------------------------------------------


async def record_rating(
    connection: AsyncConnection, *, booking_id: str, kind: str, user_id: uuid.UUID, rating: int
) -> None:
    """Store one booking's rating (a repeat or an edit replaces it) and refresh the user's totals.

    Totals are recomputed from the rows rather than incremented, so applying the same event twice,
    or events out of order, always ends in the same numbers.
    """
    # Locking the user first makes concurrent ratings of one user recompute one after the other,
    # each statement seeing the rows the previous one committed.
    if await user_by_id(connection, user_id, lock=True) is None:
        return
    statement = pg_insert(ratings).values(booking_id=booking_id, kind=kind, user_id=user_id, rating=rating)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[ratings.c.booking_id, ratings.c.kind],
            set_={"rating": statement.excluded.rating, "user_id": statement.excluded.user_id},
        )
    )
    mine = (ratings.c.user_id == user_id) & (ratings.c.kind == kind)
    await connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            {
                f"{kind}_rating_sum": select(func.coalesce(func.sum(ratings.c.rating), 0))
                .where(mine)
                .scalar_subquery(),
                f"{kind}_rating_count": select(func.count())
                .select_from(ratings)
                .where(mine)
                .scalar_subquery(),
            }
        )
    )


# -- housekeeping -----------------------------------------------------------------------------


async def delete_expired(connection: AsyncConnection, *, batch: int = 5000) -> int:
    """Drop refresh tokens and codes that expired a day ago; one replica at a time does it."""
    locked = (await connection.execute(select(func.pg_try_advisory_xact_lock(_CLEANUP_LOCK)))).scalar_one()
    if not locked:
        return 0
    horizon = func.now() - text("interval '1 day'")
    expired_tokens = (
        select(refresh_tokens.c.id)
        .where(refresh_tokens.c.expires_at < horizon)
        .limit(batch)
        .scalar_subquery()
    )
    removed = await connection.execute(delete(refresh_tokens).where(refresh_tokens.c.id.in_(expired_tokens)))
    codes = await connection.execute(
        delete(verification_codes).where(verification_codes.c.expires_at < horizon)
    )
    return int(removed.rowcount or 0) + int(codes.rowcount or 0)
