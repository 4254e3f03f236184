"""The server runtime, on a real grpc.aio server: error details, hidden exceptions, auth, health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.app import method_access
from services.runtime.auth import Role, require_principal
from services.runtime.errors import FieldViolation, error_reason, invalid_argument, status_details
from services.runtime.server import RunningService, Service, start_service
from tests.support.tokens import TokenFactory, bearer

SERVICE = users_pb2.DESCRIPTOR.services_by_name["UserService"]


class ProbeServicer(users_pb2_grpc.UserServiceServicer):
    """Borrows UserService's contract to exercise the runtime; each RPC shows one behaviour."""

    async def RegisterUser(self, request, context):  # type: ignore[no-untyped-def]
        raise invalid_argument([FieldViolation("email", "must be an email address")])

    async def Login(self, request, context):  # type: ignore[no-untyped-def]
        raise RuntimeError("database password is hunter2")

    async def Logout(self, request, context):  # type: ignore[no-untyped-def]
        raise psycopg.OperationalError("connection to db host 10.0.0.7 failed: Connection refused")

    async def GetCurrentUser(self, request, context):  # type: ignore[no-untyped-def]
        principal = require_principal()
        return users_pb2.User(id=principal.subject, role=users_pb2.ROLE_ORGANIZER)

    async def GetUser(self, request, context):  # type: ignore[no-untyped-def]
        return users_pb2.User(id=request.user_id)

    async def ListUsers(self, request, context):  # type: ignore[no-untyped-def]
        raise invalid_argument([FieldViolation(f"users[{index}]", "is wrong") for index in range(1000)])


@pytest.fixture(scope="module")
async def probe(tokens: TokenFactory) -> AsyncIterator[RunningService]:
    servicer = ProbeServicer()
    service = Service(
        name="probe",
        service_names=[SERVICE.full_name],
        register=[lambda server: users_pb2_grpc.add_UserServiceServicer_to_server(servicer, server)],
        access=method_access(
            SERVICE,
            public={"RegisterUser", "Login", "GetJwks", "GetUser", "ListUsers"},
            internal={"BatchGetUsers"},
        ),
        verifier=tokens.verifier(),
    )
    running = await start_service(service)
    yield running
    await running.stop(0)


@pytest.fixture
async def stub(probe: RunningService) -> AsyncIterator[users_pb2_grpc.UserServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        yield users_pb2_grpc.UserServiceStub(channel)


async def test_service_errors_carry_field_violations(stub: users_pb2_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.RegisterUser(users_pb2.RegisterUserRequest())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_details(raised.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert bad_request.field_violations[0].field == "email"


async def test_unexpected_exceptions_are_internal_without_their_text(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Login(users_pb2.LoginRequest(), metadata=(("x-request-id", "req-42"),))
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (raised.value.details() or "")
    assert "req-42" in (raised.value.details() or "")


async def test_infrastructure_failures_are_unavailable_without_their_text(
    stub: users_pb2_grpc.UserServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Logout(users_pb2.LogoutRequest(), metadata=bearer(tokens.token()))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(raised.value) == "DEPENDENCY_UNAVAILABLE"
    assert "10.0.0.7" not in (raised.value.details() or "")


async def test_rpcs_not_implemented_answer_unimplemented(stub: users_pb2_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetJwks(users_pb2.GetJwksRequest())
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_authenticated_rpcs_need_a_token(
    stub: users_pb2_grpc.UserServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    user = await stub.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=bearer(tokens.token("u-1")))
    assert user.id == "u-1"


async def test_public_rpcs_still_refuse_a_bad_token(stub: users_pb2_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.RegisterUser(users_pb2.RegisterUserRequest(), metadata=bearer("x.y.z"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_internal_rpcs_refuse_user_tokens(
    stub: users_pb2_grpc.UserServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.BatchGetUsers(
            users_pb2.BatchGetUsersRequest(), metadata=bearer(tokens.token(role=Role.ADMIN))
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(raised.value) == "INTERNAL_RPC"
    # A service token passes the gate (and then meets the unimplemented RPC).
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.BatchGetUsers(users_pb2.BatchGetUsersRequest(), metadata=bearer(tokens.service_token()))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_health_serves_without_a_database(probe: RunningService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(50):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE.full_name))
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                break
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_request_that_does_not_decode_is_invalid_argument_without_parser_text(
    probe: RunningService,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        raw = channel.unary_unary(
            "/seatmesh.users.v1.UserService/GetUser",
            request_serializer=lambda body: body,
            response_deserializer=users_pb2.User.FromString,
        )
        # A field 1 (user_id, a string) whose bytes are not UTF-8, as Envoy's transcoder produces
        # for GET /v1/users/%FF%FE; then plain garbage.
        for body in (b"\x0a\x02\xff\xfe", b"\xff\xff\xff\xff\xff"):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await raw(body)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_reason(raised.value) == "UNDECODABLE_REQUEST"
            assert "Error" not in (raised.value.details() or "")
            assert "class" not in (raised.value.details() or "")


async def test_control_characters_are_refused_in_any_string_field(
    stub: users_pb2_grpc.UserServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetUser(users_pb2.GetUserRequest(user_id="abc\x00def"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_details(raised.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert [v.field for v in bad_request.field_violations] == ["user_id"]


async def test_one_error_carries_at_most_twenty_violations(stub: users_pb2_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListUsers(users_pb2.ListUsersRequest())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_details(raised.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert len(bad_request.field_violations) == 21
    assert bad_request.field_violations[-1].description == "and 980 more problems"
    assert len(raised.value.details() or "") <= 1000
