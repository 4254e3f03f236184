"""Account rules without I/O: addresses, passwords, profile fields, codes, roles, secrets, client IPs."""

from __future__ import annotations

import pytest

from services.runtime.auth import Role
from services.runtime.errors import Violations
from services.users import rules
from services.users.passwords import PasswordHasher


def test_emails_are_normalised_to_one_spelling() -> None:
    assert rules.normalize_email("  Ann.Example@Example.ORG \n") == "ann.example@example.org"


@pytest.mark.parametrize("email", ["ann@example.org", "a.b+tag@sub.example.co.uk", "x@y.io"])
def test_good_emails(email: str) -> None:
    assert rules.email_problem(email) is None


@pytest.mark.parametrize(
    "email", ["", "ann", "ann@", "@example.org", "ann@example", "a b@example.org", "a@@example.org", "a@b..c"]
)
def test_bad_emails(email: str) -> None:
    assert rules.email_problem(email) is not None


@pytest.mark.parametrize(
    "password",
    ["short", "123456789", "1234567890", "Password123", "QWERTYUIOP", "aaaaaaaaaaaa", "abababababab"],
)
def test_weak_passwords(password: str) -> None:
    assert rules.password_problem(password, "ann@example.org") is not None


def test_the_email_is_not_a_password() -> None:
    assert rules.password_problem("Ann.Example@example.org", "ann.example@example.org") is not None
    assert rules.password_problem("ann.example", "ann.example@example.org") is not None


def test_good_passwords() -> None:
    assert rules.password_problem("correct horse battery staple", "ann@example.org") is None
    assert rules.password_problem("Tr0ub4dor&3x", "ann@example.org") is None
    assert rules.password_problem("x" * 300, "ann@example.org") is not None


def test_registration_collects_every_problem() -> None:
    violations = Violations()
    rules.check_registration(email="nope", password="x", display_name=" ", phone="12", violations=violations)
    assert sorted(item.field for item in violations.items) == ["display_name", "email", "password", "phone"]


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
    violations = Violations()
    rules.check_profile_changes({field: value}, violations, prefix="user.")
    assert (not violations) is ok
    if not ok:
        assert violations.items[0].field == f"user.{field}"


def test_codes_are_six_digits_and_bound_to_account_and_address() -> None:
    code = rules.new_verification_code()
    assert rules.is_code_shaped(code)
    assert not rules.is_code_shaped("12345")
    assert not rules.is_code_shaped("12345a")
    stored = rules.hash_verification_code("user-1", "a@example.org", code)
    assert code.encode() not in stored
    assert rules.code_matches(stored, "user-1", "a@example.org", code)
    assert not rules.code_matches(stored, "user-2", "a@example.org", code)
    assert not rules.code_matches(stored, "user-1", "b@example.org", code)


def test_refresh_tokens_are_random_and_stored_hashed() -> None:
    first, second = rules.new_refresh_token(), rules.new_refresh_token()
    assert first != second
    assert len(first) >= 40
    assert rules.hash_refresh_token(first) != rules.hash_refresh_token(second)
    assert rules.hash_refresh_token(first) == rules.hash_refresh_token(first)


def test_role_changes() -> None:
    assert rules.role_change_problem(current=Role.PARTICIPANT, new=Role.ORGANIZER, other_admins=0) is None
    assert rules.role_change_problem(current=Role.ADMIN, new=Role.PARTICIPANT, other_admins=1) is None
    assert rules.role_change_problem(current=Role.ADMIN, new=Role.ADMIN, other_admins=0) is None
    last = rules.role_change_problem(current=Role.ADMIN, new=Role.ORGANIZER, other_admins=0)
    assert last is not None
    assert last[0] == "LAST_ADMIN"
    service = rules.role_change_problem(current=Role.PARTICIPANT, new=Role.SERVICE, other_admins=3)
    assert service is not None
    assert service[0] == "ROLE_NOT_ASSIGNABLE"


def test_an_empty_secret_never_matches() -> None:
    assert rules.secret_matches("s3cret", "s3cret")
    assert not rules.secret_matches("s3cret", "s3cre")
    assert not rules.secret_matches("", "")
    assert not rules.secret_matches("", "anything")
    assert not rules.secret_matches("s3cret", "")


def test_service_names() -> None:
    assert rules.is_service_name("notifications")
    assert rules.is_service_name("events-2")
    assert not rules.is_service_name("")
    assert not rules.is_service_name("Events")
    assert not rules.is_service_name("a/b")


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
    assert rules.client_ip(metadata, peer) == expected


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
