"""Keyring rotation: a new term, every DEK re-wrapped in native batches, the old term destroyed.

Crash safety: step 1 commits a keyring holding the old and the new term (new one active);
step 2 re-wraps records in chunks, each chunk its own transaction; step 3 re-checks every
record and retires the old terms in one transaction. At any point every record is readable
(both terms are in the keyring until step 3), so a crash leaves a consistent vault and
``rotate_keyring()`` called again finishes the pending rotation instead of starting another.
Values are never re-encrypted: only the 40-byte wrapped DEK and the term id of each record
change (see ``crypto._envelope``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import HEADER_SIZE, WRAPPED_DEK_SIZE, term_of, with_rewrapped
from vaultcore.exceptions import IntegrityError
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["SEALED_DATABASES", "rotate_keyring"]

#: Databases whose values are envelope-sealed records.
SEALED_DATABASES = (
    b"objects",
    b"versions",
    b"deleted",
    b"dversions",
    b"audit",
    b"access",
    b"certmeta",
    b"outbox",
    b"evsubs",
)
Progress = Callable[[int, int], None]


def rotate_keyring(ctx: VaultContext, *, progress: Progress | None = None, chunk: int = 20_000) -> int:
    """Rotate (or finish a pending rotation); returns the number of records re-wrapped."""
    ring = ctx.keyring

    def start(txn: WriteTxn) -> None:
        current = ctx.keyring
        if len(current.terms) == 1:
            ctx.replace_keyring_in(txn, current.with_new_term())

    ctx.write(start)
    ring = ctx.reload_keyring()
    active = ring.active_term
    total = 0
    with ctx.read() as txn:
        total = sum(txn.count(db) for db in SEALED_DATABASES)
    done = 0
    rewrapped = 0
    for db in SEALED_DATABASES:
        cursor: bytes | None = b""
        while cursor is not None:
            start_key = cursor

            def step(txn: WriteTxn, db: bytes = db, start_key: bytes = start_key) -> tuple[bytes | None, int, int]:
                return _rewrap_chunk(ctx, txn, db, start_key, active, chunk)

            cursor, seen, changed = ctx.write(step)
            done += seen
            rewrapped += changed
            if progress is not None:
                progress(min(done, total), total)

    def finish(txn: WriteTxn) -> None:
        current = ctx.keyring
        for db in SEALED_DATABASES:
            nxt: bytes | None = b""
            while nxt is not None:
                nxt, _, _ = _rewrap_chunk(ctx, txn, db, nxt, current.active_term, 1 << 62)
        retired = {t for t in current.terms if t != current.active_term}
        if retired:
            ctx.replace_keyring_in(txn, current.without_terms(retired))

    ctx.write(finish)
    ctx.reload_keyring()
    if progress is not None:
        progress(total, total)
    return rewrapped


def _rewrap_chunk(
    ctx: VaultContext, txn: WriteTxn, db: bytes, start: bytes, active: int, limit: int
) -> tuple[bytes | None, int, int]:
    """Re-wrap up to *limit* records of *db* from key *start*; returns (next key, seen, changed)."""
    ring = ctx.keyring
    by_term: dict[int, list[tuple[bytes, bytes]]] = {}
    seen = 0
    next_key: bytes | None = None
    for key, blob in txn.scan_from(db, start):
        if seen >= limit:
            next_key = key
            break
        seen += 1
        term = term_of(blob)
        if term != active:
            by_term.setdefault(term, []).append((key, blob))
    new_kek = ring.kek(active)
    changed = 0
    for term, rows in by_term.items():
        wrapped = b"".join(blob[HEADER_SIZE : HEADER_SIZE + WRAPPED_DEK_SIZE] for _, blob in rows)
        out, ok = _bindings.rewrap_dek_batch(ring.kek(term), new_kek, wrapped)
        view = memoryview(out)
        for i, (key, blob) in enumerate(rows):
            if not ok[i]:
                raise IntegrityError("a stored record failed authentication during keyring rotation")
            new_dek = view[i * WRAPPED_DEK_SIZE : (i + 1) * WRAPPED_DEK_SIZE]
            txn.put(db, key, with_rewrapped(blob, active, new_dek))
            changed += 1
    return next_key, seen, changed
