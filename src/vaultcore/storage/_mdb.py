"""LMDB through the C core: environments, transactions and cursors over the system's liblmdb.

The storage half of the compiled core (``vaultcore._native``, loaded by ``vaultcore._ffi``;
``crypto._bindings`` uses the crypto half). This is the only module that calls LMDB: ``storage._lmdb`` builds the vault
store on these few classes. Every non-zero LMDB status becomes :class:`MdbError` (its
``code`` is LMDB's negative code or an errno), which ``storage._lmdb`` translates into the
``VaultError`` tree. Values are copied out of the map before a call returns, so nothing
here outlives its transaction; a cursor or transaction used after its end raises instead
of touching freed memory.

:meth:`Env.read_open` is the fused read: one C call that opens a read transaction, finds a
sealed record, authenticates and decrypts it with the caller's key material and returns
the plaintext (``csrc/vaultcore_store.c``), with the GIL released throughout.
"""

from __future__ import annotations

import errno
import functools
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

# The compiled core (through its one importer, vaultcore._ffi) has no stubs: everything
# from it is Any and stays in this module.
from vaultcore._ffi import fast_get as _fast_get
from vaultcore._ffi import ffi, lib
from vaultcore.exceptions import IntegrityError, InvalidParameterError, VaultError
from vaultcore.storage._rows import AuditCommit, PackedRows

#: storage._interface.FALLBACK (not imported: the interface opens this backend lazily).
FALLBACK: Any = NotImplemented

__all__ = ["Cursor", "Env", "MdbError", "Reader", "Txn", "mdb_codes"]

NOTFOUND: int = lib.MDB_NOTFOUND
KEYEXIST: int = lib.MDB_KEYEXIST
_MAP_RESIZED: int = lib.MDB_MAP_RESIZED
_FIRST, _LAST, _NEXT, _PREV, _SET_RANGE = lib.MDB_FIRST, lib.MDB_LAST, lib.MDB_NEXT, lib.MDB_PREV, lib.MDB_SET_RANGE
_ENV_FLAGS: int = lib.MDB_NOTLS | lib.MDB_NORDAHEAD | lib.MDB_NOMETASYNC
_S_FOUND, _S_AUTH, _S_NOTFOUND = lib.VC_STORE_FOUND, lib.VC_STORE_AUTH, lib.VC_STORE_NOTFOUND
_S_TERM, _S_SPACE, _S_BUSY, _S_ERRNO = lib.VC_STORE_TERM, lib.VC_STORE_SPACE, lib.VC_STORE_BUSY, lib.VC_STORE_ERRNO
_S_SLOW = lib.VC_STORE_SLOW
_SIZE_T = next(c for c in "LQI" if array(c).itemsize == ffi.sizeof("size_t"))
_OUT_SIZE = 1024
_FIND_KEEP = 16384  # the largest record buffer a thread keeps for find (an RSA-4096 key is ~2.4 KB sealed)
_ZEROS = bytes(_OUT_SIZE)


def mdb_codes() -> dict[str, int]:
    """LMDB's error codes by name (for error translation and tests)."""
    names = (
        "KEYEXIST NOTFOUND PAGE_NOTFOUND CORRUPTED PANIC VERSION_MISMATCH INVALID MAP_FULL DBS_FULL "
        "READERS_FULL TXN_FULL CURSOR_FULL PAGE_FULL MAP_RESIZED INCOMPATIBLE BAD_RSLOT BAD_TXN BAD_VALSIZE BAD_DBI"
    )
    return {name: int(getattr(lib, "MDB_" + name)) for name in names.split()}


class MdbError(Exception):
    """A non-zero LMDB status: ``code`` is LMDB's (negative) code or an errno."""

    def __init__(self, code: int, where: str) -> None:
        self.code = code
        self.where = where
        text = ffi.string(lib.mdb_strerror(code)).decode("utf-8", "replace") if code else "error"
        super().__init__(f"{where}: {text}")


def _check(rc: int, where: str) -> None:
    if rc:
        raise MdbError(rc, where)


class Env:
    """An open ``MDB_env`` with its named databases and the fused-read gate."""

    __slots__ = ("_env", "_gate", "_scratch", "dbs")

    def __init__(self, path: str, *, map_size: int, max_dbs: int, max_readers: int) -> None:
        ptr = ffi.new("MDB_env **")
        _check(lib.mdb_env_create(ptr), "mdb_env_create")
        env = ptr[0]
        try:
            _check(lib.mdb_env_set_maxdbs(env, max_dbs), "mdb_env_set_maxdbs")
            _check(lib.mdb_env_set_maxreaders(env, max_readers), "mdb_env_set_maxreaders")
            _check(lib.mdb_env_set_mapsize(env, map_size), "mdb_env_set_mapsize")
            # NOTLS: a read transaction is not tied to a thread; NORDAHEAD: random reads;
            # NOMETASYNC: the store flushes the meta page itself (see storage._lmdb). Fresh
            # pages are zeroed (no NOMEMINIT): no stale heap bytes are written to disk.
            _check(lib.mdb_env_open(env, path.encode(), _ENV_FLAGS, 0o600), "mdb_env_open")
            gate = ffi.new("vc_store **")
            _check(lib.vc_store_new(env, gate), "vc_store_new")
        except BaseException:
            lib.mdb_env_close(env)
            raise
        self._env = env
        # Freed only with this object: a thread may hold the pointer after close(), and the
        # closed gate answers it (VC_STORE_BUSY) without touching the environment.
        self._gate = ffi.gc(gate[0], lib.vc_store_free)
        self._scratch = threading.local()  # .bufs: this thread's plaintext buffer and size cell
        self.dbs: dict[bytes, int] = {}

    def open_dbs(self, names: tuple[bytes, ...]) -> None:
        """Open (creating where missing) the named databases, in one write transaction."""
        txn = Txn(self, write=True)
        try:
            handle = ffi.new("MDB_dbi *")
            for name in names:
                _check(lib.mdb_dbi_open(txn.ptr, name, lib.MDB_CREATE, handle), "mdb_dbi_open")
                self.dbs[name] = int(handle[0])
            txn.commit()
        finally:
            txn.abort()

    def main_get(self, key: bytes) -> bytes | None:
        """A key of the main (unnamed) database: the names of the named databases."""
        txn = Txn(self, write=False)
        try:
            handle = ffi.new("MDB_dbi *")
            _check(lib.mdb_dbi_open(txn.ptr, ffi.NULL, 0, handle), "mdb_dbi_open")
            return txn.get(int(handle[0]), key)
        finally:
            txn.abort()

    def begin(self, *, write: bool = False) -> Txn:
        if self._env is None:
            raise MdbError(errno.EBADF, "the environment is closed")
        return Txn(self, write=write)

    def map_size(self) -> int:
        info = ffi.new("MDB_envinfo *")
        _check(lib.mdb_env_info(self._env, info), "mdb_env_info")
        return int(info.me_mapsize)

    def used_bytes(self) -> int:
        """Bytes of the map in use (pages up to the last one written)."""
        info = ffi.new("MDB_envinfo *")
        _check(lib.mdb_env_info(self._env, info), "mdb_env_info")
        st = ffi.new("MDB_stat *")
        _check(lib.mdb_env_stat(self._env, st), "mdb_env_stat")
        return (int(info.me_last_pgno) + 1) * int(st.ms_psize)

    def set_map_size(self, size: int) -> None:
        """Set the map size (0: adopt the size another process set); no transaction of
        this process may be open (the caller's gate sees to that)."""
        _check(lib.mdb_env_set_mapsize(self._env, size), "mdb_env_set_mapsize")

    def sync(self) -> None:
        _check(lib.mdb_env_sync(self._env, 1), "mdb_env_sync")

    def audit_commit(self, spec: AuditCommit, durable: bool) -> int | None:
        """The audit queue's group commit in one C call, GIL released (``vc_audit_commit``):
        the events committed, or None when the caller's general path must commit (nothing
        was written)."""
        done = ffi.new("size_t *")
        rc = lib.vc_audit_commit(self._env, *self._audit_args(spec), durable, done)
        if rc == _S_SLOW:
            return None
        if rc < 0 or rc >= _S_ERRNO:
            raise MdbError(rc - _S_ERRNO if rc >= _S_ERRNO else rc, "audit commit")
        if rc:
            raise VaultError(f"the native audit commit failed (status {rc})")
        return int(done[0])

    def audit_flusher(self, spec: AuditCommit, batch: int, max_delay: float) -> bool:
        """The audit flusher thread's loop in C (``vc_audit_flusher``): waits for *batch*
        events or *max_delay* and commits them as :meth:`audit_commit`, again and again with
        the GIL released, until stopped (True) or until a commit needs the caller (False)."""
        stopped = ffi.new("int *")
        lib.vc_audit_flusher(self._gate, *self._audit_args(spec), batch, max_delay, stopped)
        return bool(stopped[0])

    def _audit_args(self, spec: AuditCommit) -> tuple[Any, ...]:
        """The arguments both audit entry points take after their first, in C order."""
        (meta, audit), (gen_key, gen), head = spec.dbs, spec.generation, spec.head_key
        audit_key, term, kek, aad_head = spec.keys
        return (
            self.dbs[meta], self.dbs[audit], spec.queue, spec.per_segment, gen_key, len(gen_key), gen, len(gen),
            head, len(head), audit_key, len(audit_key), term, kek, len(kek), aad_head, len(aad_head),
        )  # fmt: skip

    def copy_to_fd(self, fd: int) -> None:
        """A compacting copy of the whole environment, as of one read transaction."""
        _check(lib.mdb_env_copyfd2(self._env, fd, lib.MDB_CP_COMPACT), "mdb_env_copyfd2")

    def block_reads(self) -> None:
        """Stop fused reads and wait (bounded) until those in flight have left (they take
        microseconds), then abort the read transactions kept for reuse; fused reads return
        :data:`FALLBACK` until :meth:`allow_reads`."""
        lib.vc_store_block(self._gate, 1)
        deadline = time.monotonic() + 10.0
        while lib.vc_store_active(self._gate) and time.monotonic() < deadline:
            time.sleep(0)
        lib.vc_store_drain(self._gate)  # the reset read transactions kept for reuse

    def allow_reads(self) -> None:
        lib.vc_store_block(self._gate, 0)

    def close(self) -> None:
        """Close the environment (every transaction of this process must have ended); fused
        reads stay blocked for good."""
        if self._env is None:
            return
        self.block_reads()
        env, self._env = self._env, None
        lib.mdb_env_close(env)

    def find(self, db: bytes, prefix: bytes, key: bytes | None) -> tuple[bytes, bytes] | None:
        """The sealed record (key, value) at *key*, or the last one under *prefix*, in one C
        call; None if absent, :data:`FALLBACK` while the gate is blocked or the map was
        resized by another process."""
        try:
            kout, ksize, out, size, kview, view = self._scratch.raw
        except AttributeError:
            kout, ksize, out, size = (
                ffi.new("uint8_t[]", lib.VC_STORE_MAX_KEY), ffi.new("size_t *"),
                ffi.new("uint8_t[]", _OUT_SIZE), ffi.new("size_t *"),
            )  # fmt: skip
            # Buffers over them are made once (slicing one copies out): the hot path of key operations.
            kview, view = ffi.buffer(kout), ffi.buffer(out)
            self._scratch.raw = (kout, ksize, out, size, kview, view)
        dbi = self.dbs[db]
        k = key or b""
        rc = lib.vc_store_find(self._gate, dbi, prefix, len(prefix), k, len(k), kout, ksize, out, len(view), size)
        if rc == _S_FOUND:
            return kview[0 : ksize[0]], view[0 : size[0]]
        if rc == _S_SPACE:
            need = size[0]
            out = ffi.new("uint8_t[]", need)
            if need <= _FIND_KEEP:  # sealed records are ciphertext: this thread keeps the larger buffer
                self._scratch.raw = (kout, ksize, out, size, kview, ffi.buffer(out))
            rc = lib.vc_store_find(self._gate, dbi, prefix, len(prefix), k, len(k), kout, ksize, out, need, size)
            if rc == _S_FOUND:
                return kview[0 : ksize[0]], ffi.buffer(out, size[0])[:]
        return self._status(rc)

    def reader(self, db: bytes, cache: Any, kek: bytes, term: int, aad_head: bytes, index_key: bytes = b"") -> Reader:
        """A :class:`Reader` of *db* bound to this environment and the given key material."""
        return Reader(self, self.dbs[db], cache, kek, term, aad_head, index_key)

    def watch(self, prefix: bytes, key: bytes | None, found_key: bytes, blob: bytes) -> Any:
        """A watch on the record that :meth:`find` (*prefix*, *key*) just returned as
        (*found_key*, *blob*), for :meth:`unchanged`; None for a record too large to watch."""
        ptr = ffi.new("vc_watch **")
        k = key or b""
        rc = lib.vc_watch_new(prefix, len(prefix), k, len(k), found_key, len(found_key), blob, len(blob), ptr)
        return None if rc else ffi.gc(ptr[0], lib.vc_watch_free)

    def unchanged(self, db: bytes, watch: Any) -> bool:
        """True if :meth:`find` in *db* would return the watched record's key and bytes now
        (one C call, its own read transaction); False if anything differs or it cannot tell."""
        return bool(lib.vc_watch_same(self._gate, self.dbs[db], watch))

    def watch_check(self, db: bytes, watch: Any) -> Callable[[], int]:
        """:meth:`unchanged` of *watch* as a call without arguments (1 or 0): the hot path of
        key operations keeps it. It holds this environment's gate, which stays blocked once
        the environment is closed or inherited through fork(): then it answers 0."""
        return functools.partial(lib.vc_watch_same, self._gate, self.dbs[db], watch)

    def _status(self, rc: int) -> Any:
        """None, FALLBACK or the exception for a fused call's status other than found."""
        if rc == _S_NOTFOUND:
            return None
        if rc in (_S_BUSY, _S_TERM, _S_SPACE, _MAP_RESIZED):
            return FALLBACK
        if rc == _S_AUTH:
            raise IntegrityError()
        if rc == lib.VC_ERR_PARAM:
            raise InvalidParameterError("store key or key material out of range")
        if rc < 0 or rc >= _S_ERRNO:
            raise MdbError(rc - _S_ERRNO if rc >= _S_ERRNO else rc, "read")
        raise VaultError(f"the native read failed (status {rc})")

    def read_open(
        self, db: bytes, prefix: bytes, key: bytes | None, cache: Any, kek: bytes, term: int, aad_head: bytes
    ) -> bytes | None:
        """The opened record at *key* (or the last one under *prefix*) of *db*, in one C call.

        *cache* is the C DEK cache, *kek* the key-encryption key of keyring *term*, the AAD
        *aad_head* + the record's store key. None if there is no such record;
        :data:`FALLBACK` when the general path must do it (a map resize or fork is under
        way, the record is under another term); ``IntegrityError`` if it does not open.
        """
        try:
            out, size = self._scratch.bufs
        except AttributeError:
            out, size = self._scratch.bufs = (ffi.new("uint8_t[]", _OUT_SIZE), ffi.new("size_t *"))
        dbi = self.dbs[db]
        k = key or b""
        rc = lib.vc_store_read(
            self._gate, dbi, prefix, len(prefix), k, len(k), cache, kek, len(kek), term, aad_head, len(aad_head),
            out, _OUT_SIZE, size,
        )  # fmt: skip
        if rc == _S_FOUND:
            n = size[0]
            plain: bytes = ffi.buffer(out, n)[:]
            ffi.memmove(out, _ZEROS, n)  # wipe this thread's buffer (no call into C: the GIL stays)
            return plain
        if rc == _S_SPACE:
            n = size[0]
            big = ffi.new("uint8_t[]", n)
            rc = lib.vc_store_read(
                self._gate, dbi, prefix, len(prefix), k, len(k), cache, kek, len(kek), term, aad_head, len(aad_head),
                big, n, size,
            )  # fmt: skip
            if rc == _S_FOUND:
                plain = ffi.buffer(big, size[0])[:]
                lib.vc_cleanse(big, n)
                return plain
        return self._status(rc)


class Txn:
    """One LMDB transaction (read-only unless *write*), with its cursors."""

    __slots__ = ("_cursors", "_kv", "ptr")

    def __init__(self, env: Env, *, write: bool) -> None:
        ptr = ffi.new("MDB_txn **")
        _check(lib.mdb_txn_begin(env._env, ffi.NULL, 0 if write else lib.MDB_RDONLY, ptr), "mdb_txn_begin")
        self.ptr: Any = ptr[0]
        self._kv = ffi.new("MDB_val[2]")
        self._cursors: list[Cursor] = []

    def __del__(self) -> None:
        # A transaction dropped without commit or abort (a bug upstream) would hold its
        # reader slot, or the write lock, for the life of the process: abort it.
        if getattr(self, "ptr", None) is not None:
            self.abort()

    def _end(self) -> Any:
        txn = self.ptr
        if txn is None:
            return None
        for cur in self._cursors:
            cur.close()
        self._cursors = []
        self.ptr = None
        return txn

    def abort(self) -> None:
        txn = self._end()
        if txn is not None:
            lib.mdb_txn_abort(txn)

    def commit(self) -> None:
        txn = self._end()
        if txn is None:
            raise MdbError(lib.MDB_BAD_TXN, "mdb_txn_commit")
        _check(lib.mdb_txn_commit(txn), "mdb_txn_commit")

    def _live(self) -> Any:
        if self.ptr is None:
            raise MdbError(lib.MDB_BAD_TXN, "transaction already ended")
        return self.ptr

    def get(self, dbi: int, key: bytes) -> bytes | None:
        kv = self._kv
        kbuf = ffi.from_buffer(key)
        kv[0].mv_size = len(key)
        kv[0].mv_data = kbuf
        rc = lib.mdb_get(self._live(), dbi, kv, kv + 1)
        if rc:
            if rc == NOTFOUND:
                return None
            raise MdbError(rc, "mdb_get")
        value: bytes = ffi.buffer(kv[1].mv_data, kv[1].mv_size)[:]
        return value

    def put(self, dbi: int, key: bytes, value: bytes | memoryview, *, overwrite: bool = True) -> bool:
        """Store *value* at *key*; without *overwrite*, False (and nothing written) if it exists."""
        kv = self._kv
        kbuf = ffi.from_buffer(key)
        vbuf = ffi.from_buffer(value)
        kv[0].mv_size = len(key)
        kv[0].mv_data = kbuf
        kv[1].mv_size = len(vbuf)
        kv[1].mv_data = vbuf
        rc = lib.mdb_put(self._live(), dbi, kv, kv + 1, 0 if overwrite else lib.MDB_NOOVERWRITE)
        if rc:
            if rc == KEYEXIST and not overwrite:
                return False
            raise MdbError(rc, "mdb_put")
        return True

    def delete(self, dbi: int, key: bytes) -> bool:
        kv = self._kv
        kbuf = ffi.from_buffer(key)
        kv[0].mv_size = len(key)
        kv[0].mv_data = kbuf
        rc = lib.mdb_del(self._live(), dbi, kv, ffi.NULL)
        if rc:
            if rc == NOTFOUND:
                return False
            raise MdbError(rc, "mdb_del")
        return True

    def exist_many(self, dbi: int, keys: Sequence[bytes]) -> bytes:
        """One byte per key of *keys*: 1 if it is in *dbi*, else 0 (one call into C)."""
        packed, lens = _packed(keys)
        found = ffi.new("uint8_t[]", len(keys))
        _check(lib.vc_txn_exist_many(self._live(), dbi, len(keys), packed, lens, found), "mdb_get")
        return ffi.buffer(found)[:]

    def put_many(self, dbi: int, keys: Sequence[bytes], values: Sequence[bytes | memoryview]) -> None:
        """Put every (key, value) of a batch whose keys must all be absent, in one call into C.
        A key that exists raises ``MdbError`` (``MDB_KEYEXIST``); the caller aborts."""
        if len(keys) != len(values):
            raise MdbError(lib.MDB_BAD_VALSIZE, "put_many: keys and values differ in number")
        kpacked, klens = _packed(keys)
        vpacked, vlens = _packed(values)
        failed = ffi.new("size_t *")
        rc = lib.vc_txn_put_many(
            self._live(), dbi, len(keys), kpacked, klens, vpacked, vlens, lib.MDB_NOOVERWRITE, failed
        )
        _check(rc, "mdb_put")

    def put_packed(self, dbi: int, rows: PackedRows) -> None:
        """:meth:`put_many` of rows packed by the C sealer, their buffers passed as they are."""
        n, kl = rows.count, rows.key_len
        if len(rows.keys) != n * kl or len(rows.values) != sum(rows.lengths):
            raise MdbError(lib.MDB_BAD_VALSIZE, "put_packed: inconsistent buffer sizes")
        failed = ffi.new("size_t *")
        klens = ffi.from_buffer("size_t[]", array(_SIZE_T, [kl]) * n)
        vlens = ffi.from_buffer("size_t[]", rows.lengths)
        rc = lib.vc_txn_put_many(
            self._live(), dbi, n, rows.keys, klens, ffi.from_buffer(rows.values), vlens, lib.MDB_NOOVERWRITE, failed
        )
        _check(rc, "mdb_put")

    def entries(self, dbi: int) -> int:
        st = ffi.new("MDB_stat *")
        _check(lib.mdb_stat(self._live(), dbi, st), "mdb_stat")
        return int(st.ms_entries)

    def cursor(self, dbi: int) -> Cursor:
        ptr = ffi.new("MDB_cursor **")
        _check(lib.mdb_cursor_open(self._live(), dbi, ptr), "mdb_cursor_open")
        cur = Cursor(self, ptr[0])
        self._cursors.append(cur)
        return cur


class Cursor:
    """A cursor of one database; positioning methods return False past either end."""

    __slots__ = ("_kv", "_ptr", "_txn")

    def __init__(self, txn: Txn, ptr: Any) -> None:
        self._txn = txn
        self._ptr = ptr
        self._kv = ffi.new("MDB_val[2]")

    def close(self) -> None:
        if self._ptr is not None:
            lib.mdb_cursor_close(self._ptr)
            self._ptr = None

    def _move(self, op: int, where: str) -> bool:
        if self._ptr is None:
            raise MdbError(lib.MDB_BAD_TXN, "cursor used after its transaction ended")
        kv = self._kv
        rc = lib.mdb_cursor_get(self._ptr, kv, kv + 1, op)
        if rc:
            if rc == NOTFOUND:
                return False
            raise MdbError(rc, where)
        return True

    def first(self) -> bool:
        return self._move(_FIRST, "mdb_cursor_get")

    def last(self) -> bool:
        return self._move(_LAST, "mdb_cursor_get")

    def next(self) -> bool:
        return self._move(_NEXT, "mdb_cursor_get")

    def prev(self) -> bool:
        return self._move(_PREV, "mdb_cursor_get")

    def set_range(self, key: bytes) -> bool:
        """Position at the first key >= *key*."""
        kbuf = ffi.from_buffer(key)
        self._kv[0].mv_size = len(key)
        self._kv[0].mv_data = kbuf
        return self._move(_SET_RANGE, "mdb_cursor_get")

    def key(self) -> bytes:
        k = self._kv[0]
        value: bytes = ffi.buffer(k.mv_data, k.mv_size)[:]
        return value

    def item(self) -> tuple[bytes, bytes]:
        k, v = self._kv[0], self._kv[1]
        return ffi.buffer(k.mv_data, k.mv_size)[:], ffi.buffer(v.mv_data, v.mv_size)[:]


def _packed(items: Sequence[bytes | memoryview]) -> tuple[bytes, Any]:
    """The items concatenated and their byte lengths as a C ``size_t[]``."""
    packed = b"".join(items)
    lens = array(_SIZE_T, (memoryview(x).nbytes for x in items))
    if len(packed) != sum(lens):  # pragma: no cover - join and nbytes agree for buffers
        raise MdbError(lib.MDB_BAD_VALSIZE, "inconsistent buffer sizes")
    return packed, ffi.from_buffer("size_t[]", lens)


class Reader:
    """The bound native reader of one database (``vc_reader``): get_secret's one C call.

    It keeps the environment's gate, the database, the DEK cache, the keyring term, a copy
    of that term's KEK in a locked C page (wiped when the reader is freed) and the AAD head,
    so a read passes only the object's prefix, its name and the audit event's template.
    Given the vault's *index_key*, the same page holds the HMAC-SHA256 states keyed with it
    and a read may pass the object's kind byte instead of its prefix (:attr:`names`).
    """

    __slots__ = ("_addr", "_cache", "_env", "_r")

    def __init__(
        self, env: Env, dbi: int, cache: Any, kek: bytes, term: int, aad_head: bytes, index_key: bytes = b""
    ) -> None:
        ptr = ffi.new("vc_reader **")
        rc = lib.vc_reader_new(
            env._gate, dbi, cache, kek, len(kek), term, aad_head, len(aad_head), index_key, len(index_key), ptr
        )
        if rc:
            raise InvalidParameterError("key material out of range for the native reader")
        self._r: Any = ffi.gc(ptr[0], lib.vc_reader_free)
        self._addr = int(ffi.cast("uintptr_t", self._r))  # for fast_get, alive as long as _r
        self._env = env  # the gate lives as long as this reader
        self._cache = cache  # so does the DEK cache

    @property
    def locked(self) -> bool:
        """Whether the KEK's page is locked in memory (mlock)."""
        return bool(lib.vc_reader_locked(self._r))

    @property
    def names(self) -> bool:
        """Whether the reader computes store prefixes from names (:meth:`objkey`): it was
        given an index key, has not been wiped and the core was built with OpenSSL's
        ``SHA256_CTX`` functions."""
        return bool(lib.vc_reader_names(self._r))

    def objkey(self, kind: int, name: str) -> bytes | None:
        """The store prefix of object *name* of kind byte *kind* (``vc_reader_objkey``, what
        ``engine._reads``' ``objkey`` computes in Python); None if *name* is not a valid
        object name or the reader hashes no names. For tests: reads compute it inside
        ``fast_get``."""
        raw = name.encode("utf-8", "surrogatepass")
        out = ffi.new("uint8_t[]", lib.VC_OBJKEY_SIZE)
        if lib.vc_reader_objkey(self._r, kind, raw, len(raw), out):
            return None
        return bytes(ffi.buffer(out))

    def wipe(self) -> None:
        """Wipe the KEK copy and the index key's states (the vault closed); later reads take
        the general path."""
        lib.vc_reader_wipe(self._r)

    @property
    def entry(self) -> tuple[Any, int]:
        """(fast_get, this reader's address): ``entry[0](entry[1], prefix, name, event, cls,
        make, id_prefix)`` is :meth:`get` without its Python frame (the caller keeps this
        reader alive)."""
        return _fast_get, self._addr

    def get(
        self, prefix: bytes | int, name: str, event: int, cls: type, make: Any, id_prefix: str
    ) -> tuple[Any, int] | None:
        """The latest record under *prefix* if the fast path may serve it (see
        ``vc_reader_get``; *name* must be the record's, case aside): (an instance of *cls*
        holding the value and the record, audit events now waiting), its event queued
        through the template at address *event* (0: none). None: take the general path. One
        CPython-level call (``fast_get``), the GIL released inside. *prefix* may be the
        object's kind byte instead: the prefix is then computed from *name* in the same call
        (:meth:`objkey`), and a name that is not valid answers None."""
        return _fast_get(self._addr, prefix, name, event, cls, make, id_prefix)  # type: ignore[no-any-return]
