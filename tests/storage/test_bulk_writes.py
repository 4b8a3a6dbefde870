"""Bulk writes on both backends: ``set_secrets``' one-pass path, the store's ``insert_many``
(one call into C on LMDB, ``COPY`` on PostgreSQL) and the store keys of many names at once."""

from __future__ import annotations

import hashlib
import hmac
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corehelpers import dump
from vaultcore import InvalidParameterError, StorageError, Vault
from vaultcore.crypto import _bindings
from vaultcore.secrets._client import _KIND
from vaultcore.storage._rows import PackedRows


def test_bulk_set_writes_what_single_sets_write(vault: Vault) -> None:
    """New, existing and case-repeated names in one ``set_secrets`` give what ``set_secret`` would."""
    vault.secrets.set_secret("old", "0", tags={"t": "1"})
    first = vault.secrets.set_secrets({f"n{i}": str(i) for i in range(20)}, tags={"k": "v"}, content_type="c")
    assert [p.name for p in first] == [f"n{i}" for i in range(20)]
    props = vault.secrets.set_secrets({"OLD": "1", "n1": "2", "N1": "3", "fresh": "4"})
    assert [p.name for p in props] == ["old", "n1", "n1", "fresh"]
    assert props[1].version < props[2].version
    assert vault.secrets.get_secret("n1").value == "3"
    assert vault.secrets.get_secret("old").value == "1"
    got = vault.secrets.get_secret("n7")
    assert (got.value, got.properties.tags, got.properties.content_type) == ("7", {"k": "v"}, "c")
    assert len(list(vault.secrets.list_properties_of_secret_versions("n1"))) == 3
    assert vault.audit.verify()


def test_insert_many_of_a_key_that_exists_fails_the_whole_write(vault: Vault) -> None:
    store = vault._ctx.store
    store.write(lambda txn: txn.put(b"evstate", b"zz-b", b"old"))

    def fn(txn: object) -> None:
        txn.put(b"evstate", b"zz-a", b"1")  # type: ignore[attr-defined]
        rows = [(b"zz-c%02d" % i, b"3") for i in range(20)] + [(b"zz-b", b"new")]
        txn.insert_many(b"evstate", rows)  # type: ignore[attr-defined]

    with pytest.raises(StorageError):
        store.write(fn)
    path = vault.path
    vault.close()
    assert [(k, v) for k, v in dump(path, b"evstate") if k.startswith(b"zz-")] == [(b"zz-b", b"old")]


def test_insert_many_writes_every_row(vault: Vault) -> None:
    store = vault._ctx.store
    rows = [(b"zz-%04d" % i, memoryview(b"v%d" % i)) for i in range(300)]
    store.write(lambda txn: txn.insert_many(b"evstate", rows))
    with store.read() as txn:
        assert txn.get_many(b"evstate", [k for k, _ in rows] + [b"zz-absent"]) == {k: bytes(v) for k, v in rows}


def _packed(rows: list[tuple[bytes, bytes]]) -> PackedRows:
    lengths = array(next(c for c in "LQI" if array(c).itemsize == 8), [len(v) for _, v in rows])
    return PackedRows(b"".join(k for k, _ in rows), len(rows[0][0]), bytearray(b"".join(v for _, v in rows)), lengths)


def test_packed_rows_are_written_whole_and_iterate_as_pairs(vault: Vault) -> None:
    """Rows as the C sealer packs them (fixed-length keys, values back to back) go to the
    store's bulk insert as buffers (LMDB: one C call; PostgreSQL: COPY blocks)."""
    rows = [(b"zz-%04d" % i, b"v" * (i % 7)) for i in range(300)]
    packed = _packed(rows)
    assert len(packed) == 300
    assert [(k, bytes(v)) for k, v in packed] == rows
    vault._ctx.store.write(lambda txn: txn.insert_many(b"evstate", packed))
    with vault._ctx.store.read() as txn:
        assert txn.get_many(b"evstate", [k for k, _ in rows]) == dict(rows)


def test_packed_rows_of_a_key_that_exists_fail_the_whole_write(vault: Vault) -> None:
    store = vault._ctx.store
    store.write(lambda txn: txn.put(b"evstate", b"zz-0007", b"old"))
    with pytest.raises(StorageError):
        store.write(lambda txn: txn.insert_many(b"evstate", _packed([(b"zz-%04d" % i, b"new") for i in range(20)])))
    with store.read() as txn:
        assert [(k, v) for k, v in txn.scan(b"evstate", b"zz-")] == [(b"zz-0007", b"old")]


def test_store_keys_of_many_names_match_one_at_a_time(vault: Vault) -> None:
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    names = [f"Name-{i}" for i in range(40)]
    remembered = [engine.objkey(_KIND, n) for n in names[:10]]  # memo hits for these
    engine._objkeys.clear()
    for n in names[:10]:
        engine.objkey(_KIND, n)
    many = engine.objkeys(_KIND, names)
    assert many[:10] == remembered
    engine._objkeys.clear()
    assert many == [engine.objkey(_KIND, n) for n in names]
    with pytest.raises(InvalidParameterError):
        engine.objkeys(_KIND, ["ok", "not a name!"])


def _objkey(key: bytes, kind: int, name: str) -> bytes:
    """The store prefix by the standard library: kind || HMAC-SHA256(key, kind || lower)[:16]."""
    return bytes([kind]) + hmac.new(key, bytes([kind]) + name.lower().encode(), hashlib.sha256).digest()[:16]


def test_store_keys_of_many_names_are_each_names_hmac() -> None:
    key = bytes(range(32))
    names = ["a", "Mixed-Case-9", "x" * 127, "0-0"]
    assert _bindings.objkeys_many(key, 3, names) == [_objkey(key, 3, n) for n in names]
    assert _bindings.objkeys_many(key, 3, []) == []
    long_key = b"k" * 100  # longer than a block: hashed first, as RFC 2104 says
    assert _bindings.objkeys_many(long_key, 1, ["m"]) == [_objkey(long_key, 1, "m")]
    assert _bindings.objkeys_many(key, 1, ["ok", "not ok", "\u00e9", ""]) == 1  # the first bad name's index


@settings(max_examples=150, deadline=None)
@given(
    key=st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"k" * 63, b"k" * 64, b"k" * 65])),
    names=st.lists(
        st.one_of(
            st.text("abcXYZ019-", min_size=1, max_size=127),
            st.sampled_from(["n" * n for n in (54, 55, 62, 63, 118, 119, 127)]),
        )
    ),
)
def test_store_keys_of_many_names_match_stdlib_hmac(key: bytes, names: list[str]) -> None:
    """Keys either side of a block (64: used as is, longer: hashed first), kind byte + name
    either side of SHA-256's padding boundaries."""
    assert _bindings.objkeys_many(key, 2, names) == [_objkey(key, 2, n) for n in names]


def test_a_bulk_write_larger_than_the_map_grows_it_first_and_runs_once(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultcore import RawKeyCredential
    from vaultcore.storage import _lmdb

    grown: list[int] = []
    monkeypatch.setattr(_lmdb.LmdbStore, "_grow", lambda self, seen: grown.append(seen))
    values = {f"s{i}": f"{i:05d}" + "v" * 3000 for i in range(24_000)}  # ~150 MB sealed: over the 64 MiB map
    with Vault.create(str(tmp_path / "v"), RawKeyCredential(b"\x07" * 32)) as vault:
        runs = 0
        write = vault._ctx.store.write

        def counting(fn: object, **kwargs: object) -> object:
            def counted(txn: object) -> object:
                nonlocal runs
                runs += 1
                return fn(txn)  # type: ignore[operator]

            return write(counted, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(vault._ctx.store, "write", counting)
        vault.secrets.set_secrets(values)
        assert grown == [] and runs == 1  # reserved ahead: never full, never run twice
        assert vault.secrets.get_secret("s23999").value == values["s23999"]


def test_a_name_that_exists_outside_the_sample_is_found_all_the_same(vault: Vault) -> None:
    """Where the store lets the engine guess names new after a sample (PostgreSQL), an
    existing name the sample missed makes the write run again with every name looked up:
    the result is what ``set_secret`` per name gives (a new version, the stored display name)."""
    vault.secrets.set_secret("Name-1", "old")
    names = {f"name-{i}": str(i) for i in range(2000)}  # the sample (every 62nd) misses name-1
    props = vault.secrets.set_secrets(names)
    assert [p.name for p in props][:3] == ["name-0", "Name-1", "name-2"]
    assert vault.secrets.get_secret("name-1").value == "1"
    assert len(list(vault.secrets.list_properties_of_secret_versions("name-1"))) == 2
    assert len(list(vault.secrets.list_properties_of_secrets())) == 2000
    assert vault.audit.verify()
    assert len(vault.audit.events(operation="SecretSetBulk")) == 1  # the first run left nothing


class _Recorder:
    """A write transaction that records what the engine inserts in bulk (and passes it on)."""

    def __init__(self, txn: object, seen: list[tuple[bytes, list[bytes]]]) -> None:
        self._txn = txn
        self._seen = seen

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._txn, name)
        if name not in ("insert_many", "insert_unchecked"):
            return attr

        def insert(db: bytes, rows: object) -> None:
            rows = list(rows)  # type: ignore[call-overload]
            self._seen.append((db, [k for k, _ in rows]))
            attr(db, rows)

        return insert


def test_bulk_rows_go_to_the_store_in_key_order_and_results_stay_in_input_order(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine hands a bulk write's rows to the store sorted by key (B-trees take sorted
    keys with fewer page visits), while results, values and events keep the caller's order."""
    store = vault._ctx.store  # type: ignore[attr-defined]
    write = store.write
    seen: list[tuple[bytes, list[bytes]]] = []

    def recording(fn: object, **kwargs: object) -> object:
        seen.clear()  # (a re-run records again)
        return write(lambda txn: fn(_Recorder(txn, seen)), **kwargs)  # type: ignore[operator]

    monkeypatch.setattr(store, "write", recording)
    vault.secrets.set_secret("m5", "old")
    values = {f"m{i}": f"value {i}" for i in range(1200)}  # more than one chunk of 512
    props = vault.secrets.set_secrets(values)
    mixed = {"M5": "again", "new-a": "a", "m7": "b", "NEW-A": "c"}  # existing and repeated names
    props2 = vault.secrets.set_secrets(mixed)
    monkeypatch.undo()
    assert [p.name for p in props] == list(values)
    assert [p.name for p in props2] == ["m5", "new-a", "m7", "new-a"]
    for db in (b"objects", b"versions"):
        keys = [k for d, ks in seen if d == db for k in ks]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert [k for d, ks in seen if d == b"versions" for k in ks]  # the mixed batch was recorded
    for name in ("m0", "m511", "m512", "m1199"):
        assert vault.secrets.get_secret(name).value == values[name]
    assert vault.secrets.get_secret("m5").value == "again"
    assert vault.secrets.get_secret("new-a").value == "c"
    ids = {p.name + "/" + p.version: v for p, v in zip(props, values.values(), strict=True)}
    for ident in list(ids)[::97]:
        name, version = ident.split("/")
        assert vault.secrets.get_secret(name, version).value == ids[ident]
    assert vault.audit.verify()


def test_a_soft_deleted_name_in_a_bulk_write_is_refused_and_nothing_is_written(vault: Vault) -> None:
    """Whether the store probes for soft-deleted objects on its own (LMDB) or together with
    the sampled lookup (PostgreSQL): the same ConflictError, and none of the batch stored."""
    from vaultcore import ConflictError

    vault.secrets.set_secret("gone", "x")
    vault.secrets.delete_secret("gone")
    values = {f"d{i}": str(i) for i in range(100)} | {"GONE": "y"}
    with pytest.raises(ConflictError):
        vault.secrets.set_secrets(values)
    assert [p.name for p in vault.secrets.list_properties_of_secrets()] == []
    props = vault.secrets.set_secrets({f"d{i}": str(i) for i in range(100)})  # a deleted one elsewhere
    assert len(props) == 100 and vault.secrets.get_secret("d99").value == "99"
    assert vault.audit.verify()
