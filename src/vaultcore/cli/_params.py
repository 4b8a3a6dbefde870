"""Parameter types and input/output helpers shared by the command modules."""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

from . import _state
from ._errors import BadInput
from ._state import ENV_VAULT, default_vault_path

# The vault's limit on a secret value (``secrets._client.MAX_SECRET_BYTES``, checked equal by
# tests/cli): a constant here so that completion and --help never import the vault.
MAX_SECRET_BYTES = 25 * 1024

__all__ = [
    "CLEAR",
    "ENCODINGS",
    "ENCODING_TAG",
    "Base64Type",
    "TagType",
    "WhenType",
    "b64u",
    "complete_names",
    "decode_value",
    "encode_value",
    "open_new_file",
    "read_binary_input",
    "read_secret_value",
    "split_secret_ref",
    "write_new_file",
]

#: ``--encoding`` of binary secret values (as az): how bytes are stored as text.
ENCODINGS = ("utf-8", "base64", "hex")
#: The tag az writes for ``--encoding`` on set and reads back on download.
ENCODING_TAG = "file-encoding"
_SECRET_ID = r"https?://[^/\s]+/secrets/([0-9A-Za-z-]+)(?:/([0-9A-Za-z]+))?/?"  # re caches it once used

#: What a clearable :class:`WhenType` returns for ``none``.
CLEAR = "none"
_RELATIVE = re.compile(r"([+-])(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class WhenType(click.ParamType):  # type: ignore[type-arg]
    """A UTC time: ISO 8601 (naive means UTC) or relative to now like ``+90d``, ``-1h`` (s, m, h, d, w)."""

    name = "when"

    def __init__(self, *, clearable: bool = False) -> None:
        self.clearable = clearable

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if self.clearable and text.lower() == CLEAR:
            return CLEAR
        relative = _RELATIVE.fullmatch(text)
        if relative:
            delta = timedelta(**{_UNITS[relative.group(3)]: int(relative.group(2))})
            now = datetime.now(UTC).replace(microsecond=0)
            return now + delta if relative.group(1) == "+" else now - delta
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 time (2026-01-31T12:00:00Z) or +/-N[smhdw]", param, ctx)
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class TagType(click.ParamType):  # type: ignore[type-arg]
    """``KEY=VALUE``."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        key, sep, val = str(value).partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return (key, val)


class Base64Type(click.ParamType):  # type: ignore[type-arg]
    """Bytes given as base64url or standard base64, padding optional."""

    name = "base64"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, bytes):
            return value
        text = str(value).strip().replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            self.fail(f"{value!r} is not base64", param, ctx)


def b64u(data: bytes | None) -> str | None:
    """base64url without padding (the JWK and Azure REST spelling of bytes)."""
    return None if data is None else base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_binary_input(path: str | None, what: str) -> bytes:
    """Bytes from *path* or piped stdin (never from a terminal: pipe them or use --file)."""
    if path is not None:
        with open(path, "rb") as handle:
            return handle.read()
    if _state.interactive():
        raise BadInput(f"pipe the {what} into stdin or give --file")
    return sys.stdin.buffer.read()


def read_secret_value(path: str | None, *, keep_newline: bool) -> str:
    """A secret value from *path* (exactly), a hidden prompt (terminal) or stdin.

    From stdin one trailing newline is dropped unless *keep_newline*, so
    ``echo value | vaultcore secret set NAME`` stores ``value``.
    """
    if path is not None:
        with open(path, "rb") as handle:
            data = _bounded_read(handle, path)
    elif _state.interactive():
        prompted: str = click.prompt("Secret value", hide_input=True, confirmation_prompt=True, err=True)
        return prompted
    else:
        data = _bounded_read(sys.stdin.buffer, "stdin")
        if not keep_newline:
            if data.endswith(b"\r\n"):
                data = data[:-2]
            elif data.endswith(b"\n"):
                data = data[:-1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("the secret value is not UTF-8 text") from None


def _bounded_read(handle: IO[bytes], where: str) -> bytes:
    """At most the largest secret value (plus a line end): reading stops past the limit."""
    data = handle.read(MAX_SECRET_BYTES + 3)
    if len(data) > MAX_SECRET_BYTES + 2 or (len(data) > MAX_SECRET_BYTES and not data.endswith(b"\n")):
        raise BadInput(f"the secret value from {where} is larger than {MAX_SECRET_BYTES // 1024} KiB")
    return data


def open_new_file(path: str, *, force: bool, text: bool = False) -> IO[Any]:
    """Open *path* for writing with mode 0600; refuses to overwrite unless *force*.

    Never through a symbolic link (``O_NOFOLLOW``): with ``--force`` a planted link would
    otherwise truncate and overwrite whatever file it points at.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInput(f"{path!r} already exists (pass --force to overwrite)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise BadInput(f"{path!r} is a symbolic link: refusing to write through it") from None
        raise
    try:
        os.fchmod(fd, 0o600)  # an overwritten file keeps its old mode otherwise
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")


def write_new_file(path: str, data: bytes, *, force: bool) -> None:
    """Write *data* to a new file (see :func:`open_new_file`)."""
    with open_new_file(path, force=force) as handle:
        handle.write(data)


def complete_names(kind: str) -> Callable[..., list[CompletionItem]]:
    """Shell completion of object names of *kind* from the name cache (``_names``): a Tab
    never opens the vault, asks for a credential or writes an audit event."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        from ._names import cached_names

        vault_path = ctx.find_root().params.get("vault_path") or os.environ.get(ENV_VAULT) or default_vault_path()
        names = cached_names(vault_path, kind)
        return [CompletionItem(n) for n in names if n.lower().startswith(incomplete.lower())]

    return complete


def encode_value(data: bytes, encoding: str) -> str:
    """Binary *data* as the text stored for ``--encoding`` base64 or hex."""
    return base64.b64encode(data).decode("ascii") if encoding == "base64" else data.hex()


def decode_value(value: str, encoding: str) -> bytes:
    """The bytes of a stored value (``utf-8``: its UTF-8 encoding)."""
    try:
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
        if encoding == "hex":
            return bytes.fromhex(value)
    except (binascii.Error, ValueError):
        raise BadInput(f"the value is not {encoding} text") from None
    return value.encode("utf-8")


def split_secret_ref(text: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME/VERSION`` or a secret id URL -> (name, version or None)."""
    match = re.fullmatch(_SECRET_ID, text, re.I) if "://" in text else None
    if match:
        return match.group(1), match.group(2)
    name, _, version = text.partition("/")
    return name, version or None
