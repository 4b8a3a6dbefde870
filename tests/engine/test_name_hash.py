"""The bound reader's store keys (issue 12): on LMDB, get_secret's native call computes the
object's prefix from the name itself (``vc_reader_objkey``: HMAC-SHA256 states of the
index key kept in the reader's locked page) instead of ``LifecycleReads.objkey`` in Python.

Checked against Python for random names: the same prefix for every name ``check_name``
accepts, no prefix for every name it refuses; get_secret gives what the decorated
operation gives for any name; the states are wiped with the reader's KEK (close, fork).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corehelpers import run_in_child
from vaultcore import InvalidParameterError, KeyVaultSecret, RawKeyCredential, Vault
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._models import FusedSecret
from vaultcore.engine._reads import _HASHES, _READS
from vaultcore.engine._records import Kind
from vaultcore.engine._validation import check_name

KEY = b"\x42" * 32
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
#: Characters close to valid ones: case-folding traps (Kelvin sign, dotted I, long s),
#: full-width letters, separators, NUL, a lone surrogate.
_TRAPS = "\u212a\u0130\u017f\uff41\uff21 _./\\:\n\t\x00\x7f\u00e9\udc80"
NAMES = st.one_of(
    st.text(_ALPHABET, min_size=1, max_size=127),
    st.text(_ALPHABET, min_size=120, max_size=130),
    st.text(_ALPHABET + _TRAPS, max_size=20),
    st.text(st.characters(exclude_categories=()), max_size=20),
)
STORED = ("Stored-1", "a", "X" * 127, "0-0")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Vault, Any, list[tuple[Any, ...]]]]:
    """A vault on the system clock (the fused path on) with a few secrets, its engine's bound
    reader, and the calls that reached the decorated get_secret."""
    with Vault.create(tmp_path_factory.mktemp("names") / "v", RawKeyCredential(KEY)) as v:
        for name in STORED:
            v.secrets.set_secret(name, f"value of {name}")
        engine = v.secrets._engine  # type: ignore[attr-defined]
        bound = engine._bind()
        assert bound is not None
        calls: list[tuple[Any, ...]] = []
        general = v.secrets._get_secret  # type: ignore[attr-defined]

        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return general(*args, **kwargs)

        v.secrets._get_secret = spy  # type: ignore[attr-defined]
        yield v, bound[3], calls


def _python_objkey(vault: Vault, kind: Kind, name: str) -> bytes | tuple[type, str]:
    try:
        return vault.secrets._engine.objkey(kind, name)  # type: ignore[attr-defined,no-any-return]
    except InvalidParameterError as exc:
        return (type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(name=NAMES, kind=st.sampled_from(list(Kind)))
def test_the_reader_computes_the_engines_store_keys(live: tuple[Vault, Any, Any], name: str, kind: Kind) -> None:
    vault, reader, _ = live
    assert reader.names
    python = _python_objkey(vault, kind, name)
    native = reader.objkey(kind.byte, name)
    if isinstance(python, bytes):
        assert native == python
    else:
        assert native is None  # refused: check_name raises for it (python holds its error)
        with pytest.raises(InvalidParameterError):
            check_name(name, kind)


def _outcome(call: Any) -> Any:
    try:
        got = call()
    except Exception as exc:
        return (type(exc), str(exc))
    assert isinstance(got, KeyVaultSecret)
    return ("found", got.value, got.id)


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(NAMES, st.sampled_from(STORED), st.sampled_from([n.swapcase() for n in STORED])))
def test_get_secret_gives_what_the_decorated_operation_gives(live: tuple[Vault, Any, Any], name: str) -> None:
    vault, _, calls = live
    calls.clear()
    fused = _outcome(lambda: vault.secrets.get_secret(name))
    served = not calls  # the native call answered without the decorated operation
    general = _outcome(lambda: vault.secrets._get_secret(name))  # type: ignore[attr-defined]
    assert fused == general
    assert served == (fused[0] == "found")
    if fused[0] is InvalidParameterError:
        assert fused[1] == _python_objkey(vault, Kind.SECRET, name)[1]  # check_name's message


def test_an_invalid_name_is_refused_and_audited_like_before(live: tuple[Vault, Any, Any]) -> None:
    vault, _, calls = live
    bad = ["", "x" * 128, "bad name", "caf\u00e9", "\u212aelvin", "a\udc80", "tab\t", "nul\x00", "\uff41"]
    before = len(list(vault.audit.events(operation="SecretGet")))
    for name in bad:
        calls.clear()
        with pytest.raises(InvalidParameterError) as raised:
            vault.secrets.get_secret(name)
        assert len(calls) == 1
        with pytest.raises(InvalidParameterError) as expected:
            check_name(name, Kind.SECRET)
        assert str(raised.value) == str(expected.value)
    events = list(vault.audit.events(operation="SecretGet"))[before:]
    assert len(events) == len(bad) and all(e.result != "success" for e in events)


@pytest.mark.parametrize("size", [1, 16, 32, 63, 64, 65, 200])
def test_index_keys_of_any_length_hash_as_hmac_does(vault: Vault, size: int) -> None:
    ctx = vault._ctx  # type: ignore[attr-defined]
    handle, kek, term, aad = ctx.envelope.native_key(RecordType.VERSION)
    index_key = bytes(range(size))
    reader = ctx.store.reader(b"versions", handle, kek, term, aad, index_key=index_key)
    assert reader.names
    for kind, name in [(1, "Name-1"), (2, "K"), (3, "z" * 127), (255, "0")]:
        msg = bytes([kind]) + name.lower().encode()
        assert reader.objkey(kind, name) == bytes([kind]) + hmac.new(index_key, msg, hashlib.sha256).digest()[:16]


def test_a_reader_without_an_index_key_hashes_nothing(vault: Vault) -> None:
    ctx = vault._ctx  # type: ignore[attr-defined]
    reader = ctx.store.reader(b"versions", *ctx.envelope.native_key(RecordType.VERSION))
    assert not reader.names
    assert reader.objkey(1, "valid-name") is None
    assert reader.get(1, "valid-name", 0, FusedSecret, repr, "") is None


def test_closing_the_vault_wipes_the_index_keys_states(tmp_path: Any) -> None:
    v = Vault.create(tmp_path / "v", RawKeyCredential(KEY))
    v.secrets.set_secret("s", "v")
    assert v.secrets.get_secret("s").value == "v"
    reader = v.secrets._engine._bound[3]  # type: ignore[attr-defined]
    assert reader.names and reader.objkey(1, "s") is not None
    assert reader.get(1, "s", 0, FusedSecret, repr, "") is not None  # the prefix computed in the call
    v.close()
    assert not reader.names
    assert reader.objkey(1, "s") is None
    assert reader.get(1, "s", 0, FusedSecret, repr, "") is None


def test_rotation_binds_a_reader_that_hashes_names(tmp_path: Any) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as v:
        v.secrets.set_secret("s", "old")
        v.secrets.get_secret("s")
        first = v.secrets._engine._bound[3]  # type: ignore[attr-defined]
        v.rotate_keyring()
        v.secrets.set_secret("s", "new")
        assert v.secrets.get_secret("s").value == "new"
        second = v.secrets._engine._bound[3]  # type: ignore[attr-defined]
        assert second is not first and second.names
        assert second.objkey(1, "S") == first.objkey(1, "s")  # the index key does not rotate


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_inherits_no_index_key_states(tmp_path: Any) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as v:
        v.secrets.set_secret("s", "v")
        v.secrets.get_secret("s")
        reader = v.secrets._engine._bound[3]  # type: ignore[attr-defined]
        assert reader.names
        assert run_in_child(lambda: [reader.names, reader.objkey(1, "s")]) == [False, None]  # MADV_WIPEONFORK
        assert reader.names


def test_a_reader_that_hashes_no_names_is_given_the_prefix(tmp_path: Any) -> None:
    """An OpenSSL without ``SHA256_CTX`` functions: the engine computes the prefix in Python
    (its memo) and passes it to the same native call."""
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as v:
        v.secrets.set_secret("Some-Name", "v")
        engine = v.secrets._engine  # type: ignore[attr-defined]
        ring, _, _, _, mode = engine._bind()
        assert mode == _HASHES
        ctx = v._ctx  # type: ignore[attr-defined]
        plain = ctx.store.reader(b"versions", *ctx.envelope.native_key(RecordType.VERSION))
        ctx.envelope.readers.append(plain)
        engine._bound = (ring, *plain.entry, plain, _READS)
        engine._objkeys.clear()
        got = v.secrets.get_secret("some-name")
        assert type(got) is FusedSecret and got.value == "v"
        assert (Kind.SECRET.byte, "some-name") in engine._objkeys
        with pytest.raises(InvalidParameterError):
            v.secrets.get_secret("bad name")
        assert engine._bound[3] is plain


@settings(max_examples=300, deadline=None)
@given(st.lists(NAMES, max_size=8))
def test_bulk_prefixes_match_objkey_and_refuse_the_first_bad_name(
    live: tuple[Vault, Any, list[tuple[Any, ...]]], names: list[str]
) -> None:
    """``objkeys`` (bulk writes: ``vc_objkeys_many``) gives ``objkey``'s prefix for each name,
    or raises ``check_name``'s error for the first name it refuses."""
    engine = live[0].secrets._engine  # type: ignore[attr-defined]
    first_bad = next((name for name in names if not _accepted(name)), None)
    if first_bad is None:
        assert engine.objkeys(Kind.SECRET, names) == [engine.objkey(Kind.SECRET, n) for n in names]
        return
    with pytest.raises(InvalidParameterError) as raised:
        engine.objkeys(Kind.SECRET, names)
    with pytest.raises(InvalidParameterError) as expected:
        check_name(first_bad, Kind.SECRET)
    assert str(raised.value) == str(expected.value)


def test_bulk_prefixes_refuse_what_is_not_a_string(live: tuple[Vault, Any, list[tuple[Any, ...]]]) -> None:
    engine = live[0].secrets._engine  # type: ignore[attr-defined]
    with pytest.raises(InvalidParameterError, match="of type bytes"):
        engine.objkeys(Kind.KEY, ["fine", b"bytes"])  # type: ignore[list-item]


def _accepted(name: str) -> bool:
    try:
        check_name(name)
    except InvalidParameterError:
        return False
    return True
