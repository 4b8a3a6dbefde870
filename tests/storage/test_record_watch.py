"""Record watches (``csrc/vaultcore_watch.c`` through ``storage._mdb.Env.watch``/``unchanged``):
"is the record that find() returned still exactly this?" in one C call, for the hot path of
key operations. Any other key or bytes, an absent record or a blocked gate answer no."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vaultcore import RawKeyCredential, Vault
from vaultcore._ffi import lib
from vaultcore.engine._reads import VERSIONS, version_key
from vaultcore.engine._records import Kind


@pytest.fixture
def vault(tmp_path: Path) -> Any:
    with Vault.create(tmp_path / "v", RawKeyCredential(b"\x42" * 32)) as v:
        yield v


def _watch(vault: Vault, name: str, version: str | None = None) -> tuple[Any, Any]:
    """A watch on secret *name* (latest, or *version*) as find() returns it now."""
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    store = vault._ctx.store
    okey = engine.objkey(Kind.SECRET, name)
    key = None if version is None else version_key(okey, version)
    found = store.find(VERSIONS, okey, key)
    assert found is not None
    return store, store.watch(okey, key, *found)


def test_a_watch_holds_until_the_record_changes(vault: Vault) -> None:
    first = vault.secrets.set_secret("s", "one").properties.version
    store, latest = _watch(vault, "s")
    _, pinned = _watch(vault, "s", first)
    assert store.unchanged(VERSIONS, latest) and store.unchanged(VERSIONS, pinned)
    vault.secrets.set_secret("s", "two")  # a new latest version: another key
    assert not store.unchanged(VERSIONS, latest)
    assert store.unchanged(VERSIONS, pinned)  # the pinned version's record is as it was
    vault.secrets.update_secret_properties("s", first, tags={"a": "b"})  # re-sealed in place
    assert not store.unchanged(VERSIONS, pinned)
    _, again = _watch(vault, "s", first)
    assert store.unchanged(VERSIONS, again)
    assert not store.unchanged(b"dversions", again)  # another database: not found there
    vault.secrets.delete_secret("s")
    assert not store.unchanged(VERSIONS, again)


def test_the_same_bytes_under_another_key_are_not_the_watched_record(vault: Vault) -> None:
    vault.secrets.set_secret("a", "x")
    vault.secrets.set_secret("b", "x")
    store, a = _watch(vault, "a")
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    okey_b = engine.objkey(Kind.SECRET, "b")
    found_b = store.find(VERSIONS, okey_b)
    assert found_b is not None
    _, blob_a = store.find(VERSIONS, engine.objkey(Kind.SECRET, "a"))
    # a watch claiming b's key with a's bytes: b's stored bytes differ, so it is not unchanged
    assert not store.unchanged(VERSIONS, store.watch(okey_b, None, found_b[0], blob_a))
    assert store.unchanged(VERSIONS, a)


def test_a_blocked_gate_or_a_closed_store_answers_no(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "v", RawKeyCredential(b"\x42" * 32))
    vault.secrets.set_secret("s", "v")
    store, watch = _watch(vault, "s")
    env = store._shared.env
    env.block_reads()
    try:
        assert not store.unchanged(VERSIONS, watch)
    finally:
        env.allow_reads()
    assert store.unchanged(VERSIONS, watch)
    vault.close()
    assert not env.unchanged(VERSIONS, watch)


def test_records_too_large_get_no_watch(vault: Vault) -> None:
    vault.secrets.set_secret("big", os.urandom(lib.VC_WATCH_MAX_RECORD).hex())  # incompressible
    _, watch = _watch(vault, "big")
    assert watch is None


def test_the_snapshot_a_watch_remembers_holds_for_its_own_store_and_database(vault: Vault, tmp_path: Path) -> None:
    """A watch found unchanged remembers the read snapshot (and skips the lookup while no
    transaction has committed since); asked about another store or database it looks up."""
    vault.secrets.set_secret("s", "one")
    store, watch = _watch(vault, "s")
    assert store.unchanged(VERSIONS, watch) and store.unchanged(VERSIONS, watch)  # the second: no lookup
    assert not store.unchanged(b"dversions", watch)
    with Vault.create(tmp_path / "other", RawKeyCredential(b"\x42" * 32)) as other:
        assert not other._ctx.store.unchanged(VERSIONS, watch)  # not there
    assert store.unchanged(VERSIONS, watch)
    vault.secrets.set_secret("t", "unrelated")  # a commit elsewhere: looked up again, still the same
    assert store.unchanged(VERSIONS, watch)
    vault.secrets.set_secret("s", "two")
    assert not store.unchanged(VERSIONS, watch)
