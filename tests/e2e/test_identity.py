"""Identity through the real edge: sign-up to profile, forged tokens, refresh reuse, throttling, roles.

Every forged token is tried twice: at Envoy (jwt_authn) and on a service's own port (its
interceptor), because a caller inside the network can skip the edge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from scripts.mesh import Mesh
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.auth import Role, SigningKey, access_claims
from services.runtime.errors import error_reason
from services.users.keyring import plan_keys, read_key_dir
from tests.support.accounts import PASSWORD, Account, mesh_token, signup, verification_code

GRPC_TIMEOUT = 10


def _reason(body: dict[str, object]) -> str:
    for detail in body.get("details", []):  # type: ignore[union-attr]
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail.get("reason", ""))
    return ""


def _detail(body: dict[str, object], kind: str) -> dict[str, object] | None:
    for detail in body.get("details", []):  # type: ignore[union-attr]
        if detail.get("@type", "").endswith(kind):
            return detail  # type: ignore[no-any-return]
    return None


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
def edge(mesh: Mesh) -> Iterator[users_pb2_grpc.UserServiceStub]:
    with grpc.insecure_channel(mesh.edge) as channel:
        yield users_pb2_grpc.UserServiceStub(channel)


@pytest.fixture(scope="module")
def participant(mesh: Mesh) -> Account:
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as client:
        return signup(client, mesh)


# -- sign-up ------------------------------------------------------------------------------------


def test_register_code_verify_login_and_me_over_rest_and_grpc(
    mesh: Mesh, rest: httpx.Client, edge: users_pb2_grpc.UserServiceStub
) -> None:
    account = signup(rest, mesh, role="ROLE_ORGANIZER")
    me = rest.get("/v1/users/me", headers=account.headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["id"] == account.id
    assert body["email"] == account.email
    assert body["displayName"] == "E2E Person"
    assert body["role"] == "ROLE_ORGANIZER"
    assert body["emailVerified"] is True
    assert "grpc-status" not in me.headers

    user = edge.GetCurrentUser(
        users_pb2.GetCurrentUserRequest(), metadata=_bearer(account.access_token), timeout=GRPC_TIMEOUT
    )
    assert user.id == account.id
    assert user.email_verified

    # Others see the public profile only; anonymous callers too.
    public = rest.get(f"/v1/users/{account.id}").json()
    assert public["displayName"] == "E2E Person"
    assert public["email"] == ""
    assert public["hostRating"]["count"] == 0


def test_an_unverified_account_can_sign_in_but_not_create_events(mesh: Mesh, rest: httpx.Client) -> None:
    account = signup(rest, mesh, role="ROLE_ORGANIZER", verified=False)
    me = rest.get("/v1/users/me", headers=account.headers).json()
    assert me["emailVerified"] is False
    start = datetime.now(UTC) + timedelta(days=7)
    event = {
        "title": "Identity check",
        "description": "Only verified organizers may publish events.",
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "endTime": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "timeZone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "Hall 1",
        "capacity": 10,
        "maxSeatsPerBooking": 2,
    }
    response = rest.post(
        "/v1/events", params={"requestId": str(uuid.uuid4())}, json=event, headers=account.headers
    )
    assert response.status_code == 400, response.text
    assert _reason(response.json()) == "EMAIL_NOT_VERIFIED"


def test_duplicate_email_in_any_case_is_409(mesh: Mesh, rest: httpx.Client, participant: Account) -> None:
    response = rest.post(
        "/v1/users:register",
        json={"email": participant.email.upper(), "password": PASSWORD, "displayName": "Copy"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == 6
    assert _reason(response.json()) == "EMAIL_TAKEN"


def test_weak_password_is_400_naming_the_field(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/users:register",
        json={
            "email": f"weak-{uuid.uuid4().hex[:8]}@example.com",
            "password": "password123",
            "displayName": "W",
        },
    )
    assert response.status_code == 400
    bad_request = _detail(response.json(), "google.rpc.BadRequest")
    assert bad_request is not None
    assert [violation["field"] for violation in bad_request["fieldViolations"]] == ["password"]  # type: ignore[index,union-attr]


def test_two_concurrent_registrations_of_one_email_make_one_account(mesh: Mesh) -> None:
    address = f"race-{uuid.uuid4().hex[:10]}@example.com"

    def register(spelling: str) -> int:
        with httpx.Client(base_url=mesh.rest_url, timeout=20) as client:
            response = client.post(
                "/v1/users:register", json={"email": spelling, "password": PASSWORD, "displayName": "Racer"}
            )
            return response.status_code

    spellings = [address, address.upper(), f" {address} ", address.title()] * 2
    with ThreadPoolExecutor(max_workers=len(spellings)) as pool:
        statuses = list(pool.map(register, spellings))
    assert sorted(statuses) == [200] + [409] * (len(spellings) - 1)


# -- tokens -------------------------------------------------------------------------------------


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _mesh_key(mesh: Mesh) -> SigningKey:
    plan = plan_keys(read_key_dir(mesh.var / "keys"), time.time(), rotate_after=float("inf"), retire_after=0)
    assert plan.signing is not None
    return plan.signing.key


def _forgeries(mesh: Mesh, account: Account) -> dict[str, str]:
    key = _mesh_key(mesh)
    header, payload, signature = account.access_token.split(".")
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{payload}"
    hs256_mac = hmac.new(public_pem, hs256_input.encode(), hashlib.sha256).digest()
    hs256_signature = base64.urlsafe_b64encode(hs256_mac).rstrip(b"=").decode()

    def signed(**changes: object) -> str:
        fresh = access_claims(
            subject=account.id,
            role=Role.ADMIN,
            issuer="seatmesh",
            audience="seatmesh",
            ttl_seconds=900,
            email_verified=True,
        )
        fresh.update(changes)
        return key.sign(fresh)

    past = int(time.time()) - 3600
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{payload}.",
        "hs256 with the public key": f"{hs256_input}.{hs256_signature}",
        "expired": signed(iat=past, nbf=past, exp=past + 900),
        "wrong audience": signed(aud="somebody-else"),
        "wrong issuer": signed(iss="evil"),
        "unknown kid": SigningKey.generate().sign(dict(claims, role="admin")),
        "tampered payload": f"{header}.{_b64(dict(claims, role='admin'))}.{signature}",
    }


FORGERIES = [
    "alg none",
    "hs256 with the public key",
    "expired",
    "wrong audience",
    "wrong issuer",
    "unknown kid",
    "tampered payload",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_tokens_are_refused_at_the_edge(
    mesh: Mesh, rest: httpx.Client, edge: users_pb2_grpc.UserServiceStub, participant: Account, kind: str
) -> None:
    token = _forgeries(mesh, participant)[kind]
    headers = {"Authorization": f"Bearer {token}"}
    # jwt_authn answers 403 for an audience it does not serve, 401 for everything else.
    expected = 403 if kind == "wrong audience" else 401
    for method, path in [("GET", "/v1/users/me"), ("GET", "/v1/users"), ("GET", "/v1/events")]:
        response = rest.request(method, path, headers=headers)
        assert response.status_code == expected, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(grpc.RpcError) as raised:
        edge.GetCurrentUser(users_pb2.GetCurrentUserRequest(), metadata=_bearer(token), timeout=GRPC_TIMEOUT)
    assert raised.value.code() in (
        (grpc.StatusCode.PERMISSION_DENIED,)
        if kind == "wrong audience"
        else (grpc.StatusCode.UNAUTHENTICATED,)
    )


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_tokens_are_refused_by_services_called_directly(
    mesh: Mesh, participant: Account, kind: str
) -> None:
    token = _forgeries(mesh, participant)[kind]
    with grpc.insecure_channel(mesh.service_address("events")) as channel:
        events = events_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            events.ListTags(events_pb2.ListTagsRequest(), metadata=_bearer(token), timeout=GRPC_TIMEOUT)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(mesh.service_address("users")) as channel:
        users = users_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            users.GetCurrentUser(
                users_pb2.GetCurrentUserRequest(), metadata=_bearer(token), timeout=GRPC_TIMEOUT
            )
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_real_tokens_pass_both_the_edge_and_a_service_directly(
    mesh: Mesh, rest: httpx.Client, participant: Account
) -> None:
    assert rest.get("/v1/users/me", headers=participant.headers).status_code == 200
    with grpc.insecure_channel(mesh.service_address("events")) as channel:
        events = events_pb2_grpc.EventServiceStub(channel)
        events.ListTags(
            events_pb2.ListTagsRequest(), metadata=_bearer(participant.access_token), timeout=GRPC_TIMEOUT
        )
    # Tokens minted by tests with the mesh's key are as good as issued ones.
    minted = mesh_token(mesh, participant.id, "ROLE_PARTICIPANT")
    me = rest.get("/v1/users/me", headers={"Authorization": f"Bearer {minted}"})
    assert me.status_code == 200
    assert me.json()["id"] == participant.id


def test_jwks_is_served_at_the_edge(rest: httpx.Client, participant: Account) -> None:
    response = rest.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"keys"}
    kid = jwt.get_unverified_header(participant.access_token)["kid"]
    assert kid in [key["kid"] for key in document["keys"]]
    assert all("d" not in key for key in document["keys"])


def test_refresh_reuse_is_401_and_revokes_the_newest_token(mesh: Mesh, rest: httpx.Client) -> None:
    account = signup(rest, mesh)
    second = rest.post("/v1/auth:refresh", json={"refreshToken": account.refresh_token})
    assert second.status_code == 200, second.text
    newest = second.json()["refreshToken"]
    reused = rest.post("/v1/auth:refresh", json={"refreshToken": account.refresh_token})
    assert reused.status_code == 401
    assert _reason(reused.json()) == "REFRESH_TOKEN_REUSED"
    after = rest.post("/v1/auth:refresh", json={"refreshToken": newest})
    assert after.status_code == 401
    assert _reason(after.json()) == "REFRESH_TOKEN_REVOKED"


def test_logout_revokes_the_refresh_token(mesh: Mesh, rest: httpx.Client) -> None:
    account = signup(rest, mesh)
    assert rest.post("/v1/auth:logout", json={"refreshToken": account.refresh_token}).status_code == 401
    response = rest.post(
        "/v1/auth:logout", json={"refreshToken": account.refresh_token}, headers=account.headers
    )
    assert response.status_code == 200
    assert rest.post("/v1/auth:refresh", json={"refreshToken": account.refresh_token}).status_code == 401


def test_ten_wrong_passwords_are_429_with_retry_info(mesh: Mesh, rest: httpx.Client) -> None:
    account = signup(rest, mesh, verified=False)
    statuses = []
    for _ in range(10):
        response = rest.post("/v1/auth:login", json={"email": account.email, "password": "not my password"})
        statuses.append(response.status_code)
    assert statuses == [401] * 9 + [429]
    body = response.json()
    assert _reason(body) == "TOO_MANY_LOGIN_ATTEMPTS"
    retry = _detail(body, "google.rpc.RetryInfo")
    assert retry is not None
    assert float(str(retry["retryDelay"]).removesuffix("s")) > 0
    # The right password is refused while the window lasts.
    response = rest.post("/v1/auth:login", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 429
    # An unknown email gets the same 401 as a wrong password: the answer never tells which.
    unknown = rest.post(
        "/v1/auth:login", json={"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "x"}
    )
    assert unknown.status_code == 401
    assert _reason(unknown.json()) == "INVALID_CREDENTIALS"


# -- roles --------------------------------------------------------------------------------------


def test_a_participant_gets_403_from_admin_and_organizer_rpcs(
    rest: httpx.Client, edge: users_pb2_grpc.UserServiceStub, participant: Account
) -> None:
    assert rest.get("/v1/users", headers=participant.headers).status_code == 403
    response = rest.post(
        f"/v1/users/{participant.id}:setRole", json={"role": "ROLE_ADMIN"}, headers=participant.headers
    )
    assert response.status_code == 403
    assert _reason(response.json()) == "ROLE_REQUIRED"
    with pytest.raises(grpc.RpcError) as raised:
        edge.ListUsers(
            users_pb2.ListUsersRequest(), metadata=_bearer(participant.access_token), timeout=GRPC_TIMEOUT
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Creating events is for organizers.
    response = rest.post(
        "/v1/events",
        params={"requestId": str(uuid.uuid4())},
        json={"title": "x"},
        headers=participant.headers,
    )
    assert response.status_code == 403


def test_reserve_seats_with_a_user_token_directly_on_events_is_permission_denied(
    mesh: Mesh, participant: Account
) -> None:
    with grpc.insecure_channel(mesh.service_address("events")) as channel:
        events = events_pb2_grpc.EventServiceStub(channel)
        for token in (participant.access_token, mesh_token(mesh, str(uuid.uuid4()), Role.ADMIN)):
            with pytest.raises(grpc.RpcError) as raised:
                events.ReserveSeats(
                    events_pb2.ReserveSeatsRequest(
                        event_id=str(uuid.uuid4()), seats=1, reservation_id=str(uuid.uuid4())
                    ),
                    metadata=_bearer(token),
                    timeout=GRPC_TIMEOUT,
                )
            assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_reason(raised.value) == "INTERNAL_RPC"


def test_claim_headers_sent_by_clients_change_nothing(rest: httpx.Client, participant: Account) -> None:
    spoofed = {"x-seatmesh-user-id": str(uuid.uuid4()), "x-seatmesh-role": "admin"}
    me = rest.get("/v1/users/me", headers={**participant.headers, **spoofed})
    assert me.status_code == 200
    assert me.json()["id"] == participant.id
    assert rest.get("/v1/users", headers={**participant.headers, **spoofed}).status_code == 403
    assert rest.get("/v1/users/me", headers=spoofed).status_code == 401
    # Even the public profile does not open up to a claimed identity.
    public = rest.get(f"/v1/users/{participant.id}", headers={"x-seatmesh-user-id": participant.id}).json()
    assert public["email"] == ""


def test_an_admin_from_the_cli_manages_roles(mesh: Mesh, rest: httpx.Client, participant: Account) -> None:
    address = f"root-{uuid.uuid4().hex[:8]}@example.com"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    environment["SEATMESH_DATABASE_URL"] = mesh.service_database_url("users")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "seatmesh"),
            "create-admin",
            "--email",
            address,
            "--password",
            PASSWORD,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    login = rest.post("/v1/auth:login", json={"email": address, "password": PASSWORD})
    assert login.status_code == 200, login.text
    admin = {"Authorization": f"Bearer {login.json()['accessToken']}"}

    listed = rest.get("/v1/users", params={"emailPrefix": participant.email, "pageSize": 5}, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [user["id"] for user in listed.json()["users"]] == [participant.id]
    # The admin sees everything of a public profile.
    assert rest.get(f"/v1/users/{participant.id}", headers=admin).json()["email"] == participant.email

    other = signup(rest, mesh)
    promoted = rest.post(f"/v1/users/{other.id}:setRole", json={"role": "ROLE_ORGANIZER"}, headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "ROLE_ORGANIZER"
    # A role change ends the account's sessions; the next sign-in carries the new role.
    refreshed = rest.post("/v1/auth:refresh", json={"refreshToken": other.refresh_token})
    assert refreshed.status_code == 401
    assert _reason(refreshed.json()) == "REFRESH_TOKEN_REVOKED"
    signed_in = rest.post("/v1/auth:login", json={"email": other.email, "password": PASSWORD}).json()
    assert jwt.decode(signed_in["accessToken"], options={"verify_signature": False})["role"] == "organizer"
    service = rest.post(f"/v1/users/{other.id}:setRole", json={"role": "ROLE_SERVICE"}, headers=admin)
    assert service.status_code == 400


# -- contact details ----------------------------------------------------------------------------


def test_phone_verification_is_for_the_signed_in_owner_of_a_verified_email(
    mesh: Mesh, rest: httpx.Client
) -> None:
    for path, body in [("/v1/users/me:sendPhoneCode", {}), ("/v1/users/me:verifyPhone", {"code": "123456"})]:
        anonymous = rest.post(path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)
    account = signup(rest, mesh, verified=False)
    updated = rest.patch(
        "/v1/users/me",
        params={"updateMask": "phone"},
        json={"phone": "+491701234567"},
        headers=account.headers,
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["phone"], updated.json()["phoneVerified"]) == ("+491701234567", False)
    # SMS cost money: only an account that proved its email address may have codes sent by SMS.
    refused = rest.post("/v1/users/me:sendPhoneCode", json={}, headers=account.headers)
    assert refused.status_code == 400, refused.text
    assert _reason(refused.json()) == "EMAIL_NOT_VERIFIED"
    wrong = rest.post("/v1/users/me:verifyPhone", json={"code": "123456"}, headers=account.headers)
    assert wrong.status_code == 400, wrong.text
    assert _reason(wrong.json()) == "VERIFICATION_CODE_INVALID"


def test_a_new_email_is_used_only_once_confirmed_with_the_code_sent_to_it(
    mesh: Mesh, rest: httpx.Client
) -> None:
    participant = signup(rest, mesh)
    new_address = f"moved-{uuid.uuid4().hex[:10]}@example.com"
    asked = time.time() - 1
    updated = rest.patch(
        "/v1/users/me",
        params={"updateMask": "email"},
        json={"email": new_address},
        headers=participant.headers,
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["email"], body["pendingEmail"], body["emailVerified"]) == (
        participant.email,
        new_address,
        True,
    )
    assert rest.post("/v1/auth:login", json={"email": new_address, "password": PASSWORD}).status_code == 401
    assert (
        rest.post("/v1/auth:login", json={"email": participant.email, "password": PASSWORD}).status_code
        == 200
    )

    code = verification_code(mesh, new_address, newer_than=asked)
    confirmed = rest.post("/v1/users:verifyEmail", json={"email": new_address, "code": code})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["email"], confirmed.json()["pendingEmail"]) == (new_address, "")
    assert rest.post("/v1/auth:login", json={"email": new_address, "password": PASSWORD}).status_code == 200
    assert (
        rest.post("/v1/auth:login", json={"email": participant.email, "password": PASSWORD}).status_code
        == 401
    )
