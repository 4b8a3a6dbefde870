"""Storage: the narrow ``Store`` interface and its LMDB implementation.

This is the only module that imports :mod:`lmdb`; every ``lmdb.Error`` is translated here.
The store holds only ciphertext and opaque keys (see ``crypto._envelope`` and ``engine._lifecycle``).

Model (after py-lmdb): one ``Environment`` per vault directory per process (shared by every
``Vault`` object opened on that path, reference counted), named sub-databases, every
mutation inside one write transaction. LMDB gives one writer and many MVCC readers across
threads and processes. The map grows when full (``MapFullError`` → double and retry) and a
map grown by another process is adopted (``MapResizedError``).

Durability. The environment is opened with ``MDB_NOMETASYNC``: a commit flushes the data
pages, and a fully durable write (the default, ``durable=True``) then flushes the meta page
with ``mdb_env_sync`` before returning: the same two ordered flushes LMDB's default does.
``durable=False`` skips the second flush: a power loss (or OS crash) may undo the last
commits, never corrupts the store (LMDB keeps atomicity, consistency and isolation; the
next durable commit or sync makes them durable). A process crash loses nothing either way.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import lmdb

from vaultcore.exceptions import IntegrityError, NotAVaultError, StorageError, VaultError
from vaultcore.storage._files import DATA_FILE, check_data_file, fsync_dir, out_of_room

__all__ = ["DATABASES", "LmdbStore", "ReadTxn", "WriteTxn", "is_vault_dir"]

T = TypeVar("T")

#: Named sub-databases of a vault.
DATABASES = (
    b"meta",  # header, keyring blob, generation, settings
    b"objects",  # kind|objkey -> sealed object record (current objects)
    b"versions",  # kind|objkey|vid -> sealed version record (current objects)
    b"deleted",  # kind|objkey -> sealed deleted-object record
    b"dversions",  # kind|objkey|vid -> sealed version record (soft-deleted objects)
    b"purgeq",  # purge_ts(8)|kind|objkey -> b"" (sweep index; no names)
    b"audit",  # seq(8) -> sealed audit event
    b"access",  # principal / role-assignment records (sealed)
    b"certmeta",  # certificate contacts and issuers (sealed; issuer keys are keyed hashes)
    b"outbox",  # seq(8) -> sealed change event (written in the transaction of its change)
    b"evsubs",  # subscription id(16) -> sealed event subscription (webhook URL, HMAC secret)
    b"evstate",  # delivery cursors, dead letters, expiry markers, job leases (no names, no secrets)
)

_DATA_FILE = DATA_FILE
_INITIAL_MAP = 64 << 20
_MAX_MAP = 1 << 40

_envs_lock = threading.Lock()
_envs: dict[str, _SharedEnv] = {}


class _SharedEnv:
    """One LMDB environment per path per process, shared by reference count."""

    def __init__(self, path: str, env: Any) -> None:
        self.path = path
        self.env = env
        self.refs = 0
        self.dbs = {name: env.open_db(name) for name in DATABASES}
        # LMDB may only resize the map while no transaction of this process is open on it:
        # every transaction enters this gate, and a resize waits until the others left.
        self.lock = threading.Lock()  # taken directly on the hot path (cheaper than the Condition)
        self.gate = threading.Condition(self.lock)
        self.active = 0
        self.resizing = False
        self.local = threading.local()  # .depth: transactions the current thread has open

    def enter(self) -> None:
        local = self.local
        depth = getattr(local, "depth", 0)
        with self.lock:
            while self.resizing and depth == 0:
                self.gate.wait()
            self.active += 1
        local.depth = depth + 1

    def leave(self) -> None:
        self.local.depth -= 1
        with self.lock:
            self.active -= 1
            if self.resizing:
                self.gate.notify_all()

    def drain(self, timeout: float = 10.0) -> None:
        """Before closing: let transactions other threads still have open finish (bounded).

        The vault refuses new operations once closed; closing the environment under a
        running transaction would fail it with a storage error instead."""
        own = getattr(self.local, "depth", 0)
        with self.lock:
            self.resizing = True  # leave() notifies while this is set
            try:
                self.gate.wait_for(lambda: self.active <= own, timeout=timeout)
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
            try:
                if not self.gate.wait_for(lambda: self.active <= own, timeout=60):
                    raise StorageError("cannot resize the vault's map: other threads keep transactions open")
                size = new_size(int(self.env.info()["map_size"]))
                if size is not None:
                    self.env.set_mapsize(size)
            except lmdb.Error as exc:
                raise _translate(exc, "resizing the map failed") from None
            finally:
                self.resizing = False
                self.gate.notify_all()


# fork(): an LMDB environment must not be used in a child, and py-lmdb refuses to open an
# environment that is still open in the process, so the child closes its inherited copies.
# Closing aborts the transactions the child inherited, which clears their reader slots in
# the shared lock file: slots that belong to the parent's threads. So fork waits (bounded)
# until no transaction of this module is open, and the child closes only if none was.
# While it waits, new transactions wait too (``_forking``): otherwise a thread that reads in
# a loop keeps one open at every instant the forking thread looks.
_txn_gate = threading.Lock()
_txn_idle = threading.Condition(_txn_gate)
_open_txns = 0
_forking = False
_fork_clean = True
_fork_orphans: list[Any] = []  # environments a child inherited mid-transaction (never closed)


def _txn_opened() -> None:
    global _open_txns
    with _txn_gate:
        if _forking:  # (a thread opening a nested one waits out the bounded fork wait)
            _txn_idle.wait_for(lambda: not _forking, timeout=15.0)
        _open_txns += 1


def _txn_closed() -> None:
    global _open_txns
    with _txn_gate:
        _open_txns -= 1
        if _forking and not _open_txns:
            _txn_idle.notify_all()


def _before_fork() -> None:
    global _fork_clean, _forking
    _txn_gate.acquire()
    _forking = True
    _txn_idle.wait_for(lambda: not _open_txns, timeout=10.0)
    _fork_clean = _open_txns == 0  # the gate stays held until the fork is done


def _after_fork_in_parent() -> None:
    global _forking
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
    global _open_txns, _envs_lock, _txn_gate, _txn_idle, _forking
    _envs_lock = threading.Lock()  # another parent thread may have held it at the fork
    for shared in _envs.values():
        if _fork_clean:
            with suppress(lmdb.Error):
                shared.env.close()
        else:  # closing would clear the parent's reader slots: keep it, unreachable
            _fork_orphans.append(shared.env)
        shared.env = _ForkedEnv()
        shared.refs = 0
    _envs.clear()
    _open_txns = 0
    _forking = False
    _txn_gate = threading.Lock()  # the parent's waiters do not exist here
    _txn_idle = threading.Condition(_txn_gate)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _is_dir(real: str, shown: str) -> bool:
    """Whether *real* is a directory; a path this user may not even look at is refused as such."""
    try:
        return stat.S_ISDIR(os.stat(real).st_mode)
    except PermissionError:
        raise StorageError(f"permission denied: the vault at {shown!r} belongs to another user") from None
    except OSError:
        return False


def is_vault_dir(path: str) -> bool:
    """True if *path* is a directory holding an LMDB data file."""
    return os.path.isfile(os.path.join(path, _DATA_FILE))


#: errno values that mean "the disk (or the process's file-size limit) has no room".
_NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
#: lmdb errors that mean a page of the data file is not what LMDB wrote.
_DAMAGED: tuple[type[Exception], ...] = (
    lmdb.CorruptedError,
    lmdb.PageNotFoundError,
    lmdb.BadDbiError,
    lmdb.BadValsizeError,
    lmdb.IncompatibleError,
    getattr(lmdb, "BadChecksumError", lmdb.CorruptedError),
)


def _translate(exc: Exception, what: str, path: str | None = None) -> VaultError:
    """The ``VaultError`` for an lmdb (or OS) error: no space, permission, damage, or the rest.

    *path*: the store's directory, to tell a short write at a full disk or at the process's
    file-size limit (LMDB reports those as EIO) from a failing disk.
    """
    code = getattr(exc, "code", None) if isinstance(exc, lmdb.Error) else getattr(exc, "errno", None)
    if code is None and len(exc.args) == 2 and isinstance(exc.args[1], int):
        code = exc.args[1]  # an lmdb.Error built as Error(what, code)
    if code == errno.EIO and path is not None and out_of_room(path):
        code = errno.ENOSPC
    if isinstance(exc, lmdb.DiskError) or code in _NO_SPACE:
        return StorageError(f"{what}: no space left for the vault (disk full or file-size limit); nothing was written")
    if code in _DENIED:
        return StorageError(f"{what}: permission denied (the vault's files are not writable by this user)")
    if code == errno.EIO:
        return StorageError(f"{what}: input/output error on the vault's files (a failing disk?)")
    if isinstance(exc, _DAMAGED):
        return IntegrityError(f"{what}: the vault's data file is damaged ({type(exc).__name__})")
    if isinstance(exc, lmdb.MapFullError):
        return StorageError(f"{what}: the vault's map is full and could not grow")
    if isinstance(exc, lmdb.ReadersFullError):
        return StorageError(f"{what}: too many concurrent readers (max_readers)")
    if isinstance(exc, lmdb.PanicError):
        return StorageError(f"{what}: the store had a fatal error; open the vault again ({type(exc).__name__})")
    if isinstance(exc, lmdb.InvalidError | lmdb.VersionMismatchError):
        return NotAVaultError(f"{what}: not an LMDB store of a supported version")
    if isinstance(exc, lmdb.ReadonlyError):
        return StorageError(f"{what}: the vault is read-only")
    return StorageError(f"{what}: {type(exc).__name__}")


class ReadTxn:
    """A read-only view: point gets and ordered prefix scans."""

    __slots__ = ("_dbs", "_txn")

    def __init__(self, txn: Any, dbs: dict[bytes, Any]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, db: bytes, key: bytes) -> bytes | None:
        value = self._txn.get(key, db=self._dbs[db])
        return None if value is None else bytes(value)

    def get_many(self, db: bytes, keys: list[bytes]) -> dict[bytes, bytes]:
        handle = self._dbs[db]
        found = {}
        for key in keys:
            value = self._txn.get(key, db=handle)
            if value is not None:
                found[key] = bytes(value)
        return found

    def last_with_prefix(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        """The greatest (key, value) whose key starts with *prefix*."""
        cur = self._txn.cursor(db=self._dbs[db])
        if not self._seek_last(cur, prefix) or not cur.key().startswith(prefix):
            return None
        return bytes(cur.key()), bytes(cur.value())

    @staticmethod
    def _seek_last(cur: Any, prefix: bytes) -> bool:
        """Put *cur* on the last key <= every key starting with *prefix*."""
        upper = _prefix_upper(prefix)
        if upper is not None and cur.set_range(upper):
            return bool(cur.prev())
        return bool(cur.last())

    def scan(self, db: bytes, prefix: bytes = b"", *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) pairs whose key starts with *prefix*, in key order."""
        cur = self._txn.cursor(db=self._dbs[db])
        if reverse:
            ok = self._seek_last(cur, prefix)
            while ok and cur.key().startswith(prefix):
                yield bytes(cur.key()), bytes(cur.value())
                ok = cur.prev()
            return
        if not cur.set_range(prefix):
            return
        for key, value in cur:
            if not key.startswith(prefix):
                return
            yield bytes(key), bytes(value)

    def scan_from(self, db: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield every (key, value) with key >= *start*, in key order."""
        cur = self._txn.cursor(db=self._dbs[db])
        if not cur.set_range(start):
            return
        for key, value in cur:
            yield bytes(key), bytes(value)

    def count(self, db: bytes) -> int:
        return int(self._txn.stat(self._dbs[db])["entries"])


class WriteTxn(ReadTxn):
    """A write transaction: everything put here commits together or not at all."""

    __slots__ = ()

    def put(self, db: bytes, key: bytes, value: bytes | memoryview) -> None:
        self._txn.put(key, value, db=self._dbs[db])

    def put_new(self, db: bytes, key: bytes, value: bytes | memoryview) -> bool:
        """Put only if *key* is absent; False if it existed."""
        return bool(self._txn.put(key, value, db=self._dbs[db], overwrite=False))

    def delete(self, db: bytes, key: bytes) -> bool:
        return bool(self._txn.delete(key, db=self._dbs[db]))

    def delete_prefix(self, db: bytes, prefix: bytes) -> int:
        keys = [k for k, _ in self.scan(db, prefix)]
        for key in keys:
            self._txn.delete(key, db=self._dbs[db])
        return len(keys)


def _pair(key: bytes, value: bytes) -> tuple[bytes, bytes]:
    return key, value


def _prefix_upper(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with *prefix* (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class LmdbStore:
    """A vault directory's LMDB environment (shared per process) and its transactions."""

    def __init__(self, shared: _SharedEnv) -> None:
        self._shared = shared
        self._closed = False

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str, *, create: bool) -> LmdbStore:
        """Open (or, with *create*, make) the store at *path* (a directory)."""
        real = os.path.realpath(path)
        if create:
            try:
                os.makedirs(real, mode=0o700, exist_ok=True)
                os.chmod(real, 0o700)
            except OSError as exc:
                raise StorageError(f"cannot create vault directory {path!r}: {exc.strerror}") from None
        elif not _is_dir(real, path):
            raise NotAVaultError(f"no vault at {path!r}: the directory does not exist")
        elif not os.access(real, os.R_OK | os.W_OK | os.X_OK) or (
            is_vault_dir(real) and not os.access(os.path.join(real, _DATA_FILE), os.R_OK | os.W_OK)
        ):
            raise StorageError(f"permission denied: the vault at {path!r} belongs to another user (or is read-only)")
        elif not is_vault_dir(real):
            raise NotAVaultError(f"no vault at {path!r}: the directory holds no vault data file")
        with _envs_lock:
            shared = _envs.get(real)
            if shared is None:
                if not create:
                    check_data_file(real, path)
                env = cls._open_env(real, path)
                try:
                    # Someone else's LMDB store: refuse before adding our databases to it.
                    if not create and not _holds_vault_databases(env):
                        raise NotAVaultError(f"no vault at {path!r}: the LMDB store holds no vault databases")
                    shared = _SharedEnv(real, env)
                except lmdb.Error as exc:
                    env.close()
                    raise _translate(exc, f"cannot open vault store {path!r}") from None
                except BaseException:
                    env.close()
                    raise
                _envs[real] = shared
            shared.refs += 1
        return cls(shared)

    @staticmethod
    def _open_env(real: str, shown: str) -> Any:
        old_umask = os.umask(0o077)
        try:
            return lmdb.open(
                real,
                map_size=max(_INITIAL_MAP, _current_file_size(real) * 2),
                max_dbs=len(DATABASES) + 2,
                max_readers=512,
                subdir=True,
                mode=0o600,
                readahead=False,
                # Zero fresh pages: without it LMDB writes whatever the heap held before (freed
                # plaintext values, PFX files, private keys) into the unused parts of pages.
                meminit=True,
                lock=True,
                metasync=False,  # the meta page is flushed by write(durable=True) (see above)
            )
        except lmdb.Error as exc:
            raise _translate(exc, f"cannot open vault store {shown!r}") from None
        finally:
            os.umask(old_umask)

    @property
    def path(self) -> str:
        return self._shared.path

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _envs_lock:
            self._shared.refs -= 1
            if self._shared.refs <= 0 and _envs.get(self._shared.path) is self._shared:
                del _envs[self._shared.path]
                self._shared.drain()
                self._shared.env.close()

    # -- transactions ------------------------------------------------------------------

    def find(self, db: bytes, prefix: bytes, key: bytes | None = None) -> tuple[bytes, bytes] | None:
        """One read without a ``read()`` block (the hot path of key operations).

        With *key*: that exact record; without: the last record whose key starts with
        *prefix*. Same transaction protocol as :meth:`read`, without generator overhead.
        """
        return self.find_open(db, prefix, key, _pair)

    def find_open(self, db: bytes, prefix: bytes, key: bytes | None, opener: Callable[[bytes, bytes], T]) -> T | None:
        """:meth:`find`, handing the record to *opener(key, value)* inside the read
        transaction (the read path of ``get_secret``: one call, no tuple, no second lookup).

        The prefix bound is computed here; values are copied out of the map (for records of a
        few hundred bytes py-lmdb's copy is cheaper than its zero-copy ``buffers=True`` view).
        """
        shared = self._shared
        _txn_opened()
        shared.enter()
        try:
            try:
                txn = shared.env.begin(db=shared.dbs[db])
            except lmdb.MapResizedError:
                self._adopt_resize()
                txn = shared.env.begin(db=shared.dbs[db])
            try:
                if key is not None:
                    value = txn.get(key)
                    return None if value is None else opener(key, value)
                cur = txn.cursor()
                upper = _prefix_upper(prefix)
                if not (cur.prev() if upper is not None and cur.set_range(upper) else cur.last()):
                    return None
                found = cur.key()
                if not found.startswith(prefix):
                    return None
                return opener(found, cur.value())
            finally:
                txn.abort()
        except lmdb.Error as exc:
            raise _translate(exc, "read failed") from None
        finally:
            shared.leave()
            _txn_closed()

    @contextmanager
    def read(self) -> Iterator[ReadTxn]:
        """A consistent snapshot for reading."""
        shared = self._shared
        env = shared.env
        _txn_opened()
        shared.enter()
        try:
            try:
                txn = env.begin()
            except lmdb.MapResizedError:
                self._adopt_resize()
                txn = env.begin()
            except lmdb.Error as exc:
                raise _translate(exc, "read failed") from None
            try:
                yield ReadTxn(txn, shared.dbs)
            except lmdb.Error as exc:
                raise _translate(exc, "read failed") from None
            finally:
                txn.abort()
        finally:
            shared.leave()
            _txn_closed()

    def write(self, fn: Callable[[WriteTxn], T], *, durable: bool = True) -> T:
        """Run *fn* in one write transaction and commit it.

        *durable* (default): data and meta page are on disk when this returns. False: the
        meta page is flushed later (``MDB_NOMETASYNC``): a power loss may undo this commit,
        never corrupts. *fn* may run more than once (when the map must grow), so it must not
        have side effects outside the transaction before it returns.
        """
        _txn_opened()
        try:
            return self._write(fn, durable)
        finally:
            _txn_closed()

    def _write(self, fn: Callable[[WriteTxn], T], durable: bool) -> T:
        shared = self._shared
        env = shared.env
        for _ in range(24):
            resize: Callable[[], None] | None = None
            shared.enter()
            try:
                try:
                    txn = env.begin(write=True)
                except lmdb.MapResizedError:
                    resize = self._adopt_resize
                    continue
                except lmdb.Error as exc:
                    raise _translate(exc, "write failed", shared.path) from None
                try:
                    result = fn(WriteTxn(txn, shared.dbs))
                    txn.commit()
                except lmdb.MapFullError:
                    txn.abort()
                    resize = functools.partial(self._grow, int(env.info()["map_size"]))
                except lmdb.MapResizedError:
                    txn.abort()
                    resize = self._adopt_resize
                except lmdb.Error as exc:
                    txn.abort()
                    raise _translate(exc, "write failed", shared.path) from None
                except BaseException:
                    txn.abort()
                    raise
                else:
                    if durable:
                        try:
                            env.sync(True)  # the meta page (MDB_NOMETASYNC left it to us)
                        except lmdb.Error as exc:
                            raise _translate(exc, "the commit could not be flushed to disk") from None
                    return result
            finally:
                shared.leave()
                if resize is not None:  # after leaving: a resize waits for open transactions
                    resize()
        raise StorageError("write failed: the map could not grow enough")

    def _grow(self, seen: int) -> None:
        def doubled(current: int) -> int | None:
            if current > seen:
                return None  # another thread grew it meanwhile
            if current * 2 > _MAX_MAP:
                raise StorageError(f"the vault is full at {current} bytes (limit {_MAX_MAP})")
            return current * 2

        self._shared.resize(doubled)

    def _adopt_resize(self) -> None:
        self._shared.resize(lambda current: 0)  # 0: adopt the size another process set

    # -- whole-store operations --------------------------------------------------------

    def hot_copy(self, dest_dir: str) -> None:
        """A consistent, compacting copy of the whole store into *dest_dir* (0700)."""
        try:
            if os.path.exists(dest_dir) and os.listdir(dest_dir):
                raise StorageError(f"backup destination {dest_dir!r} exists and is not empty")
            os.makedirs(dest_dir, mode=0o700, exist_ok=True)
            os.chmod(dest_dir, 0o700)
        except OSError as exc:
            raise StorageError(f"cannot use backup destination {dest_dir!r}: {exc.strerror}") from None
        # Into a temporary file in the destination, renamed to data.mdb only once complete
        # and on disk: an interrupted backup never leaves a truncated data.mdb behind.
        final = os.path.join(dest_dir, _DATA_FILE)
        temp = os.path.join(dest_dir, f".{_DATA_FILE}.{os.getpid()}.partial")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise _translate(exc, f"cannot write backup into {dest_dir!r}") from None
        done = False
        try:
            _txn_opened()  # the copy runs in a read transaction
            self._shared.enter()
            try:
                self._shared.env.copyfd(fd, compact=True)
            except lmdb.Error as exc:
                raise _translate(exc, "backup copy failed", dest_dir) from None
            finally:
                self._shared.leave()
                _txn_closed()
            try:
                os.fsync(fd)
                os.close(fd)
                fd = -1
                os.replace(temp, final)
                done = True
                fsync_dir(dest_dir)
            except OSError as exc:
                raise _translate(exc, "backup copy failed") from None
        finally:
            if fd >= 0:
                os.close(fd)
            if not done:
                with suppress(OSError):
                    os.unlink(temp)

    def databases(self) -> list[bytes]:
        """The named sub-databases (the store interface's whole-vault copy walks these)."""
        return list(DATABASES)

    @contextmanager
    def leader(self, job: str) -> Iterator[bool]:
        """Always the leader: every process is on this one machine and each job's steps are
        write transactions, which LMDB already serialises."""
        yield True

    def files(self) -> list[str]:
        """The store's files (for scans in tests and for permission checks)."""
        return [os.path.join(self._shared.path, n) for n in sorted(os.listdir(self._shared.path))]


def _holds_vault_databases(env: Any) -> bool:
    """True if the environment's main database names the vault's ``meta`` database."""
    try:
        with env.begin() as txn:
            return txn.get(DATABASES[0]) is not None
    except lmdb.Error as exc:
        raise _translate(exc, "cannot read the vault store") from None


def _current_file_size(path: str) -> int:
    try:
        return os.path.getsize(os.path.join(path, _DATA_FILE))
    except OSError:
        return 0
