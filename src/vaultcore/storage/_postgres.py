"""Storage on PostgreSQL: the store interface over psycopg 3 and psycopg-pool.

With ``storage._pgconn`` (its connections and pools) the only importer of :mod:`psycopg`
/ :mod:`psycopg_pool`; every driver error is translated here. Layout (docs/storage.md §6):
one table per schema, ``vaultcore_records(vault text, db bytea, key bytea, value bytea,
PRIMARY KEY (vault, db, key))``. Sub-databases are values of ``db`` (a new one needs no
DDL) and several vaults share a table (``vault`` names them). Keys are ``bytea``, which
PostgreSQL orders byte by byte, so range scans return LMDB's order.

Location: ``postgresql://user[:password]@host[:port]/dbname?vault=NAME&schema=SCHEMA``
(parsed by ``storage._pglocation``; everything but vaultcore's own parameters goes to libpq).

Consistency: a write transaction first takes ``pg_advisory_xact_lock`` on the vault, so the
writers of one vault are serialised across every process and host (and the audit chain
cannot fork); reads run in ``REPEATABLE READ READ ONLY`` snapshots. A connection lost
before ``COMMIT`` was sent rolls back and the write is re-run; lost during ``COMMIT``, the
outcome is looked up with ``txid_status`` on a new connection: committed -> done, aborted ->
re-run, unknown -> ``StorageError``. Nothing is ever half-applied. A silent network (a
partition) is bounded by the URL's timeouts (``storage._pglocation``): the server ends a
session idle inside a transaction, and a round trip unanswered for ``network_timeout`` closes
its connection (``storage._pgconn``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from vaultcore.exceptions import InvalidParameterError, NotAVaultError, StorageError, VaultLockedError
from vaultcore.storage._pgconn import Connection as _Connection
from vaultcore.storage._pgconn import SharedPool, release, shared_pool
from vaultcore.storage._pgconn import broken as _broken
from vaultcore.storage._pgconn import lost as _lost
from vaultcore.storage._pglocation import Location
from vaultcore.storage._pgsql import (
    _LAST,
    _PREFETCH_LAST,
    _PREFETCH_POINTS,
    _UNNEST_MIN,
    COPY_SIGNATURE,
    COPY_TRAILER,
    Queries,
    _begin_statement,
    _lock_key,
    _prefix_upper,
    copy_data,
    prefetch_statements,
    read_prefetched,
)

__all__ = ["PostgresStore", "parse_location"]

T = TypeVar("T")

_PAGE = 512
_PROBE_MAX = 64  # get_many of at most this many keys: one index probe each (Queries.probe_many)
_DDL_LOCK = 0x7661756C74636F72  # "vaultcor": serialises table creation between processes


def parse_location(url: str) -> Location:
    """A checked location (libpq parses the connection part)."""
    loc = Location(url)
    try:
        psycopg.conninfo.conninfo_to_dict(loc.conninfo)
    except psycopg.Error as exc:
        raise InvalidParameterError(f"not a valid PostgreSQL URL: {_first_line(exc, loc)}") from None
    return loc


def _first_line(exc: BaseException, loc: Location | None = None) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if loc is not None and loc.password:
        text = text.replace(loc.password, "***")
    return text


def _translate(exc: BaseException, what: str, loc: Location) -> StorageError:
    """A driver error as a ``StorageError`` that names the cause (never the password)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StorageError(f"{what}: no database connection could be made in time (is {loc.shown} up?)")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StorageError(f"{what}: the database user lacks a privilege ({_first_line(exc, loc)})")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StorageError(f"{what}: the statement timed out or was cancelled ({_first_line(exc, loc)})")
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return NotAVaultError(f"{what}: no vaultcore table in {loc.shown}")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"{what}: database connection failed: {_first_line(exc, loc)}")
    return StorageError(f"{what}: {type(exc).__name__}: {_first_line(exc, loc)}")


class _Read:
    """A read snapshot (also the read half of a write transaction)."""

    __slots__ = ("_cur", "_q", "_vault")

    def __init__(self, cur: psycopg.Cursor[Any], q: Queries, vault: str) -> None:
        self._cur = cur
        self._q = q
        self._vault = vault

    def _before_read(self, db: bytes, prefix: bytes | None = None) -> None:
        """Hook for the write transaction (send buffered puts a read could see)."""

    def get(self, db: bytes, key: bytes) -> bytes | None:
        row = self._cur.execute(self._q.get, (self._vault, db, key)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, db: bytes, keys: list[bytes]) -> dict[bytes, bytes]:
        if not keys:
            return {}
        if len(keys) <= _PROBE_MAX:
            rows = self._cur.execute(self._q.probe_many, (keys, self._vault, db)).fetchall()
        else:
            rows = self._cur.execute(self._q.get_many, (self._vault, db, keys), prepare=False).fetchall()
        return {bytes(k): bytes(v) for k, v in rows}

    def _page(self, db: bytes, lo: bytes, hi: bytes | None, reverse: bool, limit: int) -> list[tuple[bytes, bytes]]:
        q = self._q
        if hi is None:
            rows = self._cur.execute(q.rev if reverse else q.fwd, (self._vault, db, lo, limit)).fetchall()
        else:
            query = q.rev_upper if reverse else q.fwd_upper
            rows = self._cur.execute(query, (self._vault, db, lo, hi, limit)).fetchall()
        return [(bytes(k), bytes(v)) for k, v in rows]

    def last_with_prefix(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        self._before_read(db, prefix)
        return self._last_row(db, prefix)

    def _last_row(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        rows = self._page(db, prefix, _prefix_upper(prefix), True, 1)
        return rows[0] if rows else None

    def last_key(self, db: bytes, prefix: bytes = b"") -> bytes | None:
        """The greatest key starting with *prefix* (its value is not fetched)."""
        self._before_read(db, prefix)
        upper = _prefix_upper(prefix)
        if upper is None:
            row = self._cur.execute(self._q.last_key, (self._vault, db, prefix)).fetchone()
        else:
            row = self._cur.execute(self._q.last_key_upper, (self._vault, db, prefix, upper)).fetchone()
        return None if row is None else bytes(row[0])

    def scan(self, db: bytes, prefix: bytes = b"", *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        self._before_read(db, prefix)
        upper = _prefix_upper(prefix)
        if reverse:
            hi = upper
            while True:
                rows = self._page(db, prefix, hi, True, _PAGE)
                yield from rows
                if len(rows) < _PAGE:
                    return
                hi = rows[-1][0]
        yield from self._forward(db, prefix, upper)

    def scan_from(self, db: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        self._before_read(db)
        yield from self._forward(db, start, None)

    def _forward(self, db: bytes, lo: bytes, hi: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        while True:
            rows = self._page(db, lo, hi, False, _PAGE)
            yield from rows
            if len(rows) < _PAGE:
                return
            lo = rows[-1][0] + b"\x00"  # the smallest key after the last one seen

    def count(self, db: bytes) -> int:
        self._before_read(db)
        row = self._cur.execute(self._q.count, (self._vault, db)).fetchone()
        return int(row[0]) if row else 0


class _Write(_Read):
    """A write transaction. Puts are buffered and sent in one pipelined batch (with the
    COMMIT, or before a read that could see them); point reads are answered from the buffer,
    from the rows prefetched with the lock, or by the server (whose rows, together with the
    buffer, are this transaction's state: nobody else writes the vault while we hold its lock).
    Rows of :meth:`insert_many` are streamed with ``COPY`` as they come."""

    __slots__ = ("_cache", "_copy", "_copy_stack", "_lasts", "_pending", "guessed", "may_guess")

    def __init__(
        self,
        cur: psycopg.Cursor[Any],
        q: Queries,
        vault: str,
        cache: dict[tuple[bytes, bytes], Any],
        may_guess: bool,
        lasts: dict[tuple[bytes, bytes], tuple[bytes, bytes] | None] | None = None,
    ) -> None:
        super().__init__(cur, q, vault)
        #: True if the caller may put rows it did not look up (insert_unchecked): this is the
        #: first run of the write function, and a key that exists makes the store run it again.
        self.may_guess = may_guess
        self.guessed = False
        self._pending: dict[tuple[bytes, bytes], bytes] = {}
        self._cache = cache  # (db, key) -> value | None; (db, b"*last*") -> (key, value) | None
        self._lasts = lasts if lasts is not None else {}  # (db, prefix) -> the last row under it | None
        self._copy: psycopg.Copy | None = None  # the open COPY of insert_many
        self._copy_stack: ExitStack | None = None

    def _send_pending(self) -> None:
        """The buffered puts: a few as pipelined single-row upserts, more as one statement."""
        pending = self._pending
        if len(pending) < _UNNEST_MIN:
            self._cur.executemany(self._q.put, [(self._vault, db, key, value) for (db, key), value in pending.items()])
        else:
            dbs = [db for db, _ in pending]
            self._cur.execute(
                self._q.put_unnest, (self._vault, dbs, [key for _, key in pending], list(pending.values()))
            )

    def finish_copy(self) -> None:
        """End the ``COPY`` of :meth:`insert_many`: the server's answer says every row went in
        (a key that existed fails the transaction: nothing is written)."""
        stack = self._copy_stack
        if stack is not None and self._copy is not None:
            self._copy.write(COPY_TRAILER)
            self._copy = self._copy_stack = None
            stack.close()

    def abandon(self) -> None:
        """End an open ``COPY`` with an error, so that the connection can roll back. The
        server is told only "write abandoned" (its log must never see a caller's message,
        which may name a secret)."""
        stack = self._copy_stack
        if stack is not None:
            self._copy = self._copy_stack = None
            with suppress(Exception):
                stack.__exit__(StorageError, StorageError("write abandoned"), None)

    def _flush(self) -> None:
        self.finish_copy()
        if self._pending:
            self._send_pending()
            self._pending = {}
        self._cache.clear()
        self._lasts.clear()

    def _before_read(self, db: bytes, prefix: bytes | None = None) -> None:
        self.finish_copy()
        for pdb, key in self._pending:
            if pdb == db and (prefix is None or key.startswith(prefix)):
                self._flush()
                return

    def get(self, db: bytes, key: bytes) -> bytes | None:
        pending = self._pending.get((db, key))
        if pending is not None:
            return pending
        if (db, key) in self._cache:
            value: bytes | None = self._cache[(db, key)]
            return value
        self.finish_copy()
        return super().get(db, key)

    def get_many(self, db: bytes, keys: list[bytes]) -> dict[bytes, bytes]:
        found = {k: v for k in keys if (v := self._pending.get((db, k))) is not None}
        rest = [k for k in keys if k not in found]
        if rest:
            self.finish_copy()
        return {**super().get_many(db, rest), **found}

    def _last_row(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        # (after _before_read: puts under the prefix were sent and the prefetched rows dropped)
        if (db, prefix) in self._lasts:
            return self._lasts[(db, prefix)]
        return super()._last_row(db, prefix)

    def last_key(self, db: bytes, prefix: bytes = b"") -> bytes | None:
        if prefix == b"" and (db, _LAST) in self._cache and not any(pdb == db for pdb, _ in self._pending):
            last: bytes | None = self._cache[(db, _LAST)]
            return last
        return super().last_key(db, prefix)

    def probe_last_and_many(
        self, last_db: bytes, prefix: bytes, db: bytes, keys: list[bytes]
    ) -> tuple[bool, dict[bytes, bytes]]:
        """Whether *last_db* holds a key under *prefix*, and :meth:`get_many` of a few *keys*
        in *db*: the first lookups of a bulk write, in one pipelined round trip."""
        upper = _prefix_upper(prefix)
        if upper is None or len(keys) > _PROBE_MAX or self._pending or self._copy is not None:
            return self.last_key(last_db, prefix) is not None, self.get_many(db, keys)
        conn = self._cur.connection
        with conn.cursor() as other:
            with conn.pipeline():
                self._cur.execute(self._q.last_key_upper, (self._vault, last_db, prefix, upper))
                other.execute(self._q.probe_many, (keys, self._vault, db))
            found = self._cur.fetchone() is not None
            return found, {bytes(k): bytes(v) for k, v in other.fetchall()}

    def put(self, db: bytes, key: bytes, value: bytes | memoryview) -> None:
        self._pending[(db, key)] = bytes(value)

    def insert_many(self, db: bytes, rows: Iterable[tuple[bytes, bytes | memoryview]]) -> None:
        """Put rows whose keys the caller found absent in this transaction (bulk writes): they
        are streamed with ``COPY`` (no upsert: ~2x cheaper per row on the server), so the
        server inserts them while the caller goes on. Should a key exist after all, the
        transaction fails with ``StorageError`` and nothing is written."""
        if any(cdb == db for cdb, _ in self._cache) or self._lasts:
            self._cache.clear()
            self._lasts.clear()
        copy = self._copy
        if copy is None:
            self._copy_stack = stack = ExitStack()
            copy = self._copy = stack.enter_context(self._cur.copy(self._q.copy))
            copy.write(COPY_SIGNATURE)
        if self._pending:
            rows = list(rows)
            for key, _ in rows:
                self._pending.pop((db, key), None)  # an earlier put of the key must not follow the row
        for block in copy_data(self._vault, db, rows):
            copy.write(block)

    def insert_unchecked(self, db: bytes, rows: Iterable[tuple[bytes, bytes | memoryview]]) -> None:
        """:meth:`insert_many` of rows whose keys the caller guessed absent without looking
        them all up (only while :attr:`may_guess`): should one exist, the transaction is rolled
        back and the write function runs again with ``may_guess`` False, so it looks them up."""
        self.guessed = True
        self.insert_many(db, rows)

    def put_new(self, db: bytes, key: bytes, value: bytes | memoryview) -> bool:
        self._flush()
        self._cur.execute(self._q.put_new, (self._vault, db, key, bytes(value)))
        return self._cur.rowcount == 1

    def delete(self, db: bytes, key: bytes) -> bool:
        self._flush()
        self._cur.execute(self._q.delete, (self._vault, db, key))
        return self._cur.rowcount > 0

    def delete_prefix(self, db: bytes, prefix: bytes) -> int:
        self._flush()
        upper = _prefix_upper(prefix)
        if upper is None:
            self._cur.execute(self._q.delete_from, (self._vault, db, prefix))
        else:
            self._cur.execute(self._q.delete_range, (self._vault, db, prefix, upper))
        return max(self._cur.rowcount, 0)

    def commit(self) -> None:
        """The buffered puts and the COMMIT in one pipelined round trip."""
        conn = self._cur.connection
        self.finish_copy()  # COPY cannot be pipelined: one round trip more, for bulk writes only
        with conn.pipeline():
            if self._pending:
                self._send_pending()
            self._cur.execute("COMMIT")
        self._pending = {}


class PostgresStore:
    """One vault in a PostgreSQL database (see the module docstring)."""

    def __init__(self, loc: Location, shared: SharedPool) -> None:
        self._loc = loc
        self._shared = shared
        self._q = Queries(loc.schema, loc.vault)
        self._vault = loc.vault
        self._write_lock = _lock_key(loc.schema, loc.vault)
        self._begin_write = _begin_statement(self._q.table, loc.vault, self._write_lock)
        self._closed = False
        self._window = loc.retry_window / 1000
        self._conn_wait = max(1.0, min(20.0, self._window))  # for a pooled connection
        self._checking = threading.Lock()

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, create: bool) -> PostgresStore:
        """Connect (clear errors for a wrong URL, password or database), create the table
        with *create*, else check that the vault exists."""
        loc = parse_location(url)
        q = Queries(loc.schema)
        try:
            with _Connection.open(loc, autocommit=True) as conn:
                if create:
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                        for stmt in q.create:
                            conn.execute(stmt)
                else:
                    row = conn.execute(q.get, (loc.vault, b"meta", b"header")).fetchone()
                    if row is None:
                        raise NotAVaultError(f"no vault {loc.vault!r} in {loc.shown}")
        except psycopg.errors.UndefinedTable:
            raise NotAVaultError(f"no vault at {loc.shown}: the database holds no vaultcore table") from None
        except psycopg.Error as exc:
            raise _translate(exc, f"cannot open vault store {loc.shown}", loc) from None
        shared = shared_pool(loc)
        return cls(loc, shared)

    @property
    def path(self) -> str:
        return self._loc.shown

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        release(self._loc, self._shared)

    # -- connections -------------------------------------------------------------------

    def _getconn(self, deadline: float = 0.0) -> _Connection:
        """A pooled connection, waiting at most until *deadline* (if given) for one."""
        if self._closed:
            raise VaultLockedError("the vault is closed")
        wait = self._conn_wait if not deadline else max(0.1, min(self._conn_wait, deadline - time.monotonic()))
        try:
            return self._shared.getconn(wait)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise _translate(exc, "no database connection", self._loc) from None

    def _putconn(self, conn: _Connection) -> None:
        self._shared.putconn(conn)

    def _retry(self, deadline: float, attempt: int) -> bool:
        """After a lost connection: drop dead pooled connections, back off; False past *deadline*.

        The pool is checked in the background: through a blackholed network each check of an
        idle connection waits ``network_timeout``, which must not hold up the retries."""
        if time.monotonic() >= deadline:
            return False
        self._shared.drain()  # the idle front is dead too after a server restart
        if self._checking.acquire(blocking=False):
            threading.Thread(target=self._check_pool, name="vaultcore-pool-check", daemon=True).start()
        time.sleep(min(0.05 * (2**attempt), 1.0, max(0.0, deadline - time.monotonic())))
        return True

    def _check_pool(self) -> None:
        try:
            with suppress(Exception):
                self._shared.pool.check()
        finally:
            self._checking.release()

    # -- reads -------------------------------------------------------------------------

    def find(self, db: bytes, prefix: bytes, key: bytes | None = None) -> tuple[bytes, bytes] | None:
        """One prepared autocommit statement run on libpq directly (``get_secret``'s hot path:
        one round trip, itself a consistent snapshot), binary parameters and results."""
        if key is not None:
            name, sql = self._q.find_raw(db, "point")
            params: tuple[bytes, ...] = (key,)
        else:
            upper = _prefix_upper(prefix)
            name, sql = self._q.find_raw(db, "last" if upper is not None else "last_from")
            params = (prefix,) if upper is None else (prefix, upper)
        deadline = 0.0
        attempt = 0
        while True:
            conn = self._getconn(deadline)
            try:
                res = conn.fetch(name, sql, params)
                if not res.ntuples:
                    return None
                return res.get_value(0, 0) or b"", res.get_value(0, 1) or b""  # NOT NULL columns
            except psycopg.Error as exc:
                if not deadline:
                    deadline = time.monotonic() + self._window
                if not _lost(conn, exc) or not self._retry(deadline, attempt):
                    raise _translate(exc, "read failed", self._loc) from None
                attempt += 1
            finally:
                self._putconn(conn)

    def find_open(self, db: bytes, prefix: bytes, key: bytes | None, opener: Callable[[bytes, bytes], T]) -> T | None:
        """:meth:`find`, the record handed to *opener(key, value)* (the engine's read path)."""
        found = self.find(db, prefix, key)
        return None if found is None else opener(*found)

    @contextmanager
    def read(self) -> Iterator[_Read]:
        """A ``REPEATABLE READ READ ONLY`` snapshot (begun with retries after a lost connection)."""
        deadline = time.monotonic() + self._window
        attempt = 0
        while True:
            conn = self._getconn(deadline)
            try:
                cur = conn.cursor()
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                break
            except psycopg.Error as exc:
                lost = _lost(conn, exc)
                self._putconn(conn)
                if not lost or not self._retry(deadline, attempt):
                    raise _translate(exc, "read failed", self._loc) from None
                attempt += 1
        try:
            yield _Read(cur, self._q, self._vault)
        except psycopg.Error as exc:
            raise _translate(exc, "read failed", self._loc) from None
        finally:
            if not _broken(conn):
                with suppress(psycopg.Error):
                    conn.execute("COMMIT")
            self._putconn(conn)

    def databases(self) -> list[bytes]:
        with self.read() as txn:
            rows = txn._cur.execute(self._q.databases, (self._vault,)).fetchall()
        return [bytes(r[0]) for r in rows]

    # -- writes ------------------------------------------------------------------------

    def write(
        self,
        fn: Callable[[_Write], T],
        *,
        durable: bool = True,
        prefetch: tuple[Sequence[tuple[bytes, bytes]], Sequence[tuple[bytes, bytes]]] | None = None,
    ) -> T:
        """Run *fn* under the vault's advisory lock and commit; re-run it when that is safe.

        *durable* False: ``synchronous_commit = off`` for this transaction (a database crash
        may undo the last commits, never corrupt or half-apply one: PostgreSQL's own class).
        *prefetch* ``(points, lasts)``: the rows *fn* will read, fetched with BEGIN and the
        lock in the same round trip (a ``set_secret``: the soft-deleted and object records
        and the newest version, which would take a round trip each).
        """
        begin = self._begin_write
        if prefetch is not None:
            begin += prefetch_statements(self._q.table, self._vault, *prefetch)
        deadline = time.monotonic() + self._window
        attempt = 0
        may_guess = True
        while True:
            conn = self._getconn(deadline)
            xid: int | None = None
            txn: _Write | None = None
            committing = False
            try:
                cur = conn.cursor()
                # One round trip: BEGIN, the vault's write lock, then (in a later statement,
                # so under the lock) the rows nearly every write reads.
                cur.execute(begin)
                cur.nextset()
                row = cur.fetchone()
                xid = int(row[0]) if row else None
                cache: dict[tuple[bytes, bytes], Any] = dict.fromkeys(_PREFETCH_POINTS)
                cur.nextset()
                for db, key, value in cur.fetchall():
                    cache[(bytes(db), bytes(key))] = bytes(value)
                cur.nextset()
                last = cur.fetchone()
                cache[(_PREFETCH_LAST, _LAST)] = None if last is None else bytes(last[0])
                lasts = None if prefetch is None else read_prefetched(cur, cache, *prefetch)
                if not durable:
                    cur.execute("SET LOCAL synchronous_commit TO OFF")
                txn = _Write(cur, self._q, self._vault, cache, may_guess, lasts)
                result = fn(txn)
                txn.finish_copy()
                committing = True  # from here a lost connection leaves the outcome to txid_status
                txn.commit()
                return result
            except psycopg.Error as exc:
                if txn is not None:
                    txn.abandon()
                if not _lost(conn, exc):
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    if isinstance(exc, psycopg.errors.UniqueViolation) and txn is not None and txn.guessed:
                        may_guess = False  # a guessed-absent key exists: run again, looking them up
                        continue
                    raise _translate(exc, "write failed", self._loc) from None
                if committing:
                    status = self._outcome(xid, deadline)
                    if status == "committed":
                        return result
                    if status != "aborted":
                        raise StorageError(
                            "write failed: the database connection was lost while committing and the outcome "
                            "could not be determined"
                        ) from None
                if not self._retry(deadline, attempt):
                    raise _translate(exc, "write failed (not applied)", self._loc) from None
                attempt += 1
            except BaseException:
                if txn is not None:
                    txn.abandon()
                if not _broken(conn):
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
            finally:
                self._putconn(conn)

    def _outcome(self, xid: int | None, deadline: float) -> str | None:
        """``txid_status`` of a transaction whose COMMIT got no answer (on a new connection)."""
        if xid is None:
            return None
        while time.monotonic() < deadline:
            try:
                with _Connection.open(self._loc, **self._shared.kwargs) as conn:
                    row = conn.execute("SELECT txid_status(%s)", (xid,)).fetchone()
                status = None if row is None else row[0]
                if status in ("committed", "aborted"):
                    return str(status)
                if status is None:
                    return None
            except psycopg.Error:
                pass
            time.sleep(0.1)
        return None

    # -- coordination ------------------------------------------------------------------

    @contextmanager
    def leader(self, job: str) -> Iterator[bool]:
        """A session advisory lock per vault and job: True for the one process holding it."""
        key = _lock_key(self._loc.schema, self._vault, "leader", job)
        conn = self._getconn()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except psycopg.Error as exc:
            self._putconn(conn)
            raise _translate(exc, "leader election failed", self._loc) from None
        got = bool(row and row[0])
        try:
            yield got
        finally:
            if got and not _broken(conn):
                with suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            self._putconn(conn)
