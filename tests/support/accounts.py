"""Accounts for end-to-end tests: real sign-ups through Envoy, or tokens minted with the mesh's key.

    account = signup(rest, mesh, role="ROLE_ORGANIZER")
    rest.post("/v1/events", json=..., headers=account.headers)

    token = mesh_token(mesh, str(uuid.uuid4()), "organizer")   # no account, for load-style tests

`signup` goes the way a person does: register, read the code from the email the SMTP sink stored
under `<var>/mail`, verify, sign in. `mesh_token` signs with the mesh's own current key (read from
`<var>/keys`, never created there), in the same format the users service issues.
"""

from __future__ import annotations

import email
import email.policy
import functools
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.mesh import Mesh
from services.runtime.auth import Role, SigningKey, access_claims
from services.users.keyring import signing_key_in_dir

PASSWORD = "e2e correct horse battery"
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _role(role: Role | str) -> Role:
    if isinstance(role, Role):
        return role
    return Role(role.lower().removeprefix("role_"))


def verification_code(mesh: Mesh, address: str, *, timeout: float = 30.0, newer_than: float = 0.0) -> str:
    """The code in the newest verification email to `address` (modified after `newer_than`)."""
    mail_dir = mesh.var / "mail"
    deadline = time.monotonic() + timeout
    while True:
        found: list[tuple[float, str]] = []
        for path in mail_dir.glob("*.eml") if mail_dir.is_dir() else []:
            modified = path.stat().st_mtime
            if modified < newer_than:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address.lower() not in str(message.get("To", "")).lower():
                continue
            body = message.get_body(preferencelist=("plain",))
            text = f"{message.get('Subject', '')}\n{body.get_content() if body is not None else ''}"
            code = _CODE.search(text)
            if code:
                found.append((modified, code.group(1)))
        if found:
            return max(found)[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no verification email to {address} in {mail_dir} after {timeout:.0f}s")
        time.sleep(0.1)


def signup(
    rest: httpx.Client,
    mesh: Mesh,
    *,
    role: str = "ROLE_PARTICIPANT",
    verified: bool = True,
    display_name: str = "E2E Person",
) -> Account:
    address = f"{_role(role).value}-{uuid.uuid4().hex[:12]}@example.com"
    started = time.time() - 1
    response = rest.post(
        "/v1/users:register",
        json={"email": address, "password": PASSWORD, "displayName": display_name, "role": role},
    )
    assert response.status_code == 200, response.text
    user_id = response.json()["id"]
    if verified:
        code = verification_code(mesh, address, newer_than=started)
        response = rest.post("/v1/users:verifyEmail", json={"email": address, "code": code})
        assert response.status_code == 200, response.text
    response = rest.post("/v1/auth:login", json={"email": address, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens = response.json()
    return Account(user_id, address, PASSWORD, tokens["accessToken"], tokens["refreshToken"])


@functools.lru_cache(maxsize=8)
def _signing_key(key_dir: Path) -> SigningKey:
    key = signing_key_in_dir(key_dir)
    if key is None:
        raise AssertionError(f"no signing key in {key_dir}; is the users service running?")
    return key


def mesh_token(
    mesh: Mesh, user_id: str, role: Role | str, verified: bool = True, *, ttl_seconds: int = 900
) -> str:
    """An access token for `user_id` exactly as the users service would issue it."""
    claims = access_claims(
        subject=user_id,
        role=_role(role),
        issuer=mesh.service_env.get("SEATMESH_JWT_ISSUER", "seatmesh"),
        audience=mesh.service_env.get("SEATMESH_JWT_AUDIENCE", "seatmesh"),
        ttl_seconds=ttl_seconds,
        email_verified=verified,
    )
    return _signing_key(mesh.var / "keys").sign(claims)
