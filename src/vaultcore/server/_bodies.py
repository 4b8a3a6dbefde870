"""The one validation step every request body goes through before a handler sees it.

A body is JSON text of at most ``max_body`` bytes (checked while reading). Here it must
also be UTF-8, parse as a JSON *object*, nest at most :data:`MAX_DEPTH` levels, and hold
only text that is valid Unicode (JSON's ``\\ud800`` escapes can smuggle lone UTF-16
surrogates, which no UTF-8 encoder accepts). Anything else is
:class:`~vaultcore.exceptions.InvalidParameterError` - Azure's 400 ``BadParameter`` - with a
short message that never echoes the body. Handlers still check each field's type.

Parsing runs in a worker thread (a 4 MiB body is real work), never on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from vaultcore.exceptions import InvalidParameterError

__all__ = ["MAX_DEPTH", "TOKEN_IN_QUERY", "check_text", "parse_body", "run_validated", "token_in_query"]

MAX_DEPTH = 32
"""Nesting deeper than this is refused (Key Vault's bodies nest at most 5 levels)."""


def check_text(value: str, what: str) -> str:
    """*value* if it is valid Unicode (encodable as UTF-8), else BadParameter naming *what*."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterError(f"{what} holds text that is not valid Unicode") from None
    return value


def _check_tree(root: object, max_depth: int) -> None:
    """Walk *root* iteratively: depth and text of every key and string value."""
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            check_text(node, "the request body")
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidParameterError(f"the request body nests deeper than {max_depth} levels")
            if isinstance(node, dict):
                for key, value in node.items():
                    check_text(key, "the request body")
                    stack.append((value, depth + 1))
            else:
                stack.extend((value, depth + 1) for value in node)


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity are not JSON


def parse_body(raw: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when empty), validated as described above."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterError("the request body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidParameterError(f"the request body nests deeper than {max_depth} levels") from None
    except ValueError:
        raise InvalidParameterError("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidParameterError("the request body must be a JSON object")
    _check_tree(value, max_depth)
    return value


class _Validated(Protocol):
    raw_body: bytes

    @property
    def body(self) -> dict[str, Any]: ...


C = TypeVar("C", bound=_Validated)
R = TypeVar("R")


def run_validated(handler: Callable[[C], R], call: C) -> R:
    """Run *handler* after the body check (in the worker thread that runs the handler).

    Every body is checked, also on routes whose handler never reads it, so no route can
    forget the step.
    """
    if call.raw_body.strip():
        _ = call.body  # parses, validates and caches; raises BadParameter
    return handler(call)


# -- credentials in the URL ---------------------------------------------------------------

TOKEN_IN_QUERY = "Credentials are not accepted in the URL; send the token in the Authorization header."
_TOKEN_PARAMS = frozenset({"access_token", "token", "code", "client_secret", "assertion", "client_assertion"})


def token_in_query(query: str) -> bool:
    """True when a query string carries a credential (an OAuth token parameter or a
    ``vc1.`` bearer token anywhere): such requests are refused, never served or logged."""
    if not query:
        return False
    from urllib.parse import parse_qsl

    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in _TOKEN_PARAMS or "vc1." in value:
            return True
    return "vc1." in query
