"""The SQL text of the PostgreSQL backend that needs no driver (``storage._postgres`` runs it).

Statements with literals inlined are built only from values that cannot carry SQL: a vault
name checked by ``storage._pglocation`` to letters, digits, '_' and '-', integers, bytes as
hex and vaultcore's own quoted identifiers.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from vaultcore.storage._rows import PackedRows

__all__ = [
    "COPY_SIGNATURE",
    "COPY_TRAILER",
    "TABLE",
    "Queries",
    "copy_data",
    "prefetch_statements",
    "raw_find_statement",
    "read_prefetched",
]

TABLE = "vaultcore_records"

#: Rows that nearly every write reads (the keyring generation, the audit chain's head, the
#: outbox's next sequence number and the key of the newest audit segment): fetched in the
#: round trip that takes the vault's write lock. Answered from there, these reads also leave
#: a bulk write's COPY streaming while the engine writes its events and audit record.
_PREFETCH_POINTS = ((b"meta", b"generation"), (b"meta", b"audit_head"), (b"evstate", b"seq"))
_PREFETCH_LAST = b"audit"
_LAST = b"*last*"  # the cache key of the prefetched last key
#: From this many buffered puts on, they are sent as one ``INSERT .. SELECT FROM unnest(..)``.
_UNNEST_MIN = 8
#: ``COPY .. (FORMAT BINARY)``: the signature (with no flags and no header extension) that
#: opens the data and the field count -1 that ends it; rows are built by :func:`copy_data`.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_COPY_CHUNK = 512  # rows per block sent: the server inserts a block while the next is built
_U32 = struct.Struct(">I").pack


def _lock_key(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(("vaultcore", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _prefix_upper(prefix: bytes) -> bytes | None:
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def copy_data(vault: str, db: bytes, rows: Iterable[tuple[bytes, bytes | memoryview]]) -> Iterator[bytes]:
    """The rows (key, value) of *db* in *vault* as blocks of ``COPY`` binary data: per row the
    field count (4), then each field as its byte length and bytes (``vault``, ``db``, ``key``,
    ``value``). Built here rather than by psycopg's ``write_row`` (per-field dumpers in Python,
    ~4x the cost per row)."""
    name = vault.encode()
    head = b"\x00\x04" + _U32(len(name)) + name + _U32(len(db)) + db
    if isinstance(rows, PackedRows):
        yield from _copy_packed(head, rows)
        return
    parts: list[bytes | memoryview] = []
    count = 0
    for key, value in rows:
        parts += (head, _U32(len(key)), key, _U32(len(value)), value)
        count += 1
        if count == _COPY_CHUNK:
            yield b"".join(parts)
            parts = []
            count = 0
    if parts:
        yield b"".join(parts)


def _copy_packed(head: bytes, rows: PackedRows) -> Iterator[bytes]:
    """:func:`copy_data` of rows packed by the C sealer (fixed-length keys: the per-row head
    and key length are one constant)."""
    kl = rows.key_len
    head += _U32(kl)
    keys, view, lengths = rows.keys, memoryview(rows.values), rows.lengths
    pos = 0
    for start in range(0, rows.count, _COPY_CHUNK):
        parts: list[bytes | memoryview] = []
        for i in range(start, min(start + _COPY_CHUNK, rows.count)):
            size = lengths[i]
            parts += (head, keys[i * kl : i * kl + kl], _U32(size), view[pos : pos + size])
            pos += size
        yield b"".join(parts)


def _hex(data: bytes) -> str:
    return "'\\x" + data.hex() + "'::bytea"


def _begin_statement(table: str, vault: str, lock: int) -> str:
    """BEGIN, the write lock and the prefetch as one multi-statement string (no parameters:
    the lock id is an int, the vault name is checked to [A-Za-z0-9_-], the rest is hex)."""
    where = f"vault = '{vault}' AND db = "
    # No caller input below: an int, a name checked to [A-Za-z0-9_-], hex and our identifiers.
    prefetch = _points_query(table, vault, _PREFETCH_POINTS) + "; "
    # Only the key of the newest audit segment (where the chain continues), not its value: a
    # segment of a group commit is up to ~100 KB that every write would otherwise fetch.
    last = f"SELECT key FROM {table} WHERE {where}{_hex(_PREFETCH_LAST)} ORDER BY key DESC LIMIT 1"  # noqa: S608
    return f"BEGIN; SELECT txid_current(), pg_advisory_xact_lock({int(lock)}); " + prefetch + last


def _points_query(table: str, vault: str, points: Sequence[tuple[bytes, bytes]]) -> str:
    """One SELECT of the rows *points* ``(db, key)`` of *vault*, as (db, key, value); only
    hex literals and a vault name checked to [A-Za-z0-9_-]."""
    where = f"vault = '{vault}' AND db = "
    either = " OR ".join(f"({where}{_hex(db)} AND key = {_hex(key)})" for db, key in points)
    return f"SELECT db, key, value FROM {table} WHERE {either}"  # noqa: S608


def prefetch_statements(
    table: str, vault: str, points: Sequence[tuple[bytes, bytes]], lasts: Sequence[tuple[bytes, bytes]]
) -> str:
    """The statements that read, after the lock, what a write function announced: the rows
    *points* ``(db, key)`` in one result (when there are any), then for each ``(db, prefix)``
    of *lasts* the last row under it (same literal rules as :func:`_begin_statement`)."""
    where = f"vault = '{vault}' AND db = "
    parts = [_points_query(table, vault, points)] if points else []
    for db, prefix in lasts:
        upper = _prefix_upper(prefix)
        bound = "" if upper is None else f" AND key < {_hex(upper)}"
        parts.append(
            f"SELECT key, value FROM {table} WHERE {where}{_hex(db)} AND key >= {_hex(prefix)}{bound} "  # noqa: S608
            "ORDER BY key DESC LIMIT 1"
        )
    return "".join(f"; {part}" for part in parts)


def read_prefetched(
    cur: Any,
    cache: dict[tuple[bytes, bytes], Any],
    points: Sequence[tuple[bytes, bytes]],
    lasts: Sequence[tuple[bytes, bytes]],
) -> dict[tuple[bytes, bytes], tuple[bytes, bytes] | None]:
    """Read the results of :func:`prefetch_statements` from the cursor *cur* (positioned on
    the result before them) into *cache* (each point found or None) and return the last rows
    by ``(db, prefix)``."""
    if points:
        cache.update(dict.fromkeys(points))
        cur.nextset()
        for db, key, value in cur.fetchall():
            cache[(bytes(db), bytes(key))] = bytes(value)
    found: dict[tuple[bytes, bytes], tuple[bytes, bytes] | None] = {}
    for where in lasts:
        cur.nextset()
        row = cur.fetchone()
        found[where] = None if row is None else (bytes(row[0]), bytes(row[1]))
    return found


def raw_find_statement(table: str, vault: str, db: bytes, shape: str) -> tuple[bytes, bytes]:
    """(name, SQL) of ``PostgresStore.find`` in *db* for libpq's prepared statements (``$n``
    placeholders, every one a bytea; named by a digest of the SQL, so the statements of
    every vault and schema sharing a session differ): one record by key (*shape* "point"),
    the last under a prefix ("last": bounds $1 <= key < $2) or from a key on ("last_from")."""
    where = f"vault = '{vault}' AND db = {_hex(db)} AND "
    cond = {"point": "key = $1", "last": "key >= $1 AND key < $2", "last_from": "key >= $1"}[shape]
    # No caller input: a name checked to [A-Za-z0-9_-], hex and our identifiers.
    sql = f"SELECT key, value FROM {table} WHERE {where}{cond} ORDER BY key DESC LIMIT 1"  # noqa: S608
    return b"vc_" + hashlib.sha256(sql.encode()).hexdigest()[:24].encode(), sql.encode()


class Queries:
    """The statements of one schema, composed once (the schema is checked to [A-Za-z0-9_-] by
    ``storage._pglocation``, so quoting it in double quotes is exact)."""

    def __init__(self, schema: str, vault: str = "default") -> None:
        t = f'"{schema}"."{TABLE}"'
        self.table = t
        self._vaultname = vault
        self._finds: dict[tuple[bytes, str], tuple[bytes, bytes]] = {}
        w = "vault = %s AND db = %s"

        def q(text: str) -> str:
            # Strings, not Composed objects: psycopg caches the conversion of a string query.
            return text.format(t=t, w=w)

        self.get = q("SELECT value FROM {t} WHERE {w} AND key = %s")
        # A binary bytea[]; run unprepared (``PostgresStore`` passes prepare=False): in a generic
        # plan of a prepared statement the server searches the array linearly for each row it
        # filters (2,000 keys against 10k rows of a table without statistics: 0.4 s where the
        # custom plan's hashed lookup takes 5 ms).
        self.get_many = q("SELECT key, value FROM {t} WHERE {w} AND key = ANY(%b)")
        # A few keys: one index probe each whatever the planner knows (``key = ANY`` of a
        # small array may still filter every row of the sub-database when the table has no
        # statistics yet).
        self.probe_many = q(
            "SELECT u.k, s.value FROM unnest(%b::bytea[]) AS u(k) CROSS JOIN LATERAL "
            "(SELECT value FROM {t} WHERE {w} AND key = u.k LIMIT 1) AS s"
        )
        self.fwd = q("SELECT key, value FROM {t} WHERE {w} AND key >= %s ORDER BY key LIMIT %s")
        self.fwd_upper = q("SELECT key, value FROM {t} WHERE {w} AND key >= %s AND key < %s ORDER BY key LIMIT %s")
        self.rev = q("SELECT key, value FROM {t} WHERE {w} AND key >= %s ORDER BY key DESC LIMIT %s")
        self.rev_upper = q("SELECT key, value FROM {t} WHERE {w} AND key >= %s AND key < %s ORDER BY key DESC LIMIT %s")
        self.last_key = q("SELECT key FROM {t} WHERE {w} AND key >= %s ORDER BY key DESC LIMIT 1")
        self.last_key_upper = q("SELECT key FROM {t} WHERE {w} AND key >= %s AND key < %s ORDER BY key DESC LIMIT 1")
        self.count = q("SELECT count(*) FROM {t} WHERE {w}")
        self.put = q(
            "INSERT INTO {t} (vault, db, key, value) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (vault, db, key) DO UPDATE SET value = EXCLUDED.value"
        )
        # Many rows in one statement: binary bytea[] arrays (0.5 µs per element to send, where
        # text arrays cost ~6 µs) unnested on the server; the keys of one batch are distinct.
        self.put_unnest = q(
            "INSERT INTO {t} (vault, db, key, value) SELECT %s, d, k, v FROM unnest(%b::bytea[], %b::bytea[], "
            "%b::bytea[]) AS u(d, k, v) ON CONFLICT (vault, db, key) DO UPDATE SET value = EXCLUDED.value"
        )
        self.copy = q("COPY {t} (vault, db, key, value) FROM STDIN (FORMAT BINARY)")
        self.put_new = q("INSERT INTO {t} (vault, db, key, value) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING")
        self.delete = q("DELETE FROM {t} WHERE {w} AND key = %s")
        self.delete_range = q("DELETE FROM {t} WHERE {w} AND key >= %s AND key < %s")
        self.delete_from = q("DELETE FROM {t} WHERE {w} AND key >= %s")
        self.databases = q("SELECT DISTINCT db FROM {t} WHERE vault = %s ORDER BY db")
        self.create = [
            f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
            q(
                'CREATE TABLE IF NOT EXISTS {t} (vault text COLLATE "C" NOT NULL, db bytea NOT NULL, '
                "key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (vault, db, key))"
            ),
        ]

    def find_raw(self, db: bytes, shape: str) -> tuple[bytes, bytes]:
        """The prepared statement of ``PostgresStore.find`` in *db* (``raw_find_statement``)."""
        stmt = self._finds.get((db, shape))
        if stmt is None:
            stmt = self._finds[(db, shape)] = raw_find_statement(self.table, self._vaultname, db, shape)
        return stmt
