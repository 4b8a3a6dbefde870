"""The LMDB read path of issue 12: the record opened inside the read transaction,
through the DEK cache, with a bounded LRU of name -> store key.

Checked against the generic path (``find()`` then ``open()``, what other stores use): the
same results and the same errors, tampering caught with a DEK already cached, and the DEK
cache wiped on keyring rotation, purge, close and fork.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from corehelpers import FakeClock, run_in_child
from vaultcore import (
    ForbiddenError,
    IntegrityError,
    KeyVaultSecret,
    NotFoundError,
    RawKeyCredential,
    Vault,
)
from vaultcore.engine._records import Kind


def _generic(vault: Vault, call: Callable[[], Any]) -> Any:
    engine = vault._engine  # type: ignore[attr-defined]
    saved, engine._find_open = engine._find_open, None
    try:
        return call()
    finally:
        engine._find_open = saved


def _deks(vault: Vault) -> Any:
    return vault._ctx.envelope.deks  # type: ignore[attr-defined]


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return (type(exc), str(exc))


def test_the_fast_path_gives_what_the_generic_path_gives(vault: Vault, clock: FakeClock) -> None:
    assert vault._engine._find_open is not None  # type: ignore[attr-defined]
    s = vault.secrets
    first = s.set_secret("Mixed-Case", "one", tags={"a": "b"}, content_type="text/plain")
    s.set_secret("mixed-case", "two", not_before=clock() - timedelta(days=1), expires_on=clock() + timedelta(days=1))
    s.set_secret("off", "x", enabled=False)
    s.set_secret("later", "x", not_before=clock() + timedelta(days=1))
    s.set_secret("gone", "x", expires_on=clock() + timedelta(seconds=1))
    s.set_secret("unicode", "välue ✓")
    clock.advance(seconds=2)
    calls: list[Callable[[], Any]] = [
        lambda: s.get_secret("mixed-case"),
        lambda: s.get_secret("MIXED-CASE", first.properties.version),
        lambda: s.get_secret("mixed-case", ""),
        lambda: s.get_secret("mixed-case", "0" * 32),
        lambda: s.get_secret("mixed-case", "not-a-version"),
        lambda: s.get_secret("missing"),
        lambda: s.get_secret("off"),
        lambda: s.get_secret("later"),
        lambda: s.get_secret("gone"),
        lambda: s.get_secret("unicode"),
        lambda: s.get_secret("bad name!"),
    ]
    for call in calls:
        fast, slow = _outcome(call), _outcome(lambda c=call: _generic(vault, c))  # type: ignore[misc]
        assert fast == slow
    assert s.get_secret("mixed-case").value == "two"
    assert isinstance(_outcome(lambda: s.get_secret("off")), tuple)
    assert _outcome(lambda: s.get_secret("off"))[0] is ForbiddenError
    assert _outcome(lambda: s.get_secret("missing"))[0] is NotFoundError


def test_a_record_tampered_after_its_dek_was_cached_still_fails(vault: Vault) -> None:
    vault.secrets.set_secret("t", "value")
    assert vault.secrets.get_secret("t").value == "value"
    assert len(_deks(vault)) >= 1
    store = vault._ctx.store  # type: ignore[attr-defined]
    okey = vault._engine.objkey(Kind.SECRET, "t")  # type: ignore[attr-defined]
    found = store.find(b"versions", okey)
    assert found is not None
    key, blob = found[0], bytes(found[1])
    for where in (10, 60, len(blob) - 1):  # wrapped DEK, ciphertext, tag
        bad = bytearray(blob)
        bad[where] ^= 1
        store.write(lambda txn, b=bytes(bad): txn.put(b"versions", key, b))
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("t")
        with pytest.raises(IntegrityError):
            _generic(vault, lambda: vault.secrets.get_secret("t"))
    store.write(lambda txn: txn.put(b"versions", key, blob))
    assert vault.secrets.get_secret("t").value == "value"


def test_dek_cache_is_wiped_on_rotation(vault: Vault) -> None:
    vault.secrets.set_secrets({f"s{i}": str(i) for i in range(5)})
    for i in range(5):
        vault.secrets.get_secret(f"s{i}")
    assert len(_deks(vault)) >= 5
    vault.rotate_keyring()
    assert len(_deks(vault)) == 0
    assert [vault.secrets.get_secret(f"s{i}").value for i in range(5)] == [str(i) for i in range(5)]


def test_dek_cache_is_wiped_on_purge_and_sweep(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("p", "x")
    vault.secrets.set_secret("q", "y")
    vault.secrets.get_secret("p")
    vault.secrets.delete_secret("p")
    vault.secrets.get_deleted_secret("p")
    assert len(_deks(vault)) >= 1
    vault.secrets.purge_deleted_secret("p")
    assert len(_deks(vault)) == 0
    vault.secrets.get_secret("q")
    vault.secrets.delete_secret("q")
    assert len(_deks(vault)) >= 1
    clock.advance(days=91)
    assert vault._engine.sweep() == 1  # type: ignore[attr-defined]
    assert len(_deks(vault)) == 0


def test_dek_cache_is_freed_on_close(vault_dir: Any, raw_cred: RawKeyCredential) -> None:
    vault = Vault.create(vault_dir, raw_cred)
    vault.secrets.set_secret("c", "x")
    vault.secrets.get_secret("c")
    deks = _deks(vault)
    assert len(deks) >= 1
    vault.close()
    assert len(deks) == 0 and deks.slots == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_inherits_no_cached_dek(vault: Vault) -> None:
    vault.secrets.set_secret("f", "x")
    vault.secrets.get_secret("f")
    deks = _deks(vault)
    assert len(deks) >= 1
    assert run_in_child(lambda: len(deks)) == 0
    assert len(deks) >= 1


def test_name_memo_is_a_bounded_lru(vault: Vault) -> None:
    engine = vault._engine  # type: ignore[attr-defined]
    engine.objkey_capacity = 3
    engine._objkeys.clear()
    names = [f"n{i}" for i in range(6)]
    vault.secrets.set_secrets({n: n.upper() for n in names})
    engine._objkeys.clear()
    keys = {n: engine.objkey(Kind.SECRET, n) for n in names}
    assert len(engine._objkeys) == 3
    assert [name for _, name in engine._objkeys] == ["n3", "n4", "n5"]
    engine.objkey(Kind.SECRET, "n3")  # a hit moves to the young end
    engine.objkey(Kind.SECRET, "n0")  # a miss evicts the oldest (n4), not everything
    assert [name for _, name in engine._objkeys] == ["n5", "n3", "n0"]
    for n in names:  # evicted or not, the key is the same and the read is right
        assert engine.objkey(Kind.SECRET, n) == keys[n]
        assert vault.secrets.get_secret(n).value == n.upper()
    assert len(engine._objkeys) == 3
    assert engine.objkey(Kind.SECRET, "N1") == keys["n1"]  # names are case-insensitive
    assert vault.secrets.get_secret("N1").value == "N1"


def test_lazy_secret_results_behave_like_the_eager_ones(vault: Vault) -> None:
    made = vault.secrets.set_secret("Lazy", "s3cr3t", tags={"k": "v"}, content_type="text/plain")
    got = vault.secrets.get_secret("lazy")
    assert isinstance(got, KeyVaultSecret)
    assert got.id == made.id and got.name == "Lazy" and got.value == "s3cr3t"
    assert got == made and made == got
    assert got.properties == made.properties  # built on first access
    assert repr(got) == repr(made) and "s3cr3t" not in repr(got)
    again = pickle.loads(pickle.dumps(vault.secrets.get_secret("lazy")))
    assert type(again) is KeyVaultSecret and again == made
    assert copy.copy(got) == made
    assert dataclasses.asdict(got) == dataclasses.asdict(made)
    assert dataclasses.replace(got, value="other").value == "other"
    ids = [e.object_id for e in vault.audit.events(operation="SecretGet")]
    assert ids == ["/secrets/Lazy/" + made.properties.version] * 2
