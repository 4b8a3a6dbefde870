"""Run the installed ``vaultcore`` in a child process whose controlling terminal is a pty.

The child gets a new session with the pty's slave as its controlling terminal, so its
``/dev/tty`` is the pty while stdin/stdout/stderr stay pipes (as in
``printf value | vaultcore secret set NAME`` typed at a terminal). The test plays the user:
it waits for a prompt on the pty master and types the answer.
"""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CLI = [sys.executable, "-m", "vaultcore.cli"]
TIMEOUT = 60.0


@dataclass
class TtyResult:
    returncode: int
    stdout: str
    stderr: str
    terminal: str  # what the child wrote to its terminal (prompts)


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    env.update(extra)
    return env


def run_with_tty(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    answers: Sequence[tuple[str, str]] = (),
    stdin: bytes = b"",
    tty: bool = True,
) -> TtyResult:
    """Run ``vaultcore ARGS``; for each (prompt text, answer) wait for the prompt, then type."""
    master, slave = os.openpty() if tty else (-1, -1)

    def make_controlling_terminal() -> None:  # runs in the child, after setsid()
        if tty:
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        [*CLI, *args],
        env=base_env(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=make_controlling_terminal,
        pass_fds=(slave,) if tty else (),
    )
    seen = b""
    try:
        assert child.stdin is not None
        child.stdin.write(stdin)  # small: fits the pipe; the value is read before any prompt
        child.stdin.close()
        if tty:
            os.close(slave)
            done = 0  # answered prompts end here: a repeated prompt must be new output
            for prompt, answer in answers:
                deadline = time.monotonic() + TIMEOUT
                while seen.find(prompt.encode(), done) < 0:
                    ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
                    try:
                        chunk = os.read(master, 4096) if ready else b""
                    except OSError:  # EIO: the child closed its terminal (it exited)
                        chunk = b""
                    if not chunk:
                        raise AssertionError(f"no prompt {prompt!r}; terminal so far: {seen!r}")
                    seen += chunk
                done = seen.find(prompt.encode(), done) + len(prompt)
                os.write(master, answer.encode() + b"\n")
        assert child.stdout is not None and child.stderr is not None
        with child.stdout, child.stderr:  # small outputs: read one after the other
            out, err = child.stdout.read(), child.stderr.read()
        child.wait(timeout=TIMEOUT)
        if tty:
            while select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
        if tty:
            os.close(master)
    return TtyResult(child.returncode, out.decode(), err.decode(), seen.decode(errors="replace"))
