"""dotenv files: parsing, writing, and the env-var <-> secret-name mapping.

Writing picks the simplest form that reads back exactly (and reads the same in
python-dotenv, Docker Compose and POSIX shells where the form allows)::

    NAME=value        only [A-Za-z0-9_./:@%+,=-] (non-empty)
    NAME='value'      no ', no backslash, no control character: literal everywhere
    NAME="value"      otherwise, with escapes \\\\ \\" \\n \\r \\t (and \\$ read as $)

Reading accepts blank lines, ``# comments``, an optional ``export`` prefix, spaces around
``=``, unquoted values (a `` #`` starts a comment), single-quoted literal values and
double-quoted values with the escapes above, both possibly spanning lines. ``$VAR`` is
never interpolated. A repeated name keeps its last value.
"""

from __future__ import annotations

import re

__all__ = [
    "DotenvError",
    "env_to_secret_name",
    "format_dotenv",
    "parse_dotenv",
    "parse_dotenv_lines",
    "quote",
    "secret_to_env_name",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t", "$": "$", "'": "'"}
_WRITE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class DotenvError(ValueError):
    """A dotenv file could not be parsed (the message names the line)."""


def env_to_secret_name(env_name: str, prefix: str = "") -> str:
    """``DB_PASSWORD`` -> ``<prefix>DB-PASSWORD`` ('_' becomes '-', case kept)."""
    return prefix + env_name.replace("_", "-")


def secret_to_env_name(secret_name: str, prefix: str = "") -> str | None:
    """``<prefix>db-password`` -> ``DB_PASSWORD``; ``None`` if the prefix does not match."""
    if not secret_name.lower().startswith(prefix.lower()):
        return None
    rest = secret_name[len(prefix) :]
    if not rest:
        return None
    return rest.upper().replace("-", "_")


def is_env_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def quote(value: str) -> str:
    """The dotenv spelling of *value* (see the module docstring)."""
    if _SAFE.fullmatch(value):
        return value
    if "'" not in value and "\\" not in value and not _CONTROL.search(value):
        return f"'{value}'"
    escaped = "".join(_WRITE_ESCAPES.get(ch, ch) for ch in value)
    return f'"{escaped}"'


def format_dotenv(items: dict[str, str]) -> str:
    """``NAME=value`` lines, in the order given."""
    return "".join(f"{name}={quote(value)}\n" for name, value in items.items())


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse dotenv *text*; raises :class:`DotenvError` naming the line of a mistake."""
    return {name: value for name, (value, _) in parse_dotenv_lines(text).items()}


def parse_dotenv_lines(text: str) -> dict[str, tuple[str, int]]:
    """Like :func:`parse_dotenv`, with the line number where each value starts."""
    result: dict[str, tuple[str, int]] = {}
    pos = 0
    length = len(text)
    line_no, counted = 1, 0  # newlines are counted once each: the parser stays linear
    while pos < length:
        line_no += text.count("\n", counted, pos)
        counted = pos
        end = text.find("\n", pos)
        end = length if end < 0 else end
        line = text[pos:end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            continue
        body = stripped
        if body.startswith("export ") or body.startswith("export\t"):
            body = body[len("export") :].lstrip()
        name, sep, _ = body.partition("=")
        name = name.strip()
        if not sep:
            raise DotenvError(f"line {line_no}: expected NAME=value")
        if not is_env_name(name):
            raise DotenvError(f"line {line_no}: {name!r} is not a valid variable name")
        # Position of the first character after '=' in the whole text.
        start = pos + line.index("=") + 1
        while start < end and text[start] in " \t":
            start += 1
        value, pos = _value(text, start, end, line_no)
        result[name] = (value, line_no)  # a repeated name keeps its last value
    return result


def _value(text: str, start: int, end: int, line_no: int) -> tuple[str, int]:
    """Read one value starting at *start*; returns it and the position after its line."""
    if start < len(text) and text[start] in "'\"":
        quote_char = text[start]
        out: list[str] = []
        i = start + 1
        while True:
            if i >= len(text):
                raise DotenvError(f"line {line_no}: unterminated {quote_char} quote")
            ch = text[i]
            if ch == quote_char:
                break
            if ch == "\\" and quote_char == '"' and i + 1 < len(text):
                nxt = text[i + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            out.append(ch)
            i += 1
        line_end = text.find("\n", i)
        line_end = len(text) if line_end < 0 else line_end
        rest = text[i + 1 : line_end].strip()
        if rest and not rest.startswith("#"):
            raise DotenvError(f"line {line_no}: unexpected text after the closing quote")
        return "".join(out), line_end + 1
    raw = text[start:end]
    comment = re.search(r"\s#", raw)
    if comment:
        raw = raw[: comment.start()]
    return raw.strip(), end + 1
