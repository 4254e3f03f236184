"""The users service on real PostgreSQL and Redis: accounts, codes, tokens, roles, ratings.

The service verifies tokens with its own key ring here (as in production), so every token in these
tests comes from Login, RefreshToken or IssueServiceToken. Verification codes are read where
notifications would get them: the VerificationCodeIssued and PhoneCodeIssued events in the
service's outbox, opened with the service secret the way notifications opens them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import jwt
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf import message as protobuf_message
from google.rpc import error_details_pb2
from sqlalchemy import func, select, update

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.users.v1 import bus_pb2, users_pb2, users_pb2_grpc
from services.cli import CommandError, create_admin
from services.runtime.bus.envelopes import envelope_for, stream_name
from services.runtime.database import Database
from services.runtime.errors import error_reason, status_details
from services.runtime.redis import create_redis
from services.runtime.sealing import SealBroken, Sealer
from services.users import tables
from services.users.app import build
from services.users.settings import UsersSettings
from services.users.store import UserStore
from tests.support.engines import Engines
from tests.support.services import ServiceUnderTest, serve_service
from tests.support.tokens import TokenFactory, bearer

MessageT = TypeVar("MessageT", bound=protobuf_message.Message)

SECRET = "integration-service-secret-of-32-bytes-or-more"
EDGE_SECRET = "integration-edge-secret"
PASSWORD = "correct horse battery staple"
LOGIN_WINDOW = 3
# What notifications opens codes with: the shared secret and the purpose bus.proto names.
EMAIL_CODES = Sealer(SECRET, "seatmesh.users.v1.VerificationCodeIssued.sealed_code")
PHONE_CODES = Sealer(SECRET, "seatmesh.users.v1.PhoneCodeIssued.sealed_code")


def _settings(tmp: Path) -> dict[str, object]:
    return {
        "key_dir": tmp / "keys",
        "service_secret": SECRET,
        "edge_secret": EDGE_SECRET,
        "login_window_seconds": LOGIN_WINDOW,
        "verification_resend_interval_seconds": 2,
        # Every test signs up from 127.0.0.1; the throttle's own tests set their limits.
        "signup_max_per_ip": 100_000,
        "signup_max_total": 100_000,
        # Small pools: the test server is shared with every other suite running at the same time.
        "db_pool_size": 4,
    }


def _through_edge(address: str) -> tuple[tuple[str, str], ...]:
    """What Envoy adds to a call from `address`: the address and its proof of being the edge."""
    return (("x-seatmesh-edge", EDGE_SECRET), ("x-seatmesh-client-address", address))


@pytest.fixture(scope="module")
async def users(
    engines: Engines, tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceUnderTest]:
    async with serve_service(
        "users", tokens, engines, overrides={"verifier": None}, **_settings(tmp_path_factory.mktemp("users"))
    ) as running:
        yield running


@asynccontextmanager
async def _own_users(
    engines: Engines, tokens: TokenFactory, tmp_path: Path, **settings: object
) -> AsyncIterator[tuple[ServiceUnderTest, users_pb2_grpc.UserServiceStub]]:
    """A users service with a database of its own (for tests about global state, or odd settings)."""
    configured = {**_settings(tmp_path), **settings}
    async with (
        serve_service("users", tokens, engines, overrides={"verifier": None}, **configured) as users,
        grpc.aio.insecure_channel(users.address) as channel,
    ):
        yield users, users_pb2_grpc.UserServiceStub(channel)


@pytest.fixture
async def stub(users: ServiceUnderTest) -> AsyncIterator[users_pb2_grpc.UserServiceStub]:
    async with grpc.aio.insecure_channel(users.address) as channel:
        yield users_pb2_grpc.UserServiceStub(channel)


@pytest.fixture(scope="module")
async def database(users: ServiceUnderTest) -> AsyncIterator[Database]:
    database = Database(users.settings.database_url, source="users-test", pool_size=2)
    await database.open()
    yield database
    await database.close()


def _email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


async def _published(
    database, message_class: type[MessageT], *, after: int = 0
) -> list[tuple[int, MessageT]]:  # type: ignore[no-untyped-def]
    """The outbox's events of one type (with their outbox ids), newest first."""
    rows = await database.rows(
        select(tables.outbox.c.id, tables.outbox.c.envelope)
        .where(tables.outbox.c.type == message_class.DESCRIPTOR.full_name, tables.outbox.c.id > after)
        .order_by(tables.outbox.c.id.desc())
    )
    found = []
    for row in rows:
        message = message_class()
        envelope_pb2.Envelope.FromString(row.envelope).payload.Unpack(message)
        found.append((row.id, message))
    return found


async def _code_for(database, email: str, *, after: int = 0) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """The newest code issued to `email` (and its outbox id), as notifications would receive it."""
    for row_id, issued in await _published(database, bus_pb2.VerificationCodeIssued, after=after):
        if issued.email == email:
            assert issued.code == "", "a verification code travels sealed, never in clear"
            return EMAIL_CODES.open(issued.sealed_code, issued.user_id), row_id
    raise AssertionError(f"no code was issued to {email}")


async def _phone_code_for(
    database, user_id: str, *, after: int = 0
) -> tuple[str, bus_pb2.PhoneCodeIssued, int]:  # type: ignore[no-untyped-def]
    """The newest SMS code issued to `user_id`, the event that carries it and its outbox id."""
    for row_id, issued in await _published(database, bus_pb2.PhoneCodeIssued, after=after):
        if issued.user_id == user_id:
            return PHONE_CODES.open(issued.sealed_code, issued.user_id), issued, row_id
    raise AssertionError(f"no phone code was issued to {user_id}")


@dataclass
class Account:
    id: str
    email: str
    tokens: users_pb2.AuthTokens

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.tokens.access_token)


async def _register(
    stub: users_pb2_grpc.UserServiceStub,
    email: str,
    role: int = users_pb2.ROLE_PARTICIPANT,
    *,
    metadata: tuple[tuple[str, str], ...] = (),
) -> users_pb2.User:
    return await stub.RegisterUser(
        users_pb2.RegisterUserRequest(email=email, password=PASSWORD, display_name="Ann Example", role=role),
        metadata=metadata,
    )


async def _account(
    stub: users_pb2_grpc.UserServiceStub,
    database,  # type: ignore[no-untyped-def]
    *,
    role: int = users_pb2.ROLE_PARTICIPANT,
    verified: bool = True,
) -> Account:
    email = _email()
    user = await _register(stub, email, role)
    if verified:
        code, _ = await _code_for(database, email)
        await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=code))
    tokens = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    return Account(user.id, email, tokens)


async def _admin(stub: users_pb2_grpc.UserServiceStub, settings: UsersSettings) -> Account:
    email = _email("admin")
    result = await create_admin(settings, email=email, password=PASSWORD, display_name="Admin")
    tokens = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    return Account(result.user_id, email, tokens)


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_details(error)
    assert status is not None
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields.extend(violation.field for violation in bad_request.field_violations)
    return fields


def _retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    status = status_details(error)
    assert status is not None
    for detail in status.details:
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return retry.retry_delay.ToTimedelta().total_seconds()
    return None


async def _fails(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    return raised.value


# -- sign-up and verification -------------------------------------------------------------------


async def test_register_verify_login_and_read_myself(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    user = await stub.RegisterUser(
        users_pb2.RegisterUserRequest(
            email=f"  {email.upper()} ",
            password=PASSWORD,
            display_name=" Ann ",
            phone="+491701234567",
            role=users_pb2.ROLE_ORGANIZER,
        )
    )
    assert user.email == email
    assert user.display_name == "Ann"
    assert user.role == users_pb2.ROLE_ORGANIZER
    assert not user.email_verified

    # Unverified accounts can sign in; their token says so.
    first = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    assert first.token_type == "Bearer"
    assert first.expires_in == 900
    claims = _claims(first.access_token)
    assert claims["sub"] == user.id
    assert claims["role"] == "organizer"
    assert claims["email_verified"] is False

    code, _ = await _code_for(database, email)
    verified = await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email.upper(), code=code))
    assert verified.email_verified

    # The next token carries the verification, from a login or a refresh alike.
    refreshed = await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert _claims(refreshed.access_token)["email_verified"] is True
    me = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=bearer(refreshed.access_token))
    assert me.id == user.id
    assert me.email == email
    assert me.phone == "+491701234567"
    assert me.email_verified
    assert me.time_zone == "UTC"
    assert me.create_time.seconds > 0


async def test_registration_publishes_its_events(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    user = await _register(stub, email)
    code, _ = await _code_for(database, email)
    await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=code))
    types = [
        envelope_pb2.Envelope.FromString(row.envelope)
        for row in await database.rows(select(tables.outbox.c.envelope).order_by(tables.outbox.c.id))
    ]
    mine = []
    for envelope in types:
        for message_class in (bus_pb2.UserRegistered, bus_pb2.VerificationCodeIssued, bus_pb2.EmailVerified):
            message = message_class()
            if envelope.payload.Unpack(message) and message.user_id == user.id:
                mine.append(type(message).__name__)
    assert mine == ["UserRegistered", "VerificationCodeIssued", "EmailVerified"]
    # The code itself is stored only as a hash.
    stored = await database.rows(select(tables.verification_codes))
    assert all(code.encode() not in row.code_hash for row in stored)


async def test_codes_travel_sealed_to_their_own_account(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    user = await _register(stub, email)
    code, row_id = await _code_for(database, email)
    envelope = await database.scalar(select(tables.outbox.c.envelope).where(tables.outbox.c.id == row_id))
    assert code.encode() not in envelope  # the outbox row, and so the stream and dead letters
    issued = dict(await _published(database, bus_pb2.VerificationCodeIssued, after=row_id - 1))[row_id]
    assert issued.user_id == user.id
    # Sealed to this account: copied into another user's message, it does not open.
    with pytest.raises(SealBroken):
        EMAIL_CODES.open(issued.sealed_code, str(uuid.uuid4()))
    with pytest.raises(SealBroken):
        PHONE_CODES.open(issued.sealed_code, issued.user_id)


async def test_users_refuses_to_start_without_a_service_secret(engines: Engines, tmp_path: Path) -> None:
    settings = UsersSettings(
        database_url="postgresql://nobody@127.0.0.1:1/never-opened",
        redis_url=engines.redis_url,
        key_dir=tmp_path / "keys",
        service_secret="",
    )
    with pytest.raises(SystemExit, match="SEATMESH_SERVICE_SECRET"):
        await build(settings)


@pytest.mark.parametrize(
    ("password", "why"),
    [("short1!", "at least 10"), ("Password123", "too common"), ("{email}", "email address")],
)
async def test_weak_passwords_are_refused_naming_the_field(
    stub: users_pb2_grpc.UserServiceStub, password: str, why: str
) -> None:
    email = _email()
    error = await _fails(
        stub.RegisterUser(
            users_pb2.RegisterUserRequest(
                email=email, password=password.format(email=email), display_name="A"
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert _violations(error) == ["password"]
    assert why in (error.details() or "")


async def test_registration_reports_every_bad_field(stub: users_pb2_grpc.UserServiceStub) -> None:
    error = await _fails(
        stub.RegisterUser(
            users_pb2.RegisterUserRequest(
                email="not-an-email", password="x", display_name=" ", phone="0170", role=users_pb2.ROLE_ADMIN
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert sorted(_violations(error)) == ["display_name", "email", "password", "phone", "role"]


async def test_duplicate_email_in_any_case_is_already_exists(stub: users_pb2_grpc.UserServiceStub) -> None:
    email = _email()
    await _register(stub, email)
    error = await _fails(_register(stub, email.upper()), grpc.StatusCode.ALREADY_EXISTS)
    assert error_reason(error) == "EMAIL_TAKEN"


async def test_concurrent_registrations_of_one_email_make_one_account(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    spellings = [email, email.upper(), email.title(), f" {email}"] * 2
    results = await asyncio.gather(
        *(_register(stub, spelling) for spelling in spellings), return_exceptions=True
    )
    created = [result for result in results if isinstance(result, users_pb2.User)]
    refused = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(created) == 1, results
    assert len(refused) == len(spellings) - 1
    assert {error.code() for error in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    count = await database.scalar(
        select(func.count()).select_from(tables.users).where(tables.users.c.email == email)
    )
    assert count == 1


async def test_five_wrong_codes_lock_the_code_until_a_new_one_is_sent(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    await _register(stub, email)
    code, first_id = await _code_for(database, email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        error = await _fails(
            stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=wrong)),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert error_reason(error) == "VERIFICATION_CODE_INVALID"
        assert _violations(error) == ["code"]
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=wrong)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "VERIFICATION_CODE_LOCKED"
    # Even the right code no longer works.
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=code)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "VERIFICATION_CODE_LOCKED"

    # A new code (once the resend cooldown allows) starts over.
    await _eventually_resend(stub, email)
    new_code, _ = await _code_for(database, email, after=first_id)
    user = await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=new_code))
    assert user.email_verified
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=new_code)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "ALREADY_VERIFIED"


async def test_parallel_wrong_codes_get_no_more_than_five_tries(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    await _register(stub, email)
    code, _ = await _code_for(database, email)
    wrong = [f"{(int(code) + offset) % 1_000_000:06d}" for offset in range(1, 21)]
    results = await asyncio.gather(
        *(stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=guess)) for guess in wrong),
        return_exceptions=True,
    )
    reasons = [error_reason(result) for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(reasons) == 20
    assert reasons.count("VERIFICATION_CODE_INVALID") == 4
    assert reasons.count("VERIFICATION_CODE_LOCKED") == 16
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=code)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "VERIFICATION_CODE_LOCKED"


async def _until_allowed(call, within: float = 15.0):  # type: ignore[no-untyped-def]
    """Retry a throttled call (a fresh one each time) until its window has passed."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            throttled = error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            if not throttled or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def _eventually_resend(stub: users_pb2_grpc.UserServiceStub, email: str) -> None:
    await _until_allowed(lambda: stub.ResendVerification(users_pb2.ResendVerificationRequest(email=email)))


async def test_expired_codes_are_refused(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    email = _email()
    user = await _register(stub, email)
    code, _ = await _code_for(database, email)
    await database.execute(
        update(tables.verification_codes)
        .where(tables.verification_codes.c.user_id == uuid.UUID(user.id))
        .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 1))
    )
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=email, code=code)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "VERIFICATION_CODE_EXPIRED"


async def test_a_code_for_an_unknown_email_is_just_invalid(stub: users_pb2_grpc.UserServiceStub) -> None:
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=_email(), code="123456")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "VERIFICATION_CODE_INVALID"


async def test_resend_is_rate_limited_the_same_for_known_and_unknown_emails(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    known = _email()
    await _register(stub, known)  # registering sent the first code just now
    unknown = _email()
    await stub.ResendVerification(users_pb2.ResendVerificationRequest(email=unknown))
    for email in (known, unknown):
        error = await _fails(
            stub.ResendVerification(users_pb2.ResendVerificationRequest(email=email)),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert error_reason(error) == "TOO_MANY_VERIFICATION_CODES"
        delay = _retry_delay(error)
        assert delay is not None
        assert 0 < delay <= 2


# -- sign-in ------------------------------------------------------------------------------------


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    email = _email()
    await _register(stub, email)
    wrong = await _fails(
        stub.Login(users_pb2.LoginRequest(email=email, password="not the password")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    unknown = await _fails(
        stub.Login(users_pb2.LoginRequest(email=_email(), password=PASSWORD)), grpc.StatusCode.UNAUTHENTICATED
    )
    assert wrong.details() == unknown.details()
    assert error_reason(wrong) == error_reason(unknown) == "INVALID_CREDENTIALS"


async def test_ten_wrong_passwords_lock_the_email_until_the_window_ends(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    email = _email()
    await _register(stub, email)
    for _ in range(9):
        await _fails(
            stub.Login(users_pb2.LoginRequest(email=email, password="wrong password")),
            grpc.StatusCode.UNAUTHENTICATED,
        )
    error = await _fails(
        stub.Login(users_pb2.LoginRequest(email=email, password="wrong password")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert error_reason(error) == "TOO_MANY_LOGIN_ATTEMPTS"
    delay = _retry_delay(error)
    assert delay is not None
    assert 0 < delay <= LOGIN_WINDOW
    # The right password is refused too while the window lasts...
    error = await _fails(
        stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD)), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    # ...and works once it has ended.
    await _until_allowed(
        lambda: stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD)), within=LOGIN_WINDOW + 10
    )


async def test_a_burst_of_parallel_guesses_gets_no_more_than_ten_checks(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    email = _email()
    await _register(stub, email)
    guesses = [
        stub.Login(users_pb2.LoginRequest(email=email, password=f"guess number {index}"))
        for index in range(25)
    ]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    codes = [result.code() for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(codes) == 25
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) <= 9
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 16
    await _fails(
        stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD)), grpc.StatusCode.RESOURCE_EXHAUSTED
    )


async def test_failures_from_one_address_lock_that_address_only(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with _own_users(
        engines, tokens, tmp_path, login_max_failures_per_ip=5, login_window_seconds=60
    ) as (_, stub):
        mine = _email()
        await _register(stub, mine)
        # Two clients behind the edge, which names each one's address and proves it is the edge.
        attacker = _through_edge("203.0.113.66")
        neighbour = _through_edge("198.51.100.1")
        # Successful sign-ins do not use up an address's allowance...
        for _ in range(6):
            await stub.Login(users_pb2.LoginRequest(email=mine, password=PASSWORD), metadata=attacker)
        # ...failures do, whichever emails they try.
        for _ in range(4):
            await _fails(
                stub.Login(users_pb2.LoginRequest(email=_email(), password="guess"), metadata=attacker),
                grpc.StatusCode.UNAUTHENTICATED,
            )
        await _fails(
            stub.Login(users_pb2.LoginRequest(email=_email(), password="guess"), metadata=attacker),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        error = await _fails(
            stub.Login(users_pb2.LoginRequest(email=mine, password=PASSWORD), metadata=attacker),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert 0 < (_retry_delay(error) or 0) <= 60
        await stub.Login(users_pb2.LoginRequest(email=mine, password=PASSWORD), metadata=neighbour)
        # The caller's own (peer) address is yet another one.
        await stub.Login(users_pb2.LoginRequest(email=mine, password=PASSWORD))


async def test_forged_client_address_headers_count_under_the_callers_own_address(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with _own_users(
        engines, tokens, tmp_path, login_max_failures_per_ip=3, login_window_seconds=60
    ) as (_, stub):
        # A direct caller claims another address on every try; none of the claims is believed.
        forged = [
            (("x-envoy-external-address", "203.0.113.1"),),
            (("x-forwarded-for", "203.0.113.2"),),
            (("x-seatmesh-client-address", "203.0.113.3"),),
            (("x-seatmesh-edge", "not the edge secret"), ("x-seatmesh-client-address", "203.0.113.4")),
        ]
        outcomes = []
        for metadata in forged:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.Login(users_pb2.LoginRequest(email=_email(), password="guess"), metadata=metadata)
            outcomes.append(raised.value.code())
        # All four counted under 127.0.0.1: the third failure used up its allowance.
        assert outcomes == [grpc.StatusCode.UNAUTHENTICATED] * 2 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
        # The address the edge names is counted on its own.
        await _fails(
            stub.Login(
                users_pb2.LoginRequest(email=_email(), password="guess"),
                metadata=_through_edge("203.0.113.1"),
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )


async def test_sign_ups_are_throttled_per_client_address_and_in_total(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with _own_users(
        engines, tokens, tmp_path, signup_max_per_ip=3, signup_max_total=5, signup_window_seconds=60
    ) as (_, stub):
        for _ in range(3):
            await _register(stub, _email())
        error = await _fails(_register(stub, _email()), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert error_reason(error) == "TOO_MANY_SIGNUPS"
        assert 0 < (_retry_delay(error) or 0) <= 60
        # Forged headers change nothing; the edge's word gives another address its own allowance,
        # and a refused attempt did not use up any of the total.
        await _fails(
            _register(stub, _email(), metadata=(("x-forwarded-for", "198.51.100.9"),)),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        for _ in range(2):
            await _register(stub, _email(), metadata=_through_edge("198.51.100.1"))
        # Five sign-ups in the window: the total is reached, for every address.
        error = await _fails(
            _register(stub, _email(), metadata=_through_edge("198.51.100.2")),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert error_reason(error) == "TOO_MANY_SIGNUPS"


async def test_verification_code_sends_are_throttled_per_client_address_and_in_total(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with _own_users(
        engines, tokens, tmp_path, signup_max_per_ip=2, signup_max_total=3, signup_window_seconds=60
    ) as (_, stub):
        await _register(stub, _email())  # its first code is one send of this address
        await stub.ResendVerification(users_pb2.ResendVerificationRequest(email=_email()))
        error = await _fails(
            stub.ResendVerification(users_pb2.ResendVerificationRequest(email=_email())),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert error_reason(error) == "TOO_MANY_VERIFICATION_CODES"
        assert 0 < (_retry_delay(error) or 0) <= 60
        await stub.ResendVerification(
            users_pb2.ResendVerificationRequest(email=_email()), metadata=_through_edge("198.51.100.1")
        )
        error = await _fails(
            stub.ResendVerification(
                users_pb2.ResendVerificationRequest(email=_email()), metadata=_through_edge("198.51.100.2")
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert error_reason(error) == "TOO_MANY_VERIFICATION_CODES"


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    first = account.tokens.refresh_token
    second = (await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=first))).refresh_token
    third = (await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=second))).refresh_token
    assert len({first, second, third}) == 3

    error = await _fails(
        stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=first)), grpc.StatusCode.UNAUTHENTICATED
    )
    assert error_reason(error) == "REFRESH_TOKEN_REUSED"
    # The newest token of the family is revoked too.
    error = await _fails(
        stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=third)), grpc.StatusCode.UNAUTHENTICATED
    )
    assert error_reason(error) == "REFRESH_TOKEN_REVOKED"
    # Other logins of the same person are other families and keep working.
    other = await stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD))
    await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=other.refresh_token))


async def test_two_concurrent_refreshes_with_one_token_let_only_one_through(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    request = users_pb2.RefreshTokenRequest(refresh_token=account.tokens.refresh_token)
    results = await asyncio.gather(*(stub.RefreshToken(request) for _ in range(4)), return_exceptions=True)
    succeeded = [result for result in results if isinstance(result, users_pb2.AuthTokens)]
    assert len(succeeded) == 1, results
    assert all(
        isinstance(result, grpc.aio.AioRpcError) and result.code() == grpc.StatusCode.UNAUTHENTICATED
        for result in results
        if result not in succeeded
    )


async def test_unknown_refresh_tokens_are_refused(stub: users_pb2_grpc.UserServiceStub) -> None:
    error = await _fails(
        stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token="made-up")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert error_reason(error) == "INVALID_REFRESH_TOKEN"


async def test_logout_revokes_and_only_for_the_owner(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    ann = await _account(stub, database)
    bob = await _account(stub, database)
    await _fails(
        stub.Logout(users_pb2.LogoutRequest(refresh_token=ann.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await _fails(
        stub.Logout(users_pb2.LogoutRequest(refresh_token=ann.tokens.refresh_token), metadata=bob.metadata),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await stub.Logout(users_pb2.LogoutRequest(refresh_token=ann.tokens.refresh_token), metadata=ann.metadata)
    await stub.Logout(users_pb2.LogoutRequest(refresh_token=ann.tokens.refresh_token), metadata=ann.metadata)
    error = await _fails(
        stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=ann.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert error_reason(error) == "REFRESH_TOKEN_REVOKED"


async def test_logout_everywhere_ends_every_sign_in_of_the_caller_only(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    ann = await _account(stub, database)
    bob = await _account(stub, database)
    phone = await stub.Login(users_pb2.LoginRequest(email=ann.email, password=PASSWORD))
    await _fails(stub.LogoutEverywhere(users_pb2.LogoutEverywhereRequest()), grpc.StatusCode.UNAUTHENTICATED)
    await stub.LogoutEverywhere(users_pb2.LogoutEverywhereRequest(), metadata=ann.metadata)
    for refresh_token in (ann.tokens.refresh_token, phone.refresh_token):
        error = await _fails(
            stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=refresh_token)),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert error_reason(error) == "REFRESH_TOKEN_REVOKED"
    await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=bob.tokens.refresh_token))
    # Signing in again works as usual.
    again = await stub.Login(users_pb2.LoginRequest(email=ann.email, password=PASSWORD))
    await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=again.refresh_token))


async def test_jwks_publishes_the_key_that_signs(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    body = await stub.GetJwks(users_pb2.GetJwksRequest())
    assert body.content_type == "application/json"
    document = json.loads(body.data)
    kid = jwt.get_unverified_header(account.tokens.access_token)["kid"]
    (key,) = [entry for entry in document["keys"] if entry["kid"] == kid]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA"
    assert "d" not in key  # never the private part
    claims = jwt.decode(
        account.tokens.access_token,
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="seatmesh",
        issuer="seatmesh",
    )
    assert claims["sub"] == account.id
    assert {"iss", "aud", "sub", "role", "exp", "iat", "jti"} <= set(claims)


async def test_claim_headers_from_a_client_change_nothing(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    spoofed = (*account.metadata, ("x-seatmesh-user-id", str(uuid.uuid4())), ("x-seatmesh-role", "admin"))
    me = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=spoofed)
    assert me.id == account.id
    await _fails(
        stub.ListUsers(users_pb2.ListUsersRequest(), metadata=spoofed), grpc.StatusCode.PERMISSION_DENIED
    )
    await _fails(
        stub.GetCurrentUser(
            users_pb2.GetCurrentUserRequest(), metadata=(("x-seatmesh-user-id", account.id),)
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )


# -- profiles -----------------------------------------------------------------------------------


async def test_update_profile_with_a_mask(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    updated = await stub.UpdateCurrentUser(
        users_pb2.UpdateCurrentUserRequest(
            user=users_pb2.User(
                display_name="Ann B.", time_zone="Europe/Berlin", locale="de-DE", phone="+4930123456"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "time_zone", "locale"]),
        ),
        metadata=account.metadata,
    )
    assert updated.display_name == "Ann B."
    assert updated.time_zone == "Europe/Berlin"
    assert updated.locale == "de-DE"
    assert updated.phone == ""  # not in the mask
    assert updated.email_verified

    error = await _fails(
        stub.UpdateCurrentUser(
            users_pb2.UpdateCurrentUserRequest(
                user=users_pb2.User(time_zone="Mars/Olympus", role=users_pb2.ROLE_ADMIN),
                update_mask=field_mask_pb2.FieldMask(paths=["time_zone", "role"]),
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert _violations(error) == ["update_mask"]
    error = await _fails(
        stub.UpdateCurrentUser(
            users_pb2.UpdateCurrentUserRequest(
                user=users_pb2.User(time_zone="Mars/Olympus", phone="12"),
                update_mask=field_mask_pb2.FieldMask(paths=["time_zone", "phone"]),
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert sorted(_violations(error)) == ["user.phone", "user.time_zone"]

    # Without a mask, the fields the request sets are updated (AIP-134).
    updated = await stub.UpdateCurrentUser(
        users_pb2.UpdateCurrentUserRequest(user=users_pb2.User(phone="+4930123456")),
        metadata=account.metadata,
    )
    assert updated.phone == "+4930123456"
    assert updated.display_name == "Ann B."


async def _change_email(account: Account, stub: users_pb2_grpc.UserServiceStub, email: str) -> users_pb2.User:
    return await stub.UpdateCurrentUser(
        users_pb2.UpdateCurrentUserRequest(
            user=users_pb2.User(email=email), update_mask=field_mask_pb2.FieldMask(paths=["email"])
        ),
        metadata=account.metadata,
    )


async def test_a_new_email_waits_until_its_code_comes_back(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    taken = await _account(stub, database)
    error = await _fails(_change_email(account, stub, taken.email.upper()), grpc.StatusCode.ALREADY_EXISTS)
    assert error_reason(error) == "EMAIL_TAKEN"

    new_email = _email("moved")
    updated = await _change_email(account, stub, new_email)
    # The verified address stays until the new one is confirmed; the new one only waits.
    assert (updated.email, updated.pending_email, updated.email_verified) == (account.email, new_email, True)
    tokens = await stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD))
    assert _claims(tokens.access_token)["email_verified"] is True
    await _fails(
        stub.Login(users_pb2.LoginRequest(email=new_email, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    code, _ = await _code_for(database, new_email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=new_email, code=wrong)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    # Re-sending the whole profile (AIP-134 without a mask) keeps the change waiting, unharmed.
    me = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=account.metadata)
    same = await stub.UpdateCurrentUser(
        users_pb2.UpdateCurrentUserRequest(user=users_pb2.User(email=me.email, display_name=me.display_name)),
        metadata=account.metadata,
    )
    assert (same.email, same.pending_email) == (account.email, new_email)

    confirmed = await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=new_email.upper(), code=code))
    assert (confirmed.email, confirmed.pending_email, confirmed.email_verified) == (new_email, "", True)
    await stub.Login(users_pb2.LoginRequest(email=new_email, password=PASSWORD))
    await _fails(
        stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    verified = [message for _, message in await _published(database, bus_pb2.EmailVerified)]
    assert bus_pb2.EmailVerified(user_id=account.id, email=new_email) in verified
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=new_email, code=code)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "ALREADY_VERIFIED"


async def test_an_email_change_loses_to_whoever_took_the_address_meanwhile(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    wanted = _email("wanted")
    await _change_email(account, stub, wanted)
    mine, _ = await _code_for(database, wanted)
    # Someone registers the address before the change is confirmed: it is theirs now.
    await _register(stub, wanted)
    error = await _fails(
        stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=wanted, code=mine)),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert error_reason(error) == "EMAIL_TAKEN"
    me = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=account.metadata)
    assert (me.email, me.email_verified) == (account.email, True)
    # The new account verifies its address with its own code.
    theirs, _ = await _code_for(database, wanted)
    assert (await stub.VerifyEmail(users_pb2.VerifyEmailRequest(email=wanted, code=theirs))).email_verified


async def test_an_email_change_whose_code_is_long_expired_stops_waiting(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    await _change_email(account, stub, _email("abandoned"))
    await database.execute(
        update(tables.verification_codes)
        .where(tables.verification_codes.c.user_id == uuid.UUID(account.id))
        .values(expires_at=func.now() - func.make_interval(0, 0, 0, 2))
    )
    async with UserStore(database).transaction() as tx:
        await tx.delete_expired()
    me = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=account.metadata)
    assert (me.email, me.pending_email, me.email_verified) == (account.email, "", True)


# -- phone numbers ------------------------------------------------------------------------------


async def _set_phone(account: Account, stub: users_pb2_grpc.UserServiceStub, phone: str) -> users_pb2.User:
    return await stub.UpdateCurrentUser(
        users_pb2.UpdateCurrentUserRequest(
            user=users_pb2.User(phone=phone), update_mask=field_mask_pb2.FieldMask(paths=["phone"])
        ),
        metadata=account.metadata,
    )


async def test_a_phone_number_is_verified_with_a_code_by_sms(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    send = users_pb2.SendPhoneCodeRequest()
    await _fails(stub.SendPhoneCode(send), grpc.StatusCode.UNAUTHENTICATED)
    error = await _fails(
        stub.SendPhoneCode(send, metadata=account.metadata), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error_reason(error) == "PHONE_REQUIRED"

    assert not (await _set_phone(account, stub, "+491701234567")).phone_verified
    await stub.SendPhoneCode(send, metadata=account.metadata)
    code, issued, first_id = await _phone_code_for(database, account.id)
    assert issued.phone == "+491701234567"
    assert issued.display_name == "Ann Example"
    assert issued.expire_time.seconds > 0
    # One SMS a minute at most, like email codes.
    error = await _fails(
        stub.SendPhoneCode(send, metadata=account.metadata), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert error_reason(error) == "TOO_MANY_VERIFICATION_CODES"

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    error = await _fails(
        stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code=wrong), metadata=account.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "VERIFICATION_CODE_INVALID"
    assert _violations(error) == ["code"]
    error = await _fails(
        stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code="12"), metadata=account.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert _violations(error) == ["code"]
    verified = await stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code=code), metadata=account.metadata)
    assert (verified.phone, verified.phone_verified) == ("+491701234567", True)

    # Notifications learns it from BatchGetUsers; the public profile does not show it.
    service = await stub.IssueServiceToken(
        users_pb2.IssueServiceTokenRequest(service_name="notifications", secret=SECRET)
    )
    batch = await stub.BatchGetUsers(
        users_pb2.BatchGetUsersRequest(user_ids=[account.id]), metadata=bearer(service.access_token)
    )
    assert batch.users[0].phone_verified
    assert not (await stub.GetUser(users_pb2.GetUserRequest(user_id=account.id))).phone_verified

    error = await _fails(
        stub.SendPhoneCode(send, metadata=account.metadata), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error_reason(error) == "ALREADY_VERIFIED"
    # The same number again is no change; another number must be verified again.
    assert (await _set_phone(account, stub, "+491701234567")).phone_verified
    assert not (await _set_phone(account, stub, "+4930123456")).phone_verified
    error = await _fails(
        stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code=code), metadata=account.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "VERIFICATION_CODE_INVALID"
    await _until_allowed(lambda: stub.SendPhoneCode(send, metadata=account.metadata))
    code, issued, _ = await _phone_code_for(database, account.id, after=first_id)
    assert issued.phone == "+4930123456"
    assert (
        await stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code=code), metadata=account.metadata)
    ).phone_verified


async def test_phone_codes_need_a_verified_email_and_lock_after_five_wrong_tries(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    unverified = await _account(stub, database, verified=False)
    await _set_phone(unverified, stub, "+491701234568")
    error = await _fails(
        stub.SendPhoneCode(users_pb2.SendPhoneCodeRequest(), metadata=unverified.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "EMAIL_NOT_VERIFIED"

    account = await _account(stub, database)
    await _set_phone(account, stub, "+491701234569")
    await stub.SendPhoneCode(users_pb2.SendPhoneCodeRequest(), metadata=account.metadata)
    code, _, _ = await _phone_code_for(database, account.id)
    wrong = users_pb2.VerifyPhoneRequest(code=f"{(int(code) + 1) % 1_000_000:06d}")
    for _ in range(4):
        await _fails(stub.VerifyPhone(wrong, metadata=account.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    for attempt in (wrong, users_pb2.VerifyPhoneRequest(code=code)):
        error = await _fails(
            stub.VerifyPhone(attempt, metadata=account.metadata), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert error_reason(error) == "VERIFICATION_CODE_LOCKED"
    # An expired code is refused as such.
    await _until_allowed(
        lambda: stub.SendPhoneCode(users_pb2.SendPhoneCodeRequest(), metadata=account.metadata)
    )
    code, _, _ = await _phone_code_for(database, account.id)
    await database.execute(
        update(tables.phone_codes)
        .where(tables.phone_codes.c.user_id == uuid.UUID(account.id))
        .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 1))
    )
    error = await _fails(
        stub.VerifyPhone(users_pb2.VerifyPhoneRequest(code=code), metadata=account.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "VERIFICATION_CODE_EXPIRED"


async def test_public_profiles_show_only_name_and_ratings(
    stub: users_pb2_grpc.UserServiceStub, database, users
) -> None:  # type: ignore[no-untyped-def]
    ann = await _account(stub, database)
    bob = await _account(stub, database)
    admin = await _admin(stub, users.settings)
    request = users_pb2.GetUserRequest(user_id=ann.id)
    for metadata in ((), bob.metadata):
        public = await stub.GetUser(request, metadata=metadata)
        assert public.id == ann.id
        assert public.display_name == "Ann Example"
        assert public.host_rating.count == 0
        assert public.email == ""
        assert public.phone == ""
        assert public.role == users_pb2.ROLE_UNSPECIFIED
    for metadata in (ann.metadata, admin.metadata):
        assert (await stub.GetUser(request, metadata=metadata)).email == ann.email
    await _fails(stub.GetUser(users_pb2.GetUserRequest(user_id=str(uuid.uuid4()))), grpc.StatusCode.NOT_FOUND)
    error = await _fails(
        stub.GetUser(users_pb2.GetUserRequest(user_id="nope")), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert _violations(error) == ["user_id"]


# -- administration -----------------------------------------------------------------------------


async def test_admin_only_rpcs_refuse_participants_and_organizers(
    stub: users_pb2_grpc.UserServiceStub, database
) -> None:  # type: ignore[no-untyped-def]
    for role in (users_pb2.ROLE_PARTICIPANT, users_pb2.ROLE_ORGANIZER):
        account = await _account(stub, database, role=role)
        error = await _fails(
            stub.ListUsers(users_pb2.ListUsersRequest(), metadata=account.metadata),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert error_reason(error) == "ROLE_REQUIRED"
        await _fails(
            stub.SetUserRole(
                users_pb2.SetUserRoleRequest(user_id=account.id, role=users_pb2.ROLE_ADMIN),
                metadata=account.metadata,
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )


async def test_admins_list_users_page_by_page(stub: users_pb2_grpc.UserServiceStub, database, users) -> None:  # type: ignore[no-untyped-def]
    admin = await _admin(stub, users.settings)
    label = f"listed-{uuid.uuid4().hex[:6]}"
    emails = []
    for _ in range(5):
        email = f"{label}-{uuid.uuid4().hex[:6]}@example.com"
        await _register(stub, email)
        emails.append(email)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListUsers(
            users_pb2.ListUsersRequest(page_size=2, page_token=token, email_prefix=label.upper()),
            metadata=admin.metadata,
        )
        seen.extend(user.email for user in page.users)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == emails  # oldest first, each exactly once
    assert pages == 3
    organizers = await stub.ListUsers(
        users_pb2.ListUsersRequest(role=users_pb2.ROLE_ADMIN, page_size=100), metadata=admin.metadata
    )
    assert admin.email in [user.email for user in organizers.users]
    assert {user.role for user in organizers.users} == {users_pb2.ROLE_ADMIN}
    error = await _fails(
        stub.ListUsers(
            users_pb2.ListUsersRequest(page_token=page.next_page_token or "bogus"), metadata=admin.metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert _violations(error) == ["page_token"]


async def test_a_role_change_ends_every_session_of_the_account(
    stub: users_pb2_grpc.UserServiceStub, database, users
) -> None:  # type: ignore[no-untyped-def]
    admin = await _admin(stub, users.settings)
    account = await _account(stub, database)
    other_device = await stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD))
    set_organizer = users_pb2.SetUserRoleRequest(user_id=account.id, role=users_pb2.ROLE_ORGANIZER)
    changed = await stub.SetUserRole(set_organizer, metadata=admin.metadata)
    assert changed.role == users_pb2.ROLE_ORGANIZER
    # Every refresh token of the account is revoked: no token from before carries on.
    for refresh_token in (account.tokens.refresh_token, other_device.refresh_token):
        error = await _fails(
            stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=refresh_token)),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert error_reason(error) == "REFRESH_TOKEN_REVOKED"
    fresh = await stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD))
    assert _claims(fresh.access_token)["role"] == "organizer"
    # Giving the role it already has changes nothing, sessions included.
    await stub.SetUserRole(set_organizer, metadata=admin.metadata)
    await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=fresh.refresh_token))

    error = await _fails(
        stub.SetUserRole(
            users_pb2.SetUserRoleRequest(user_id=account.id, role=users_pb2.ROLE_SERVICE),
            metadata=admin.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "ROLE_NOT_ASSIGNABLE"
    await _fails(
        stub.SetUserRole(
            users_pb2.SetUserRoleRequest(user_id=str(uuid.uuid4()), role=users_pb2.ROLE_ADMIN),
            metadata=admin.metadata,
        ),
        grpc.StatusCode.NOT_FOUND,
    )


OPERATOR_PASSWORD = "the operator's own passphrase"


async def test_create_admin_never_promotes_an_address_someone_registered_first(
    stub: users_pb2_grpc.UserServiceStub, users
) -> None:  # type: ignore[no-untyped-def]
    # The attack: someone registers the address the operator is about to make admin, signs in
    # and keeps the refresh token, waiting for the promotion.
    email = _email("admin")
    await _register(stub, email)
    attacker = await stub.Login(users_pb2.LoginRequest(email=email, password=PASSWORD))
    with pytest.raises(CommandError, match="never verified"):
        await create_admin(users.settings, email=email, password=OPERATOR_PASSWORD, display_name="Admin")
    # The refresh gets the attacker nothing new: the account was left as it was.
    refreshed = await stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=attacker.refresh_token))
    assert _claims(refreshed.access_token)["role"] == "participant"
    await _fails(
        stub.Login(users_pb2.LoginRequest(email=email, password=OPERATOR_PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_promoting_a_verified_account_replaces_its_password_and_ends_its_sessions(
    stub: users_pb2_grpc.UserServiceStub, database, users
) -> None:  # type: ignore[no-untyped-def]
    account = await _account(stub, database)
    with pytest.raises(CommandError, match="--password"):
        await create_admin(users.settings, email=account.email, password=None, display_name="Admin")
    result = await create_admin(
        users.settings, email=account.email, password=OPERATOR_PASSWORD, display_name="Admin"
    )
    assert (result.user_id, result.created) == (account.id, False)
    error = await _fails(
        stub.RefreshToken(users_pb2.RefreshTokenRequest(refresh_token=account.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert error_reason(error) == "REFRESH_TOKEN_REVOKED"
    await _fails(
        stub.Login(users_pb2.LoginRequest(email=account.email, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    admin = await stub.Login(users_pb2.LoginRequest(email=account.email, password=OPERATOR_PASSWORD))
    assert _claims(admin.access_token)["role"] == "admin"


async def test_the_last_admin_cannot_be_demoted_even_by_a_race(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    # A database of its own: the count of admins is what this test is about.
    async with _own_users(engines, tokens, tmp_path) as (users, stub):
        ann = await _admin(stub, users.settings)
        bob = await _admin(stub, users.settings)
        results = await asyncio.gather(
            stub.SetUserRole(
                users_pb2.SetUserRoleRequest(user_id=bob.id, role=users_pb2.ROLE_PARTICIPANT),
                metadata=ann.metadata,
            ),
            stub.SetUserRole(
                users_pb2.SetUserRoleRequest(user_id=ann.id, role=users_pb2.ROLE_PARTICIPANT),
                metadata=bob.metadata,
            ),
            return_exceptions=True,
        )
        demoted = [result for result in results if isinstance(result, users_pb2.User)]
        refused = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
        assert len(demoted) == 1, results
        assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_reason(refused[0]) == "LAST_ADMIN"
        survivor = ann if demoted[0].id == bob.id else bob
        # Demoting yourself as the last admin is refused as well.
        error = await _fails(
            stub.SetUserRole(
                users_pb2.SetUserRoleRequest(user_id=survivor.id, role=users_pb2.ROLE_ORGANIZER),
                metadata=survivor.metadata,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert error_reason(error) == "LAST_ADMIN"


# -- the mesh -----------------------------------------------------------------------------------


async def test_service_tokens_need_the_secret(stub: users_pb2_grpc.UserServiceStub, database) -> None:  # type: ignore[no-untyped-def]
    for name, secret in [("events", "wrong"), ("events", ""), ("Not A Name", SECRET)]:
        error = await _fails(
            stub.IssueServiceToken(users_pb2.IssueServiceTokenRequest(service_name=name, secret=secret)),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert error_reason(error) == "INVALID_SERVICE_CREDENTIALS"
    issued = await stub.IssueServiceToken(
        users_pb2.IssueServiceTokenRequest(service_name="notifications", secret=SECRET)
    )
    claims = _claims(issued.access_token)
    assert claims["sub"] == "service:notifications"
    assert claims["role"] == "service"
    assert issued.expires_in == 300
    assert issued.refresh_token == ""

    ann = await _account(stub, database)
    request = users_pb2.BatchGetUsersRequest(user_ids=[str(uuid.uuid4()), ann.id, "garbage", ann.id])
    await _fails(stub.BatchGetUsers(request, metadata=ann.metadata), grpc.StatusCode.PERMISSION_DENIED)
    reply = await stub.BatchGetUsers(request, metadata=bearer(issued.access_token))
    assert [user.id for user in reply.users] == [ann.id]
    assert reply.users[0].email == ann.email
    assert reply.users[0].locale == "en"
    await _fails(
        stub.BatchGetUsers(
            users_pb2.BatchGetUsersRequest(user_ids=[str(uuid.uuid4()) for _ in range(1001)]),
            metadata=bearer(issued.access_token),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_ratings_from_bookings_reach_the_public_profile_once(
    stub: users_pb2_grpc.UserServiceStub, database, users
) -> None:  # type: ignore[no-untyped-def]
    host = await _account(stub, database, role=users_pb2.ROLE_ORGANIZER)
    guest = await _account(stub, database)
    redis = create_redis(users.settings.redis_url)
    stream = stream_name(users.settings.redis_prefix, "bookings")

    async def send(message: object) -> None:
        envelope = envelope_for(message, source="bookings")  # type: ignore[arg-type]
        await redis.xadd(stream, {"e": envelope.SerializeToString()})
        # The same event delivered twice (new event id, as a re-publish would have) counts once.
        duplicate = envelope_for(message, source="bookings")  # type: ignore[arg-type]
        await redis.xadd(stream, {"e": duplicate.SerializeToString()})

    def review(booking: str, stars: int) -> bookings_bus_pb2.ReviewSubmitted:
        return bookings_bus_pb2.ReviewSubmitted(
            review=bookings_pb2.BookingReview(
                booking_id=booking, guest_id=guest.id, host_id=host.id, event_rating=5, host_rating=stars
            )
        )

    try:
        await send(review("booking-1", 5))
        await send(review("booking-2", 4))
        await send(
            bookings_bus_pb2.GuestRated(
                rating=bookings_pb2.GuestRating(
                    booking_id="booking-1", guest_id=guest.id, host_id=host.id, rating=3
                )
            )
        )
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            host_profile = await stub.GetUser(users_pb2.GetUserRequest(user_id=host.id))
            guest_profile = await stub.GetUser(users_pb2.GetUserRequest(user_id=guest.id))
            if host_profile.host_rating.count == 2 and guest_profile.guest_rating.count == 1:
                break
            assert asyncio.get_running_loop().time() < deadline, (host_profile, guest_profile)
            await asyncio.sleep(0.1)
        assert host_profile.host_rating.average == 4.5
        assert host_profile.guest_rating.count == 0
        assert guest_profile.guest_rating.average == 3.0
        assert guest_profile.host_rating.count == 0
    finally:
        await redis.aclose()
