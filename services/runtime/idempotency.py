"""Client-chosen request ids (AIP-155), the same way in every service.

A create-like RPC with a `request_id` stores it with a fingerprint of the request body. A repeat
with the same id and the same body returns the first result; with another body it is refused with
REQUEST_ID_REUSED, because the client is confused and guessing would lose data either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf import message as protobuf_message

from services.runtime.errors import ServiceError, bad_field

MAX_REQUEST_ID = 128

T = TypeVar("T")


def request_id_or_none(value: str, field_path: str = "request_id") -> str | None:
    """The request id, or None when the client sent none; refuses one we could not store."""
    if not value:
        return None
    if len(value) > MAX_REQUEST_ID or not value.isprintable():
        raise bad_field(field_path, f"must be at most {MAX_REQUEST_ID} printable characters")
    return value


def fingerprint(*messages: protobuf_message.Message) -> str:
    """A stable digest of request bodies (deterministic serialization)."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(message.SerializeToString(deterministic=True))
        digest.update(b"\x00")
    return digest.hexdigest()


def request_id_reused(field_path: str = "request_id") -> ServiceError:
    return bad_field(
        field_path,
        "was used before with a different request body; use a new request id",
        reason="REQUEST_ID_REUSED",
    )


async def replay(find: Callable[[], Awaitable[tuple[T, str] | None]], fingerprint: str) -> T | None:
    """The first result of this request id (None when it is new); REQUEST_ID_REUSED when the first
    request had another body. `find` looks up (result, stored fingerprint)."""
    found = await find()
    if found is None:
        return None
    result, first_fingerprint = found
    if first_fingerprint != fingerprint:
        raise request_id_reused()
    return result
