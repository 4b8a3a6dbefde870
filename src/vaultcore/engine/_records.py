"""Plaintext record structures (what the envelope seals) and their byte encoding.

A record's plaintext is ``u32 length || JSON header || payload``: the JSON holds names and
attributes, the payload holds the object's value (secret value, private key, certificate)
as raw bytes, so values are never base64-inflated or parsed as text.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from enum import Enum
from typing import Any

from vaultcore._frozen import Frozen, field
from vaultcore.exceptions import IntegrityError

__all__ = ["DeletedRecord", "Kind", "ObjectRecord", "VersionRecord", "decode", "encode"]

_LEN = struct.Struct(">I")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

# Version record, format 2: format byte, version id (16), flags, created, updated, nbf, exp
# (signed 64-bit Unix seconds; nbf/exp valid only when flagged), name length; then the
# UTF-8 name, [u16 + content type], [u32 + JSON {"t": tags, "x": extra}], payload.
_V2 = struct.Struct(">B16sBqqqqH")
_FORMAT_V2 = 0x02
_OBJ_V2 = struct.Struct(">BqH")
_F_ENABLED, _F_MANAGED, _F_NBF, _F_EXP, _F_CTYPE, _F_JSON = 1, 2, 4, 8, 16, 32


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


class VersionRecord(Frozen):
    """One immutable version of an object (its attributes may be updated)."""

    _fields = (
        "name",
        "version",
        "enabled",
        "not_before",
        "expires_on",
        "created_on",
        "updated_on",
        "tags",
        "content_type",
        "managed",
        "extra",
        "payload",
    )
    _unprinted = frozenset({"payload"})

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
    payload: bytes = b""

    def __init__(
        self,
        name: str,
        version: str,
        enabled: bool,
        not_before: int | None,
        expires_on: int | None,
        created_on: int,
        updated_on: int,
        tags: dict[str, str] | None = None,
        content_type: str | None = None,
        managed: bool = False,
        extra: dict[str, Any] | None = None,
        payload: bytes = b"",
    ) -> None:
        self.__dict__.update(
            name=name,
            version=version,
            enabled=enabled,
            not_before=not_before,
            expires_on=expires_on,
            created_on=created_on,
            updated_on=updated_on,
            tags={} if tags is None else tags,
            content_type=content_type,
            managed=managed,
            extra={} if extra is None else extra,
            payload=payload,
        )

    def _flags_and_middle(self) -> tuple[int, bytes]:
        """The flags byte and the optional parts between the name and the payload."""
        flags = (
            (_F_ENABLED if self.enabled else 0)
            | (_F_MANAGED if self.managed else 0)
            | (_F_NBF if self.not_before is not None else 0)
            | (_F_EXP if self.expires_on is not None else 0)
        )
        middle = b""
        if self.content_type is not None:
            flags |= _F_CTYPE
            ctype = self.content_type.encode()
            middle += _U16.pack(len(ctype)) + ctype
        if self.tags or self.extra:
            flags |= _F_JSON
            doc = json.dumps({"t": self.tags, "x": self.extra}, separators=(",", ":"), ensure_ascii=False).encode()
            middle += _U32.pack(len(doc)) + doc
        return flags, middle

    def to_bytes(self) -> bytes:
        """Compact binary form (format 2, see ``_V2``): the read path decodes it without JSON."""
        return self.to_bytes_many([self.name], [bytes.fromhex(self.version)], [self.payload])[0]

    def to_bytes_many(self, names: Sequence[str], vids: Sequence[bytes], payloads: Sequence[bytes]) -> list[bytes]:
        """``to_bytes`` of this record under each ``(name, version id, payload)`` (bulk writes:
        the shared attributes are encoded once)."""
        flags, middle = self._flags_and_middle()
        pack = _V2.pack
        times = (self.created_on, self.updated_on, self.not_before or 0, self.expires_on or 0)
        out = []
        for name, vid, payload in zip(names, vids, payloads, strict=True):
            raw = name.encode()
            out.append(b"".join((pack(_FORMAT_V2, vid, flags, *times, len(raw)), raw, middle, payload)))
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> VersionRecord:
        if data[:1] != b"\x02":
            return cls._from_v1(data)
        try:
            _, vid, flags, created, updated, nbf, exp, name_len = _V2.unpack_from(data)
            pos = _V2.size + name_len
            name = data[_V2.size : pos].decode()
            content_type = None
            if flags & _F_CTYPE:
                (size,) = _U16.unpack_from(data, pos)
                content_type = data[pos + 2 : pos + 2 + size].decode()
                pos += 2 + size
            tags: dict[str, str] = {}
            extra: dict[str, Any] = {}
            if flags & _F_JSON:
                (size,) = _U32.unpack_from(data, pos)
                doc = json.loads(data[pos + 4 : pos + 4 + size])
                tags, extra = dict(doc["t"]), dict(doc["x"])
                pos += 4 + size
            if pos > len(data):
                raise ValueError("truncated")
            # Hot read path: fill the record's fields directly (no keyword call).
            rec = object.__new__(cls)
            rec.__dict__.update(
                name=name,
                version=vid.hex(),
                enabled=bool(flags & _F_ENABLED),
                not_before=nbf if flags & _F_NBF else None,
                expires_on=exp if flags & _F_EXP else None,
                created_on=created,
                updated_on=updated,
                tags=tags,
                content_type=content_type,
                managed=bool(flags & _F_MANAGED),
                extra=extra,
                payload=data[pos:],
            )
            return rec
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, struct.error):
            raise IntegrityError() from None

    @staticmethod
    def name_and_version(data: bytes) -> tuple[str, str]:
        """The name and version id of a format 2 record, without decoding the rest."""
        end = _V2.size + _U16.unpack_from(data, _V2.size - 2)[0]
        return data[_V2.size : end].decode(), data[1:17].hex()

    @classmethod
    def _from_v1(cls, data: bytes) -> VersionRecord:
        """Format 1: ``u32 length || JSON header || payload`` (read for compatibility)."""
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


class ObjectRecord(Frozen):
    """Per-object state shared by all versions (original name, kind-specific settings)."""

    _fields = ("name", "created_on", "extra")
    _unprinted = frozenset({"extra"})  # may hold a pending certificate key

    name: str
    created_on: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, name: str, created_on: int, extra: dict[str, Any] | None = None) -> None:
        self.__dict__.update(name=name, created_on=created_on, extra={} if extra is None else extra)

    def to_bytes(self) -> bytes:
        """Format 2: ``0x02 | i64 created | u16 name length | name | JSON extra (if any)``."""
        name = self.name.encode()
        extra = json.dumps(self.extra, separators=(",", ":"), ensure_ascii=False).encode() if self.extra else b""
        return _OBJ_V2.pack(_FORMAT_V2, self.created_on, len(name)) + name + extra

    @staticmethod
    def new_many(names: Sequence[str], created_on: int) -> list[bytes]:
        """``to_bytes`` of new objects (no extra) named *names*, created *created_on* (bulk writes)."""
        pack = _OBJ_V2.pack
        return [pack(_FORMAT_V2, created_on, len(raw)) + raw for raw in map(str.encode, names)]

    @classmethod
    def from_bytes(cls, data: bytes) -> ObjectRecord:
        try:
            if data[:1] == b"\x02":
                _, created, size = _OBJ_V2.unpack_from(data)
                end = _OBJ_V2.size + size
                if end > len(data):
                    raise ValueError("truncated")
                rest = data[end:]
                extra = json.loads(rest) if rest else {}
                return cls(name=data[_OBJ_V2.size : end].decode(), created_on=created, extra=dict(extra))
            head, _ = decode(data)  # format 1: JSON header
            return cls(name=head["n"], created_on=int(head["c"]), extra=dict(head["x"]))
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, struct.error):
            raise IntegrityError() from None


class DeletedRecord(Frozen):
    """A soft-deleted object: its object record plus deletion dates."""

    _fields = ("obj", "deleted_on", "scheduled_purge")

    obj: ObjectRecord
    deleted_on: int
    scheduled_purge: int

    def __init__(self, obj: ObjectRecord, deleted_on: int, scheduled_purge: int) -> None:
        self.__dict__.update(obj=obj, deleted_on=deleted_on, scheduled_purge=scheduled_purge)

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
