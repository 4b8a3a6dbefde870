"""Progress bars render on a terminal and stay silent otherwise."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from rich.console import Console

from vaultcore.cli._progress import progress, tree_size, watch_size


def test_progress_renders_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80)
    with progress(console, "Re-wrapping data keys") as update:
        update(5, 10)
        update(10, 10)
    assert "Re-wrapping data keys" in buffer.getvalue()


def test_progress_is_silent_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    with progress(Console(file=buffer, force_terminal=False), "Importing") as update:
        update(1, 2)
    assert buffer.getvalue() == ""


def test_watch_size_reports_growth_and_completion(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def update(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    dest = tmp_path / "dest"
    dest.mkdir()
    with watch_size(update, str(dest), 100, interval=0.01):
        (dest / "data").write_bytes(b"x" * 40)
        threading.Event().wait(0.05)
    assert seen[-1] == (100, 100)
    assert (40, 100) in seen
    assert tree_size(str(dest)) == 40
