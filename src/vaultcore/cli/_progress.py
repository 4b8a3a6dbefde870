"""Rich progress bars on stderr for long work (shown only when stderr is a terminal)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Update", "progress", "tree_size", "watch_size"]

#: ``update(done, total)``; the signature of ``Vault.rotate_keyring(progress=...)``.
Update = Callable[[int, int], None]


@contextmanager
def progress(console: Console, description: str, *, unit: str = "items") -> Iterator[Update]:
    """A transient progress bar; yields the ``update(done, total)`` callback."""
    count: ProgressColumn = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    bar = Progress(
        SpinnerColumn(),
        TextColumn(description),
        BarColumn(),
        count,
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=min(done, total), total=total)

        yield update


def tree_size(path: str) -> int:
    """Bytes in the files under *path*."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


@contextmanager
def watch_size(update: Update, dest: str, total: int, interval: float = 0.1) -> Iterator[None]:
    """Report the growing size of *dest* against *total* while the body runs."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(interval):
            update(tree_size(dest), total)

    thread = threading.Thread(target=poll, name="vaultcore-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    update(total, total)
