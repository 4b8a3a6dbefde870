"""The audit flusher's one-call group commit on LMDB (``vc_audit_commit``): it writes what
the Python commit writes, takes the general path (writing nothing) whenever the common case
does not hold, grows the map like any write, and lets the flusher commit small batches."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from vaultcore import RawKeyCredential, Vault
from vaultcore.access._audit import AUDIT, HEAD_KEY, META, SEGMENT_EVENTS
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._context import generation_record
from vaultcore.storage._interface import AuditCommit


def _new(tmp_path: Path, *, flusher: bool = False) -> Vault:
    """A vault with one secret; without its flusher thread, the test commits the queue."""
    vault = Vault.create(tmp_path / "v", RawKeyCredential(os.urandom(32)))
    if not flusher:
        vault._ctx.audit._start_flusher = lambda: None  # type: ignore[method-assign]
    vault.secrets.set_secret("s", "v")
    return vault


def _stored(vault: Vault) -> list[tuple[bytes, bytes]]:
    with vault._ctx.read() as txn:
        return [*txn.scan(AUDIT), (HEAD_KEY, txn.get(META, HEAD_KEY) or b"")]


def _commit(vault: Vault, generation: tuple[bytes, bytes] | None = None) -> int | None:
    """What ``AuditLog._commit_native`` calls, with a chosen generation record."""
    ctx = vault._ctx
    ring = ctx.keyring
    term, kek, aad_head = ctx.envelope.seal_params(RecordType.AUDIT)
    keys = (ring.audit_key(term), term, kek, aad_head)
    queue = ctx.audit._queue
    spec = AuditCommit(
        (META, AUDIT), queue.native, SEGMENT_EVENTS, generation or generation_record(ring), HEAD_KEY, keys
    )
    result: int | None = ctx.store.commit_audit(spec)  # type: ignore[attr-defined]
    return result


def _reads(vault: Vault, count: int) -> None:
    for _ in range(count):
        vault.secrets.get_secret("s")


def test_it_commits_every_waiting_event_on_the_chain(tmp_path: Path) -> None:
    vault = _new(tmp_path)
    try:
        vault.audit.flush()
        _reads(vault, SEGMENT_EVENTS * 2 + 3)
        assert _commit(vault) == SEGMENT_EVENTS * 2 + 3
        assert vault._ctx.audit._queue.pending() == (0, 0)
        segments = [key for key, _ in _stored(vault)[:-1]]
        assert segments == sorted(segments) and len(set(map(len, segments))) == 1
        events = vault.audit.events(operation="SecretGet")
        assert len(events) == SEGMENT_EVENTS * 2 + 3
        assert [e.object_id.split("/")[2] for e in events] == ["s"] * len(events)
        report = vault.audit.verify()
        assert report.ok and report.events >= events[-1].seq  # (events() is audited too)
    finally:
        vault.close()


def test_another_keyring_generation_writes_nothing(tmp_path: Path) -> None:
    vault = _new(tmp_path)
    try:
        vault.audit.flush()
        _reads(vault, 5)
        before = _stored(vault)
        key, value = generation_record(vault._ctx.keyring)
        stale = (key, struct.pack(">Q", struct.unpack(">Q", value)[0] + 1))
        assert _commit(vault, stale) is None
        assert _stored(vault) == before and vault._ctx.audit._queue.pending()[0] == 5
        vault.audit.flush()  # the general path writes them
        assert len(vault.audit.events(operation="SecretGet")) == 5 and vault.audit.verify().ok
    finally:
        vault.close()


@pytest.mark.parametrize("damage", ["missing", "short", "behind"])
def test_a_head_to_restart_from_writes_nothing(tmp_path: Path, damage: str) -> None:
    vault = _new(tmp_path)
    try:
        vault.audit.flush()

        def edit(txn: Any) -> None:
            head = txn.get(META, HEAD_KEY)
            if damage == "missing":
                txn.delete(META, HEAD_KEY)
            elif damage == "short":
                txn.put(META, HEAD_KEY, head[:39])
            else:
                txn.put(META, HEAD_KEY, struct.pack(">Q", 1) + head[8:])

        vault._ctx.store.write(edit)
        _reads(vault, 3)
        before = _stored(vault)
        assert _commit(vault) is None
        assert _stored(vault) == before and vault._ctx.audit._queue.pending()[0] == 3
        vault.audit.flush()  # the general path restarts the chain after the newest event
        assert not vault.audit.verify().ok  # ... and verify() reports the edit, as before
        assert len(vault.audit.events(operation="SecretGet")) == 3
    finally:
        vault.close()


def test_a_full_map_grows_and_the_commit_runs_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = _new(tmp_path)
    try:
        vault.audit.flush()
        env = vault._ctx.store._shared.env  # type: ignore[attr-defined]
        real = type(env).audit_commit
        calls: list[int] = []

        def full_once(self: Any, *args: Any) -> int | None:
            calls.append(self.map_size())
            if len(calls) == 1:
                from vaultcore.storage._lmdb_env import CODES
                from vaultcore.storage._mdb import MdbError

                raise MdbError(CODES["MAP_FULL"], "audit commit")
            result: int | None = real(self, *args)
            return result

        monkeypatch.setattr(type(env), "audit_commit", full_once)
        _reads(vault, 4)
        assert _commit(vault) == 4
        assert len(calls) == 2 and calls[1] > calls[0]  # grown, then committed
        assert vault.audit.verify().ok
    finally:
        vault.close()


def test_the_flusher_commits_a_segment_at_a_time_beside_readers(tmp_path: Path) -> None:
    """The flusher thread commits in its native loop: the segments appear while readers read,
    and neither the loop returned to Python nor did the flusher write through Python."""
    vault = Vault.create(tmp_path / "v", RawKeyCredential(os.urandom(32)))
    store = vault._ctx.store
    loop = store.run_audit_flusher  # type: ignore[attr-defined]
    entered: list[int] = []
    returned: list[int] = []
    python_writes: list[str] = []
    write = vault._ctx.write

    def counting_loop(*args: Any) -> bool:
        entered.append(1)
        stopped = bool(loop(*args))
        returned.append(1)
        return stopped

    def watched_write(fn: Any, **kwargs: Any) -> Any:
        python_writes.append(threading.current_thread().name)
        return write(fn, **kwargs)

    store.run_audit_flusher = counting_loop  # type: ignore[attr-defined]
    vault._ctx.write = watched_write  # type: ignore[method-assign]
    try:
        vault.secrets.set_secret("s", "v")
        log = vault._ctx.audit
        assert log.flush_batch == min(log._max_batch, SEGMENT_EVENTS)
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                vault.secrets.get_secret("s")

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        try:
            deadline = threading.Event()
            for _ in range(200):
                if len(_stored(vault)) > 3:  # segments committed by the flusher, not by a flush() call
                    break
                deadline.wait(0.05)
        finally:
            stop.set()
            for thread in readers:
                thread.join()
        assert len(_stored(vault)) > 3
        assert entered and not returned  # committed by the loop in C, which is still running
        assert "vaultcore-audit" not in python_writes
        assert vault.audit.verify().ok
    finally:
        vault.close()


def test_a_rotation_by_another_handle_sends_the_flusher_through_the_general_commit(tmp_path: Path) -> None:
    """The native loop seals under the keyring it was given; after another handle (as another
    process would) rotates the keyring, its next commit finds another generation, writes
    nothing, and the general commit reloads the keyring; the chain stays whole."""
    cred = RawKeyCredential(os.urandom(32))
    vault = Vault.create(tmp_path / "v", cred)
    other = Vault.open(tmp_path / "v", cred)
    try:
        vault.secrets.set_secret("s", "v")
        log = vault._ctx.audit
        before = vault._ctx.keyring.generation
        for _ in range(SEGMENT_EVENTS + 10):  # the flusher thread is running its native loop
            vault.secrets.get_secret("s")
        other.rotate_keyring()
        for _ in range(SEGMENT_EVENTS + 10):
            vault.secrets.get_secret("s")
        log.flush()
        assert vault._ctx.keyring.generation > before  # reloaded by the general commit
        reads = vault.audit.events(operation="SecretGet")
        assert len(reads) == 2 * (SEGMENT_EVENTS + 10)
        assert {e.term for e in reads[-5:]} == {vault._ctx.keyring.active_term}
        assert vault.audit.verify().ok and other.audit.verify().ok
    finally:
        other.close()
        vault.close()


def test_the_commit_spec_never_shows_its_keys() -> None:
    spec = AuditCommit((META, AUDIT), None, 512, (b"generation", bytes(8)), HEAD_KEY, (b"A" * 32, 7, b"K" * 32, b"h"))
    shown = repr(spec) + str(spec)
    assert "AAAA" not in shown and "KKKK" not in shown and "term=7" in shown
