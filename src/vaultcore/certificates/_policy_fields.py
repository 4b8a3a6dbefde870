"""Field checks and REST JSON helpers shared by the certificate model classes.

Each helper checks or converts one value (type, range, known enum value, SAN syntax,
timestamp) and raises :class:`~vaultcore.exceptions.InvalidParameterError` naming the
field; the JSON helpers read the optional objects and arrays of the REST shape. Private
to :mod:`vaultcore.certificates._policy_models` and :mod:`vaultcore.certificates._policy_issuers`, kept apart
so those modules hold only the classes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from vaultcore.crypto._jwk import KeyType
from vaultcore.exceptions import InvalidParameterError

_EC_TYPES = (KeyType.ec, KeyType.ec_hsm)
_CERTIFICATE_KEY_TYPES = (KeyType.ec, KeyType.ec_hsm, KeyType.rsa, KeyType.rsa_hsm)
_OID_RE = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_SHOW_MAX = 40

# --------------------------------------------------------------------------- helpers

_E = TypeVar("_E", bound=StrEnum)


def _show(value: object) -> str:
    """A short printable form of a (non-secret) rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


def _enum(kind: type[_E], value: object, what: str) -> _E:
    """Coerce a string to ``kind`` (case-insensitively, like the service)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value.lower() == value.lower():
                return member
    allowed = ", ".join(member.value for member in kind)
    raise InvalidParameterError(f"{what} must be one of {allowed}; got {_show(value)}")


def _opt_enum(kind: type[_E], value: object, what: str) -> _E | None:
    return None if value is None else _enum(kind, value, what)


def _opt_bool(value: object, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidParameterError(f"{what} must be true or false; got {_show(value)}")


def _opt_int(value: object, what: str, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterError(f"{what} must be an integer; got {_show(value)}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameterError(f"{what} must be {bound}; got {value}")
    return value


def _opt_str(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"{what} must be a non-empty string; got {_show(value)}")
    return value


def _opt_time(value: object, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidParameterError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(dt.UTC)


def _opt_strings(value: object, what: str, check: Callable[[str, str], str] | None = None) -> tuple[str, ...] | None:
    """A list of non-empty strings as a tuple, each passed through ``check``."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidParameterError(f"{what} must be a list of strings")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidParameterError(f"{what} must hold non-empty strings; got {_show(item)}")
        out.append(check(item, what) if check else item)
    return tuple(out)


def _ascii(item: str, what: str) -> None:
    if not item.isascii() or any(c.isspace() or not c.isprintable() for c in item):
        raise InvalidParameterError(
            f"{what}: {_show(item)} must be printable ASCII without spaces (encode international names as A-labels)"
        )


def _check_email(item: str, what: str) -> str:
    _ascii(item, what)
    local, _, domain = item.rpartition("@")
    if not local or not domain:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an email address")
    return item


def _check_dns(item: str, what: str) -> str:
    _ascii(item, what)
    labels = item.split(".")
    if len(item) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
        raise InvalidParameterError(f"{what}: {_show(item)} is not a DNS name")
    return item


def _check_uri(item: str, what: str) -> str:
    _ascii(item, what)
    if not urlsplit(item).scheme:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an absolute URI")
    return item


def _check_ip(item: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(item.strip()))
    except ValueError:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an IP address") from None


def _check_upn(item: str, what: str) -> str:
    if "@" not in item:
        raise InvalidParameterError(f"{what}: {_show(item)} is not a user principal name")
    return item


def _check_oid(item: str, what: str) -> str:
    if not _OID_RE.fullmatch(item):
        raise InvalidParameterError(f"{what}: {_show(item)} is not a dotted OID")
    return item


def _set(obj: object, name: str, value: object) -> None:
    """Assign during ``__post_init__`` of a frozen dataclass."""
    object.__setattr__(obj, name, value)


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _ts(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _from_ts(value: object, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidParameterError(f"{what} must be a Unix timestamp; got {_show(value)}")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidParameterError(f"{what} is out of range") from None


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``data[key]`` as a JSON object ({} when absent or null)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{key} must be a JSON object")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidParameterError(f"{key} must be a JSON array")
    return value


def _root(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"{what} must be a JSON object")
    return data
