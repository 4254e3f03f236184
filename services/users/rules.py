"""Domain rules of accounts: plain functions, no I/O.

What an acceptable email, password, display name, phone, time zone and locale are; how
verification codes and refresh tokens are made and compared; who may change whose role.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import zoneinfo
from collections.abc import Mapping

from services.runtime.auth import Role
from services.runtime.errors import Violations

EMAIL_MAX_LENGTH = 254
PASSWORD_MIN_LENGTH = 10
# Argon2 does not care, but an unbounded body is an easy way to burn CPU.
PASSWORD_MAX_LENGTH = 256
DISPLAY_NAME_MAX_LENGTH = 100
CODE_DIGITS = 6

# Deliberately strict and simple: one @, a dot in the domain, no spaces or control characters.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")

# Among the most used passwords of at least PASSWORD_MIN_LENGTH characters (public breach lists),
# compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "0123456789",
        "0987654321",
        "1111111111",
        "1234512345",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "a123456789",
        "abcd123456",
        "abc1234567",
        "aaaaaaaaaa",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "qwerty123456",
        "qwertyuiop1",
        "asdfghjkl1",
        "zaq12wsx",
        "zxcvbnm123",
        "password12",
        "password123",
        "password1234",
        "password!1",
        "passw0rd123",
        "p@ssw0rd123",
        "iloveyou12",
        "iloveyou123",
        "princess123",
        "football123",
        "baseball123",
        "sunshine123",
        "welcome123",
        "welcome1234",
        "letmein123",
        "trustno1234",
        "dragon1234",
        "monkey12345",
        "superman123",
        "starwars123",
        "michael123",
        "charlie123",
        "changeme123",
        "administrator",
        "admin12345",
        "administrator1",
        "computer123",
        "internet123",
        "qazwsxedcrfv",
        "1qazxsw23edc",
        "football1",
        "basketball",
        "basketball1",
        "chocolate1",
        "butterfly1",
        "liverpool1",
        "pokemon1234",
        "whatever123",
        "secret1234",
        "seatmesh123",
        "seatmesh1234",
    }
)

# Fields of User a person may change about themself (UpdateCurrentUser's update mask).
UPDATABLE_PROFILE_FIELDS = ("display_name", "phone", "time_zone", "locale", "email")


def normalize_email(raw: str) -> str:
    """One spelling per address: trimmed and lower case (so `Ann@X.org ` and `ann@x.org` collide)."""
    return raw.strip().lower()


def email_problem(email: str) -> str | None:
    if not email:
        return "is required"
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL.match(email):
        return "must be an email address like name@example.com"
    return None


def password_problem(password: str, email: str) -> str | None:
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters long"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"must be at most {PASSWORD_MAX_LENGTH} characters long"
    folded = password.strip().casefold()
    local_part = email.partition("@")[0]
    if email and folded in (email.casefold(), local_part.casefold()):
        return "must not be your email address"
    if folded in COMMON_PASSWORDS or len(set(folded)) < 4:
        return "is too common or too easy to guess; choose another one"
    return None


def display_name_problem(name: str) -> str | None:
    if not name.strip():
        return "is required"
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        return f"must be at most {DISPLAY_NAME_MAX_LENGTH} characters long"
    if any(ord(char) < 32 for char in name):
        return "must not contain control characters"
    return None


def phone_problem(phone: str) -> str | None:
    if phone and not _PHONE.match(phone):
        return "must be an E.164 number like +491701234567 (or empty)"
    return None


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_problem(name: str) -> str | None:
    if name not in _time_zones():
        return "must be an IANA time zone like Europe/Berlin"
    return None


def locale_problem(tag: str) -> str | None:
    if not _LOCALE.match(tag):
        return "must be a BCP 47 language tag like en or de-DE"
    return None


def check_registration(
    *, email: str, password: str, display_name: str, phone: str, violations: Violations
) -> None:
    """Adds every problem of a registration to `violations` (email already normalised)."""
    for field, problem in (
        ("email", email_problem(email)),
        ("password", password_problem(password, email)),
        ("display_name", display_name_problem(display_name)),
        ("phone", phone_problem(phone)),
    ):
        if problem:
            violations.add(field, problem)


def check_profile_changes(changes: Mapping[str, str], violations: Violations, *, prefix: str) -> None:
    """Validates the new values of a profile update; field paths get `prefix` (e.g. `user.`)."""
    checks = {
        "display_name": display_name_problem,
        "phone": phone_problem,
        "time_zone": time_zone_problem,
        "locale": locale_problem,
        "email": email_problem,
    }
    for field, value in changes.items():
        problem = checks[field](value)
        if problem:
            violations.add(prefix + field, problem)


def normalize_profile_changes(changes: Mapping[str, str]) -> dict[str, str]:
    normalized = dict(changes)
    if "email" in normalized:
        normalized["email"] = normalize_email(normalized["email"])
    for field in ("phone", "time_zone", "locale"):
        if field in normalized:
            normalized[field] = normalized[field].strip()
    return normalized


# -- verification codes ------------------------------------------------------------------------


def new_verification_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code_shaped(code: str) -> bool:
    return bool(_CODE.match(code))


def hash_verification_code(user_id: str, email: str, code: str) -> bytes:
    # Bound to the account and the address, so a code can verify nothing else.
    return hashlib.sha256(f"{user_id}\n{email}\n{code}".encode()).digest()


def code_matches(stored_hash: bytes, user_id: str, email: str, code: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_verification_code(user_id, email, code))


# -- refresh tokens ----------------------------------------------------------------------------


def new_refresh_token() -> str:
    # 256 bits of randomness: a fast hash is enough to store it, nothing to brute-force.
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# -- roles ------------------------------------------------------------------------------------


def role_change_problem(*, current: Role, new: Role, other_admins: int) -> tuple[str, str] | None:
    """Why a role change is refused, as (reason, message); None when it is fine.

    `other_admins` counts admins besides the target. There must always be one admin left who can
    manage roles, so the last admin cannot be demoted.
    """
    if new is Role.SERVICE:
        return "ROLE_NOT_ASSIGNABLE", "the service role belongs to services, never to a person"
    if current is Role.ADMIN and new is not Role.ADMIN and other_admins == 0:
        return "LAST_ADMIN", "this is the last admin; make someone else admin first"
    return None


# -- service credentials ----------------------------------------------------------------------

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


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


# -- client address ---------------------------------------------------------------------------


def client_ip(metadata: Mapping[str, str], peer: str) -> str:
    """The caller's address for rate limits.

    Envoy sets `x-envoy-external-address` for external clients and appends the address it saw to
    `x-forwarded-for` (its last hop); a direct gRPC caller is known by its peer address.
    """
    external = _parse_ip(metadata.get("x-envoy-external-address", ""))
    if external:
        return external
    forwarded = metadata.get("x-forwarded-for", "")
    if forwarded:
        last_hop = _parse_ip(forwarded.split(",")[-1])
        if last_hop:
            return last_hop
    return _peer_ip(peer) or "unknown"


def _parse_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def _peer_ip(peer: str) -> str:
    # grpc peers look like "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" or "unix:/path".
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return _parse_ip(rest.rpartition(":")[0])
    if kind == "ipv6":
        return _parse_ip(rest.rpartition(":")[0].strip("[]"))
    return ""
