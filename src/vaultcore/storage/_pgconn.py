"""Connections of the PostgreSQL backend (``storage._postgres`` runs the store on them).

With ``storage._postgres`` the only importer of :mod:`psycopg` / :mod:`psycopg_pool`; errors
raised here are psycopg's own and are translated by ``storage._postgres``. Here:

- :class:`Connection`: bounded round trips (``network_timeout``) and :meth:`Connection.fetch`,
  a prepared statement run on libpq directly (the read hot path: no cursor, no adaptation,
  no row objects; ~30 µs a round trip on a local server where ``conn.execute`` costs ~60);
- :class:`SharedPool`: one psycopg pool per conninfo per process, shared by reference count,
  with a lock-free front of idle connections (a checkout is a ``deque.pop``, ~0.2 µs, where
  the pool's takes ~5 µs). Every connection is the pool's, so the pool's size still bounds
  them; the front is handed back to the pool after a lost connection (so the pool's check
  sees them) and at close;
- fork handling: a child never uses or closes its parent's connections.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import psycopg
import psycopg_pool
from psycopg import generators
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.pq.abc import PGresult

from vaultcore.exceptions import StorageError
from vaultcore.storage._pglocation import Location

__all__ = ["Connection", "SharedPool", "broken", "lost", "shared_pool"]

_BYTEA = 17  # the type oid of every parameter of the statements run by Connection.fetch
_BINARY = 1
_LOST_STATES = ("57P01", "57P02", "57P03")  # admin / crash shutdown, cannot connect now


def broken(conn: psycopg.Connection[Any]) -> bool:
    return bool(conn.closed or conn.broken)


def lost(conn: psycopg.Connection[Any], exc: psycopg.Error) -> bool:
    """True if *exc* means the connection is gone (not a statement error such as a timeout).

    libpq may report a dropped connection before it marks the connection bad (for example
    "cannot exit pipeline mode while busy"); such a connection is closed here so that the
    pool discards it and the caller can retry or look up the commit's outcome."""
    state = exc.sqlstate
    gone = broken(conn) or (
        isinstance(exc, psycopg.OperationalError) and (state is None or state.startswith("08") or state in _LOST_STATES)
    )
    if gone and not conn.closed:
        with suppress(Exception):
            conn.close()
    return gone


class Connection(psycopg.Connection[Any]):
    """A connection that gives up on a round trip with no answer after *network_timeout*
    seconds (psycopg has no client-side statement timeout, and a blackholed peer is not
    noticed by TCP before its keepalives run out): it is closed, so the store retries on a
    new one or fails with ``StorageError``, and the pool discards it."""

    network_timeout = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[bytes] = set()  # names of the statements :meth:`fetch` prepared here
        self.born = time.monotonic()

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None or not self.network_timeout:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.network_timeout)
        except psycopg.errors._WaitTimeout:  # psycopg's own signal of an expired wait
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database server in {self.network_timeout:g} s (network_timeout)"
            ) from None

    @classmethod
    def open(cls, loc: Location, **kwargs: Any) -> Connection:
        conn = cls.connect(loc.conninfo, **kwargs)
        conn.network_timeout = loc.network_timeout / 1000
        return conn

    def fetch(self, name: bytes, sql: bytes, params: Sequence[bytes]) -> PGresult:
        """The binary result of the statement *sql* (``$n`` placeholders, every one a bytea)
        with *params*, prepared as *name* on first use in this session.

        Only on an autocommit connection outside a transaction, as one statement (which is
        its own consistent snapshot). Raises psycopg's errors, like ``execute``."""
        if name not in self.prepared:
            self.pgconn.send_prepare(name, sql, [_BYTEA] * len(params))
            self._result(ExecStatus.COMMAND_OK)
            self.prepared.add(name)
        self.pgconn.send_query_prepared(name, params, [_BINARY] * len(params), _BINARY)
        try:
            return self._result(ExecStatus.TUPLES_OK)
        except psycopg.errors.InvalidSqlStatementName:  # deallocated behind our back (DISCARD ALL)
            self.prepared.discard(name)
            return self.fetch(name, sql, params)

    def _result(self, expected: ExecStatus) -> PGresult:
        result: PGresult = self.wait(generators.execute(self.pgconn))[-1]
        if result.status != expected:
            if result.status == ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=self.info.encoding)
            raise psycopg.InterfaceError(f"unexpected result {ExecStatus(result.status).name}")
        return result


def pool_key(loc: Location) -> str:
    return f"{loc.conninfo} {loc.session_options} {loc.network_timeout}"


class SharedPool:
    """One connection pool per conninfo (and timeouts) per process, shared by reference
    count, with a front of idle connections that a checkout pops without a lock."""

    def __init__(self, loc: Location) -> None:
        self.kwargs: dict[str, Any] = {"autocommit": True, "options": loc.session_options}

        def configure(conn: Connection) -> None:
            conn.network_timeout = loc.network_timeout / 1000

        self.pool = psycopg_pool.ConnectionPool(
            loc.conninfo,
            connection_class=Connection,
            configure=configure,
            kwargs=self.kwargs,
            min_size=1,
            max_size=loc.pool_size,
            open=True,
            timeout=20.0,
            name="vaultcore",
        )
        self.idle: deque[Connection] = deque()
        self.waiting = 0  # callers waiting on the pool (see getconn)
        self._count = threading.Lock()
        self.refs = 0
        self.forked = False  # set in a fork child: these connections are the parent's

    def getconn(self, wait: float) -> Connection:
        """An idle connection of the front, else one from the pool (waiting up to *wait* s)."""
        if self.forked:
            raise StorageError(
                "this vault was opened before fork() and cannot be used in the child process: "
                "open the vault again in the child"
            )
        try:
            return self.idle.pop()
        except IndexError:
            pass
        # Announce the wait, then look at the front once more: a connection put there meanwhile
        # is either seen here or handed to the pool by putconn (which reads `waiting` after
        # appending), so no waiter sleeps while the front holds a connection.
        with self._count:
            self.waiting += 1
        try:
            try:
                return self.idle.pop()
            except IndexError:
                return self.pool.getconn(wait)
        finally:
            with self._count:
                self.waiting -= 1

    def putconn(self, conn: Connection) -> None:
        """Back to the front if idle and healthy, else to the pool (which resets or drops it,
        and replaces it once past the pool's ``max_lifetime``)."""
        if (
            conn.pgconn.transaction_status != TransactionStatus.IDLE
            or self.forked
            or time.monotonic() - conn.born >= self.pool.max_lifetime
        ):
            with suppress(Exception):
                self.pool.putconn(conn)
            return
        self.idle.append(conn)
        if self.waiting:  # someone waits on the pool: hand it a connection of the front
            try:
                conn = self.idle.pop()
            except IndexError:
                return
            with suppress(Exception):
                self.pool.putconn(conn)

    def drain(self) -> None:
        """Hand the front back to the pool (after a lost connection, so that the pool's check
        sees them, and before closing the pool)."""
        while True:
            try:
                conn = self.idle.pop()
            except IndexError:
                return
            with suppress(Exception):
                self.pool.putconn(conn)

    def close(self) -> None:
        self.drain()
        with suppress(Exception):
            self.pool.close(timeout=5.0)


_pools_lock = threading.Lock()
_pools: dict[str, SharedPool] = {}
_orphans: list[SharedPool] = []  # a fork child must never close its parent's connections


def shared_pool(loc: Location) -> SharedPool:
    """The process's pool for *loc*, one more reference taken."""
    with _pools_lock:
        shared = _pools.get(pool_key(loc))
        if shared is None:
            shared = _pools[pool_key(loc)] = SharedPool(loc)
        shared.refs += 1
        return shared


def release(loc: Location, shared: SharedPool) -> None:
    """Drop one reference to *shared*; the last one closes it (never in a fork child)."""
    with _pools_lock:
        shared.refs -= 1
        if shared.refs <= 0 and _pools.get(pool_key(loc)) is shared:
            del _pools[pool_key(loc)]
            shared.close()


def _after_fork_in_child() -> None:
    global _pools_lock
    _pools_lock = threading.Lock()
    for shared in _pools.values():
        shared.forked = True
    _orphans.extend(_pools.values())
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
