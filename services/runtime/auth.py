"""Access tokens: their format, verification in every service, and the caller's principal.

Tokens are EdDSA (Ed25519) JWTs issued by the users service and published as JWKS. Envoy checks them
at the edge; every service checks them again here, so a caller that reaches a service directly meets
the same rules. Only algorithms of the key the `kid` names are accepted, which shuts out `alg: none`
and HS256-signed-with-the-public-key forgeries by construction.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import enum
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.runtime.errors import ServiceError, failed_precondition, permission_denied, unauthenticated

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"


class Role(enum.StrEnum):
    PARTICIPANT = "participant"
    ORGANIZER = "organizer"
    ADMIN = "admin"
    SERVICE = "service"


class Access(enum.Enum):
    """Who may call an RPC at all; finer ownership checks live in the servicer."""

    PUBLIC = "public"  # anonymous allowed; a token, if sent, must still be valid
    USER = "user"  # any authenticated caller
    SERVICE = "service"  # only other services of the mesh (role `service`)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    email_verified: bool = False
    token_id: str = ""

    @property
    def user_id(self) -> str:
        return self.subject

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_service(self) -> bool:
        return self.role is Role.SERVICE


principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return principal_var.get()


def require_principal() -> Principal:
    principal = principal_var.get()
    if principal is None:
        raise unauthenticated()
    return principal


def require_role(*roles: Role) -> Principal:
    principal = require_principal()
    if principal.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise permission_denied(f"this requires one of the roles: {allowed}", reason="ROLE_REQUIRED")
    return principal


def require_verified(principal: Principal, verification_required: bool = True) -> None:
    if verification_required and not principal.email_verified and not principal.is_service:
        raise failed_precondition(
            "EMAIL_NOT_VERIFIED", "verify your email address first (POST /v1/users:verifyEmail)"
        )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key of the users service's key ring."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(
            kid=uuid.uuid4().hex[:16], private_key=Ed25519PrivateKey.generate(), created_at=time.time()
        )

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, kid: str, pem: bytes, created_at: float) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("signing key must be Ed25519")
        return cls(kid=kid, private_key=key, created_at=created_at)

    def public_jwk(self) -> dict[str, str]:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(raw),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def access_claims(
    *,
    subject: str,
    role: Role,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    email_verified: bool,
    now: float | None = None,
) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role.value,
        "email_verified": email_verified,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class KeySet:
    """Public keys by `kid`, fetched on demand and again when a token names an unknown `kid`.

    Refetches are spaced by `min_refresh_interval` so a flood of tokens with made-up kids cannot
    turn into a flood of JWKS requests.
    """

    def __init__(
        self, fetch: JwksFetcher, *, max_age: float = 300.0, min_refresh_interval: float = 2.0
    ) -> None:
        self._fetch = fetch
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = 0.0
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._min_refresh_interval:
                return
            document = await self._fetch()
            keys: dict[str, Ed25519PublicKey] = {}
            for entry in document.get("keys", []):
                if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "kid" not in entry:
                    continue
                key = jwt.PyJWK(entry, algorithm=ALGORITHM).key
                if isinstance(key, Ed25519PublicKey):
                    keys[entry["kid"]] = key
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        stale = time.monotonic() - self._fetched_at > self._max_age
        if kid not in self._keys or stale:
            try:
                await self._refresh()
            except Exception:
                # Keep serving with the keys we have; a token with an unknown kid is refused below.
                log.warning("could not refresh JWKS", exc_info=True)
        return self._keys.get(kid)


class TokenVerifier:
    """Verifies access tokens and caches the result until the token expires."""

    def __init__(self, keys: KeySet, *, issuer: str, audience: str, cache_size: int = 20_000) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            principal, expires = cached
            if expires > time.time():
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthenticated("malformed access token", reason="INVALID_TOKEN") from None
        if header.get("alg") != ALGORITHM:
            raise unauthenticated("unsupported token algorithm", reason="INVALID_TOKEN")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise unauthenticated("token has no key id", reason="INVALID_TOKEN")
        key = await self.keys.get(kid)
        if key is None:
            raise unauthenticated("token signed by an unknown key", reason="INVALID_TOKEN")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("access token expired", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise unauthenticated("invalid access token", reason="INVALID_TOKEN") from None
        # NumericDates must be numbers (PyJWT would also take "123"); only our key can sign such a
        # token, but a strict reading costs nothing.
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise unauthenticated("invalid access token", reason="INVALID_TOKEN")
        try:
            role = Role(str(claims.get("role")))
        except ValueError:
            raise unauthenticated("token has no valid role", reason="INVALID_TOKEN") from None
        principal = Principal(
            subject=str(claims["sub"]),
            role=role,
            email_verified=bool(claims.get("email_verified", False)),
            token_id=str(claims["jti"]),
        )
        self._cache[token] = (principal, float(claims["exp"]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal


def bearer_token(metadata: dict[str, str]) -> str | None:
    value = metadata.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("Authorization must be 'Bearer <token>'", reason="INVALID_TOKEN")
    return token.strip()


def check_access(access: Access, principal: Principal | None) -> None:
    if access is Access.PUBLIC:
        return
    if principal is None:
        raise unauthenticated()
    if access is Access.SERVICE and not principal.is_service:
        raise permission_denied("this RPC is internal to the mesh", reason="INTERNAL_RPC")


def static_jwks(*keys: SigningKey) -> JwksFetcher:
    """A fetcher over fixed keys (the users service verifies its own tokens this way; tests too)."""

    async def fetch() -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in keys]}

    return fetch


def jwks_json(keys: list[dict[str, str]]) -> bytes:
    return json.dumps({"keys": keys}, separators=(",", ":")).encode()


__all__ = [
    "Access",
    "KeySet",
    "Principal",
    "Role",
    "ServiceError",
    "SigningKey",
    "TokenVerifier",
]
