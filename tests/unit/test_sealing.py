"""Sealed secrets open only with the same key, purpose and context."""

from __future__ import annotations

import pytest

from services.runtime.sealing import SealBroken, Sealer


def test_a_sealed_code_opens_with_the_same_key_and_context_only() -> None:
    sealer = Sealer("s" * 40, "verification codes")
    sealed = sealer.seal("123456", "user-1")
    assert b"123456" not in sealed
    assert sealer.open(sealed, "user-1") == "123456"
    with pytest.raises(SealBroken):
        sealer.open(sealed, "user-2")
    with pytest.raises(SealBroken):
        Sealer("t" * 40, "verification codes").open(sealed, "user-1")
    with pytest.raises(SealBroken):
        Sealer("s" * 40, "something else").open(sealed, "user-1")
    with pytest.raises(SealBroken):
        sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "user-1")
    with pytest.raises(SealBroken):
        sealer.open(b"", "user-1")


def test_every_seal_is_different() -> None:
    sealer = Sealer("s" * 40, "verification codes")
    assert sealer.seal("123456", "u") != sealer.seal("123456", "u")
