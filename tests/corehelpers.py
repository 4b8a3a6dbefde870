"""Helpers for the vault-core tests (issue 3 §7); fixtures live in ``conftest.py``.

``FakeClock`` drives every time rule (nbf/exp, soft-delete retention, purge protection)
without sleeping. ``raw_env`` opens a *closed* vault's LMDB environment directly, so tests
can tamper with stored bytes the way an attacker with file access would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lmdb

import pghelpers
import vaultcore
from vaultcore.storage._lmdb import DATABASES

#: Sub-databases of a vault.
DBS = DATABASES
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A mutable clock returning aware UTC datetimes; ``advance`` moves it forward."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


@contextmanager
def raw_env(path: Path | str, *, write: bool = True) -> Iterator[tuple[Any, dict[bytes, Any]]]:
    """The LMDB environment of a closed vault and its named databases."""
    env = lmdb.open(str(path), max_dbs=16, subdir=True, readonly=not write, lock=True)
    try:
        dbs = {name: env.open_db(name, create=False) for name in DBS if _has_db(env, name)}
        yield env, dbs
    finally:
        env.close()


def _has_db(env: Any, name: bytes) -> bool:
    with env.begin() as txn:
        return txn.get(name) is not None


def dump(path: Path | str, db: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of one database of a closed vault (a directory or a PostgreSQL URL)."""
    if str(path).startswith("postgresql://"):
        return pghelpers.dump(str(path), db)
    with raw_env(path, write=False) as (env, dbs), env.begin(db=dbs[db]) as txn:
        return [(bytes(k), bytes(v)) for k, v in txn.cursor()]


def file_bytes(path: Path | str, *, include_lock: bool = False) -> dict[str, bytes]:
    """The bytes of every file in a vault directory (the lock file only if asked); for a
    PostgreSQL vault, every row of the vault as ``db/key-hex``."""
    if str(path).startswith("postgresql://"):
        # the audit log is left out: it changes on its own (queued reads are flushed within
        # 50 ms), which the slower round trips to the server make likely during a test
        return pghelpers.all_rows(str(path), audit=False)
    out = {}
    for name in sorted(os.listdir(path)):
        if name == "lock.mdb" and not include_lock:
            continue
        out[name] = Path(path, name).read_bytes()
    return out


def child_env() -> dict[str, str]:
    """Environment for child interpreters that must import this vaultcore."""
    env = dict(os.environ)
    src = str(Path(vaultcore.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn_script(code: str, *args: str) -> subprocess.Popen[str]:
    """Run *code* in a fresh interpreter with stdout piped line by line."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def run_in_child(check: Callable[[], object]) -> object:
    """Run *check* in a forked child and return what it returned (JSON-able); the test fails
    if it raised. The child leaves through ``os._exit``, never back into pytest."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            try:
                payload = {"result": check()}
            except BaseException as exc:
                payload = {"crash": repr(exc)}
            os.write(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        answer = json.loads(pipe.read() or b"{}")
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert "result" in answer, answer.get("crash", "the child reported nothing")
    return answer["result"]
