"""Keyset pagination (AIP-158) with opaque, authenticated page tokens: never OFFSET, stable under
inserts, and decoded in this one place.

A token carries the last row's sort key and an HMAC over that key and the query's filters, made
with a key only the service has. Anything this service did not issue for this very query (forged,
truncated, from another list, from other filters) is refused with INVALID_ARGUMENT before any of
it is used; what a genuine token holds is then parsed against the key's declared types.

    tokens = PageTokens.from_secret(settings.service_secret.get_secret_value())
    after = tokens.decode(request.page_token, filters, KEY)      # None on the first page
    rows = await store.list(..., after=after, limit=size + 1)
    page, next_token = tokens.page(rows, size, filters, lambda row: (row.create_time, row.id))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from services.runtime.errors import ServiceError, bad_field

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Far above any token we issue (a few sort key parts); anything longer is refused unread.
MAX_TOKEN_LENGTH = 512
_MAC_BYTES = 16

# What a sort key may be made of; a list declares its key as a tuple of these types.
KeyPart = datetime | uuid.UUID | int | float | str
KeyKinds = tuple[type, ...]

RowT = TypeVar("RowT")
FilterT = TypeVar("FilterT")


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise bad_field("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, maximum)


def enum_filter(
    number: int, by_number: Mapping[int, FilterT], description: str, field_path: str = "state"
) -> FilterT | None:
    """A list request's enum filter (its proto number): None when unset (0), else the value it
    names; a number that names none is refused, described by `description`."""
    if not number:
        return None
    value = by_number.get(number)
    if value is None:
        raise bad_field(field_path, description)
    return value


def _not_ours() -> ServiceError:
    return bad_field(
        "page_token", "is not a page token this API issued for this query; start again without it"
    )


def _canonical(filters: Mapping[str, Any]) -> bytes:
    return json.dumps(filters, sort_keys=True, default=str, separators=(",", ":")).encode()


def _encode_part(part: KeyPart) -> Any:
    if isinstance(part, datetime):
        return part.isoformat()
    if isinstance(part, uuid.UUID):
        return str(part)
    return part


def _decode_part(value: Any, kind: type) -> KeyPart:
    """One key part of a token we signed, back into its type (defensive all the same)."""
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError("time expected")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise ValueError("id expected")
        return uuid.UUID(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise ValueError("integer expected")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("number expected")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError("text expected")
        return value
    raise TypeError(f"unsupported key part type {kind!r}")


class PageTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the page token key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str) -> PageTokens:
        """Keys derived from the service secret, so every replica reads every replica's tokens.

        Without a secret (a test server) the key is random: tokens then only work with the process
        that issued them.
        """
        if not secret:
            log.warning("no service secret: page tokens are valid only in this process")
            return cls(secrets.token_bytes(32))
        return cls(hmac.new(secret.encode(), b"seatmesh page tokens v1", hashlib.sha256).digest())

    def _mac(self, payload: bytes, filters: Mapping[str, Any]) -> bytes:
        return hmac.new(self._key, payload + b"\x00" + _canonical(filters), hashlib.sha256).digest()[
            :_MAC_BYTES
        ]

    def encode(self, key: Sequence[KeyPart], filters: Mapping[str, Any]) -> str:
        payload = json.dumps([_encode_part(part) for part in key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload, filters)).rstrip(b"=").decode()

    def decode(self, token: str, filters: Mapping[str, Any], kinds: KeyKinds) -> tuple[Any, ...] | None:
        """The sort key after which the next page starts; None for the first page (no token)."""
        if not token:
            return None
        if len(token) > MAX_TOKEN_LENGTH:
            raise _not_ours()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _not_ours() from None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload, filters)):
            raise _not_ours()
        try:
            parts = json.loads(payload)
            if not isinstance(parts, list) or len(parts) != len(kinds):
                raise ValueError("key of another shape")
            return tuple(_decode_part(value, kind) for value, kind in zip(parts, kinds, strict=True))
        except (ValueError, TypeError, OverflowError):
            # Only a token signed with our key gets here: a bug (a list changed its key), not an attack.
            log.warning("a signed page token did not parse", exc_info=True)
            raise _not_ours() from None

    def page(
        self,
        rows: Sequence[RowT],
        size: int,
        filters: Mapping[str, Any],
        key: Callable[[RowT], Sequence[KeyPart]],
    ) -> tuple[Sequence[RowT], str]:
        """Cut `rows` (read with limit size + 1) to a page and the token of the next one ("" at the end)."""
        if len(rows) <= size:
            return rows, ""
        page = rows[:size]
        return page, self.encode(key(page[-1]), filters)
