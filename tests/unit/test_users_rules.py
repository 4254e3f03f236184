"""Account rules without I/O: addresses, passwords, profile fields, codes, roles, secrets, hashing."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.runtime.auth import Role
from services.runtime.errors import ServiceError
from services.users import domain
from services.users.domain import CodeChannel, CodeVerdict, RatingTotals, User, VerificationCodeRecord
from services.users.passwords import PasswordHasher

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _user(**fields: object) -> User:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "email": "ann@example.org",
        "password_hash": "$argon2id$...",
        "display_name": "Ann",
        "phone": "+491701234567",
        "role": Role.PARTICIPANT,
        "email_verified": True,
        "phone_verified": False,
        "pending_email": None,
        "time_zone": "UTC",
        "locale": "en",
        "host_rating": RatingTotals(0, 0),
        "guest_rating": RatingTotals(0, 0),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return User(**(values | fields))  # type: ignore[arg-type]


def _pending_code(user: User, address: str, code: str, **fields: object) -> VerificationCodeRecord:
    record = VerificationCodeRecord(
        user_id=user.id,
        address=address,
        code_hash=domain.hash_verification_code(str(user.id), address, code),
        attempts=0,
        expires_at=NOW + timedelta(minutes=15),
    )
    return dataclasses.replace(record, **fields)  # type: ignore[arg-type]


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


def test_a_new_email_waits_as_pending_and_a_new_phone_must_be_verified_again() -> None:
    changes = domain.validate_profile_update(
        ["email", "phone", "locale"], {"email": " New@Example.org", "phone": "+4930123456", "locale": "de"}
    )
    # The account's address and its verification stay as they are until the code comes back.
    assert changes.updates() == {
        "pending_email": "new@example.org",
        "phone": "+4930123456",
        "phone_verified": False,
        "locale": "de",
    }
    assert domain.validate_profile_update(["locale"], {"locale": "de"}).updates() == {"locale": "de"}


def test_sending_the_current_email_or_phone_again_is_no_change() -> None:
    user = _user(phone_verified=True)
    resent = domain.validate_profile_update(
        ["email", "phone", "locale"], {"email": "ANN@example.org", "phone": user.phone, "locale": "de"}
    )
    assert domain.without_unchanged(resent, user).updates() == {"locale": "de"}


def _verdict(claim: domain.CodeClaim, code: str) -> CodeVerdict:
    return domain.judge_code(claim, code, now=NOW, max_attempts=5)


def test_a_code_is_judged_for_the_address_it_was_sent_to() -> None:
    user = _user(phone_verified=False, pending_email="new@example.org")
    phone_code = _pending_code(user, user.phone, "123456")
    assert _verdict(domain.phone_claim(user, phone_code), "123456") is CodeVerdict.VALID
    assert _verdict(domain.phone_claim(user, phone_code), "654321") is CodeVerdict.MISMATCH
    moved = dataclasses.replace(user, phone="+4930123456")
    assert _verdict(domain.phone_claim(moved, phone_code), "123456") is CodeVerdict.WRONG
    verified = dataclasses.replace(moved, phone_verified=True)
    assert _verdict(domain.phone_claim(verified, None), "123456") is CodeVerdict.ALREADY_VERIFIED
    expired = dataclasses.replace(phone_code, expires_at=NOW)
    assert _verdict(domain.phone_claim(user, expired), "123456") is CodeVerdict.EXPIRED
    locked = dataclasses.replace(phone_code, attempts=5)
    assert _verdict(domain.phone_claim(user, locked), "123456") is CodeVerdict.LOCKED
    # A code for the pending address confirms that address, never the current one.
    change_code = _pending_code(user, "new@example.org", "111111")
    assert _verdict(domain.email_claim(user, "new@example.org", change_code), "111111") is CodeVerdict.VALID
    assert (
        _verdict(domain.email_claim(user, user.email, change_code), "111111") is CodeVerdict.ALREADY_VERIFIED
    )


def test_a_code_for_an_address_several_accounts_claim_confirms_only_its_own() -> None:
    owner = _user(email="x@example.org", email_verified=False)
    mover = _user(email="m@example.org", pending_email="x@example.org")
    claims = [
        domain.email_claim(owner, "x@example.org", _pending_code(owner, "x@example.org", "111111")),
        domain.email_claim(mover, "x@example.org", _pending_code(mover, "x@example.org", "222222")),
    ]
    judged = domain.judge_claims(claims, "222222", now=NOW, max_attempts=5)
    assert (judged.verdict, judged.confirmed) == (CodeVerdict.VALID, claims[1])
    # A wrong code counts against every live code it could have been for; the answer is the owner's.
    judged = domain.judge_claims(claims, "333333", now=NOW, max_attempts=5)
    assert (judged.verdict, judged.confirmed, judged.mismatched) == (
        CodeVerdict.MISMATCH,
        None,
        tuple(claims),
    )
    assert domain.judge_claims([], "333333", now=NOW, max_attempts=5).verdict is CodeVerdict.WRONG


def test_code_refusals_name_what_was_being_verified() -> None:
    assert "phone number" in domain.code_refusal(CodeVerdict.ALREADY_VERIFIED, CodeChannel.PHONE).message
    assert "email address" in domain.code_refusal(CodeVerdict.ALREADY_VERIFIED, CodeChannel.EMAIL).message
    refusal = domain.code_refusal(CodeVerdict.WRONG, CodeChannel.PHONE)
    assert (refusal.reason, [item.field for item in refusal.violations]) == (
        "VERIFICATION_CODE_INVALID",
        ["code"],
    )


@pytest.mark.parametrize(
    ("user", "password_given", "refusal"),
    [
        (_user(email_verified=False), True, domain.PromotionRefusal.NOT_VERIFIED),
        (_user(email_verified=False), False, domain.PromotionRefusal.NOT_VERIFIED),
        (_user(), False, domain.PromotionRefusal.PASSWORD_REQUIRED),
        (_user(role=Role.ADMIN), False, domain.PromotionRefusal.PASSWORD_REQUIRED),
        (_user(), True, None),
    ],
)
def test_only_a_verified_account_is_promoted_and_only_with_a_new_password(
    user: User, password_given: bool, refusal: domain.PromotionRefusal | None
) -> None:
    assert domain.admin_promotion_refusal(user, password_given=password_given) is refusal


async def test_a_login_completes_while_sign_up_hashing_is_saturated() -> None:
    hasher = PasswordHasher(memory_kib=8192, time_cost=1, concurrency=2)
    stored = await hasher.hash("correct horse battery staple")
    # A flood of sign-ups queues for hashing...
    sign_ups = [asyncio.create_task(hasher.hash(f"new password number {index}")) for index in range(40)]
    try:
        await asyncio.sleep(0)
        # ...and a login still gets a slot of its own instead of waiting behind all of them.
        assert await hasher.verify("correct horse battery staple", stored)
        assert not all(task.done() for task in sign_ups)
    finally:
        await asyncio.gather(*sign_ups)


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
