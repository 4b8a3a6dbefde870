"""JSON on the wire: Azure Key Vault's encodings, request fields and paging.

Everything that turns request JSON into Python values, or vault models into response JSON
pieces shared by the three collections, lives here. Encodings follow the service:
timestamps are integer Unix seconds; binary values are base64url without padding, except
certificate ``cer``, ``csr``, ``x5c`` and the import ``value`` (standard base64). Every
malformed field raises :class:`~vaultcore.exceptions.InvalidParameterError` (400
BadParameter) naming the field, never echoing its value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from vaultcore.engine._models import ObjectProperties
from vaultcore.engine._paging import scan_window
from vaultcore.exceptions import InvalidParameterError

from ._bodies import parse_body

if TYPE_CHECKING:
    from .._vault import Vault

__all__ = [
    "Call",
    "Handler",
    "Reply",
    "RouteSpec",
    "attributes_json",
    "b64u",
    "page",
    "page_of",
    "query_bool",
    "unb64",
    "unb64u",
]

T = TypeVar("T")

MAX_RESULTS = 25
_B64URL = re.compile(r"[A-Za-z0-9_-]*=*")
_B64STD = re.compile(r"[A-Za-z0-9+/\s]*=*\s*")
_UNSET: Any = object()
_SEGMENT = re.compile(r"\{(\w+)(\?)?\}")
_VERSION_SUFFIX = re.compile(r"/[0-9a-f]{32}$")


# --------------------------------------------------------------------------- encodings


def b64u(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(value: object, what: str) -> bytes:
    """Decode base64url (padding tolerated) or raise BadParameter naming *what*."""
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise InvalidParameterError(f"{what} must be a base64url string")
    text = value.rstrip("=")
    if len(text) % 4 == 1:
        raise InvalidParameterError(f"{what} is not valid base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidParameterError(f"{what} is not valid base64url") from None


def unb64(value: object, what: str) -> bytes:
    """Decode standard base64 (``cer``, ``x5c``) or raise BadParameter naming *what*."""
    if not isinstance(value, str) or not _B64STD.fullmatch(value):
        raise InvalidParameterError(f"{what} must be a base64 string")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError(f"{what} is not valid base64") from None


def ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


# --------------------------------------------------------------------------- request fields


def obj(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` as a JSON object (``{}`` when absent or null)."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{key} must be a JSON object")
    return value


def opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidParameterError(f"{key} must be a string")
    return value


def opt_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidParameterError(f"{key} must be true or false")
    return value


def opt_int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidParameterError(f"{key} must be an integer")
    return value


def opt_time(body: Mapping[str, Any], key: str) -> datetime | None:
    """A Unix-seconds timestamp field as an aware datetime."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(f"attributes.{key} must be a Unix timestamp (integer seconds)")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidParameterError(f"attributes.{key} is out of range") from None


def opt_tags(body: Mapping[str, Any]) -> dict[str, str] | None:
    """``tags`` (checked in depth by the vault)."""
    value = body.get("tags")
    if value is not None and not isinstance(value, dict):
        raise InvalidParameterError("tags must be a JSON object of strings")
    return value


def opt_strings(body: Mapping[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterError(f"{key} must be a list of strings")
    return value


def time_changes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``not_before``/``expires_on`` keyword arguments for the fields present (updates keep the rest)."""
    changes: dict[str, Any] = {}
    if attributes.get("nbf") is not None:
        changes["not_before"] = opt_time(attributes, "nbf")
    if attributes.get("exp") is not None:
        changes["expires_on"] = opt_time(attributes, "exp")
    return changes


# --------------------------------------------------------------------------- responses


def attributes_json(props: ObjectProperties, **extra: Any) -> dict[str, Any]:
    """The ``attributes`` object every object version has."""
    return drop_none(
        {
            "enabled": props.enabled,
            "nbf": ts(props.not_before),
            "exp": ts(props.expires_on),
            "created": ts(props.created_on),
            "updated": ts(props.updated_on),
            "recoveryLevel": props.recovery_level,
            "recoverableDays": props.recoverable_days,
            **extra,
        }
    )


@dataclass
class Reply:
    """What a handler answers: status, JSON body (``None``: no body) and extra headers."""

    body: dict[str, Any] | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteSpec:
    """``method`` + ``pattern`` (``{name}``: a non-empty segment, ``{version?}``: may be empty)."""

    method: str
    pattern: str
    handler: Handler

    def compile(self) -> re.Pattern[str]:
        out, i = [], 0
        for m in _SEGMENT.finditer(self.pattern):
            out.append(re.escape(self.pattern[i : m.start()]))
            out.append(f"(?P<{m.group(1)}>[^/]{'*' if m.group(2) else '+'})")
            i = m.end()
        out.append(re.escape(self.pattern[i:]))
        return re.compile("".join(out))


@dataclass
class Call:
    """One authenticated request, as handlers see it.

    ``vault`` is the caller's view of the vault (roles checked, audited as that principal);
    ``base`` is ``https://<Host>`` as the client addressed the server, and :meth:`rebase`
    moves the vault's own ids (``https://<name>.vault.vaultcore.local/...``) onto it.
    """

    vault: Vault
    base: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    raw_body: bytes = field(default=b"", repr=False)  # may hold a secret value or private key
    _parsed: Any = field(default=_UNSET, repr=False)

    @property
    def body(self) -> dict[str, Any]:
        """The request body as a JSON object (``{}`` when empty)."""
        if self._parsed is _UNSET:
            self._parsed = parse_body(self.raw_body)
        parsed: dict[str, Any] = self._parsed
        return parsed

    def param(self, name: str) -> str:
        return self.params[name]

    def version(self) -> str | None:
        """The ``version`` path segment; empty means the latest version."""
        return self.params.get("version") or None

    def rebase(self, ident: str | None) -> str | None:
        if ident is None:
            return None
        own = self.vault.vault_url
        return self.base + ident[len(own) :] if ident.startswith(own) else ident

    def url(self, path: str) -> str:
        return self.base + path

    def rebase_unversioned(self, ident: str | None) -> str | None:
        """:meth:`rebase` without the trailing version: Azure's list items (latest and deleted)
        carry ``https://host/secrets/name``, so the SDK's ``properties.version`` is ``None``."""
        rebased = self.rebase(ident)
        return None if rebased is None else _VERSION_SUFFIX.sub("", rebased)


Handler = Callable[[Call], Reply]


def query_bool(call: Call, name: str) -> bool:
    """A ``true``/``false`` query parameter (absent: false), case-insensitive as Azure's."""
    raw = call.query.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise InvalidParameterError(f"{name} must be true or false")
    return raw.lower() == "true"


def max_results(call: Call) -> int:
    raw = call.query.get("maxresults")
    if raw is None or raw == "":
        return MAX_RESULTS
    try:
        count = int(raw)
    except ValueError:
        raise InvalidParameterError("maxresults must be an integer from 1 to 25") from None
    if not 1 <= count <= MAX_RESULTS:
        raise InvalidParameterError("maxresults must be an integer from 1 to 25")
    return count


def page(
    call: Call,
    items: Sequence[T],
    key: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
) -> Reply:
    """One page of *items* in *key* order: ``{"value": [...], "nextLink": url | null}``.

    The continuation token (``$skiptoken``) is the sort key of the last item shown, so a
    page boundary stays put when items are added or removed meanwhile.
    """
    size = max_results(call)
    ordered = sorted(items, key=key)
    token = call.query.get("$skiptoken")
    if token:
        after = unb64u(token, "$skiptoken").decode("utf-8", "replace")
        ordered = [item for item in ordered if key(item) > after]
    shown = ordered[:size]
    next_link = None
    if len(ordered) > size:
        query = {k: v for k, v in call.query.items() if k not in ("$skiptoken", "maxresults")}
        query["maxresults"] = str(size)
        query["$skiptoken"] = b64u(key(shown[-1]).encode("utf-8"))
        next_link = call.url(call.path) + "?" + urlencode(query)
    return Reply({"value": [render(item) for item in shown], "nextLink": next_link})


def page_of(
    call: Call,
    fetch: Callable[[], Iterable[T]],
    key: Callable[[T], str],
    render: Callable[[T], dict[str, Any]],
) -> Reply:
    """One page of what *fetch* lists, costing O(page size) when it is an ordered engine scan.

    *fetch* runs inside a :func:`~vaultcore.engine._paging.scan_window`: the engine decrypts
    only this page's objects (storage order) and names the next page's cursor, which becomes
    the ``$skiptoken``. A list that is not such a scan (versions of one object, issuers)
    is paged in memory by :func:`page` in *key* order.
    """
    size = max_results(call)
    token = call.query.get("$skiptoken")
    cursor = unb64u(token, "$skiptoken") if token else None
    with scan_window(cursor, size) as window:
        items = list(fetch())
    if not window.used:
        return page(call, items, key, render)
    next_link = None
    if window.next is not None:
        query = {k: v for k, v in call.query.items() if k not in ("$skiptoken", "maxresults")}
        query["maxresults"] = str(size)
        query["$skiptoken"] = b64u(window.next)
        next_link = call.url(call.path) + "?" + urlencode(query)
    return Reply({"value": [render(item) for item in items], "nextLink": next_link})


def sort_key(props: ObjectProperties) -> str:
    """Lists go by name, then creation time, then version (stable across pages)."""
    return f"{props.name.lower()}\x00{ts(props.created_on) or 0:012d}\x00{props.version}"
