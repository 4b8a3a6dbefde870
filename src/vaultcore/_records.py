"""Plaintext record structures (what the envelope seals) and their byte encoding.

A record's plaintext is ``u32 length || JSON header || payload``: the JSON holds names and
attributes, the payload holds the object's value (secret value, private key, certificate)
as raw bytes, so values are never base64-inflated or parsed as text.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from .exceptions import IntegrityError

__all__ = ["DeletedRecord", "Kind", "ObjectRecord", "VersionRecord", "decode", "encode"]

_LEN = struct.Struct(">I")


class Kind(Enum):
    """Object kinds, with their store byte and Azure's names."""

    SECRET = (1, "secret", "secrets", "Secret")
    KEY = (2, "key", "keys", "Key")
    CERTIFICATE = (3, "certificate", "certificates", "Certificate")

    def __init__(self, byte: int, label: str, collection: str, title: str) -> None:
        self.byte = byte
        self.label = label
        self.collection = collection
        self.title = title

    @property
    def not_found_code(self) -> str:
        return f"{self.title}NotFound"


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return _LEN.pack(len(head)) + head + payload


def decode(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < 4:
        raise IntegrityError()
    (size,) = _LEN.unpack_from(data)
    if 4 + size > len(data):
        raise IntegrityError()
    try:
        header = json.loads(data[4 : 4 + size])
    except ValueError:
        raise IntegrityError() from None
    if not isinstance(header, dict):
        raise IntegrityError()
    return header, data[4 + size :]


@dataclass(frozen=True)
class VersionRecord:
    """One immutable version of an object (its attributes may be updated)."""

    name: str
    version: str
    enabled: bool
    not_before: int | None
    expires_on: int | None
    created_on: int
    updated_on: int
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    managed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    payload: bytes = field(default=b"", repr=False)

    def to_bytes(self) -> bytes:
        head = {
            "n": self.name,
            "v": self.version,
            "e": self.enabled,
            "nbf": self.not_before,
            "exp": self.expires_on,
            "c": self.created_on,
            "u": self.updated_on,
            "t": self.tags,
            "ct": self.content_type,
            "m": self.managed,
            "x": self.extra,
        }
        return encode(head, self.payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> VersionRecord:
        head, payload = decode(data)
        try:
            return cls(
                name=head["n"],
                version=head["v"],
                enabled=bool(head["e"]),
                not_before=head["nbf"],
                expires_on=head["exp"],
                created_on=int(head["c"]),
                updated_on=int(head["u"]),
                tags=dict(head["t"]),
                content_type=head["ct"],
                managed=bool(head["m"]),
                extra=dict(head["x"]),
                payload=payload,
            )
        except (KeyError, TypeError, ValueError):
            raise IntegrityError() from None

    def evolve(self, **changes: Any) -> VersionRecord:
        return replace(self, **changes)


@dataclass(frozen=True)
class ObjectRecord:
    """Per-object state shared by all versions (original name, kind-specific settings)."""

    name: str
    created_on: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return encode({"n": self.name, "c": self.created_on, "x": self.extra})

    @classmethod
    def from_bytes(cls, data: bytes) -> ObjectRecord:
        head, _ = decode(data)
        try:
            return cls(name=head["n"], created_on=int(head["c"]), extra=dict(head["x"]))
        except (KeyError, TypeError, ValueError):
            raise IntegrityError() from None


@dataclass(frozen=True)
class DeletedRecord:
    """A soft-deleted object: its object record plus deletion dates."""

    obj: ObjectRecord
    deleted_on: int
    scheduled_purge: int

    def to_bytes(self) -> bytes:
        return encode(
            {
                "n": self.obj.name,
                "c": self.obj.created_on,
                "x": self.obj.extra,
                "d": self.deleted_on,
                "p": self.scheduled_purge,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeletedRecord:
        head, _ = decode(data)
        try:
            obj = ObjectRecord(name=head["n"], created_on=int(head["c"]), extra=dict(head["x"]))
            return cls(obj=obj, deleted_on=int(head["d"]), scheduled_purge=int(head["p"]))
        except (KeyError, TypeError, ValueError):
            raise IntegrityError() from None
