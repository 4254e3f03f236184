"""Secrets that must cross the bus (a verification code on its way to the mailer) travel sealed.

The bus keeps what it carries: the producer's outbox row (a day), the Redis stream (until trimmed),
a dead letter (until someone looks). A verification code in clear in any of those is an account
takeover waiting for whoever can read Redis or a database dump. So the producer seals it with
AES-256-GCM under a key both ends derive from the secret they already share
(SEATMESH_SERVICE_SECRET) and a purpose label, and only the consumer opens it, at the moment it
renders the message. The associated data binds the sealed bytes to their context (e.g. the user
id), so a sealed code cannot be replayed into another user's message.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
_VERSION = b"\x01"


class SealBroken(Exception):
    """The sealed bytes were not made with this key and context (or were tampered with)."""


class Sealer:
    def __init__(self, secret: str, purpose: str) -> None:
        if not secret:
            raise ValueError("sealing needs the service secret (SEATMESH_SERVICE_SECRET)")
        key = hmac.new(secret.encode(), f"seatmesh sealing v1: {purpose}".encode(), hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        if len(sealed) <= 1 + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise SealBroken("not a sealed value of this version")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise SealBroken("the sealed value does not open with this key and context") from None
