"""The users service's statements: SQLAlchemy Core, compiled once at import (`Statement.of`).

Pending codes live in one table per channel (`verification_codes` for email, `phone_codes` for
SMS), with the same columns but the address's; `_CodeStatements` is the same SQL on either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    Table,
    Update,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.runtime.auth import Role
from services.runtime.database import Statement
from services.users.domain import (
    CodeChannel,
    RatingKind,
    RefreshTokenRecord,
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


def _update_user(**values: Any) -> Update:
    """One account's columns set (the account `p_user_id`), its update time with them."""
    return update(users).where(users.c.id == bindparam("p_user_id")).values(**values, updated_at=func.now())


SET_PASSWORD_HASH = Statement.of(_update_user(password_hash=bindparam("p_password_hash")))
MARK_EMAIL_VERIFIED = Statement.of(_update_user(email_verified=True).returning(users))
# Only while the account is still changing to this address: a later change voids the earlier code.
CONFIRM_EMAIL_CHANGE = Statement.of(
    _update_user(email=users.c.pending_email, pending_email=None, email_verified=True)
    .where(users.c.pending_email == bindparam("p_email"))
    .returning(users)
)
MARK_PHONE_VERIFIED = Statement.of(_update_user(phone_verified=True).returning(users))
SET_ROLE = Statement.of(_update_user(role=bindparam("p_role")).returning(users))
SET_ADMIN = Statement.of(
    _update_user(role=Role.ADMIN.value, password_hash=bindparam("p_password_hash")).returning(users)
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
