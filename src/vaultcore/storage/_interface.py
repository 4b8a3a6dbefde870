"""The store interface every backend implements (LMDB in ``_lmdb``, PostgreSQL in ``_postgres``).

A store is a set of named sub-databases (``meta``, ``objects``, ... and any name a later
feature adds, such as ``outbox``), each an ordered map of byte keys to byte values. Callers
see only this protocol: consistent read snapshots, one write transaction at a time per
vault (atomic commit), point gets and ordered prefix/range scans. Backends hold only sealed
bytes under opaque keys and translate every driver error into the ``VaultError`` tree.
This module imports nothing but the standard library, so the engine can type against it
without pulling in a driver; :func:`open_store` picks the backend from the location.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from vaultcore.storage._rows import AuditCommit, PackedRows

__all__ = [
    "FALLBACK",
    "AuditCommit",
    "PackedRows",
    "Prefetch",
    "ReadTxn",
    "Store",
    "WriteTxn",
    "copy_records",
    "copy_to_new",
    "digest_of",
    "is_url",
    "open_store",
]

T = TypeVar("T")

_URL_PREFIXES = ("postgresql://", "postgres://")

#: Returned by a store's optional fused read (``read_open``) when it cannot answer in one
#: call (a map resize or fork under way, a record under another keyring term): the caller
#: takes the general path (``find_open`` / ``find`` and the envelope).
FALLBACK: Any = NotImplemented  # Python's "not handled here": backends need no import


#: Reads a write function announces: ``(points, lasts)``, the records ``(db, key)`` and, for
#: each ``(db, prefix)``, the last record under that prefix.
Prefetch = tuple[Sequence[tuple[bytes, bytes]], Sequence[tuple[bytes, bytes]]]


class ReadTxn(Protocol):
    """A consistent snapshot: point gets and ordered scans of one sub-database."""

    def get(self, db: bytes, key: bytes) -> bytes | None: ...

    def get_many(self, db: bytes, keys: list[bytes]) -> dict[bytes, bytes]:
        """The records of *keys* that exist (one round trip on a database server)."""
        ...

    def last_with_prefix(self, db: bytes, prefix: bytes) -> tuple[bytes, bytes] | None:
        """The greatest (key, value) whose key starts with *prefix*."""
        ...

    def scan(self, db: bytes, prefix: bytes = b"", *, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs whose key starts with *prefix*, in byte order of the keys."""
        ...

    def scan_from(self, db: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) with key >= *start*, in key order."""
        ...

    def count(self, db: bytes) -> int: ...


class WriteTxn(ReadTxn, Protocol):
    """A write transaction: everything done here commits together or not at all.

    Optional, looked up with ``getattr`` by the engine's bulk path: ``insert_many(db, rows)``
    (rows whose keys the caller found absent, written without an upsert: LMDB's C call,
    PostgreSQL's ``COPY``), ``may_guess`` with ``insert_unchecked(db, rows)`` (PostgreSQL:
    rows guessed absent without a full lookup; should one exist, the store runs the write
    function again with ``may_guess`` False), and ``probe_last_and_many(last_db, prefix, db,
    keys)`` (PostgreSQL: whether *last_db* holds a key under *prefix* and ``get_many(db,
    keys)`` of a few keys, in one round trip)."""

    def put(self, db: bytes, key: bytes, value: bytes | memoryview) -> None: ...

    def put_new(self, db: bytes, key: bytes, value: bytes | memoryview) -> bool:
        """Put only if *key* is absent; False if it existed."""
        ...

    def delete(self, db: bytes, key: bytes) -> bool: ...

    def delete_prefix(self, db: bytes, prefix: bytes) -> int: ...


class Store(Protocol):
    """One vault's storage, shared by the threads of a process."""

    @property
    def path(self) -> str:
        """Where the vault lives: a directory, or a ``postgresql://`` URL without its password."""
        ...

    def find(self, db: bytes, prefix: bytes, key: bytes | None = None) -> tuple[bytes, bytes] | None:
        """One read outside a ``read()`` block: the record *key*, or the last under *prefix*."""
        ...

    def read(self) -> AbstractContextManager[ReadTxn]:
        """A consistent snapshot for reading."""
        ...

    def write(self, fn: Callable[[WriteTxn], T], *, durable: bool = True, prefetch: Prefetch | None = None) -> T:
        """Run *fn* in one serialised write transaction and commit it (durably unless
        *durable* is False: then a power loss may undo the last commits, never corrupt).

        *fn* may run more than once (the backend retries when that is safe), so it must not
        have side effects outside the transaction before it returns. *prefetch*: the reads
        *fn* is about to make, which a database server may fetch with the transaction's
        first round trip (PostgreSQL); a store may ignore it.
        """
        ...

    def databases(self) -> list[bytes]:
        """The names of the sub-databases that may hold records (for whole-vault copies)."""
        ...

    def leader(self, job: str) -> AbstractContextManager[bool]:
        """True inside the block if this process is the one node running *job* now."""
        ...

    def close(self) -> None: ...


def is_url(location: str) -> bool:
    """True for a ``postgresql://`` location (anything else is a vault directory)."""
    return location.startswith(_URL_PREFIXES)


def open_store(location: str, *, create: bool) -> Store:
    """Open (or, with *create*, make) the store at *location*: a directory or a URL."""
    if is_url(location):
        from vaultcore.storage import _postgres  # only with the postgres extra installed

        return _postgres.PostgresStore.open(location, create=create)
    from vaultcore.storage._lmdb import LmdbStore

    return LmdbStore.open(location, create=create)


def copy_to_new(source: Store, location: str) -> dict[bytes, tuple[int, bytes]]:
    """Copy every record of *source* (one snapshot) into a new vault at *location*.

    Any backend to any backend (LMDB <-> PostgreSQL). ``meta`` is copied last, so an
    interrupted copy holds no header and is not a vault. Returns, per sub-database, the
    number of records copied and a digest of them (:func:`digest_of` recomputes it).
    """
    from vaultcore.exceptions import StorageError

    if not is_url(location) and os.path.exists(location) and (not os.path.isdir(location) or os.listdir(location)):
        raise StorageError(f"backup destination {location!r} exists and is not empty")
    dest = open_store(location, create=True)
    try:
        with dest.read() as txn:
            if txn.get(b"meta", b"header") is not None:
                raise StorageError(f"backup destination {dest.path} already holds a vault")
        names = sorted(source.databases(), key=lambda n: n == b"meta")
        with source.read() as snap:
            return copy_records(snap, names, dest)
    finally:
        dest.close()


def copy_records(
    source: ReadTxn, names: list[bytes], dest: Store, *, chunk: int = 2000
) -> dict[bytes, tuple[int, bytes]]:
    """Copy every record of *names* from the snapshot *source* into *dest* (chunked writes).

    The copy is raw: records stay sealed and bound to their keys and vault id, so the
    copy opens with the same credential. Returns {name: (count, digest)}.
    """
    out: dict[bytes, tuple[int, bytes]] = {}
    for name in names:
        digest = hashlib.sha256()
        count = 0
        batch: list[tuple[bytes, bytes]] = []
        for key, value in source.scan(name):
            _feed(digest, key, value)
            batch.append((key, value))
            if len(batch) >= chunk:
                count += _put_all(dest, name, batch)
                batch = []
        if batch:
            count += _put_all(dest, name, batch)
        out[name] = (count, digest.digest())
    return out


def digest_of(txn: ReadTxn, name: bytes) -> tuple[int, bytes]:
    """(count, digest) of every record of *name*, as :func:`copy_records` computes them."""
    digest = hashlib.sha256()
    count = 0
    for key, value in txn.scan(name):
        _feed(digest, key, value)
        count += 1
    return count, digest.digest()


def _feed(digest: Any, key: bytes, value: bytes) -> None:
    digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(8, "big"))
    digest.update(value)


def _put_all(dest: Store, name: bytes, batch: list[tuple[bytes, bytes]]) -> int:
    def run(txn: WriteTxn) -> int:
        for key, value in batch:
            txn.put(name, key, value)
        return len(batch)

    return dest.write(run)
