"""One LMDB environment per vault directory per process, its gates, and LMDB's errors.

``storage._lmdb`` builds the vault store on this: the environments open in this process
(shared by reference count), the gate that lets a map resize (or a close) wait for the
transactions this process has open, the fork handlers (an environment must not be used in a
child), and the translation of every LMDB or OS error into the ``VaultError`` tree.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from typing import Any

from vaultcore.exceptions import IntegrityError, NotAVaultError, StorageError, VaultError, VaultLockedError
from vaultcore.storage._files import out_of_room
from vaultcore.storage._mdb import Env, MdbError, mdb_codes

__all__ = ["CODES", "SharedEnv", "envs", "envs_lock", "orphans", "translate", "txn_closed", "txn_opened"]

envs_lock = threading.Lock()
envs: dict[str, SharedEnv] = {}


class SharedEnv:
    """One LMDB environment per path per process, shared by reference count."""

    def __init__(self, path: str, env: Env, databases: tuple[bytes, ...]) -> None:
        self.path = path
        self.env: Any = env  # an Env, or a _ForkedEnv in a child process
        self.refs = 0
        env.open_dbs(databases)
        self.dbs = env.dbs
        # LMDB may only resize the map while no transaction of this process is open on it:
        # every transaction enters this gate, and a resize waits until the others left.
        self.lock = threading.Lock()  # taken directly on the hot path (cheaper than the Condition)
        self.gate = threading.Condition(self.lock)
        self.active = 0
        self.resizing = False
        self.local = threading.local()  # .depth: transactions the current thread has open
        self.closed = False  # set by drain(): no transaction starts any more

    def enter(self) -> None:
        local = self.local
        depth = getattr(local, "depth", 0)
        with self.lock:
            while self.resizing and depth == 0:
                self.gate.wait()
            if self.closed:
                raise VaultLockedError("the vault is closed")
            self.active += 1
        local.depth = depth + 1

    def leave(self) -> None:
        self.local.depth -= 1
        with self.lock:
            self.active -= 1
            if self.resizing:
                self.gate.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Before closing: refuse new transactions and let those other threads still have
        open finish (bounded). True if none is open any more, so the environment may close;
        closing it under a running transaction would pull the map from under it."""
        own = getattr(self.local, "depth", 0)
        self.env.block_reads()  # for good: the environment is about to close
        with self.lock:
            self.resizing = True  # leave() notifies while this is set
            try:
                self.gate.wait_for(lambda: self.active <= own, timeout=timeout)
                self.closed = True
                return self.active == 0
            finally:
                self.resizing = False
                self.gate.notify_all()

    def resize(self, new_size: Callable[[int], int | None]) -> None:
        """``set_mapsize(new_size(current))`` once no other thread has a transaction open here
        (``new_size`` returns None when another thread already did what was needed)."""
        own = getattr(self.local, "depth", 0)
        with self.gate:
            while self.resizing:
                self.gate.wait()
            self.resizing = True
            self.env.block_reads()  # fused reads in C count as open transactions too
            try:
                if not self.gate.wait_for(lambda: self.active <= own, timeout=60):
                    raise StorageError("cannot resize the vault's map: other threads keep transactions open")
                size = new_size(self.env.map_size())
                if size is not None:
                    self.env.set_map_size(size)
            except MdbError as exc:
                raise translate(exc, "resizing the map failed") from None
            finally:
                self.env.allow_reads()
                self.resizing = False
                self.gate.notify_all()


# fork(): an LMDB environment must not be used in a child (LMDB's rule), so the child
# closes its inherited copies and must open the vault again. Closing an environment whose
# transactions the parent's threads had open could touch their reader slots in the shared
# lock file. So fork waits (bounded) until no transaction of this module is open (fused
# reads in C included), and the child closes only if none was.
# While it waits, new transactions wait too (``_forking``): otherwise a thread that reads in
# a loop keeps one open at every instant the forking thread looks.
_txn_gate = threading.Lock()
_txn_idle = threading.Condition(_txn_gate)
_open_txns = 0
_forking = False
_fork_clean = True
# Environments never closed: inherited by a child mid-transaction, or left to a transaction
# still open when the last store on them closed.
orphans: list[Any] = []


def txn_opened() -> None:
    global _open_txns
    with _txn_gate:
        if _forking:  # (a thread opening a nested one waits out the bounded fork wait)
            _txn_idle.wait_for(lambda: not _forking, timeout=15.0)
        _open_txns += 1


def txn_closed() -> None:
    global _open_txns
    with _txn_gate:
        _open_txns -= 1
        if _forking and not _open_txns:
            _txn_idle.notify_all()


def _before_fork() -> None:
    global _fork_clean, _forking
    _txn_gate.acquire()
    _forking = True
    for shared in list(envs.values()):
        shared.env.block_reads()
    _txn_idle.wait_for(lambda: not _open_txns, timeout=10.0)
    _fork_clean = _open_txns == 0  # the gate stays held until the fork is done


def _after_fork_in_parent() -> None:
    global _forking
    for shared in list(envs.values()):
        shared.env.allow_reads()
    _forking = False
    _txn_idle.notify_all()
    _txn_gate.release()


class _ForkedEnv:
    """Stands in for an environment inherited through fork(): every use says what to do."""

    def __getattr__(self, name: str) -> Any:
        raise StorageError(
            "this vault was opened before fork() and cannot be used in the child process: "
            "open the vault again in the child"
        )


def _after_fork_in_child() -> None:
    global _open_txns, envs_lock, _txn_gate, _txn_idle, _forking
    envs_lock = threading.Lock()  # another parent thread may have held it at the fork
    for shared in envs.values():
        if _fork_clean:
            shared.env.close()
        else:  # closing would clear the parent's reader slots: keep it, unreachable
            orphans.append(shared.env)
        shared.env = _ForkedEnv()
        shared.refs = 0
    envs.clear()
    _open_txns = 0
    _forking = False
    _txn_gate = threading.Lock()  # the parent's waiters do not exist here
    _txn_idle = threading.Condition(_txn_gate)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


#: errno values that mean "the disk (or the process's file-size limit) has no room".
_NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
#: LMDB codes that mean a page of the data file is not what LMDB wrote.
CODES = mdb_codes()
#: LMDB codes that mean a page of the data file is not what LMDB wrote.
_DAMAGED = {CODES[n]: n for n in ("CORRUPTED", "PAGE_NOTFOUND", "BAD_DBI", "BAD_VALSIZE", "INCOMPATIBLE")}


def translate(exc: Exception, what: str, path: str | None = None) -> VaultError:
    """The ``VaultError`` for an LMDB (or OS) error: no space, permission, damage, or the rest.

    *path*: the store's directory, to tell a short write at a full disk or at the process's
    file-size limit (LMDB reports those as EIO) from a failing disk.
    """
    code = exc.code if isinstance(exc, MdbError) else getattr(exc, "errno", None)
    if code == errno.EIO and path is not None and out_of_room(path):
        code = errno.ENOSPC
    if code in _NO_SPACE:
        return StorageError(f"{what}: no space left for the vault (disk full or file-size limit); nothing was written")
    if code in _DENIED:
        return StorageError(f"{what}: permission denied (the vault's files are not writable by this user)")
    if code == errno.EIO:
        return StorageError(f"{what}: input/output error on the vault's files (a failing disk?)")
    if code in _DAMAGED:
        return IntegrityError(f"{what}: the vault's data file is damaged (MDB_{_DAMAGED[code]})")
    if code == CODES["MAP_FULL"]:
        return StorageError(f"{what}: the vault's map is full and could not grow")
    if code == CODES["READERS_FULL"]:
        return StorageError(f"{what}: too many concurrent readers (max_readers)")
    if code == CODES["PANIC"]:
        return StorageError(f"{what}: the store had a fatal error; open the vault again (MDB_PANIC)")
    if code in (CODES["INVALID"], CODES["VERSION_MISMATCH"]):
        return NotAVaultError(f"{what}: not an LMDB store of a supported version")
    name = next((n for n, c in CODES.items() if c == code), None)
    if name is not None:
        return StorageError(f"{what}: MDB_{name}")
    return StorageError(f"{what}: {os.strerror(code) if isinstance(code, int) and code > 0 else type(exc).__name__}")
