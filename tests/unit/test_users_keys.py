"""The signing key ring: first key, rotation timeline, replicas sharing a directory, PEM files."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.runtime.auth import KeySet, Role, SigningKey, TokenVerifier, access_claims
from services.users.keyring import (
    DELETE_AFTER_UNPUBLISHED,
    KeyRing,
    RingKey,
    key_id,
    maintain_key_dir,
    plan_keys,
    read_key_dir,
)

ROTATE = 30 * 86_400.0
LEAD = 600.0
RETIRE = 960.0
T0 = 1_800_000_000.0


def _maintain(directory: Path, now: float) -> list[RingKey]:
    return maintain_key_dir(directory, now, rotate_after=ROTATE, publish_lead=LEAD, retire_after=RETIRE)


def _plan(keys: list[RingKey], now: float):  # type: ignore[no-untyped-def]
    return plan_keys(keys, now, rotate_after=ROTATE, retire_after=RETIRE)


def test_the_first_key_is_created_once_and_signs_at_once(tmp_path: Path) -> None:
    keys = _maintain(tmp_path / "keys", T0)
    assert len(keys) == 1
    assert keys[0].active_from == T0
    assert _plan(keys, T0).signing.kid == keys[0].kid
    again = _maintain(tmp_path / "keys", T0 + 60)
    assert [item.kid for item in again] == [keys[0].kid]
    written = tmp_path / "keys" / f"{keys[0].kid}.json"
    assert written.stat().st_mode & 0o777 == 0o600
    assert json.loads(written.read_text())["kid"] == keys[0].kid


def test_rotation_publishes_before_signing_and_retires_after_tokens_expire(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    (old,) = _maintain(directory, T0)
    assert not _plan([old], T0 + ROTATE - 1).rotate

    rotated_at = T0 + ROTATE
    keys = _maintain(directory, rotated_at)
    assert len(keys) == 2
    (new,) = [item for item in keys if item.kid != old.kid]
    assert new.active_from == rotated_at + LEAD

    # Published at once, but the old key keeps signing until every JWKS cache has the new one.
    plan = _plan(keys, rotated_at + LEAD - 1)
    assert plan.signing.kid == old.kid
    assert {item.kid for item in plan.published} == {old.kid, new.kid}
    assert not plan.rotate  # a successor is already waiting

    # Hand-over: the new key signs; the old one stays published while its tokens can live.
    plan = _plan(keys, rotated_at + LEAD)
    assert plan.signing.kid == new.kid
    assert {item.kid for item in plan.published} == {old.kid, new.kid}
    plan = _plan(keys, rotated_at + LEAD + RETIRE - 1)
    assert {item.kid for item in plan.published} == {old.kid, new.kid}
    plan = _plan(keys, rotated_at + LEAD + RETIRE)
    assert [item.kid for item in plan.published] == [new.kid]
    assert plan.expired == ()

    # A day after leaving the JWKS, its file goes.
    later = rotated_at + LEAD + RETIRE + DELETE_AFTER_UNPUBLISHED
    remaining = _maintain(directory, later)
    assert [item.kid for item in remaining] == [new.kid]
    assert [item.kid for item in read_key_dir(directory)] == [new.kid]


def _start_replica(directory: str) -> str:
    keys = maintain_key_dir(Path(directory), T0, rotate_after=ROTATE, publish_lead=LEAD, retire_after=RETIRE)
    ring = KeyRing(key_dir=Path(directory), rotate_after=ROTATE, publish_lead=LEAD, retire_after=RETIRE)
    ring.reload(T0)
    assert len(keys) >= 1
    return ring.signing_key(T0).kid


def test_replicas_starting_together_share_one_key(tmp_path: Path) -> None:
    directory = str(tmp_path / "keys")
    with ProcessPoolExecutor(max_workers=4) as pool:
        kids = list(pool.map(_start_replica, [directory] * 8))
    assert len(set(kids)) == 1
    assert len(read_key_dir(Path(directory))) == 1


def test_unreadable_key_files_are_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    (good,) = _maintain(directory, T0)
    (directory / "broken.json").write_text("{not json")
    assert [item.kid for item in read_key_dir(directory)] == [good.kid]


async def test_tokens_signed_by_the_ring_verify_against_its_jwks(tmp_path: Path) -> None:
    ring = KeyRing(key_dir=tmp_path / "keys", rotate_after=ROTATE, publish_lead=LEAD, retire_after=RETIRE)
    ring.reload()
    document = json.loads(ring.jwks())
    assert [entry["kid"] for entry in document["keys"]] == ring.published_kids()
    assert all(set(entry) == {"kty", "crv", "x", "kid", "use", "alg"} for entry in document["keys"])
    token = ring.signing_key().sign(
        access_claims(
            subject="user-1",
            role=Role.ORGANIZER,
            issuer="seatmesh",
            audience="seatmesh",
            ttl_seconds=900,
            email_verified=True,
        )
    )
    verifier = TokenVerifier(KeySet(ring.fetch_jwks), issuer="seatmesh", audience="seatmesh")
    principal = await verifier.verify(token)
    assert principal.subject == "user-1"
    assert principal.role is Role.ORGANIZER


def _pem(key: Ed25519PrivateKey) -> bytes:
    return SigningKey("x", key, 0).private_pem()


def test_a_configured_pem_file_signs_with_its_first_key_and_publishes_all(tmp_path: Path) -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_bytes(_pem(first) + _pem(second))
    ring = KeyRing(
        key_dir=tmp_path / "unused",
        key_file=path,
        rotate_after=ROTATE,
        publish_lead=LEAD,
        retire_after=RETIRE,
    )
    ring.reload()
    assert ring.signing_key().kid == key_id(first)
    assert ring.published_kids() == [key_id(first), key_id(second)]
    assert not (tmp_path / "unused").exists()
    token = ring.signing_key().sign({"sub": "x"})
    assert jwt.get_unverified_header(token)["kid"] == key_id(first)
    # Rotating by hand: the second key moves to the top and takes over on the next reload.
    path.write_bytes(_pem(second) + _pem(first))
    ring.reload()
    assert ring.signing_key().kid == key_id(second)


def test_a_pem_file_without_keys_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_text("nothing here")
    ring = KeyRing(
        key_dir=tmp_path, key_file=path, rotate_after=ROTATE, publish_lead=LEAD, retire_after=RETIRE
    )
    with pytest.raises(ValueError, match="no PEM private key"):
        ring.reload()


def test_key_ids_are_stable_thumbprints() -> None:
    key = Ed25519PrivateKey.generate()
    assert key_id(key) == key_id(key)
    assert key_id(key) != key_id(Ed25519PrivateKey.generate())
