"""Access tokens for tests that run a service without the users service beside it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from services.runtime.auth import KeySet, Role, SigningKey, TokenVerifier, access_claims, static_jwks

ISSUER = "seatmesh"
AUDIENCE = "seatmesh"


@dataclass
class TokenFactory:
    key: SigningKey = field(default_factory=SigningKey.generate)

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(KeySet(static_jwks(self.key)), issuer=ISSUER, audience=AUDIENCE)

    def token(
        self,
        subject: str | None = None,
        role: Role = Role.PARTICIPANT,
        *,
        verified: bool = True,
        ttl: int = 900,
        **overrides: object,
    ) -> str:
        claims = access_claims(
            subject=subject or str(uuid.uuid4()),
            role=role,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=ttl,
            email_verified=verified,
            now=time.time(),
        )
        claims.update(overrides)
        return self.key.sign(claims)

    def service_token(self, name: str = "test") -> str:
        return self.token(f"service:{name}", Role.SERVICE)

    def credentials(self, name: str = "test") -> StaticToken:
        return StaticToken(self.service_token(name))


@dataclass
class StaticToken:
    value: str

    async def token(self) -> str:
        return self.value


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
