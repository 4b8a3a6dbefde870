"""Hidden prompts on the controlling terminal (``/dev/tty``), as ssh, sudo and gpg do.

Reading the terminal rather than stdin lets ``printf %s value | vaultcore secret set NAME``
pipe the *value* while the *passphrase* is typed at the keyboard. Without a terminal
(cron, CI, a container without ``-t``) :func:`terminal_available` is false and callers say
which variable to set instead.
"""

from __future__ import annotations

import os

__all__ = ["NoTerminalError", "hidden_prompt", "terminal_available"]

_TTY = "/dev/tty"


class NoTerminalError(RuntimeError):
    """There is no controlling terminal to prompt on."""


def terminal_available() -> bool:
    """Whether this process has a controlling terminal it can prompt on."""
    if os.environ.get("VAULTCORE_NO_PROMPT"):
        return False
    try:
        fd = os.open(_TTY, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def hidden_prompt(prompt: str, *, confirm: bool = False) -> str:
    """Read a line without echo from ``/dev/tty`` (twice, and compared, with *confirm*)."""
    if not terminal_available():
        raise NoTerminalError(prompt)
    while True:
        first = _read(f"{prompt}: ")
        if not confirm:
            return first
        if first == _read(f"Repeat for confirmation ({prompt.lower()}): "):
            return first
        _say("Error: the two entries do not match.")


def _read(prompt: str) -> str:
    import getpass  # termios and friends: only when a prompt is shown
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)  # never fall back to echoing stdin
        try:
            return getpass.getpass(prompt)  # opens /dev/tty itself on POSIX
        except getpass.GetPassWarning:
            raise NoTerminalError(prompt) from None
        except EOFError:
            raise KeyboardInterrupt from None


def _say(text: str) -> None:
    with open(_TTY, "w", encoding="utf-8") as tty:
        tty.write(text + "\n")
