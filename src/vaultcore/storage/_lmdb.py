"""Storage: the narrow ``Store`` interface and its LMDB implementation.

LMDB is the system's liblmdb, linked into the C core and called through ``storage._mdb``;
``storage._lmdb_env`` shares one environment per directory per process, gates resizes and
forks, and translates every LMDB error. The store holds only ciphertext and opaque keys (see
``crypto._envelope`` and ``engine._lifecycle``). py-lmdb was used before; it exposes no
handle to its environment, and the fused read (:meth:`LmdbStore.read_open`, one C call from
read transaction to opened record, ``csrc/vaultcore_store.c``) needs C to own it.

Model: one ``MDB_env`` per vault directory per process (shared by every
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

import functools
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from vaultcore.exceptions import NotAVaultError, StorageError
from vaultcore.storage import _lmdb_env as _lenv
from vaultcore.storage._files import DATA_FILE, check_data_file, fsync_dir
from vaultcore.storage._lmdb_env import translate as _translate
from vaultcore.storage._mdb import FALLBACK, Cursor, Env, MdbError, Txn
from vaultcore.storage._rows import AuditCommit, PackedRows

__all__ = ["DATABASES", "LmdbStore", "MdbError", "ReadTxn", "WriteTxn", "is_vault_dir"]

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


class ReadTxn:
    """A read-only view: point gets and ordered prefix scans."""

    __slots__ = ("_dbs", "_txn")

    def __init__(self, txn: Txn, dbs: dict[bytes, int]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, db: bytes, key: bytes) -> bytes | None:
        return self._txn.get(self._dbs[db], key)

    def get_many(self, db: bytes, keys: list[bytes]) -> dict[bytes, bytes]:
        handle = self._dbs[db]
        get = self._txn.get
        if len(keys) > 8:  # which exist, in one call (a bulk write's keys are usually all new)
            flags = self._txn.exist_many(handle, keys)
            if 1 not in flags:
                return {}
            keys = [key for key, flag in zip(keys, flags, strict=True) if flag]
        found = {}
        for key in keys:
            value = get(handle, key)
            if value is not None:
                found[key] = value
        return found

    def last_with_prefix(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        """The greatest (key, value) whose key starts with *prefix*."""
        cur = self._txn.cursor(self._dbs[db])
        try:
            if not self._seek_last(cur, prefix) or not cur.key().startswith(prefix):
                return None
            return cur.item()
        finally:
            cur.close()

    @staticmethod
    def _seek_last(cur: Cursor, prefix: bytes) -> bool:
        """Put *cur* on the last key <= every key starting with *prefix*."""
        upper = _prefix_upper(prefix)
        if upper is not None and cur.set_range(upper):
            return cur.prev()
        return cur.last()

    def scan(self, db: bytes, prefix: bytes = b"", *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) pairs whose key starts with *prefix*, in key order."""
        cur = self._txn.cursor(self._dbs[db])
        try:
            if reverse:
                ok = self._seek_last(cur, prefix)
                while ok:
                    key, value = cur.item()
                    if not key.startswith(prefix):
                        return
                    yield key, value
                    ok = cur.prev()
                return
            ok = cur.set_range(prefix) if prefix else cur.first()
            while ok:
                key, value = cur.item()
                if not key.startswith(prefix):
                    return
                yield key, value
                ok = cur.next()
        finally:
            cur.close()

    def scan_from(self, db: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield every (key, value) with key >= *start*, in key order."""
        cur = self._txn.cursor(self._dbs[db])
        try:
            ok = cur.set_range(start) if start else cur.first()
            while ok:
                yield cur.item()
                ok = cur.next()
        finally:
            cur.close()

    def count(self, db: bytes) -> int:
        return self._txn.entries(self._dbs[db])


class WriteTxn(ReadTxn):
    """A write transaction: everything put here commits together or not at all."""

    __slots__ = ()

    def put(self, db: bytes, key: bytes, value: bytes | memoryview) -> None:
        self._txn.put(self._dbs[db], key, value)

    def put_new(self, db: bytes, key: bytes, value: bytes | memoryview) -> bool:
        """Put only if *key* is absent; False if it existed."""
        return self._txn.put(self._dbs[db], key, value, overwrite=False)

    def insert_many(self, db: bytes, rows: Iterable[tuple[bytes, bytes | memoryview]]) -> None:
        """Put rows whose keys the caller found absent in this transaction (bulk writes), in one
        call into C. Should a key exist after all, the write fails with ``StorageError`` and
        nothing is written."""
        try:
            if isinstance(rows, PackedRows):  # sealed in C: the buffers go to C as they are
                self._txn.put_packed(self._dbs[db], rows)
            else:
                keys: list[bytes] = []
                values: list[bytes | memoryview] = []
                for key, value in rows:
                    keys.append(key)
                    values.append(value)
                self._txn.put_many(self._dbs[db], keys, values)
        except MdbError as exc:
            if exc.code == _lenv.CODES["KEYEXIST"]:
                raise StorageError("a bulk write met a record that exists already; nothing was written") from None
            raise

    def delete(self, db: bytes, key: bytes) -> bool:
        return self._txn.delete(self._dbs[db], key)

    def delete_prefix(self, db: bytes, prefix: bytes) -> int:
        keys = [k for k, _ in self.scan(db, prefix)]
        handle = self._dbs[db]
        for key in keys:
            self._txn.delete(handle, key)
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

    def __init__(self, shared: _lenv.SharedEnv) -> None:
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
        with _lenv.envs_lock:
            shared = _lenv.envs.get(real)
            if shared is None:
                if not create:
                    check_data_file(real, path)
                env = cls._open_env(real, path)
                try:
                    # Someone else's LMDB store: refuse before adding our databases to it.
                    if not create and not _holds_vault_databases(env):
                        raise NotAVaultError(f"no vault at {path!r}: the LMDB store holds no vault databases")
                    shared = _lenv.SharedEnv(real, env, DATABASES)
                except MdbError as exc:
                    env.close()
                    raise _translate(exc, f"cannot open vault store {path!r}") from None
                except BaseException:
                    env.close()
                    raise
                _lenv.envs[real] = shared
            shared.refs += 1
        return cls(shared)

    @staticmethod
    def _open_env(real: str, shown: str) -> Env:
        # Files 0600 (and the umask for anything LMDB creates); fresh pages zeroed (LMDB
        # would otherwise write stale heap bytes into unused parts of pages); no readahead;
        # the meta page flushed by write(durable=True) (see above).
        old_umask = os.umask(0o077)
        try:
            return Env(
                real,
                map_size=max(_INITIAL_MAP, _current_file_size(real) * 2),
                max_dbs=len(DATABASES) + 2,
                max_readers=512,
            )
        except MdbError as exc:
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
        with _lenv.envs_lock:
            self._shared.refs -= 1
            if self._shared.refs <= 0 and _lenv.envs.get(self._shared.path) is self._shared:
                del _lenv.envs[self._shared.path]
                if self._shared.drain():
                    self._shared.env.close()
                else:  # a transaction is still open: leave the environment to it, unreachable
                    _lenv.orphans.append(self._shared.env)

    # -- transactions ------------------------------------------------------------------

    def watch(self, prefix: bytes, key: bytes | None, found_key: bytes, blob: bytes) -> Any:
        """A watch on the record :meth:`find` (*prefix*, *key*) returned as (*found_key*,
        *blob*), for :meth:`unchanged`; None if the record is too large to watch."""
        return self._shared.env.watch(prefix, key, found_key, blob)

    def unchanged(self, db: bytes, watch: Any) -> bool:
        """True if :meth:`find` in *db* would return exactly the watched record now (one C
        call in its own read transaction: a change by any process is seen); False if it
        would not, or cannot tell (a resize or fork under way): then read it again."""
        return bool(self._shared.env.unchanged(db, watch))

    def watch_check(self, db: bytes, watch: Any) -> Callable[[], int]:
        """:meth:`unchanged` of *watch* in *db* as a call without arguments (1: unchanged, 0:
        read it again), for a caller that asks many times; it answers 0 for good once this
        environment is closed, reopened or inherited through fork()."""
        return self._shared.env.watch_check(db, watch)  # type: ignore[no-any-return]

    def find(self, db: bytes, prefix: bytes, key: bytes | None = None) -> tuple[bytes, bytes] | None:
        """One read without a ``read()`` block (the hot path of key operations).

        With *key*: that exact record; without: the last record whose key starts with
        *prefix*. Same transaction protocol as :meth:`read`, without generator overhead.
        """
        try:
            found = self._shared.env.find(db, prefix, key)
        except MdbError as exc:
            raise _translate(exc, "read failed") from None
        return self.find_open(db, prefix, key, _pair) if found is FALLBACK else found

    def read_open(
        self, db: bytes, prefix: bytes, key: bytes | None, cache: Any, kek: bytes, term: int, aad_head: bytes
    ) -> Any:
        """The fused read: :meth:`find_open` with the envelope's open done in the same C call.

        Returns the plaintext, None if absent, or ``storage._interface.FALLBACK`` when the caller
        must use :meth:`find_open` (map resize or fork under way, another keyring term).
        """
        try:
            return self._shared.env.read_open(db, prefix, key, cache, kek, term, aad_head)
        except MdbError as exc:
            raise _translate(exc, "read failed") from None

    def reader(self, db: bytes, cache: Any, kek: bytes, term: int, aad_head: bytes, index_key: bytes = b"") -> Any:
        """A native reader of *db* bound to this store and the given key material (the fused
        ``get_secret``: see ``storage._mdb.Reader``; with *index_key* it hashes names
        itself). Its reads fall back (None) once the environment is closed, resized by
        another process or inherited through fork()."""
        try:
            return self._shared.env.reader(db, cache, kek, term, aad_head, index_key)
        except MdbError as exc:
            raise _translate(exc, "read failed") from None

    def find_open(self, db: bytes, prefix: bytes, key: bytes | None, opener: Callable[[bytes, bytes], T]) -> T | None:
        """:meth:`find`, handing the record to *opener(key, value)* inside the read
        transaction (the read path of ``get_secret``: one call, no tuple, no second lookup).

        The prefix bound is computed here; values are copied out of the map. The general
        path under :meth:`read_open` (another keyring term, resize or fork under way).
        """
        shared = self._shared
        _lenv.txn_opened()
        shared.enter()
        try:
            txn = self._begin_read()
            try:
                dbi = shared.dbs[db]
                if key is not None:
                    value = txn.get(dbi, key)
                    return None if value is None else opener(key, value)
                cur = txn.cursor(dbi)
                upper = _prefix_upper(prefix)
                if not (cur.prev() if upper is not None and cur.set_range(upper) else cur.last()):
                    return None
                found, value = cur.item()
                if not found.startswith(prefix):
                    return None
                return opener(found, value)
            finally:
                txn.abort()
        except MdbError as exc:
            raise _translate(exc, "read failed") from None
        finally:
            shared.leave()
            _lenv.txn_closed()

    def _begin_read(self) -> Txn:
        """A read transaction (adopting a map another process grew)."""
        try:
            return self._shared.env.begin()
        except MdbError as exc:
            if exc.code != _lenv.CODES["MAP_RESIZED"]:
                raise
        self._adopt_resize()
        return self._shared.env.begin()

    @contextmanager
    def read(self) -> Iterator[ReadTxn]:
        """A consistent snapshot for reading."""
        shared = self._shared
        _lenv.txn_opened()
        shared.enter()
        try:
            try:
                txn = self._begin_read()
            except MdbError as exc:
                raise _translate(exc, "read failed") from None
            try:
                yield ReadTxn(txn, shared.dbs)
            except MdbError as exc:
                raise _translate(exc, "read failed") from None
            finally:
                txn.abort()
        finally:
            shared.leave()
            _lenv.txn_closed()

    def write(self, fn: Callable[[WriteTxn], T], *, durable: bool = True, prefetch: object = None) -> T:
        """Run *fn* in one write transaction and commit it.

        *durable* (default): data and meta page are on disk when this returns. False: the
        meta page is flushed later (``MDB_NOMETASYNC``): a power loss may undo this commit,
        never corrupts. *fn* may run more than once (when the map must grow), so it must not
        have side effects outside the transaction before it returns. *prefetch* (the reads
        *fn* will make) is for a database server; reads here cost no round trip.
        """
        _lenv.txn_opened()
        try:
            return self._write(fn, durable)
        finally:
            _lenv.txn_closed()

    def _write(self, fn: Callable[[WriteTxn], T], durable: bool) -> T:
        shared = self._shared
        env = shared.env

        def attempt() -> T:
            txn = env.begin(write=True)
            try:
                result = fn(WriteTxn(txn, shared.dbs))
                txn.commit()
            except BaseException:
                txn.abort()
                raise
            if durable:
                try:
                    env.sync()  # the meta page (MDB_NOMETASYNC left it to us)
                except MdbError as exc:
                    raise _translate(exc, "the commit could not be flushed to disk") from None
            return result

        return self._retrying(attempt, "write failed")

    def _retrying(self, attempt: Callable[[], T], what: str) -> T:
        """Run *attempt* (a whole write transaction) inside the resize gate; when the map is
        full or another process resized it, grow or adopt the map and run it again."""
        shared = self._shared
        for _ in range(24):
            resize: Callable[[], None] | None = None
            shared.enter()
            try:
                return attempt()
            except MdbError as exc:
                if exc.code == _lenv.CODES["MAP_FULL"]:
                    resize = functools.partial(self._grow, shared.env.map_size())
                elif exc.code == _lenv.CODES["MAP_RESIZED"]:
                    resize = self._adopt_resize
                else:
                    raise _translate(exc, what, shared.path) from None
            finally:
                shared.leave()
                if resize is not None:  # after leaving: a resize waits for open transactions
                    resize()
        raise StorageError(f"{what}: the map could not grow enough")

    def commit_audit(self, spec: AuditCommit) -> int | None:
        """The audit log's group commit of *spec*'s queue in one native call, durable (see
        ``Env.audit_commit``): the events committed, or None when the audit log must write
        them itself (another keyring generation, a chain to restart)."""
        env = self._shared.env
        _lenv.txn_opened()
        try:
            return self._retrying(lambda: env.audit_commit(spec, True), "the audit write failed")
        finally:
            _lenv.txn_closed()

    def run_audit_flusher(self, spec: AuditCommit, batch: int, max_delay: float) -> bool:
        """The audit flusher's loop in C (``Env.audit_flusher``): it commits as
        :meth:`commit_audit` inside the fused reads' gate (which a resize, fork or close
        blocks) and returns when stopped (True) or when the audit log must commit itself."""
        try:
            return bool(self._shared.env.audit_flusher(spec, batch, max_delay))
        except MdbError as exc:
            raise _translate(exc, "the audit write failed") from None

    def reserve(self, nbytes: int) -> None:
        """Grow the map ahead of a write of about *nbytes* (a bulk import), so that the write
        does not fill the map and run a second time. Call it outside any transaction."""
        try:
            need = self._shared.env.used_bytes() + 2 * nbytes  # copy-on-write and free pages
        except MdbError as exc:
            raise _translate(exc, "sizing the map failed") from None

        def grown(current: int) -> int | None:
            if current >= need:
                return None  # large enough (perhaps grown by another thread or process)
            size = current
            while size < need:
                size *= 2
            if size > _MAX_MAP:
                raise StorageError(f"the vault cannot grow to {size} bytes (limit {_MAX_MAP})")
            return size

        if need > self._shared.env.map_size():
            self._shared.resize(grown)

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
            _lenv.txn_opened()  # the copy runs in a read transaction
            self._shared.enter()
            try:
                self._shared.env.copy_to_fd(fd)
            except MdbError as exc:
                raise _translate(exc, "backup copy failed", dest_dir) from None
            finally:
                self._shared.leave()
                _lenv.txn_closed()
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


def _holds_vault_databases(env: Env) -> bool:
    """True if the environment's main database names the vault's ``meta`` database."""
    try:
        return env.main_get(DATABASES[0]) is not None
    except MdbError as exc:
        raise _translate(exc, "cannot read the vault store") from None


def _current_file_size(path: str) -> int:
    try:
        return os.path.getsize(os.path.join(path, _DATA_FILE))
    except OSError:
        return 0
