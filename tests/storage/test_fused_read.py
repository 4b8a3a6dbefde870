"""The fused native read (``storage._mdb.Env.read_open``): one C call from the read
transaction to the opened record, and its fallbacks to the general path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultcore import IntegrityError, RawKeyCredential, Vault
from vaultcore.crypto._envelope import RecordType
from vaultcore.storage._interface import FALLBACK

KEY = b"\x42" * 32


@pytest.fixture
def vault(tmp_path: Path) -> Any:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as v:
        yield v


def _store(vault: Vault) -> Any:
    return vault._ctx.store


def _refuse_general_path(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    used: list[str] = []

    def general(*args: Any, **kwargs: Any) -> Any:
        used.append("find_open")
        raise AssertionError("the general read path ran")

    engine = vault.secrets._engine  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "_find_open", general)
    return used


def test_reads_take_the_fused_path(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    old = vault.secrets.set_secret("s", "first")
    vault.secrets.set_secret("s", "second")
    _refuse_general_path(vault, monkeypatch)
    assert vault.secrets.get_secret("s").value == "second"
    assert vault.secrets.get_secret("s", old.properties.version).value == "first"
    with pytest.raises(Exception, match="not found"):
        vault.secrets.get_secret("absent")


def test_a_value_larger_than_the_first_buffer_is_read_whole(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    big = "".join(chr(0x41 + i % 26) for i in range(20_000))
    vault.secrets.set_secret("big", big)
    _refuse_general_path(vault, monkeypatch)
    assert vault.secrets.get_secret("big").value == big


def test_the_same_plaintext_as_the_general_path(vault: Vault) -> None:
    vault.secrets.set_secrets({f"n{i}": f"value-{i}" for i in range(50)})
    store = _store(vault)
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    native = vault._ctx.envelope.native_key(RecordType.VERSION)
    assert native is not None
    for i in range(50):
        okey = engine.objkey(engine_kind(vault), f"n{i}")
        fused = store.read_open(b"versions", okey, None, *native)
        general = store.find_open(b"versions", okey, None, engine._opener)
        assert fused == general and fused is not None


def engine_kind(vault: Vault) -> Any:
    from vaultcore.secrets._client import _KIND

    return _KIND


def test_another_term_or_a_blocked_gate_falls_back(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    store = _store(vault)
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    cache, kek, term, head = vault._ctx.envelope.native_key(RecordType.VERSION)  # type: ignore[misc]
    okey = engine.objkey(engine_kind(vault), "s")
    assert store.read_open(b"versions", okey, None, cache, kek, term + 1, head) is FALLBACK
    env = store._shared.env
    env.block_reads()
    try:
        assert store.read_open(b"versions", okey, None, cache, kek, term, head) is FALLBACK
        assert vault.secrets.get_secret("s").value == "v"  # the general path answers
    finally:
        env.allow_reads()
    assert store.read_open(b"versions", okey, None, cache, kek, term, head) is not FALLBACK


def test_a_wrong_key_or_binding_is_an_integrity_error(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    store = _store(vault)
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    cache, kek, term, head = vault._ctx.envelope.native_key(RecordType.VERSION)  # type: ignore[misc]
    okey = engine.objkey(engine_kind(vault), "s")
    with pytest.raises(IntegrityError):
        store.read_open(b"versions", okey, None, cache, bytes(32), term, head)
    with pytest.raises(IntegrityError):  # the AAD names another record type
        store.read_open(b"versions", okey, None, cache, kek, term, head[:-1] + RecordType.OBJECT)


def test_keyring_rotation_is_followed(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.secrets.set_secret("s", "v")
    vault.rotate_keyring()
    _refuse_general_path(vault, monkeypatch)
    assert vault.secrets.get_secret("s").value == "v"
