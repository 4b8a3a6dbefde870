"""Full vault backups: every object with all its versions, and the access records.

Blob (version 1)::

    offset  size  field
    0       4     magic b"VCF1"
    4       16    security domain id
    20      ...   sealed body: wrapped DEK(40) | nonce(12) | AES-256-GCM(DEK, body) | tag(16)

sealed, as object backups are, under the security domain's KEK with the first 20 bytes as
associated data: it restores into a vault of the same security domain only (another
domain gives ``ForbiddenError``, any change ``IntegrityError``). The body is the record
encoding of ``{"objects": [...], "access": [...], "certmeta": [...]}`` (access records:
principals, custom roles, role assignments, settings; certificate contacts and issuers)
followed by the version records.
Soft-deleted objects are not included (as a key backup does not include them either).
Records are re-keyed on restore: a vault's store keys are keyed hashes unique to it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vaultcore.crypto import _bindings
from vaultcore.engine._lifecycle import DELETED, OBJECTS
from vaultcore.engine._records import Kind, ObjectRecord, VersionRecord, decode, encode
from vaultcore.exceptions import ForbiddenError, IntegrityError, InvalidParameterError, UnsupportedError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.engine._lifecycle import Lifecycle

__all__ = ["FullBackup", "VaultContents", "export_vault", "import_objects_in", "objects_empty_in", "open_vault"]

_MAGIC = b"VCF1"
_HEAD = 4 + 16
MAX_FULL_BACKUP = 1 << 30


@dataclass(frozen=True)
class FullBackup:
    """One object of a full backup."""

    kind: Kind
    record: ObjectRecord
    versions: list[VersionRecord]


@dataclass(frozen=True)
class VaultContents:
    objects: list[FullBackup]
    access: list[dict[str, Any]]
    certmeta: list[dict[str, Any]]


def _objects_in(txn: ReadTxn, engine: Lifecycle) -> list[FullBackup]:
    out = []
    for okey, blob in txn.scan(OBJECTS, b""):
        kind = next((k for k in Kind if k.byte == okey[0]), None)
        if kind is None:
            continue
        name = engine._open_object(okey, blob).name
        record, versions = engine.export_in(txn, kind, name)
        if kind is Kind.KEY and any(v.extra.get("hsm") for v in versions):
            raise UnsupportedError(
                f"key {name} lives in the HSM and cannot leave it: a full backup of a vault with HSM keys is not "
                "supported (see docs/hsm.md)"
            )
        out.append(FullBackup(kind, record, versions))
    return out


def export_vault(
    ctx: VaultContext,
    engine: Lifecycle,
    txn: ReadTxn,
    access: list[dict[str, Any]],
    certmeta: list[dict[str, Any]],
) -> bytes:
    """The whole vault (objects read in *txn*, plus the *access* and certificate-metadata
    records, as plain docs) sealed for its domain."""
    objects = _objects_in(txn, engine)
    metas, payloads = [], []
    for item in objects:
        versions = [v.to_bytes() for v in item.versions]
        metas.append(
            {
                "kind": item.kind.byte,
                "object": base64.b64encode(item.record.to_bytes()).decode(),
                "sizes": [len(p) for p in versions],
            }
        )
        payloads += versions
    body = encode({"objects": metas, "access": access, "certmeta": certmeta}, b"".join(payloads))
    ring = ctx.keyring
    head = _MAGIC + ring.domain_id
    return head + _bindings.seal_record(ring.domain_kek(), b"", head, body)


def open_vault(ctx: VaultContext, blob: bytes) -> VaultContents:
    """Authenticate and decode a full backup; ``ForbiddenError`` if from another domain."""
    if not isinstance(blob, bytes) or len(blob) > MAX_FULL_BACKUP:
        raise InvalidParameterError("a full backup must be bytes of at most 1 GiB")
    if len(blob) < _HEAD + 40 + 12 + 16 or blob[:4] != _MAGIC:
        raise IntegrityError("not a vaultcore full backup")
    ring = ctx.keyring
    if not _bindings.constant_time_eq(blob[4:_HEAD], ring.domain_id):
        raise ForbiddenError(
            "this backup belongs to another security domain and cannot be restored here",
            inner_code="BackupFromAnotherDomain",
        )
    header, payload = decode(_bindings.open_record(ring.domain_kek(), blob[_HEAD:], 0, blob[:_HEAD]))
    objects = []
    try:
        offset = 0
        for meta in header["objects"]:
            kind = next(k for k in Kind if k.byte == meta["kind"])
            record = ObjectRecord.from_bytes(base64.b64decode(meta["object"]))
            versions = []
            for size in meta["sizes"]:
                versions.append(VersionRecord.from_bytes(payload[offset : offset + size]))
                offset += size
            objects.append(FullBackup(kind, record, versions))
        access = list(header["access"])
        certmeta = list(header["certmeta"])
    except (KeyError, TypeError, ValueError, StopIteration):
        raise IntegrityError() from None
    return VaultContents(objects, access, certmeta)


def objects_empty_in(txn: ReadTxn) -> bool:
    """True if the vault holds no object, live or soft-deleted."""
    return not any(True for _ in txn.scan(OBJECTS, b"")) and not any(True for _ in txn.scan(DELETED, b""))


def import_objects_in(txn: WriteTxn, engine: Lifecycle, objects: list[FullBackup]) -> int:
    """Recreate every object of a full backup (``ConflictError`` if one exists)."""
    for item in objects:
        engine.import_in(txn, item.kind, item.record, item.versions)
    return len(objects)
