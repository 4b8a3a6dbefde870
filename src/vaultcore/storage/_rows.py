"""Rows of a bulk write packed in buffers (the C sealer's output), shared by the engine and
the stores; imports nothing, so every backend can take it without an import cycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["PackedRows"]


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
