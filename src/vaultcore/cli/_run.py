"""Running the command of ``vaultcore run``: exec, or a resident parent that forwards signals
and optionally masks secret values in the child's output.

- ``exec_command``: nothing stays resident; the command replaces ``vaultcore`` (same PID), so
  signals, job control and the exit status are the command's own (``run --exec``).
- ``supervise``: ``vaultcore`` waits for the child, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT,
  SIGUSR1 and SIGUSR2 to it, and returns its status as an exit code (128+N when it died of
  signal N). When stdin is a terminal, SIGINT and SIGQUIT come from the keyboard and already
  reach the child (same process group): they are not sent twice. With *mask*, the child's
  stdout and stderr are pipes and every occurrence of a secret value is replaced by
  ``<concealed by vaultcore>`` before it is written out.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import BinaryIO

__all__ = ["FORWARDED_SIGNALS", "MASK", "Masker", "exec_command", "supervise"]

FORWARDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
MASK = b"<concealed by vaultcore>"
EXIT_CANNOT_EXECUTE = 126
EXIT_COMMAND_NOT_FOUND = 127


class CommandError(Exception):
    """The command could not be started; ``code`` is 126 or 127."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def exec_command(command: Sequence[str], env: dict[str, str]) -> None:
    """Replace this process by *command* (returns only by raising :class:`CommandError`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], list(command), env)  # noqa: S606 - argv as given, no shell
    except FileNotFoundError:
        raise CommandError(f"command not found: {command[0]}", EXIT_COMMAND_NOT_FOUND) from None
    except (PermissionError, OSError):
        raise CommandError(f"cannot execute: {command[0]}", EXIT_CANNOT_EXECUTE) from None


class Masker:
    """Replaces secret values in a byte stream, holding back only a possible partial match."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s.encode("utf-8") for s in secrets if s}
        self._values = sorted(values, key=len, reverse=True)  # longest first at a position
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        """Masked output for *data*; a tail that may begin a secret waits for more input."""
        buf = self._pending + data
        out, rest = self._replace(buf)
        keep = self._partial_tail(rest)
        self._pending = rest[len(rest) - keep :] if keep else b""
        return out + (rest[: len(rest) - keep] if keep else rest)

    def flush(self) -> bytes:
        tail, self._pending = self._pending, b""
        return tail

    def _replace(self, buf: bytes) -> tuple[bytes, bytes]:
        """(masked text up to the last full match, the unmatched rest)."""
        out = bytearray()
        pos = 0
        while True:
            hits = [(i, v) for v in self._values if (i := buf.find(v, pos)) >= 0]
            if not hits:
                break
            index, value = min(hits, key=lambda h: (h[0], -len(h[1])))
            out += buf[pos:index] + MASK
            pos = index + len(value)
        return bytes(out), buf[pos:]

    def _partial_tail(self, rest: bytes) -> int:
        """Length of the longest suffix of *rest* that is a proper prefix of a secret."""
        best = 0
        for value in self._values:
            for size in range(min(len(value) - 1, len(rest)), best, -1):
                if rest.endswith(value[:size]):
                    best = size
                    break
        return best


def _pump(streams: dict[int, tuple[Masker, BinaryIO]]) -> None:
    """Copy each readable fd to its sink through its masker until every fd reaches EOF."""
    selector = selectors.DefaultSelector()
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    while selector.get_map():
        for key, _ in selector.select():
            masker, sink = streams[key.fd]
            data = os.read(key.fd, 65536)
            if data:
                sink.write(masker.feed(data))
            else:
                sink.write(masker.flush())
                selector.unregister(key.fd)
            sink.flush()


def supervise(command: Sequence[str], env: dict[str, str], *, mask: Iterable[str] | None = None) -> int:
    """Run *command* as a child, forwarding signals; its exit status as an exit code.

    The handlers are in place before the child starts: a signal that arrives while it is
    being started is delivered to it as soon as it exists.
    """
    pipe = subprocess.PIPE if mask is not None else None
    keyboard = sys.stdin is not None and sys.stdin.isatty()
    started: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if keyboard and signum in (signal.SIGINT, signal.SIGQUIT):
            return  # the terminal sent it to the whole foreground group, the child included
        if not started:
            pending.append(signum)
        elif started[0].returncode is None:
            with contextlib.suppress(ProcessLookupError):
                started[0].send_signal(signum)

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():  # only the main thread may
        for forwarded in FORWARDED_SIGNALS:
            previous[forwarded] = signal.signal(forwarded, forward)
    try:
        try:
            child = subprocess.Popen(list(command), env=env, stdout=pipe, stderr=pipe)
        except FileNotFoundError:
            raise CommandError(f"command not found: {command[0]}", EXIT_COMMAND_NOT_FOUND) from None
        except (PermissionError, OSError):
            raise CommandError(f"cannot execute: {command[0]}", EXIT_CANNOT_EXECUTE) from None
        started.append(child)
        for early in pending:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(early)
        if mask is not None:
            assert child.stdout is not None and child.stderr is not None
            values = list(mask)
            with child.stdout, child.stderr:
                _pump(
                    {
                        child.stdout.fileno(): (Masker(values), sys.stdout.buffer),
                        child.stderr.fileno(): (Masker(values), sys.stderr.buffer),
                    }
                )
        code = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
    return 128 - code if code < 0 else code
