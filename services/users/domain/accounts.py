"""Accounts: what a user is, what acceptable emails, passwords, names, phones, time zones and
locales are, sign-ups and profile updates, and who may hold which role.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import uuid
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.runtime.auth import Role
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    already_exists,
    bad_field,
    failed_precondition,
    invalid_argument,
)
from services.users.domain.common_passwords import COMMON_PASSWORDS
from services.users.domain.ratings import RatingTotals

EMAIL_MAX_LENGTH = 254
PASSWORD_MIN_LENGTH = 10
# Argon2 does not care, but an unbounded body is an easy way to burn CPU.
PASSWORD_MAX_LENGTH = 256
DISPLAY_NAME_MAX_LENGTH = 100

# Deliberately strict and simple: one @, a dot in the domain, no spaces or control characters.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

# Fields of User a person may change about themself (UpdateCurrentUser's update mask).
UPDATABLE_PROFILE_FIELDS = ("display_name", "phone", "time_zone", "locale", "email")
# Roles a person may pick at sign-up; admins are made by admins (or the operator's CLI).
REGISTRABLE_ROLES = (Role.PARTICIPANT, Role.ORGANIZER)


@dataclass(frozen=True)
class User:
    """An account: a person (services authenticate with a secret and never have one)."""

    id: uuid.UUID
    email: str
    password_hash: str = field(repr=False)
    display_name: str
    phone: str
    role: Role
    email_verified: bool
    # SMS go only to a number confirmed with a code sent to it.
    phone_verified: bool
    # The address the account is changing to, until the code sent there comes back.
    pending_email: str | None
    time_zone: str
    locale: str
    # As a host of events (rated by guests) and as a guest (rated by hosts).
    host_rating: RatingTotals
    guest_rating: RatingTotals
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Registration:
    email: str
    password: str = field(repr=False)
    display_name: str
    phone: str
    role: Role


@dataclass(frozen=True)
class AdminAccount:
    """An admin the operator creates or promotes from the shell. The password may be missing only
    until it turns out whether the account exists: neither creating nor promoting goes without."""

    email: str
    password: str | None = field(repr=False)
    display_name: str


class PromotionRefusal(enum.StrEnum):
    # Whoever registered the address never proved they own it: it may be an attacker's account.
    NOT_VERIFIED = "not_verified"
    # The account would keep a password the operator never chose (and sessions they never saw).
    PASSWORD_REQUIRED = "password_required"


@dataclass(frozen=True)
class ProfileChanges:
    """The new values of a profile update; None leaves a field as it is."""

    display_name: str | None = None
    phone: str | None = None
    time_zone: str | None = None
    locale: str | None = None
    email: str | None = None

    def updates(self) -> dict[str, str | bool]:
        """The account fields this changes.

        A new email address does not replace the current one: it waits as pending until the code
        sent to it comes back, so sign-in and mail keep using an address the person proved theirs.
        A new phone number is unverified until its own code comes back.
        """
        changed: dict[str, str | bool] = {
            name: value
            for name in UPDATABLE_PROFILE_FIELDS
            if name != "email" and (value := getattr(self, name)) is not None
        }
        if self.phone is not None:
            changed["phone_verified"] = False
        if self.email is not None:
            changed["pending_email"] = self.email
        return changed


@dataclass(frozen=True)
class UserFilter:
    """Which accounts ListUsers shows (admins only)."""

    role: Role | None
    email_prefix: str

    def as_filters(self) -> dict[str, str | None]:
        """What a page token of this list is bound to."""
        return {"role": self.role.value if self.role else None, "email_prefix": self.email_prefix}


# -- fields -----------------------------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """One spelling per address: trimmed and lower case (so `Ann@X.org ` and `ann@x.org` collide)."""
    return raw.strip().lower()


def _check_email(violations: Violations, field_path: str, email: str) -> None:
    if not email:
        violations.add(field_path, "is required")
    elif len(email) > EMAIL_MAX_LENGTH or not _EMAIL.match(email):
        violations.add(field_path, "must be an email address like name@example.com")


def _check_password(violations: Violations, field_path: str, password: str, email: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        violations.add(field_path, f"must be at least {PASSWORD_MIN_LENGTH} characters long")
        return
    if len(password) > PASSWORD_MAX_LENGTH:
        violations.add(field_path, f"must be at most {PASSWORD_MAX_LENGTH} characters long")
        return
    folded = password.strip().casefold()
    local_part = email.partition("@")[0]
    if email and folded in (email.casefold(), local_part.casefold()):
        violations.add(field_path, "must not be your email address")
    elif folded in COMMON_PASSWORDS or len(set(folded)) < 4:
        violations.add(field_path, "is too common or too easy to guess; choose another one")


def _check_display_name(violations: Violations, field_path: str, name: str) -> None:
    if not name.strip():
        violations.add(field_path, "is required")
    elif len(name) > DISPLAY_NAME_MAX_LENGTH:
        violations.add(field_path, f"must be at most {DISPLAY_NAME_MAX_LENGTH} characters long")
    elif any(ord(char) < 32 for char in name):
        violations.add(field_path, "must not contain control characters")


def _check_phone(violations: Violations, field_path: str, phone: str) -> None:
    if phone and not _PHONE.match(phone):
        violations.add(field_path, "must be an E.164 number like +491701234567 (or empty)")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_time_zone(violations: Violations, field_path: str, name: str) -> None:
    if name not in _time_zones():
        violations.add(field_path, "must be an IANA time zone like Europe/Berlin")


def _check_locale(violations: Violations, field_path: str, tag: str) -> None:
    if not _LOCALE.match(tag):
        violations.add(field_path, "must be a BCP 47 language tag like en or de-DE")


_PROFILE_CHECKS: dict[str, Callable[[Violations, str, str], None]] = {
    "display_name": _check_display_name,
    "phone": _check_phone,
    "time_zone": _check_time_zone,
    "locale": _check_locale,
    "email": _check_email,
}


# -- requests ---------------------------------------------------------------------------------------


def validate_email(raw: str, field_path: str = "email") -> str:
    email = normalize_email(raw)
    violations = Violations()
    _check_email(violations, field_path, email)
    violations.raise_if_any()
    return email


def validate_registration(
    *, email: str, password: str, display_name: str, phone: str, role: Role | None
) -> Registration:
    """A sign-up, normalized. `role` is None when the request names no role we know."""
    email, display_name, phone = normalize_email(email), display_name.strip(), phone.strip()
    violations = Violations()
    _check_email(violations, "email", email)
    _check_password(violations, "password", password, email)
    _check_display_name(violations, "display_name", display_name)
    _check_phone(violations, "phone", phone)
    if role not in REGISTRABLE_ROLES:
        violations.add("role", "must be ROLE_PARTICIPANT or ROLE_ORGANIZER")
    violations.raise_if_any()
    assert role is not None
    return Registration(email=email, password=password, display_name=display_name, phone=phone, role=role)


def validate_admin_account(*, email: str, password: str | None, display_name: str) -> AdminAccount:
    """An admin account as the operator asks for it; the password is checked only when given."""
    account = AdminAccount(email=normalize_email(email), password=password, display_name=display_name.strip())
    violations = Violations()
    _check_email(violations, "email", account.email)
    if password is not None:
        _check_password(violations, "password", password, account.email)
    _check_display_name(violations, "display_name", display_name)
    violations.raise_if_any()
    return account


def validate_profile_update(paths: Sequence[str], values: Mapping[str, str]) -> ProfileChanges:
    """The changes an update mask asks for, with the request's values for its paths.

    The mask is checked first and alone: values are only judged for fields that may change.
    """
    violations = Violations()
    updatable = ", ".join(UPDATABLE_PROFILE_FIELDS)
    for path in paths:
        if path not in UPDATABLE_PROFILE_FIELDS:
            violations.add("update_mask", f"{path!r} cannot be changed here; updatable: {updatable}")
    if not paths:
        violations.add("update_mask", "names no field to update")
    violations.raise_if_any()
    changes = {path: values[path] for path in paths}
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    for name in ("display_name", "phone", "time_zone", "locale"):
        if name in changes:
            changes[name] = changes[name].strip()
    for name, value in changes.items():
        _PROFILE_CHECKS[name](violations, "user." + name, value)
    violations.raise_if_any()
    return ProfileChanges(**changes)


def without_unchanged(changes: ProfileChanges, current: User) -> ProfileChanges:
    """The email and phone the account already has are no change: they need no new code, and a
    whole profile sent back unchanged (AIP-134, no mask) keeps a verified phone verified."""
    if changes.email == current.email:
        changes = dataclasses.replace(changes, email=None)
    if changes.phone == current.phone:
        changes = dataclasses.replace(changes, phone=None)
    return changes


def email_taken() -> ServiceError:
    return already_exists("EMAIL_TAKEN", "an account with this email already exists")


# -- roles ------------------------------------------------------------------------------------------


def validate_user_filter(role: Role | None, *, role_given: bool, email_prefix: str) -> UserFilter:
    """ListUsers' filter: `role_given` with `role` None means a role we do not know."""
    if role_given and (role is None or role is Role.SERVICE):
        raise bad_field("role", "must be ROLE_PARTICIPANT, ROLE_ORGANIZER or ROLE_ADMIN")
    return UserFilter(role=role if role_given else None, email_prefix=normalize_email(email_prefix))


def _role_not_assignable() -> ServiceError:
    return invalid_argument(
        [FieldViolation("role", "the service role belongs to services, never to a person")],
        reason="ROLE_NOT_ASSIGNABLE",
    )


def validate_assigned_role(role: Role | None) -> Role:
    """The role SetUserRole gives; None when the request names no role we know."""
    if role is None:
        raise bad_field("role", "is required: ROLE_PARTICIPANT, ROLE_ORGANIZER or ROLE_ADMIN")
    if role is Role.SERVICE:
        raise _role_not_assignable()
    return role


def admin_promotion_refusal(user: User, *, password_given: bool) -> PromotionRefusal | None:
    """Why the operator's create-admin must not promote this existing account (None: it may).

    Promotion is for an account whose owner proved the address, and it always replaces the
    password: an account someone registered first, waiting for the operator to promote it, must
    gain nothing from it.
    """
    if not user.email_verified:
        return PromotionRefusal.NOT_VERIFIED
    if not password_given:
        return PromotionRefusal.PASSWORD_REQUIRED
    return None


def approve_role_change(*, user_id: uuid.UUID, current: Role, new: Role, other_admins: int) -> bool:
    """Whether the role actually changes; refused when it must not.

    `other_admins` counts admins besides the target. There must always be one admin left who can
    manage roles, so the last admin cannot be demoted.
    """
    if new is Role.SERVICE:
        raise _role_not_assignable()
    if current is Role.ADMIN and new is not Role.ADMIN and other_admins == 0:
        raise failed_precondition(
            "LAST_ADMIN", "this is the last admin; make someone else admin first", resource_name=str(user_id)
        )
    return current is not new
