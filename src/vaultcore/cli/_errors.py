"""Exit codes and the one place where exceptions become them.

Every command runs inside :func:`guard`; nothing else in the CLI catches vaultcore errors.
Messages are one line on stderr; a traceback is shown only with ``VAULTCORE_DEBUG=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click

from vaultcore.exceptions import (
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    NotFoundError,
    UnauthorizedError,
    VaultError,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_CONFLICT",
    "EXIT_DENIED",
    "EXIT_ENVIRONMENT",
    "EXIT_INTEGRITY",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_NO_VAULT",
    "EXIT_OK",
    "EXIT_USAGE",
    "BadInput",
    "MissingDependency",
    "exit_code_for",
    "guard",
]

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_INTEGRITY = 4
EXIT_CONFLICT = 5
EXIT_NO_VAULT = 6
EXIT_ENVIRONMENT = 7
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

#: Exception class -> exit code, most specific first (the first ``isinstance`` match wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NotAVaultError, EXIT_NO_VAULT),
    (NotFoundError, EXIT_NOT_FOUND),
    (InvalidParameterError, EXIT_USAGE),
    (UnauthorizedError, EXIT_DENIED),
    (ForbiddenError, EXIT_DENIED),
    (IntegrityError, EXIT_INTEGRITY),
    (ConflictError, EXIT_CONFLICT),
    (VaultError, EXIT_ENVIRONMENT),  # storage, HSM, locked
    (OSError, EXIT_ENVIRONMENT),  # files the CLI reads or writes
)


class BadInput(click.ClickException):
    """Bad content in a file or stdin the user gave (exit 2, one line, no usage text)."""

    exit_code = EXIT_USAGE


class MissingDependency(click.ClickException):
    """An optional dependency (an extra) is not installed (exit 7, one line)."""

    exit_code = EXIT_ENVIRONMENT


_HINTS: dict[int, str] = {
    EXIT_NO_VAULT: "create one with 'vaultcore init' or point --vault / VAULTCORE_VAULT at it",
}


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for *exc* (``EXIT_INTERNAL`` for anything unexpected)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


def _message(exc: BaseException, code: int) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename!r}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        text = str(exc) or type(exc).__name__
    if code == EXIT_INTERNAL:
        text = f"internal error ({type(exc).__name__}): {text} (set VAULTCORE_DEBUG=1 for a traceback)"
    hint = _HINTS.get(code)
    text = " ".join(text.split())  # one line, whatever the message held
    return f"{text} ({hint})" if hint else text


@contextmanager
def guard() -> Iterator[None]:
    """Turn any error raised inside into a one-line message and its exit code."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException):
        raise
    except (click.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if os.environ.get("VAULTCORE_DEBUG"):
            raise
        code = exit_code_for(exc)
        click.echo(f"Error: {_message(exc, code)}", err=True)
        raise click.exceptions.Exit(code) from None
