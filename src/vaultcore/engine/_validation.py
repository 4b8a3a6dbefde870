"""Argument checks shared by every client (Azure Key Vault's limits)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from vaultcore.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from vaultcore.engine._records import Kind

__all__ = ["check_name", "check_tags", "from_timestamp", "is_unicode", "masked_name", "to_timestamp"]

_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
MAX_TAGS = 15
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 512
MAX_CONTENT_TYPE = 255


def check_name(name: object, kind: Kind | None = None) -> str:
    """Names are 1-127 characters of ``[0-9A-Za-z-]`` (compared case-insensitively)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        what = kind.label if kind is not None else "object"
        raise InvalidParameterError(
            f"The {what} name {masked_name(name)} is invalid: use 1-127 characters of 0-9, a-z, A-Z and '-'."
        )
    return name


def masked_name(name: object) -> str:
    """An invalid name as errors show it: a value passed by mistake must not be echoed.

    At most the first 3 characters (printable ASCII only), the rest masked, and the length.
    """
    if not isinstance(name, str):
        return f"of type {type(name).__name__}"
    head = "".join(ch if " " < ch < "\x7f" and ch not in "'\\" else "?" for ch in name[:3])
    return f"'{head}***' ({len(name)} characters)" if len(name) > 3 else f"'{head}' ({len(name)} characters)"


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameterError("tags must be a mapping of strings to strings")
    if len(tags) > MAX_TAGS:
        raise InvalidParameterError(f"at most {MAX_TAGS} tags are allowed, got {len(tags)}")
    out: dict[str, str] = {}
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidParameterError("tag names and values must be strings")
        if not k or len(k) > MAX_TAG_NAME:
            raise InvalidParameterError(f"tag names must be 1-{MAX_TAG_NAME} characters")
        if len(v) > MAX_TAG_VALUE:
            raise InvalidParameterError(f"tag values must be at most {MAX_TAG_VALUE} characters")
        if not (is_unicode(k) and is_unicode(v)):
            raise InvalidParameterError("tag names and values must be valid Unicode text")
        out[k] = v
    return out


def check_content_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    if not isinstance(content_type, str) or len(content_type) > MAX_CONTENT_TYPE:
        raise InvalidParameterError(f"content_type must be a string of at most {MAX_CONTENT_TYPE} characters")
    if not is_unicode(content_type):
        raise InvalidParameterError("content_type must be valid Unicode text")
    return content_type


def is_unicode(text: str) -> bool:
    """True unless *text* holds a lone UTF-16 surrogate (which no UTF-8 encoder accepts)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_timestamp(value: datetime | None, what: str) -> int | None:
    """An aware datetime as integer Unix seconds (Azure's granularity)."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidParameterError(f"{what} must be a timezone-aware datetime")
    return int(value.timestamp())


def from_timestamp(value: int | None) -> datetime | None:
    return None if value is None else _datetime_of(value)


@lru_cache(maxsize=4096)
def _datetime_of(value: int) -> datetime:
    """Aware UTC datetimes are immutable, so results for repeated timestamps are shared."""
    return datetime.fromtimestamp(value, UTC)


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{what} must be True or False")
    return value


#: "Argument not given" for attributes where ``None`` is a meaningful value (clears nbf/exp).
UNSET: Any = object()


def attribute_changes(
    *,
    enabled: bool | None = None,
    tags: Mapping[str, str] | None = None,
    not_before: datetime | None = UNSET,
    expires_on: datetime | None = UNSET,
    content_type: str | None = UNSET,
) -> dict[str, Any]:
    """The checked version-attribute changes of an ``update_*_properties`` call.

    Arguments left out keep their value; ``not_before``/``expires_on``/``content_type`` may be
    set to None to clear them.
    """
    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["enabled"] = check_bool(enabled, "enabled")
    if tags is not None:
        changes["tags"] = check_tags(tags)
    if content_type is not UNSET:
        changes["content_type"] = check_content_type(content_type)
    if not_before is not UNSET:
        changes["not_before"] = to_timestamp(not_before, "not_before")
    if expires_on is not UNSET:
        changes["expires_on"] = to_timestamp(expires_on, "expires_on")
    return changes
