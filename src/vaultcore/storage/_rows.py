"""What the engine hands a store in one piece: the rows of a bulk write packed in buffers
(the C sealer's output) and what a native audit commit needs; imports nothing, so every
backend can take it without an import cycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["AuditCommit", "PackedRows"]


class PackedRows:
    """Rows of a bulk write as three buffers, as the C sealer wrote them: *count* keys of
    *key_len* bytes each back to back in *keys*, their values back to back in *values*,
    the byte length of each value in *lengths* (a ``size_t`` array). A store that knows it
    takes the buffers whole (LMDB: one C call; PostgreSQL: ``COPY`` blocks); iterating it
    gives ``(key, value)`` pairs for any other."""

    __slots__ = ("count", "key_len", "keys", "lengths", "values")

    def __init__(self, keys: bytes, key_len: int, values: bytearray, lengths: Any) -> None:
        self.keys, self.key_len, self.values, self.lengths = keys, key_len, values, lengths
        self.count = len(lengths)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[bytes, memoryview]]:
        keys, kl, view, pos = self.keys, self.key_len, memoryview(self.values), 0
        for i, size in enumerate(self.lengths):
            yield keys[i * kl : (i + 1) * kl], view[pos : pos + size]
            pos += size


class AuditCommit(NamedTuple):
    """What a store's native group commit of the audit queue needs (LMDB's ``commit_audit``
    and ``run_audit_flusher``; the layout is ``access._audit``'s)."""

    dbs: tuple[bytes, bytes]  #: (meta, audit)
    queue: Any  #: the ``vc_auditq`` pointer (``AuditQueue.native``)
    per_segment: int  #: events per sealed segment
    generation: tuple[bytes, bytes]  #: the keyring generation's key in meta and the value it must hold
    head_key: bytes  #: the chain head's key in meta
    keys: tuple[bytes, int, bytes, bytes]  #: audit key, term, KEK, AAD head

    def __repr__(self) -> str:  # the keys are never printed
        return f"AuditCommit(dbs={self.dbs!r}, per_segment={self.per_segment}, term={self.keys[1]}, keys=<hidden>)"
