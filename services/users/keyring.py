"""The users service's signing keys: which key signs, which keys are published, when to rotate.

Two sources:
- a key directory (`SEATMESH_KEY_DIR`, the default): one JSON file per key, generated on first
  start and rotated automatically. Replicas share the directory; whoever holds the directory's
  lock file creates the next key, everyone else picks it up on their next reload. The signing
  key is a pure function of the files and the clock, so every replica agrees without talking.
- a PEM file (`SEATMESH_SIGNING_KEY_FILE`) the operator manages: the first key signs, further
  keys are only published. Rotating by hand: append the new key, wait longer than the JWKS cache
  (5 min), move it to the top, and remove the old key once its tokens expired (15 min later).

Timeline of one automatic rotation: the successor is written `publish_lead` before it takes over
(so every JWKS cache has seen it); the predecessor stays published `retire_after` past the
hand-over (so every token it signed has expired); files of keys gone from the JWKS for a day are
deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.runtime.auth import SigningKey, b64url, jwks_json

log = logging.getLogger(__name__)

DELETE_AFTER_UNPUBLISHED = 86_400.0
_LOCK_FILE = ".lock"


@dataclass(frozen=True)
class RingKey:
    key: SigningKey
    # When it starts signing; it is published from the moment it exists.
    active_from: float

    @property
    def kid(self) -> str:
        return self.key.kid


@dataclass(frozen=True)
class KeyPlan:
    signing: RingKey | None
    published: tuple[RingKey, ...]
    # Old keys whose files can go.
    expired: tuple[RingKey, ...]
    # A successor should be created now.
    rotate: bool


def plan_keys(keys: list[RingKey], now: float, *, rotate_after: float, retire_after: float) -> KeyPlan:
    """Decide the signing key, the published keys and whether to rotate (no I/O)."""
    ordered = sorted(keys, key=lambda item: (item.active_from, item.kid))
    if not ordered:
        return KeyPlan(signing=None, published=(), expired=(), rotate=True)
    active = [item for item in ordered if item.active_from <= now]
    # Only clock trouble leaves no key active yet; signing with the oldest beats not signing at all.
    signing = active[-1] if active else ordered[0]
    published: list[RingKey] = []
    expired: list[RingKey] = []
    for index, item in enumerate(ordered):
        successor = ordered[index + 1] if index + 1 < len(ordered) else None
        # A key signs until its successor takes over; tokens it signed live `retire_after` longer.
        retired_at = successor.active_from + retire_after if successor is not None else None
        if item is signing or retired_at is None or now < retired_at:
            published.append(item)
        elif now >= retired_at + DELETE_AFTER_UNPUBLISHED:
            expired.append(item)
    has_successor = ordered[-1] is not signing
    rotate = not has_successor and now >= signing.active_from + rotate_after
    return KeyPlan(signing=signing, published=tuple(published), expired=tuple(expired), rotate=rotate)


def key_id(private_key: Ed25519PrivateKey) -> str:
    """RFC 7638 thumbprint of the public key (shortened): the same key gets the same kid everywhere."""
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = b64url(raw)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())[:16]


# -- key directory -----------------------------------------------------------------------------


def _encode(item: RingKey) -> bytes:
    return json.dumps(
        {
            "kid": item.kid,
            "created_at": item.key.created_at,
            "active_from": item.active_from,
            "private_key": item.key.private_pem().decode(),
        },
        indent=2,
    ).encode()


def _decode(document: dict[str, Any]) -> RingKey:
    key = SigningKey.from_pem(
        str(document["kid"]), str(document["private_key"]).encode(), float(document["created_at"])
    )
    return RingKey(key=key, active_from=float(document["active_from"]))


def read_key_dir(directory: Path) -> list[RingKey]:
    keys: list[RingKey] = []
    if not directory.is_dir():
        return keys
    for path in sorted(directory.glob("*.json")):
        try:
            keys.append(_decode(json.loads(path.read_bytes())))
        except (OSError, ValueError, KeyError, TypeError):
            log.error("ignoring unreadable signing key file", extra={"path": str(path)})
    return keys


def signing_key_in_dir(directory: Path, now: float | None = None) -> SigningKey | None:
    """The key that signs now, read from a key directory without changing it (tools and tests
    that mint tokens exactly as the users service would)."""
    plan = plan_keys(
        read_key_dir(directory),
        time.time() if now is None else now,
        rotate_after=float("inf"),
        retire_after=0.0,
    )
    return plan.signing.key if plan.signing is not None else None


def _write_key(directory: Path, item: RingKey) -> None:
    # Written under a temporary name and renamed: readers never see half a key.
    final = directory / f"{item.kid}.json"
    temporary = directory / f".{item.kid}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(_encode(item))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / _LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def maintain_key_dir(
    directory: Path, now: float, *, rotate_after: float, publish_lead: float, retire_after: float
) -> list[RingKey]:
    """Create the first key or the next one when due, drop long-expired files; returns the keys.

    Safe with several processes on one directory (an exclusive lock file serialises them).
    """
    keys = read_key_dir(directory)
    plan = plan_keys(keys, now, rotate_after=rotate_after, retire_after=retire_after)
    if not plan.rotate and not plan.expired:
        return keys
    with _directory_lock(directory):
        # Someone else may have rotated while we waited for the lock.
        keys = read_key_dir(directory)
        plan = plan_keys(keys, now, rotate_after=rotate_after, retire_after=retire_after)
        if plan.rotate:
            private_key = Ed25519PrivateKey.generate()
            # The very first key signs at once: no JWKS cache can hold an older set of keys.
            active_from = now if not keys else now + publish_lead
            item = RingKey(SigningKey(key_id(private_key), private_key, now), active_from)
            _write_key(directory, item)
            keys.append(item)
            log.info(
                "created signing key",
                extra={"kid": item.kid, "active_from": active_from, "first": len(keys) == 1},
            )
        for item in plan.expired:
            with contextlib.suppress(FileNotFoundError):
                (directory / f"{item.kid}.json").unlink()
            keys.remove(item)
            log.info("deleted expired signing key", extra={"kid": item.kid})
    return keys


# -- configured PEM file -----------------------------------------------------------------------

_PEM_BEGIN = b"-----BEGIN PRIVATE KEY-----"


def read_key_file(path: Path) -> list[RingKey]:
    """Every Ed25519 private key (PKCS#8 PEM) in the file; the first one signs."""
    data = path.read_bytes()
    blocks = [_PEM_BEGIN + block for block in data.split(_PEM_BEGIN)[1:]]
    if not blocks:
        raise ValueError(f"{path} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    keys = []
    for position, block in enumerate(blocks):
        private_key = serialization.load_pem_private_key(block.strip() + b"\n", password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError(f"{path}: key {position + 1} is not an Ed25519 key")
        # The first key is the one that signs; the others are only published.
        keys.append(
            RingKey(SigningKey(key_id(private_key), private_key, 0.0), 0.0 if position == 0 else -1.0)
        )
    return keys


# -- the ring ----------------------------------------------------------------------------------


class KeyRing:
    """The current signing key and JWKS of this process, reloaded from its source periodically."""

    def __init__(
        self,
        *,
        key_dir: Path,
        key_file: Path | None = None,
        rotate_after: float,
        publish_lead: float,
        retire_after: float,
    ) -> None:
        self.key_dir = key_dir
        self.key_file = key_file
        self.rotate_after = rotate_after
        self.publish_lead = publish_lead
        self.retire_after = retire_after
        self._keys: list[RingKey] = []
        self._plan: KeyPlan | None = None
        self._planned_at = 0.0
        self._jwks = b""
        self._jwks_kids: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def reload(self, now: float | None = None) -> None:
        """Read the keys (creating or rotating them when due). Blocking file I/O: run in a thread."""
        now = time.time() if now is None else now
        if self.key_file is not None:
            keys = read_key_file(self.key_file)
        else:
            keys = maintain_key_dir(
                self.key_dir,
                now,
                rotate_after=self.rotate_after,
                publish_lead=self.publish_lead,
                retire_after=self.retire_after,
            )
        with self._lock:
            self._keys = keys
            self._plan = None

    def _current_plan(self, now: float) -> KeyPlan:
        # Re-planned at most once a second: hand-over happens on time without planning per token.
        with self._lock:
            if self._plan is None or abs(now - self._planned_at) >= 1.0:
                if self.key_file is not None:
                    self._plan = KeyPlan(
                        signing=self._keys[0] if self._keys else None,
                        published=tuple(self._keys),
                        expired=(),
                        rotate=False,
                    )
                else:
                    self._plan = plan_keys(
                        self._keys, now, rotate_after=self.rotate_after, retire_after=self.retire_after
                    )
                self._planned_at = now
            return self._plan

    def signing_key(self, now: float | None = None) -> SigningKey:
        plan = self._current_plan(time.time() if now is None else now)
        if plan.signing is None:
            raise RuntimeError("the key ring has no signing key; call reload() first")
        return plan.signing.key

    def published_kids(self, now: float | None = None) -> list[str]:
        return [item.kid for item in self._current_plan(time.time() if now is None else now).published]

    def jwks(self, now: float | None = None) -> bytes:
        """The exact JWKS document (RFC 7517) of the published public keys."""
        plan = self._current_plan(time.time() if now is None else now)
        kids = tuple(item.kid for item in plan.published)
        if kids != self._jwks_kids:
            self._jwks = jwks_json([item.key.public_jwk() for item in plan.published])
            self._jwks_kids = kids
        return self._jwks

    async def fetch_jwks(self) -> dict[str, Any]:
        """A JwksFetcher for this service's own TokenVerifier (no network)."""
        document: dict[str, Any] = json.loads(self.jwks())
        return document
