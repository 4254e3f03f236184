"""Token verification refuses every forgery we know of."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.runtime.auth import Role, SigningKey
from services.runtime.errors import ServiceError
from tests.support.tokens import TokenFactory


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """The classic key-confusion forgery: HMAC over the token with the public key as the secret."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def forged_tokens(factory: TokenFactory) -> dict[str, str]:
    good = factory.token("user-1", Role.ADMIN)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    public_pem = factory.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tampered = dict(claims, role="admin", sub="someone-else")
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': factory.key.kid})}.{payload}.",
        "hs256 with the public key": _hs256(claims, public_pem, factory.key.kid),
        "expired": factory.token("user-1", ttl=-120),
        "wrong audience": factory.token("user-1", aud="somebody-else"),
        "wrong issuer": factory.token("user-1", iss="evil"),
        "unknown kid": SigningKey.generate().sign(claims),
        "tampered payload": f"{header}.{_b64(tampered)}.{signature}",
        "garbage": "not-a-token",
        # Signed with the real key, but with claims no valid token has.
        "issued in the future": factory.token("user-1", iat=int(time.time()) + 3600),
        "not valid yet": factory.token("user-1", nbf=int(time.time()) + 3600),
        "no jti": factory.key.sign({key: value for key, value in claims.items() if key != "jti"}),
        "expiry as a string": factory.token("user-1", exp=str(int(time.time()) + 600)),
        "critical header extension": jwt.encode(
            claims,
            factory.key.private_key,
            algorithm="EdDSA",
            headers={"kid": factory.key.kid, "crit": ["exp"]},
        ),
        "four segments": good + ".AAAA",
    }


async def test_a_good_token_gives_its_principal(tokens: TokenFactory) -> None:
    principal = await tokens.verifier().verify(tokens.token("user-7", Role.ORGANIZER))
    assert principal.subject == "user-7"
    assert principal.role is Role.ORGANIZER
    assert principal.email_verified


@pytest.mark.parametrize("kind", list(forged_tokens(TokenFactory()).keys()))
async def test_forged_tokens_are_refused(tokens: TokenFactory, kind: str) -> None:
    token = forged_tokens(tokens)[kind]
    with pytest.raises(ServiceError) as raised:
        await tokens.verifier().verify(token)
    assert raised.value.code.name == "UNAUTHENTICATED"
