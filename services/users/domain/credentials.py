"""Credentials: signing in, verification codes, refresh tokens and the mesh services' secret; how
each is made, stored (hashed) and judged, and why one is refused.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    bad_field,
    failed_precondition,
    invalid_argument,
    resource_exhausted,
    unauthenticated,
)
from services.users.domain.accounts import User, normalize_email

CODE_DIGITS = 6
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Tokens:
    """What a sign-in, a refresh or a service credential earns (no refresh token for services)."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(default="", repr=False)


class CodeChannel(enum.StrEnum):
    """What a code verifies; a user has at most one pending code per channel."""

    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True)
class VerificationCodeRecord:
    """A pending code of a user, as stored: hashed, bound to the address (email or phone number)
    it was sent to."""

    user_id: uuid.UUID
    address: str
    code_hash: bytes = field(repr=False)
    attempts: int
    expires_at: datetime


@dataclass(frozen=True)
class CodeClaim:
    """An account a code entered for `address` may be meant for: whether that address is confirmed
    already, and the account's pending code on the channel (None: there is none)."""

    user: User
    channel: CodeChannel
    address: str
    verified: bool
    pending: VerificationCodeRecord | None


@dataclass(frozen=True)
class CodeJudgement:
    """What a code is worth among the accounts that claim its address."""

    # Answered when nothing was confirmed: the first claim's verdict (MISMATCH: see after_mismatch).
    verdict: CodeVerdict
    # VALID: the claim whose address the code confirms.
    confirmed: CodeClaim | None
    # The live codes a wrong code counts against, the first claim's first when it is among them.
    mismatched: tuple[CodeClaim, ...]


@dataclass(frozen=True)
class RefreshTokenRecord:
    """One refresh token, as stored (its hash only). Every token rotated from one login shares the
    login's family."""

    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


class CodeVerdict(enum.StrEnum):
    VALID = "valid"
    # Not a code we sent to this address (or no such account): says nothing more.
    WRONG = "wrong"
    # A wrong guess at a live code: counts against its attempts.
    MISMATCH = "mismatch"
    EXPIRED = "expired"
    LOCKED = "locked"
    ALREADY_VERIFIED = "already_verified"


class RefreshVerdict(enum.StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    # A rotated token came back: the whole family must be revoked.
    REUSED = "reused"
    EXPIRED = "expired"


# -- signing in -------------------------------------------------------------------------------------


def validate_sign_in(email: str, password: str) -> str:
    """The normalized email of a sign-in; wrong values are for the password check to answer."""
    normalized = normalize_email(email)
    violations = Violations()
    violations.check(bool(normalized), "email", "is required")
    violations.check(bool(password), "password", "is required")
    violations.raise_if_any()
    return normalized


def invalid_credentials() -> ServiceError:
    # The same answer for an unknown email and a wrong password: it tells nothing.
    return unauthenticated("the email or the password is wrong", reason="INVALID_CREDENTIALS")


def too_many_login_attempts(retry_after: float) -> ServiceError:
    return resource_exhausted(
        "TOO_MANY_LOGIN_ATTEMPTS",
        "too many failed sign-in attempts; try again later",
        retry_after=retry_after,
    )


# -- verification codes -----------------------------------------------------------------------------


def new_verification_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code_shaped(code: str) -> bool:
    return bool(_CODE.match(code))


def hash_verification_code(user_id: str, email: str, code: str) -> bytes:
    # Bound to the account and the address, so a code can verify nothing else.
    return hashlib.sha256(f"{user_id}\n{email}\n{code}".encode()).digest()


def code_matches(stored_hash: bytes, user_id: str, email: str, code: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_verification_code(user_id, email, code))


_WHAT = {CodeChannel.EMAIL: "email address", CodeChannel.PHONE: "phone number"}
_SENT_BY = {CodeChannel.EMAIL: "email", CodeChannel.PHONE: "SMS"}


def _check_code(violations: Violations, code: str, channel: CodeChannel) -> None:
    violations.check(is_code_shaped(code), "code", f"must be the 6-digit code from the {_SENT_BY[channel]}")


def validate_code_entry(email: str, code: str) -> tuple[str, str]:
    """The normalized email and code of a VerifyEmail request."""
    normalized, code = normalize_email(email), code.strip()
    violations = Violations()
    violations.check(bool(normalized), "email", "is required")
    _check_code(violations, code, CodeChannel.EMAIL)
    violations.raise_if_any()
    return normalized, code


def validate_phone_code(code: str) -> str:
    """The code of a VerifyPhone request."""
    code = code.strip()
    violations = Violations()
    _check_code(violations, code, CodeChannel.PHONE)
    violations.raise_if_any()
    return code


def email_claim(user: User, email: str, pending: VerificationCodeRecord | None) -> CodeClaim:
    """`user` has `email` as its address, or as the one it is changing to (never confirmed yet)."""
    verified = user.email_verified if email == user.email else False
    return CodeClaim(user=user, channel=CodeChannel.EMAIL, address=email, verified=verified, pending=pending)


def phone_claim(user: User, pending: VerificationCodeRecord | None) -> CodeClaim:
    return CodeClaim(
        user=user,
        channel=CodeChannel.PHONE,
        address=user.phone,
        verified=user.phone_verified,
        pending=pending,
    )


def judge_code(claim: CodeClaim, code: str, *, now: datetime, max_attempts: int) -> CodeVerdict:
    """What a code entered for the claim's address is worth. A code sent to another address (the
    account changed it since) verifies nothing."""
    pending = claim.pending
    if pending is None or pending.address != claim.address:
        return CodeVerdict.ALREADY_VERIFIED if claim.verified else CodeVerdict.WRONG
    if pending.expires_at <= now:
        return CodeVerdict.EXPIRED
    if pending.attempts >= max_attempts:
        return CodeVerdict.LOCKED
    if not code_matches(pending.code_hash, str(claim.user.id), claim.address, code):
        return CodeVerdict.MISMATCH
    return CodeVerdict.VALID


def judge_claims(
    claims: Sequence[CodeClaim], code: str, *, now: datetime, max_attempts: int
) -> CodeJudgement:
    """A code entered for an address several accounts may claim: the one that has it, and any
    that are changing to it. Codes are bound to their account, so at most one matches. A wrong code
    counts against every live code it could have been a guess at, so no number of claims buys an
    attacker more guesses; the answer is about the first claim (the address's owner, if any)."""
    verdicts = [(claim, judge_code(claim, code, now=now, max_attempts=max_attempts)) for claim in claims]
    for claim, verdict in verdicts:
        if verdict is CodeVerdict.VALID:
            return CodeJudgement(verdict=verdict, confirmed=claim, mismatched=())
    return CodeJudgement(
        verdict=verdicts[0][1] if verdicts else CodeVerdict.WRONG,
        confirmed=None,
        mismatched=tuple(claim for claim, verdict in verdicts if verdict is CodeVerdict.MISMATCH),
    )


def after_mismatch(attempts: int, max_attempts: int) -> CodeVerdict:
    """A wrong guess, once counted: the one that uses up the last attempt locks the code."""
    return CodeVerdict.LOCKED if attempts >= max_attempts else CodeVerdict.WRONG


def code_refusal(verdict: CodeVerdict, channel: CodeChannel) -> ServiceError:
    """Why a code that is not VALID is refused."""
    what = _WHAT[channel]
    if verdict is CodeVerdict.ALREADY_VERIFIED:
        return failed_precondition("ALREADY_VERIFIED", f"this {what} is already verified")
    if verdict is CodeVerdict.EXPIRED:
        return failed_precondition("VERIFICATION_CODE_EXPIRED", "this code has expired; ask for a new one")
    if verdict is CodeVerdict.LOCKED:
        return failed_precondition("VERIFICATION_CODE_LOCKED", "too many wrong codes; ask for a new one")
    return invalid_argument(
        [FieldViolation("code", f"is not the code we sent to this {what}")],
        message=f"this code is not valid for this {what}",
        reason="VERIFICATION_CODE_INVALID",
    )


def check_phone_code_wanted(user: User) -> None:
    """Refuses an SMS code nobody needs, or one the account has not earned: an SMS costs money, so
    only an account that proved its email address gets codes sent to a number."""
    if not user.phone:
        raise failed_precondition("PHONE_REQUIRED", "add a phone number to your account first")
    if user.phone_verified:
        raise failed_precondition("ALREADY_VERIFIED", "this phone number is already verified")
    if not user.email_verified:
        raise failed_precondition(
            "EMAIL_NOT_VERIFIED", "verify your email address first (POST /v1/users:verifyEmail)"
        )


def too_many_verification_codes(retry_after: float) -> ServiceError:
    return resource_exhausted(
        "TOO_MANY_VERIFICATION_CODES",
        "a code was sent recently; wait before asking for another one",
        retry_after=retry_after,
    )


def too_many_signups(retry_after: float) -> ServiceError:
    return resource_exhausted(
        "TOO_MANY_SIGNUPS", "too many sign-ups right now; try again later", retry_after=retry_after
    )


# -- refresh tokens ---------------------------------------------------------------------------------


def new_refresh_token() -> str:
    # 256 bits of randomness: a fast hash is enough to store it, nothing to brute-force.
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def validate_refresh_token(presented: str) -> str:
    token = presented.strip()
    if not token:
        raise bad_field("refresh_token", "is required")
    return token


def judge_refresh_token(token: RefreshTokenRecord | None, *, now: datetime) -> RefreshVerdict:
    if token is None:
        return RefreshVerdict.UNKNOWN
    if token.revoked_at is not None:
        return RefreshVerdict.REVOKED
    if token.rotated_at is not None:
        # It leaked, or a client is confused. Either way nothing issued from this login can be
        # trusted any more, the newest token included.
        return RefreshVerdict.REUSED
    if token.expires_at <= now:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.VALID


def refresh_refusal(verdict: RefreshVerdict) -> ServiceError:
    """Why a refresh token that is not VALID is refused."""
    if verdict is RefreshVerdict.REVOKED:
        return unauthenticated("this refresh token was revoked", reason="REFRESH_TOKEN_REVOKED")
    if verdict is RefreshVerdict.REUSED:
        return unauthenticated(
            "this refresh token was already used; sign in again", reason="REFRESH_TOKEN_REUSED"
        )
    if verdict is RefreshVerdict.EXPIRED:
        return unauthenticated("this refresh token has expired", reason="REFRESH_TOKEN_EXPIRED")
    return unauthenticated("unknown refresh token", reason="INVALID_REFRESH_TOKEN")


# -- service credentials ----------------------------------------------------------------------------


def is_service_name(name: str) -> bool:
    return bool(_SERVICE_NAME.match(name))


def secret_matches(configured: str, presented: str) -> bool:
    """Constant-time comparison; an empty configured secret authenticates nobody."""
    if not configured or not presented:
        return False
    # Comparing digests keeps the time independent of both lengths.
    return hmac.compare_digest(
        hashlib.sha256(configured.encode()).digest(), hashlib.sha256(presented.encode()).digest()
    )


def invalid_service_credentials() -> ServiceError:
    return unauthenticated("invalid service credentials", reason="INVALID_SERVICE_CREDENTIALS")
