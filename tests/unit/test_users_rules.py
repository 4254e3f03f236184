"""Account rules without I/O: addresses, passwords, profile fields, codes, roles, secrets, client IPs."""

from __future__ import annotations

import uuid

import pytest

from services.runtime.auth import Role
from services.runtime.errors import ServiceError
from services.users import domain
from services.users.passwords import PasswordHasher
from services.users.throttles import client_ip


def _password_problems(password: str, email: str) -> list[str]:
    """What the domain says about `password` as the password of `email` (nothing when it is fine)."""
    try:
        domain.validate_admin_account(email=email, password=password, display_name="Ann")
    except ServiceError as error:
        return [item.description for item in error.violations if item.field == "password"]
    return []


def test_emails_are_normalised_to_one_spelling() -> None:
    assert domain.normalize_email("  Ann.Example@Example.ORG \n") == "ann.example@example.org"


@pytest.mark.parametrize("email", ["ann@example.org", "a.b+tag@sub.example.co.uk", "x@y.io"])
def test_good_emails(email: str) -> None:
    assert domain.validate_email(email) == email


@pytest.mark.parametrize(
    "email", ["", "ann", "ann@", "@example.org", "ann@example", "a b@example.org", "a@@example.org", "a@b..c"]
)
def test_bad_emails(email: str) -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_email(email)
    assert [item.field for item in raised.value.violations] == ["email"]


@pytest.mark.parametrize(
    "password",
    ["short", "123456789", "1234567890", "Password123", "QWERTYUIOP", "aaaaaaaaaaaa", "abababababab"],
)
def test_weak_passwords(password: str) -> None:
    assert _password_problems(password, "ann@example.org")


def test_the_email_is_not_a_password() -> None:
    assert _password_problems("Ann.Example@example.org", "ann.example@example.org")
    assert _password_problems("ann.example", "ann.example@example.org")


def test_good_passwords() -> None:
    assert _password_problems("correct horse battery staple", "ann@example.org") == []
    assert _password_problems("Tr0ub4dor&3x", "ann@example.org") == []
    assert _password_problems("x" * 300, "ann@example.org")


def test_registration_collects_every_problem() -> None:
    with pytest.raises(ServiceError) as raised:
        domain.validate_registration(
            email="nope", password="x", display_name=" ", phone="12", role=Role.PARTICIPANT
        )
    assert sorted(item.field for item in raised.value.violations) == [
        "display_name",
        "email",
        "password",
        "phone",
    ]


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("phone", "+491701234567", True),
        ("phone", "", True),
        ("phone", "01701234567", False),
        ("phone", "+49 170", False),
        ("time_zone", "Europe/Berlin", True),
        ("time_zone", "America/Argentina/Buenos_Aires", True),
        ("time_zone", "Mars/Olympus", False),
        ("time_zone", "", False),
        ("locale", "en", True),
        ("locale", "de-DE", True),
        ("locale", "zh-Hant-TW", True),
        ("locale", "english!", False),
        ("display_name", "Ann", True),
        ("display_name", "a\x00b", False),
        ("display_name", "x" * 101, False),
        ("email", "ann@example.org", True),
    ],
)
def test_profile_fields(field: str, value: str, ok: bool) -> None:
    violations = []
    try:
        domain.validate_profile_update([field], {field: value})
    except ServiceError as error:
        violations = list(error.violations)
    assert (not violations) is ok
    if not ok:
        assert violations[0].field == f"user.{field}"


def test_codes_are_six_digits_and_bound_to_account_and_address() -> None:
    code = domain.new_verification_code()
    assert domain.is_code_shaped(code)
    assert not domain.is_code_shaped("12345")
    assert not domain.is_code_shaped("12345a")
    stored = domain.hash_verification_code("user-1", "a@example.org", code)
    assert code.encode() not in stored
    assert domain.code_matches(stored, "user-1", "a@example.org", code)
    assert not domain.code_matches(stored, "user-2", "a@example.org", code)
    assert not domain.code_matches(stored, "user-1", "b@example.org", code)


def test_refresh_tokens_are_random_and_stored_hashed() -> None:
    first, second = domain.new_refresh_token(), domain.new_refresh_token()
    assert first != second
    assert len(first) >= 40
    assert domain.hash_refresh_token(first) != domain.hash_refresh_token(second)
    assert domain.hash_refresh_token(first) == domain.hash_refresh_token(first)


def test_role_changes() -> None:
    user_id = uuid.uuid4()
    # Allowed: True when the role actually changes.
    assert domain.approve_role_change(
        user_id=user_id, current=Role.PARTICIPANT, new=Role.ORGANIZER, other_admins=0
    )
    assert domain.approve_role_change(
        user_id=user_id, current=Role.ADMIN, new=Role.PARTICIPANT, other_admins=1
    )
    assert not domain.approve_role_change(user_id=user_id, current=Role.ADMIN, new=Role.ADMIN, other_admins=0)
    with pytest.raises(ServiceError) as last:
        domain.approve_role_change(user_id=user_id, current=Role.ADMIN, new=Role.ORGANIZER, other_admins=0)
    assert last.value.reason == "LAST_ADMIN"
    with pytest.raises(ServiceError) as service:
        domain.approve_role_change(
            user_id=user_id, current=Role.PARTICIPANT, new=Role.SERVICE, other_admins=3
        )
    assert service.value.reason == "ROLE_NOT_ASSIGNABLE"


def test_an_empty_secret_never_matches() -> None:
    assert domain.secret_matches("s3cret", "s3cret")
    assert not domain.secret_matches("s3cret", "s3cre")
    assert not domain.secret_matches("", "")
    assert not domain.secret_matches("", "anything")
    assert not domain.secret_matches("s3cret", "")


def test_service_names() -> None:
    assert domain.is_service_name("notifications")
    assert domain.is_service_name("events-2")
    assert not domain.is_service_name("")
    assert not domain.is_service_name("Events")
    assert not domain.is_service_name("a/b")


@pytest.mark.parametrize(
    ("metadata", "peer", "expected"),
    [
        (
            {"x-envoy-external-address": "203.0.113.7", "x-forwarded-for": "10.0.0.1"},
            "ipv4:127.0.0.1:1",
            "203.0.113.7",
        ),
        ({"x-forwarded-for": "198.51.100.1, 203.0.113.9"}, "ipv4:127.0.0.1:1", "203.0.113.9"),
        ({"x-forwarded-for": "garbage"}, "ipv4:192.0.2.5:4242", "192.0.2.5"),
        ({}, "ipv6:[::1]:4242", "::1"),
        ({}, "unix:/tmp/socket", "unknown"),
    ],
)
def test_client_ip(metadata: dict[str, str], peer: str, expected: str) -> None:
    assert client_ip(metadata, peer) == expected


async def test_passwords_hash_verify_and_know_when_to_rehash() -> None:
    hasher = PasswordHasher(memory_kib=8192, time_cost=1)
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify("correct horse battery staple", stored)
    assert not await hasher.verify("wrong", stored)
    # No account: checked against the decoy, never a match.
    assert not await hasher.verify("correct horse battery staple", None)
    assert not await hasher.verify("anything", "not a hash")
    assert not hasher.needs_rehash(stored)
    assert PasswordHasher(memory_kib=19_456, time_cost=2).needs_rehash(stored)
