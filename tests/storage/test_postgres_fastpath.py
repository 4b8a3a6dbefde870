"""The PostgreSQL backend's fast paths keep their promises: the read statement prepared on
libpq directly, the idle-connection front of the pool, the COPY streamed by ``insert_many``.

Behaviour only (no timings): what is read and written, that no connection is stranded, that a
fork child never touches its parent's connections."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

import pghelpers
from corehelpers import dump, run_in_child
from vaultcore import RawKeyCredential, StorageError, Vault

KEY = b"\x42" * 32


@pytest.fixture
def url(pg_base: tuple[str, str]) -> str:
    base, schema = pg_base
    return pghelpers.vault_url(base, schema)


@pytest.fixture
def vault(url: str) -> Iterator[Vault]:
    v = Vault.create(url, RawKeyCredential(KEY))
    try:
        yield v
    finally:
        v.close()


def test_find_reads_point_latest_and_absent_records(vault: Vault) -> None:
    store = vault._ctx.store  # type: ignore[attr-defined]
    rows = {b"p\x01a": b"1", b"p\x01b": b"2", b"p\x02a": b"3", b"\xff\xff": b"4", b"\xff\xff\x01": b"5"}
    store.write(lambda txn: [txn.put(b"scratch", k, v) for k, v in rows.items()])
    assert store.find(b"scratch", b"p\x01", b"p\x01a") == (b"p\x01a", b"1")
    assert store.find(b"scratch", b"p\x01", b"p\x01z") is None
    assert store.find(b"scratch", b"p\x01") == (b"p\x01b", b"2")  # the last key under the prefix
    assert store.find(b"scratch", b"p\x03") is None
    assert store.find(b"scratch", b"\xff\xff") == (b"\xff\xff\x01", b"5")  # a prefix with no upper bound
    assert store.find(b"other", b"p\x01") is None  # another sub-database
    assert store.find_open(b"scratch", b"p\x02", None, lambda k, v: k + v) == b"p\x02a3"


def test_find_prepares_again_after_the_session_dropped_its_statements(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v1")
    assert vault.secrets.get_secret("s").value == "v1"
    shared = vault._ctx.store._shared  # type: ignore[attr-defined]
    assert shared.idle, "the connection that answered is back in the idle front"
    for conn in list(shared.idle):
        assert conn.prepared  # the read statement was prepared on it
        conn.execute("DEALLOCATE ALL")
    vault.secrets.set_secret("s", "v2")
    assert vault.secrets.get_secret("s").value == "v2"


def test_a_small_pool_serves_many_threads_through_the_idle_front(url: str) -> None:
    """Connections parked in the front are handed to callers waiting on the pool: with two
    connections and six threads reading and writing, nobody times out waiting."""
    errors: list[str] = []
    with Vault.create(f"{url}&pool_size=2", RawKeyCredential(KEY)) as vault:

        def work(t: int) -> None:
            try:
                for i in range(15):
                    vault.secrets.set_secret(f"t{t}", str(i))
                    assert vault.secrets.get_secret(f"t{t}").value == str(i)
            except BaseException as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert errors == []
        assert sorted(p.name for p in vault.secrets.list_properties_of_secrets()) == [f"t{t}" for t in range(6)]


def test_an_error_while_the_copy_is_open_writes_nothing_and_tells_the_server_nothing(vault: Vault) -> None:
    store = vault._ctx.store  # type: ignore[attr-defined]

    def fn(txn: object) -> None:
        txn.insert_many(b"scratch", [(b"k%03d" % i, b"v") for i in range(500)])  # type: ignore[attr-defined]
        raise ValueError("secret-name-xyz")

    with pytest.raises(ValueError, match="secret-name-xyz"):
        store.write(fn)
    store.write(lambda txn: txn.put(b"scratch", b"after", b"1"))  # the connection is usable again
    assert dump(vault.path, b"scratch") == [(b"after", b"1")]


def test_puts_and_streamed_rows_of_one_key_keep_the_last_write(vault: Vault) -> None:
    store = vault._ctx.store  # type: ignore[attr-defined]

    def fn(txn: object) -> bytes | None:
        txn.put(b"scratch", b"a", b"put-first")  # type: ignore[attr-defined]
        txn.insert_many(b"scratch", [(b"a", b"inserted"), (b"b", b"inserted")])  # type: ignore[attr-defined]
        txn.put(b"scratch", b"b", b"put-last")  # type: ignore[attr-defined]
        txn.insert_many(b"scratch", [(b"c", b"inserted")])  # type: ignore[attr-defined]
        return txn.get(b"scratch", b"c")  # type: ignore[attr-defined,no-any-return]

    assert store.write(fn) == b"inserted"  # a read inside the transaction sees the streamed row
    assert dump(vault.path, b"scratch") == [(b"a", b"inserted"), (b"b", b"put-last"), (b"c", b"inserted")]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() with threads running
def test_a_vault_used_in_a_fork_child_says_open_it_again(url: str) -> None:
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("s", "parent")
        assert vault.secrets.get_secret("s").value == "parent"  # an idle connection in the front

        def in_child() -> dict[str, object]:
            result: dict[str, object] = {}
            try:
                vault.secrets.get_secret("s")
                result["use"] = "no error"
            except StorageError as exc:
                result["use"] = str(exc)
            vault.close()
            with Vault.open(url, RawKeyCredential(KEY)) as again:
                result["reopened"] = again.secrets.get_secret("s").value
            return result

        result = run_in_child(in_child)
        assert isinstance(result, dict)
        assert "open the vault again in the child" in str(result["use"]), result
        assert result["reopened"] == "parent"
        vault.secrets.set_secret("s", "after")  # the parent's connections are intact
        assert vault.secrets.get_secret("s").value == "after"


def test_insert_many_streams_blocks_of_rows_of_any_size(vault: Vault) -> None:
    """Rows go to the server in blocks (512 rows each); values from empty to 200 KB."""
    store = vault._ctx.store  # type: ignore[attr-defined]
    rows = [(b"r%05d" % i, memoryview(bytes([i % 251]) * (i % 7 * 300))) for i in range(1300)]
    rows.append((b"big", memoryview(b"\x00\xff" * 100_000)))
    store.write(lambda txn: txn.insert_many(b"scratch", rows))
    assert dump(vault.path, b"scratch") == sorted((k, bytes(v)) for k, v in rows)


def test_connections_past_the_pools_lifetime_go_back_to_the_pool(vault: Vault) -> None:
    """The idle front keeps the pool's promise to replace old connections: one past
    ``max_lifetime`` is returned to the pool (which replaces it), not kept in the front."""
    shared = vault._ctx.store._shared  # type: ignore[attr-defined]
    vault.secrets.set_secret("s", "v")
    assert vault.secrets.get_secret("s").value == "v"
    assert shared.idle
    shared.pool.max_lifetime = 0.0
    shared.drain()
    assert vault.secrets.get_secret("s").value == "v"
    assert not shared.idle


def test_a_wrong_guess_runs_the_bulk_write_again_looking_every_name_up(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultcore.storage import _postgres

    calls: list[tuple[str, bytes, bool]] = []
    real = _postgres._Write.insert_many

    def spy(self: _postgres._Write, db: bytes, rows: object) -> None:
        calls.append(("guessed" if self.guessed else "looked up", db, self.may_guess))
        real(self, db, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(_postgres._Write, "insert_many", spy)
    vault.secrets.set_secret("Name-1", "old")
    calls.clear()
    vault.secrets.set_secrets({f"name-{i}": str(i) for i in range(200)})  # the sample misses name-1
    assert calls[0] == ("guessed", b"objects", True)
    assert ("looked up", b"objects", False) in calls  # the second run, every name looked up
    assert vault.secrets.get_secret("name-1").value == "1"
    assert vault.secrets.get_secret("Name-1").properties.name == "Name-1"
    calls.clear()
    vault.secrets.set_secrets({f"other-{i}": str(i) for i in range(200)})  # all new: one run
    assert [c[0] for c in calls] == ["guessed", "guessed"]


def test_the_first_lookups_of_a_bulk_write_share_one_round_trip(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """``probe_last_and_many`` answers what ``last_key`` and ``get_many`` answer (pipelined, or
    one after the other while puts are pending), and a bulk write uses it: with a soft-deleted
    secret elsewhere in the vault the batch is still guessed new and written in one run."""
    from vaultcore.storage import _postgres

    store = vault._ctx.store  # type: ignore[attr-defined]
    store.write(lambda txn: [txn.put(b"scratch", k, b"v" + k) for k in (b"a1", b"a2", b"b1")])

    def check(txn: _postgres._Write) -> None:
        for prefix in (b"a", b"b", b"c"):
            keys = [b"a1", b"b1", b"zz"]
            expected = (txn.last_key(b"scratch", prefix) is not None, txn.get_many(b"scratch", keys))
            assert txn.probe_last_and_many(b"scratch", prefix, b"scratch", keys) == expected
        txn.put(b"scratch", b"c1", b"pending")  # answered after sending the pending put
        assert txn.probe_last_and_many(b"scratch", b"c", b"scratch", [b"c1"]) == (True, {b"c1": b"pending"})

    store.write(check)
    vault.secrets.set_secret("gone", "x")
    vault.secrets.delete_secret("gone")
    answers: list[tuple[bool, dict[bytes, bytes]]] = []
    runs: list[bool] = []
    real_probe = _postgres._Write.probe_last_and_many
    real_insert = _postgres._Write.insert_unchecked

    def probe(self: _postgres._Write, *args: object) -> tuple[bool, dict[bytes, bytes]]:
        answers.append(real_probe(self, *args))  # type: ignore[arg-type]
        return answers[-1]

    def insert(self: _postgres._Write, db: bytes, rows: object) -> None:
        runs.append(self.may_guess)
        real_insert(self, db, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(_postgres._Write, "probe_last_and_many", probe)
    monkeypatch.setattr(_postgres._Write, "insert_unchecked", insert)
    vault.secrets.set_secrets({f"n{i}": str(i) for i in range(100)})
    assert answers == [(True, {})]  # a soft-deleted secret exists, none of the sample does
    assert runs == [True, True]  # objects and versions guessed, one run
    assert vault.secrets.get_secret("n42").value == "42"


def test_a_single_write_reads_what_it_announced_with_begin(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """``set_secret`` announces its reads (the soft-deleted and object records, the newest
    version): they come back with BEGIN and the lock, so the write function asks the server
    nothing more; what they answer is what separate reads would (new secret, new version of
    an existing one, a soft-deleted name refused)."""
    from vaultcore import ConflictError
    from vaultcore.storage import _postgres

    server_reads: list[str] = []
    for name in ("get", "_page", "get_many", "last_key"):
        real = getattr(_postgres._Read, name)

        def counted(self: object, *args: object, _real: object = real, _name: str = name) -> object:
            server_reads.append(_name)
            return _real(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(_postgres._Read, name, counted)
    first = vault.secrets.set_secret("pre", "v1")
    second = vault.secrets.set_secret("pre", "v2")
    assert server_reads == []
    assert second.properties.version > first.properties.version  # the newest version was seen
    versions = [p.version for p in vault.secrets.list_properties_of_secret_versions("pre")]
    assert sorted(versions) == sorted([first.properties.version, second.properties.version])
    vault.secrets.delete_secret("pre")
    with pytest.raises(ConflictError):  # the soft-deleted record was among the prefetched rows
        vault.secrets.set_secret("pre", "v3")
    assert vault.secrets.get_deleted_secret("pre").properties.version == second.properties.version
