"""PostgreSQL-specific behaviour: connection faults, timeouts, clear errors, the maintenance
leader, tampering with SQL, what a database administrator sees, migration both ways.

The shared behaviour (lifecycle, crash, concurrency, audit) runs on both backends through the
``backend`` fixture; this module covers what only the PostgreSQL backend has."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pghelpers
from corehelpers import dump
from vaultcore import (
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    RawKeyCredential,
    StorageError,
    Vault,
)

KEY = b"\x42" * 32


@pytest.fixture
def url(pg_base: tuple[str, str]) -> str:
    base, schema = pg_base
    return pghelpers.vault_url(base, schema)


@pytest.fixture
def base(pg_base: tuple[str, str]) -> str:
    return pg_base[0]


@pytest.fixture
def vault(url: str) -> Iterator[Vault]:
    v = Vault.create(url, RawKeyCredential(KEY))
    try:
        yield v
    finally:
        v.close()


def _backend_pids(base: str, app: str) -> list[int]:
    rows = pghelpers.sql(base, "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,))
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]


def _terminate(base: str, app: str) -> int:
    rows = pghelpers.sql(
        base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (app,)
    )
    return len(rows)


# -- faults ----------------------------------------------------------------------------


def test_connections_killed_between_operations_are_replaced_transparently(url: str, base: str) -> None:
    app = "vct-" + uuid.uuid4().hex[:10]
    url = f"{url}&application_name={app}"
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("before", "1")
        assert _terminate(base, app) >= 1  # every pooled connection of this vault dies
        vault.secrets.set_secret("after", "2")  # a write on a dead connection is re-run
        assert _terminate(base, app) >= 1
        assert vault.secrets.get_secret("before").value == "1"  # and a read retried
        assert _terminate(base, app) >= 1
        assert sorted(p.name for p in vault.secrets.list_properties_of_secrets()) == ["after", "before"]
        assert vault.audit.verify().ok


def test_connection_killed_mid_transaction_reruns_the_whole_write_once(vault: Vault, base: str) -> None:
    store = vault._ctx.store
    runs: list[int] = []

    def fn(txn: object) -> int:
        runs.append(1)
        txn.put(b"scratch", b"k1", b"one")  # type: ignore[attr-defined]
        if len(runs) == 1:  # the database drops this connection in the middle of the transaction
            pid = txn._cur.connection.info.backend_pid  # type: ignore[attr-defined]
            pghelpers.sql(base, "SELECT pg_terminate_backend(%s)", (pid,))
        txn.put(b"scratch", b"k2", b"two")  # type: ignore[attr-defined]
        return len(runs)

    assert store.write(fn) == 2
    assert dump(vault.path, b"scratch") == [(b"k1", b"one"), (b"k2", b"two")]


def _wait_for(done: Callable[[], bool], seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.fixture
def cluster() -> Iterator[pghelpers.PrivateCluster]:
    server = pghelpers.PrivateCluster()
    try:
        yield server
    finally:
        server.stop()


def test_a_real_server_restart_under_concurrent_writers_loses_nothing(cluster: pghelpers.PrivateCluster) -> None:
    """A private cluster restarted for real (pg_ctl restart -m fast) while four threads write."""
    url = pghelpers.vault_url(cluster.url, pghelpers.new_schema(cluster.url))
    acked: list[str] = []
    failed: list[str] = []
    stop = threading.Event()
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("before", "1")

        def work(t: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    vault.secrets.set_secret(f"t{t}-{i}", str(i))
                    acked.append(f"t{t}-{i}")
                except StorageError as exc:  # allowed: not acknowledged
                    failed.append(str(exc))
                i += 1

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        try:
            _wait_for(lambda: len(acked) >= 40)
            cluster.restart()
            mark = len(acked)
            _wait_for(lambda: len(acked) >= mark + 40)  # writes continue after the restart
        finally:
            stop.set()
        for t in threads:
            t.join(60)
        assert vault.secrets.get_secret("before").value == "1"  # the read after the restart is retried
        for name in acked:
            assert vault.secrets.get_secret(name).value == name.split("-")[1]
        assert len(failed) <= 4, failed
        result = vault.audit.verify()
        assert result.ok, result.reason


def test_a_failed_write_applies_nothing(vault: Vault) -> None:
    store = vault._ctx.store

    def fn(txn: object) -> None:
        txn.put(b"scratch", b"a", b"1")  # type: ignore[attr-defined]
        txn.get(b"scratch", b"a")  # type: ignore[attr-defined]  # flushed to the server
        raise RuntimeError("the caller fails after writing")

    with pytest.raises(RuntimeError):
        store.write(fn)
    assert dump(vault.path, b"scratch") == []


def test_commit_outcome_is_looked_up_by_transaction_id(vault: Vault, base: str) -> None:
    store = vault._ctx.store
    xids: list[int] = []

    def fn(txn: object) -> None:
        row = txn._cur.execute("SELECT txid_current()").fetchone()  # type: ignore[attr-defined]
        xids.append(int(row[0]))

    store.write(fn)
    assert store._outcome(xids[0], deadline=float("inf")) == "committed"
    with pytest.raises(RuntimeError):
        store.write(lambda txn: (fn(txn), (_ for _ in ()).throw(RuntimeError("abort")))[0])
    assert store._outcome(xids[1], deadline=float("inf")) == "aborted"


def test_statement_timeout_gives_storage_error_and_leaves_the_vault_unchanged(url: str, base: str) -> None:
    from vaultcore.storage._postgres import _lock_key, parse_location

    url = url + "&statement_timeout=300"
    loc = parse_location(url)
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("s", "v1")
        import psycopg

        with psycopg.connect(base, autocommit=True) as blocker:  # another node holds the vault's write lock
            blocker.execute("SELECT pg_advisory_lock(%s)", (_lock_key(loc.schema, loc.vault),))
            with pytest.raises(StorageError, match="timed out"):
                vault.secrets.set_secret("s", "v2")
        assert vault.secrets.get_secret("s").value == "v1"
        assert len(list(vault.secrets.list_properties_of_secret_versions("s"))) == 1
        vault.secrets.set_secret("s", "v3")
        assert vault.secrets.get_secret("s").value == "v3"


def test_timeouts_and_keepalives_from_the_url() -> None:
    from vaultcore.storage._postgres import parse_location

    default = parse_location("postgresql://u@h/db")
    assert (default.statement_timeout, default.idle_timeout, default.network_timeout, default.retry_window) == (
        30000,
        20000,
        40000,
        30000,
    )
    for part in ("connect_timeout=10", "keepalives_idle=30", "keepalives_count=3", "tcp_user_timeout=60000"):
        assert part in default.conninfo
    assert "idle_in_transaction_session_timeout=20000" in default.session_options
    loc = parse_location("postgresql://u@h/db?statement_timeout=0&keepalives_idle=5&idle_in_transaction_timeout=7")
    assert (loc.network_timeout, loc.idle_timeout) == (0, 7)  # no statement bound: no client bound either
    assert loc.conninfo.count("keepalives_idle") == 1 and "keepalives_idle=5" in loc.conninfo
    assert "timeout" not in loc.shown
    for bad in ("retry_window=-1", "network_timeout=x", "pool_size=1"):
        with pytest.raises(InvalidParameterError):
            parse_location(f"postgresql://u@h/db?{bad}")


# -- clear errors ----------------------------------------------------------------------


def test_clear_errors_for_wrong_locations(base: str, pg_base: tuple[str, str]) -> None:
    cred = RawKeyCredential(KEY)
    schema = pg_base[1]
    with pytest.raises(StorageError, match='database "vct_no_such_db" does not exist') as info:
        Vault.open("postgresql://postgres:hunter2-pw@127.0.0.1:5432/vct_no_such_db", cred)
    assert "hunter2-pw" not in str(info.value)
    with pytest.raises(StorageError, match='role "vct_no_such_role" does not exist'):
        Vault.open("postgresql://vct_no_such_role@127.0.0.1:5432/test", cred)
    with pytest.raises(StorageError, match="connection failed"):
        Vault.open("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2", cred)
    with pytest.raises(InvalidParameterError):
        Vault.open("postgresql://postgres@127.0.0.1:99999/test", cred)
    with pytest.raises(InvalidParameterError):
        Vault.open(pghelpers.vault_url(base, schema, "bad name!"), cred)
    with pytest.raises(NotAVaultError):
        Vault.open(pghelpers.vault_url(base, schema, "never-created"), cred)
    with pytest.raises(NotAVaultError, match="no vaultcore table"):
        Vault.open(pghelpers.vault_url(base, "vct_no_such_schema"), cred)


def test_a_wrong_password_is_named_and_never_echoed() -> None:
    server = pghelpers.PrivateCluster(password="right-Pw-4711")
    try:
        url = pghelpers.vault_url(server.url, "public")
        Vault.create(url, RawKeyCredential(KEY)).close()  # the right password works
        wrong = url.replace("right-Pw-4711", "wrong-Pw-0815")
        with pytest.raises(StorageError, match="password authentication failed") as info:
            Vault.open(wrong, RawKeyCredential(KEY))
        assert "wrong-Pw-0815" not in str(info.value) and "right-Pw-4711" not in str(info.value)
        with Vault.open(url, RawKeyCredential(KEY)) as vault:
            assert "right-Pw-4711" not in repr(vault) and "right-Pw-4711" not in vault.path
    finally:
        server.stop()


def test_missing_privileges_are_named(url: str, base: str, pg_base: tuple[str, str]) -> None:
    role = "vct_noperm_" + uuid.uuid4().hex[:8]
    Vault.create(url, RawKeyCredential(KEY)).close()
    pghelpers.sql(base, f'CREATE ROLE "{role}" LOGIN')
    try:
        other = url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
        assert other != url
        with pytest.raises(StorageError, match="lacks a privilege") as info:
            Vault.open(other, RawKeyCredential(KEY))
        assert "permission denied" in str(info.value)
    finally:
        pghelpers.sql(base, f'DROP ROLE "{role}"')


# -- coordination ----------------------------------------------------------------------


def test_maintenance_runs_on_one_node_at_a_time(url: str) -> None:
    a = Vault.create(url, RawKeyCredential(KEY))
    b = Vault.open(url, RawKeyCredential(KEY))
    try:
        with a._ctx.store.leader("maintenance") as leading:
            assert leading
            report = b.run_maintenance()
            assert report.leader is False and report.purged == 0
            with b._ctx.store.leader("maintenance") as also:
                assert not also
        assert b.run_maintenance().leader is True
    finally:
        b.close()
        a.close()


def test_keyring_rotation_by_one_node_is_used_by_another_without_reopening(url: str) -> None:
    a = Vault.create(url, RawKeyCredential(KEY))
    b = Vault.open(url, RawKeyCredential(KEY))
    try:
        a.secrets.set_secrets({f"k{i}": str(i) for i in range(50)})
        assert b.secrets.get_secret("k7").value == "7"
        a.rotate_keyring()
        b.secrets.set_secret("from-b", "after rotation")  # sealed under the new term
        assert b.keyring_generation == a.keyring_generation
        assert a.secrets.get_secret("from-b").value == "after rotation"
        assert {int.from_bytes(v[1:5], "big") for _, v in dump(a.path, b"versions")} == {2}
    finally:
        b.close()
        a.close()


def test_concurrent_threads_of_two_handles_keep_one_audit_chain(url: str) -> None:
    a = Vault.create(url, RawKeyCredential(KEY))
    b = Vault.open(url, RawKeyCredential(KEY))
    errors: list[BaseException] = []

    def work(v: Vault, t: int) -> None:
        try:
            for i in range(25):
                v.secrets.set_secret(f"t{t}-{i}", str(i))
                v.secrets.get_secret(f"t{t}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a if t % 2 else b, t)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        result = a.audit.verify()
        assert result.ok, result.reason
        events = a.audit.events(operation="SecretSet")
        assert len(events) == 100
    finally:
        b.close()
        a.close()


# -- at rest ---------------------------------------------------------------------------


def test_sql_tampering_gives_integrity_error(url: str) -> None:
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("a", "alpha")
        vault.secrets.set_secret("b", "bravo")
    rows = dump(url, b"versions")
    (ka, va), (_, vb) = rows
    flipped = va[:-3] + bytes([va[-3] ^ 1]) + va[-2:]
    pghelpers.put(url, b"versions", ka, flipped)

    def outcomes() -> dict[str, str]:
        out = {}
        with Vault.open(url, RawKeyCredential(KEY)) as vault:
            for name in ("a", "b"):
                try:
                    out[name] = vault.secrets.get_secret(name).value
                except IntegrityError:
                    out[name] = "IntegrityError"
        return out

    got = outcomes()  # the flipped byte: that secret fails, the other still reads
    assert sorted(got.values()) in (["IntegrityError", "bravo"], ["IntegrityError", "alpha"])
    pghelpers.put(url, b"versions", ka, vb)  # the other record copied over it
    assert outcomes() == got
    pghelpers.put(url, b"versions", ka, va)
    assert outcomes() == {"a": "alpha", "b": "bravo"}
    header = dict(dump(url, b"meta"))[b"header"]
    pghelpers.put(url, b"meta", b"header", header.replace(b'"retention_days":90', b'"retention_days":7'))
    with pytest.raises(IntegrityError):
        Vault.open(url, RawKeyCredential(KEY))


def test_a_record_moved_to_another_vault_of_the_table_fails(pg_base: tuple[str, str]) -> None:
    base, schema = pg_base
    one, two = pghelpers.vault_url(base, schema), pghelpers.vault_url(base, schema)
    with Vault.create(one, RawKeyCredential(KEY)) as a, Vault.create(two, RawKeyCredential(KEY)) as b:
        a.secrets.set_secret("s", "from one")
        b.secrets.set_secret("s", "from two")
    [(key_two, _)] = dump(two, b"versions")
    [(_, value_one)] = dump(one, b"versions")
    pghelpers.sql(
        base,
        f'DELETE FROM "{schema}".vaultcore_records WHERE vault = %s AND db = %s',
        (two.rsplit("vault=", 1)[1], b"versions"),
    )
    pghelpers.upsert(two, b"versions", key_two, value_one)
    with Vault.open(two, RawKeyCredential(KEY)) as b, pytest.raises(IntegrityError):
        b.secrets.get_secret("s")


def test_a_database_administrator_sees_no_names_or_values(url: str) -> None:
    name, value, tag = "payroll-db-password", "Sup3r-Secret-Value", "team-finance"
    with Vault.create(url, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret(name, value, tags={"owner": tag}, content_type="text/x-distinct")
        vault.secrets.get_secret(name)
    blob = b"".join(k + v for k, v in pghelpers.all_rows(url).items() if True for k in [k.encode()])
    for needle in (name, value, tag, "text/x-distinct"):
        for encoded in (needle.encode(), needle.encode("utf-16-le"), needle.encode().hex().encode()):
            assert encoded not in blob


# -- migration -------------------------------------------------------------------------


def _fill(vault: Vault) -> dict[str, str]:
    values = {f"m{i}": f"value {i}" for i in range(300)}
    vault.secrets.set_secrets(values)
    vault.secrets.set_secret("m1", "second version")
    values["m1"] = "second version"
    vault.secrets.set_secret("gone", "deleted")
    vault.secrets.delete_secret("gone")
    vault.keys.create_ec_key("ek")
    return values


def _check(location: str, values: dict[str, str]) -> None:
    with Vault.open(location, RawKeyCredential(KEY)) as copy:
        for name, value in values.items():
            assert copy.secrets.get_secret(name).value == value
        assert len(list(copy.secrets.list_properties_of_secret_versions("m1"))) == 2
        assert copy.secrets.get_deleted_secret("gone").name == "gone"
        assert copy.keys.get_key("ek").key_type == "EC"
        result = copy.audit.verify()
        assert result.ok, result.reason


def test_migration_lmdb_to_postgres_and_back(tmp_path: Path, url: str) -> None:
    src = str(tmp_path / "lmdb")
    with Vault.create(src, RawKeyCredential(KEY)) as vault:
        values = _fill(vault)
        vault.backup_to(url)
    _check(url, values)
    back = str(tmp_path / "back")
    with Vault.open(url, RawKeyCredential(KEY)) as vault:
        vault.backup_to(back)
        with pytest.raises(StorageError, match="already holds a vault"):
            vault.backup_to(url)
    _check(back, values)


def test_migration_detects_a_copy_that_differs(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultcore.storage import _interface

    real = _interface._put_all

    def corrupting(dest: object, name: bytes, batch: list[tuple[bytes, bytes]]) -> int:
        if name == b"versions":
            key, value = batch[0]
            batch = [(key, value[:-1] + bytes([value[-1] ^ 1])), *batch[1:]]
        return real(dest, name, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(_interface, "_put_all", corrupting)
    with Vault.create(str(tmp_path / "src"), RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secret("s", "v")
        with pytest.raises(IntegrityError, match="differs"):
            vault.backup_to(url)


def test_bulk_insert_of_a_key_that_exists_fails_the_whole_write(vault: Vault) -> None:
    """``insert_many`` (bulk writes: keys the engine found absent) is a COPY, not an upsert: a
    key that exists after all fails the transaction, and nothing of it is written."""
    store = vault._ctx.store
    store.write(lambda txn: txn.put(b"scratch", b"b", b"old"))

    def fn(txn: object) -> None:
        txn.put(b"scratch", b"a", b"1")  # type: ignore[attr-defined]
        txn.insert_many(b"scratch", [(b"c", b"3"), (b"b", b"new")])  # type: ignore[attr-defined]

    with pytest.raises(StorageError):
        store.write(fn)
    assert dump(vault.path, b"scratch") == [(b"b", b"old")]


def test_bulk_set_on_postgres_writes_what_single_sets_write(vault: Vault) -> None:
    """New, existing and case-repeated names in one ``set_secrets``: the COPY
    path and the per-name path together give the records ``set_secret`` would."""
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
