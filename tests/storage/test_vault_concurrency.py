"""Several processes and threads on one vault at once; hot backup while writing (issue 3 §3, §6)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from vaultcore import RawKeyCredential, Vault

KEY = b"\x5a" * 32
PROCS = 4
SINGLE = 60  # single set_secret commits per process
SHARED = 15  # versions per process of one shared secret
BULK = 3  # bulk commits of large values per process, to make the map grow under every process
BULK_SIZE = 240
BIG = 24 * 1024


def _value(proc: int, i: int) -> str:
    return f"value-{proc}-{i}-" + "x" * (i % 7)


def _big(proc: int, i: int) -> str:
    return (f"{proc}:{i}:" * 4096)[:BIG]


def _worker(path: str, proc: int, start: multiprocessing.synchronize.Event, errors: multiprocessing.Queue) -> None:  # type: ignore[name-defined]
    try:
        start.wait(30)
        with Vault.open(path, RawKeyCredential(KEY)) as vault:
            for i in range(SINGLE):
                vault.secrets.set_secret(f"p{proc}-s{i}", _value(proc, i))
                # read back our own write and one of a neighbour's (if it is there yet)
                assert vault.secrets.get_secret(f"P{proc}-S{i}").value == _value(proc, i)
                other = (proc + 1) % PROCS
                try:
                    got = vault.secrets.get_secret(f"p{other}-s{i}").value
                    assert got == _value(other, i)
                except Exception as exc:
                    if type(exc).__name__ != "NotFoundError":
                        raise
                if i % 4 == 0 and i // 4 < SHARED:
                    vault.secrets.set_secret("shared", f"{proc}:{i // 4}")
                if i % 20 == 0 and i // 20 < BULK:
                    b = i // 20
                    vault.secrets.set_secrets({f"p{proc}-big{b}-{j}": _big(proc, j) for j in range(BULK_SIZE)})
            assert len(list(vault.secrets.list_properties_of_secrets())) >= SINGLE
    except BaseException as exc:
        errors.put(f"process {proc}: {type(exc).__name__}: {exc}")
        raise


@pytest.mark.slow
def test_four_processes_write_and_read_one_vault(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    Vault.create(path, RawKeyCredential(KEY)).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    errors = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(path), p, start, errors)) for p in range(PROCS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert [p.exitcode for p in procs] == [0] * PROCS

    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        for proc in range(PROCS):
            for i in range(SINGLE):
                assert vault.secrets.get_secret(f"p{proc}-s{i}").value == _value(proc, i)
            for b in range(BULK):
                for j in (0, BULK_SIZE // 2, BULK_SIZE - 1):
                    assert vault.secrets.get_secret(f"p{proc}-big{b}-{j}").value == _big(proc, j)
        shared = list(vault.secrets.list_properties_of_secret_versions("shared"))
        assert len(shared) == PROCS * SHARED
        assert len({p.version for p in shared}) == len(shared)
        values = {vault.secrets.get_secret("shared", p.version).value for p in shared}
        assert values == {f"{proc}:{k}" for proc in range(PROCS) for k in range(SHARED)}
        names = {p.name for p in vault.secrets.list_properties_of_secrets()}
        assert len(names) == PROCS * (SINGLE + BULK * BULK_SIZE) + 1
        # one audit chain, no fork: every process's events on one verified chain
        result = vault.audit.verify()
        assert result.ok, result.reason
        sets = vault.audit.events(operation="SecretSet")
        assert len(sets) == PROCS * (SINGLE + SHARED)
        assert len(vault.audit.events(operation="SecretSetBulk")) == PROCS * BULK
    if backend == "lmdb":  # the map had to grow past its initial 64 MiB while four processes used it
        assert (Path(path) / "data.mdb").stat().st_size > 64 << 20


def test_threads_share_one_vault_and_several_handles(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    vault = Vault.create(path, RawKeyCredential(KEY))
    errors: list[str] = []
    per_thread = 40

    def work(t: int, own_handle: bool) -> None:
        try:
            v = Vault.open(path, RawKeyCredential(KEY)) if own_handle else vault
            try:
                for i in range(per_thread):
                    v.secrets.set_secret(f"t{t}-{i}", f"{t}/{i}")
                    assert v.secrets.get_secret(f"t{t}-{i}").value == f"{t}/{i}"
                    v.secrets.set_secret("contended", f"{t}/{i}")
                    if i % 10 == 9:
                        v.secrets.set_secrets({f"t{t}-bulk{i}-{j}": str(j) for j in range(50)})
                        list(v.secrets.list_properties_of_secrets())
            finally:
                if own_handle:
                    v.close()
        except BaseException as exc:
            errors.append(f"thread {t}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(t, t % 2 == 0)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    try:
        for t in range(6):
            for i in range(per_thread):
                assert vault.secrets.get_secret(f"t{t}-{i}").value == f"{t}/{i}"
        assert len(list(vault.secrets.list_properties_of_secret_versions("contended"))) == 6 * per_thread
        assert len(list(vault.secrets.list_properties_of_secrets())) == 6 * per_thread + 6 * 4 * 50 + 1
    finally:
        vault.close()


def test_backup_to_while_another_thread_writes(vault_location: str, backend: str, tmp_path: Path) -> None:
    path = vault_location
    cred = RawKeyCredential(KEY)
    vault = Vault.create(path, cred)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set() and i < 5000:
                # each step commits its values and the counter in one transaction
                batch = {f"w{i}-{j}": f"bulk {i} {j}" for j in range(100 if i % 5 == 4 else 0)}
                batch = batch or {f"w{i}": f"value {i}"}
                vault.secrets.set_secrets({**batch, "counter": str(i)})
                written.append(i)
                i += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    copies = []
    try:
        deadline = time.monotonic() + 60
        for n in range(3):
            while len(written) < 20 * (n + 1) and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            dest = tmp_path / f"copy{n}"
            vault.backup_to(dest)
            copies.append(dest)
    finally:
        stop.set()
        thread.join(60)
    assert errors == []
    assert len(written) > 60
    for dest in copies:
        with Vault.open(dest, cred) as copy:
            counter = int(copy.secrets.get_secret("counter").value)
            # a consistent snapshot: exactly the writes up to one point in the sequence
            expected = {"counter"}
            for i in range(counter + 1):
                if i % 5 == 4:
                    expected |= {f"w{i}-{j}" for j in range(100)}
                else:
                    expected.add(f"w{i}")
            names = {p.name for p in copy.secrets.list_properties_of_secrets()}
            assert names == expected
            assert len(list(copy.secrets.list_properties_of_secret_versions("counter"))) == counter + 1
            for i in range(counter + 1):
                if i % 5 == 4:
                    assert copy.secrets.get_secret(f"w{i}-99").value == f"bulk {i} 99"
                else:
                    assert copy.secrets.get_secret(f"w{i}").value == f"value {i}"
    vault.close()


def _forked_child(path: str, k: int) -> None:
    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        assert vault.secrets.get_secret("from-parent").value == "parent"
        vault.secrets.set_secret(f"from-child-{k}", f"child {k}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() with threads running
def test_forked_children_open_the_vault_their_parent_has_open(tmp_path: Path) -> None:
    """multiprocessing's default start method on Linux: fork while the vault is open and read."""
    path = tmp_path / "vault"
    vault = Vault.create(path, RawKeyCredential(KEY))
    vault.secrets.set_secret("from-parent", "parent")
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:  # keeps read and write transactions open while the parent forks
        i = 0
        try:
            while not stop.is_set():
                assert vault.secrets.get_secret("from-parent").value == "parent"
                if i % 10 == 0:
                    vault.secrets.set_secret("parent-writes", str(i))
                i += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        ctx = multiprocessing.get_context("fork")
        for k in range(4):
            child = ctx.Process(target=_forked_child, args=(str(path), k))
            child.start()
            child.join(60)
            assert child.exitcode == 0
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    try:
        for k in range(4):
            assert vault.secrets.get_secret(f"from-child-{k}").value == f"child {k}"
        vault.secrets.set_secret("after-fork", "ok")
        assert vault.secrets.get_secret("after-fork").value == "ok"
    finally:
        vault.close()


@pytest.mark.slow
def test_map_growth_while_other_threads_read_and_write(tmp_path: Path) -> None:
    """Growing the memory map must wait for the other threads' transactions of this process."""
    path = tmp_path / "vault"
    vault = Vault.create(path, RawKeyCredential(KEY))
    vault.secrets.set_secret("small", "v")
    stop = threading.Event()
    errors: list[str] = []

    def busy(write: bool) -> None:
        i = 0
        while not stop.is_set():
            try:
                assert vault.secrets.get_secret("small").value == "v"
                list(vault.secrets.list_properties_of_secret_versions("small"))
                if write and i % 20 == 0:
                    vault.secrets.set_secret(f"w{i}", str(i))
            except BaseException as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            i += 1

    threads = [threading.Thread(target=busy, args=(n == 0,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        for b in range(12):  # ~86 MB of values: the 64 MiB map must grow while the others run
            vault.secrets.set_secrets({f"big{b}-{j}": _big(b, j) for j in range(300)})
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    try:
        assert (path / "data.mdb").stat().st_size > 64 << 20
        assert vault.secrets.get_secret("big11-299").value == _big(11, 299)
    finally:
        vault.close()


_ROTATION_WRITER = """
import sys, time
from vaultcore import RawKeyCredential, Vault
vault = Vault.open(sys.argv[1], RawKeyCredential(bytes([0x5a]) * 32))
print("ready", flush=True)
i = 0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    vault.secrets.set_secret(f"w{i}", str(i))
    assert vault.secrets.get_secret("n7").value == "7"
    if i % 50 == 0:
        vault.secrets.set_secrets({f"b{i}-{j}": str(j) for j in range(20)})
    i += 1
vault.close()
print(i, flush=True)
"""


@pytest.mark.slow
def test_rotation_while_another_process_writes(vault_location: str, backend: str, tmp_path: Path) -> None:
    from corehelpers import spawn_script

    path = vault_location
    vault = Vault.create(path, RawKeyCredential(KEY))
    try:
        vault.secrets.set_secrets({f"n{i}": str(i) for i in range(40_000)})
        child = spawn_script(_ROTATION_WRITER, str(path), "3")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        vault.rotate_keyring()
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        writes = int(out.split()[-1])
        assert writes > 0
        for i in range(writes):
            assert vault.secrets.get_secret(f"w{i}").value == str(i)
        for i in range(0, writes, 50):
            assert vault.secrets.get_secret(f"b{i}-19").value == "19"
        assert sorted(vault._ctx.keyring.terms) == [2]
        with vault._ctx.read() as txn:
            terms = {int.from_bytes(blob[1:5], "big") for db in (b"objects", b"versions") for _, blob in txn.scan(db)}
        assert terms == {2}
    finally:
        vault.close()


def test_close_while_other_threads_work_fails_them_cleanly(vault_location: str, backend: str, tmp_path: Path) -> None:
    """Operations racing a close() end with VaultLockedError, never a storage error."""
    from vaultcore import VaultLockedError

    vault = Vault.create(vault_location, RawKeyCredential(KEY))
    vault.secrets.set_secrets({f"s{i}": "x" * 100 for i in range(2000)})
    outcomes: list[str] = []
    started = threading.Barrier(4)

    def work(k: int) -> None:
        started.wait()
        i = 0
        while True:
            try:
                vault.secrets.get_secret(f"s{i % 2000}")
                if k == 0 and i % 5 == 0:
                    vault.secrets.set_secret("w", str(i))
                if k == 1:
                    list(vault.secrets.list_properties_of_secrets())
            except VaultLockedError:
                outcomes.append("locked")
                return
            except BaseException as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
                return
            i += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    vault.close()
    for t in threads:
        t.join(30)
    assert outcomes == ["locked"] * 3
