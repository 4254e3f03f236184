"""Opaque page tokens for keyset pagination (AIP-158): never OFFSET, stable under inserts.

A token is the base64url JSON of the last row's sort key plus a fingerprint of the query's
filters, so a token used with different filters is refused instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from services.runtime.errors import bad_field

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise bad_field("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, maximum)


def fingerprint(filters: Any) -> str:
    encoded = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:12]


def encode_token(key: list[Any], filters: Any) -> str:
    payload = {"k": key, "f": fingerprint(filters)}
    raw = json.dumps(payload, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token: str, filters: Any) -> list[Any] | None:
    """The sort key after which the next page starts; None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = payload["k"]
        stamp = payload["f"]
    except Exception:
        raise bad_field("page_token", "is not a page token this API issued") from None
    if not isinstance(key, list) or stamp != fingerprint(filters):
        raise bad_field(
            "page_token", "belongs to a query with other filters or order; start again without it"
        )
    return key
