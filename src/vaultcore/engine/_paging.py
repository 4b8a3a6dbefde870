"""A page window for the lifecycle engine's ordered scans (lists served one page at a time).

A list page must cost O(page size), not a decryption of every object. A caller that pages
(the REST server) opens :func:`scan_window` around an ordinary list call; the *first*
ordered scan of the engine inside it (``latest_all``, ``list_deleted``) then starts after
the cursor, decrypts at most ``limit`` objects and leaves the cursor of the next page in
``window.next``. Scans outside a window, and later scans inside one, are unchanged.

Cursors are object keys (kind byte + keyed name hash): storage order, stable while objects
come and go, and they reveal nothing the page did not show.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from vaultcore.exceptions import InvalidParameterError

__all__ = ["ScanWindow", "scan_window", "take_window"]

OBJECT_KEY_SIZE = 17


@dataclass
class ScanWindow:
    """Where a page starts (``after``: an object key, or None) and how many objects it holds."""

    after: bytes | None
    limit: int
    next: bytes | None = None
    used: bool = False

    def start(self, prefix: bytes) -> bytes | None:
        """The first storage key of the page within *prefix* (None: nothing follows)."""
        if self.after is None:
            return prefix
        if len(self.after) != OBJECT_KEY_SIZE or not self.after.startswith(prefix):
            raise InvalidParameterError("the continuation token ($skiptoken) is invalid")
        following = int.from_bytes(self.after, "big") + 1
        if following >> (8 * OBJECT_KEY_SIZE):
            return None
        return following.to_bytes(OBJECT_KEY_SIZE, "big")


_window: ContextVar[ScanWindow | None] = ContextVar("vaultcore_scan_window", default=None)


@contextmanager
def scan_window(after: bytes | None, limit: int) -> Iterator[ScanWindow]:
    """Page the first ordered engine scan run inside the ``with`` block."""
    if limit < 1:
        raise InvalidParameterError("a page holds at least one item")
    window = ScanWindow(after, limit)
    token = _window.set(window)
    try:
        yield window
    finally:
        _window.reset(token)


def take_window() -> ScanWindow | None:
    """The open window, once (the first scan consumes it)."""
    window = _window.get()
    if window is None or window.used:
        return None
    window.used = True
    return window
