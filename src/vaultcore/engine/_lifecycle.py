"""The one lifecycle engine shared by secrets, keys and certificates.

It owns versioning, attributes, soft-delete / recover / purge, purge protection, the purge
sweep and object backup/restore. Clients (``secrets._client``, ``keys._client``, ``certificates._client``) only
decide what a payload is and which Azure rules apply on top.

Store layout (all values sealed by the envelope, all keys opaque)::

    objects   kind(1) | objkey(16)              -> ObjectRecord        (live objects)
    versions  kind(1) | objkey(16) | vid(16)    -> VersionRecord       (live objects)
    deleted   kind(1) | objkey(16)              -> DeletedRecord       (soft-deleted)
    dversions kind(1) | objkey(16) | vid(16)    -> VersionRecord       (soft-deleted)
    purgeq    purge_at(8) | kind(1) | objkey(16) -> b""                (sweep index)

``objkey = HMAC-SHA256(index_key, kind || lower(name))[:16]``: names are case-insensitive
like Azure's and never stored in clear. Version ids are 16 bytes, a 48-bit millisecond
time then 80 random bits (like UUIDv7), strictly increasing per object, so the store's key
order is creation order and "latest" is the last key under the object's prefix.
Soft-delete moves records between the live and deleted databases without re-encrypting
(the AAD binds each record to its store key, which does not change).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._records import DeletedRecord, Kind, ObjectRecord, VersionRecord
from vaultcore.engine._validation import check_name
from vaultcore.exceptions import ConflictError, ForbiddenError, NotFoundError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["Lifecycle", "NewVersion"]

T = TypeVar("T")
_TS = struct.Struct(">Q")
_DAY = 86400

OBJECTS, VERSIONS, DELETED, DVERSIONS, PURGEQ = b"objects", b"versions", b"deleted", b"dversions", b"purgeq"


@dataclass(frozen=True)
class NewVersion:
    """What a client supplies to create one version."""

    payload: bytes = field(repr=False)  # the secret value or key material
    enabled: bool = True
    not_before: int | None = None
    expires_on: int | None = None
    tags: dict[str, str] | None = None
    content_type: str | None = None
    managed: bool = False
    extra: dict[str, Any] | None = None
    version: str | None = None  # only for restore: keep the original id

    def record(self, name: str, vid: bytes, now: int) -> VersionRecord:
        """The stored version this describes, named *name*, with id *vid*, created *now*."""
        return VersionRecord(
            name=name,
            version=vid.hex(),
            enabled=self.enabled,
            not_before=self.not_before,
            expires_on=self.expires_on,
            created_on=now,
            updated_on=now,
            tags=dict(self.tags or {}),
            content_type=self.content_type,
            managed=self.managed,
            extra=dict(self.extra or {}),
            payload=self.payload,
        )


class Lifecycle:
    """Versioned objects with Azure Key Vault's soft-delete semantics."""

    def __init__(self, ctx: VaultContext) -> None:
        self._ctx = ctx
        self._objkeys: dict[tuple[int, str], bytes] = {}
        #: Called after a purge commits with the erased versions (HSM keys free token objects).
        self.on_erased: Callable[[Kind, list[VersionRecord]], None] | None = None

    # -- keys of the store -------------------------------------------------------------

    def objkey(self, kind: Kind, name: str) -> bytes:
        """The store prefix of an object: kind byte and keyed hash of the lowercased name.

        Memoised (bounded): the keyed hash of a name never changes for a vault.
        """
        cache_key = (kind.byte, name)
        hit = self._objkeys.get(cache_key)
        if hit is not None:
            return hit
        check_name(name, kind)
        h = self._ctx.name_hasher()
        h.update(bytes([kind.byte]) + name.lower().encode())
        okey = bytes([kind.byte]) + h.digest()[:16]
        if len(self._objkeys) >= 4096:
            self._objkeys.clear()
        self._objkeys[cache_key] = okey
        return okey

    def _new_vid(self, txn: ReadTxn, db: bytes, okey: bytes) -> bytes:
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        last = txn.last_with_prefix(db, okey)
        if last is not None:
            last_ms = int.from_bytes(last[0][17:23], "big")
            now_ms = max(now_ms, last_ms + 1)
        return now_ms.to_bytes(6, "big") + _bindings.random_bytes(10)

    # -- sealing -----------------------------------------------------------------------

    def _open_version(self, key: bytes, blob: bytes) -> VersionRecord:
        return VersionRecord.from_bytes(self._ctx.envelope.open(RecordType.VERSION, key, blob))

    def _seal_version(self, key: bytes, rec: VersionRecord) -> bytes:
        return self._ctx.envelope.seal(RecordType.VERSION, key, rec.to_bytes())

    def _open_object(self, key: bytes, blob: bytes) -> ObjectRecord:
        return ObjectRecord.from_bytes(self._ctx.envelope.open(RecordType.OBJECT, key, blob))

    def _open_deleted(self, key: bytes, blob: bytes) -> DeletedRecord:
        return DeletedRecord.from_bytes(self._ctx.envelope.open(RecordType.DELETED, key, blob))

    # -- errors ------------------------------------------------------------------------

    @staticmethod
    def not_found(kind: Kind, name: str, version: str | None = None, *, deleted: bool = False) -> NotFoundError:
        what = f"{name}/{version}" if version else name
        state = "deleted " if deleted else ""
        return NotFoundError(
            f"A {state}{kind.label} with (name/id) {what} was not found in this key vault.",
            inner_code=kind.not_found_code,
        )

    @staticmethod
    def _deleted_conflict(kind: Kind, name: str) -> ConflictError:
        return ConflictError(
            f"{kind.title} {name} is currently in a deleted but recoverable state, and its name "
            f"cannot be reused; in this state, the {kind.label} can only be recovered or purged.",
            inner_code="ObjectIsDeletedButRecoverable",
        )

    # -- reads -------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, version: str | None = None, *, deleted: bool = False) -> VersionRecord:
        """A version (latest when *version* is None); ``NotFoundError`` if absent."""
        okey = self.objkey(kind, name)
        found = self._find_one(DVERSIONS if deleted else VERSIONS, okey, version)
        if found is None:
            raise self.not_found(kind, name, version, deleted=deleted)
        rec = self._open_version(*found)
        if rec.name.lower() != name.lower():
            raise self.not_found(kind, name, version, deleted=deleted)
        return rec

    def get_cached(
        self, kind: Kind, name: str, version: str | None, cache: MutableMapping[bytes, tuple[bytes, VersionRecord]]
    ) -> VersionRecord:
        """:meth:`get` that skips decrypting and parsing a record whose stored bytes are unchanged.

        The sealed record is still read on every call, so an update, delete, re-seal or
        tampered byte is seen at once; only bytes identical to ones this process already
        authenticated reuse the record opened then. *cache* maps store keys to
        ``(sealed bytes, record)`` and is cleared when it reaches 256 entries. For hot read
        paths whose records are not secret values (key operations: their material is cached anyway).
        """
        okey = self.objkey(kind, name)
        found = self._find_one(VERSIONS, okey, version)
        if found is None:
            raise self.not_found(kind, name, version)
        key, blob = found
        hit = cache.get(key)
        if hit is not None and hit[0] == blob:
            rec = hit[1]
        else:
            rec = self._open_version(key, blob)
            if len(cache) >= 256:
                cache.clear()
            cache[key] = (blob, rec)
        if rec.name.lower() != name.lower():
            raise self.not_found(kind, name, version)
        return rec

    def get_in(self, txn: ReadTxn, kind: Kind, name: str, version: str | None = None) -> VersionRecord:
        found = self._find(txn, VERSIONS, self.objkey(kind, name), version)
        if found is None:
            raise self.not_found(kind, name, version)
        return self._open_version(*found)

    def _find_one(self, db: bytes, okey: bytes, version: str | None) -> tuple[bytes, bytes] | None:
        """:meth:`_find` in a transaction of its own, through the store's fused point read."""
        self._ctx.check_open()
        if version is None or version == "":
            return self._ctx.store.find(db, okey)
        key = _version_key(okey, version)
        return None if key is None else self._ctx.store.find(db, okey, key)

    @staticmethod
    def _find(txn: ReadTxn, db: bytes, okey: bytes, version: str | None) -> tuple[bytes, bytes] | None:
        if version is None or version == "":
            return txn.last_with_prefix(db, okey)
        key = _version_key(okey, version)
        if key is None:
            return None
        blob = txn.get(db, key)
        return None if blob is None else (key, blob)

    def check_usable(self, kind: Kind, rec: VersionRecord) -> None:
        """Azure's rule: a disabled, not-yet-valid or expired version cannot be used."""
        now = self._ctx.now()
        if not rec.enabled:
            raise ForbiddenError(
                f"Operation is not allowed on a disabled {kind.label}.", inner_code=f"{kind.title}Disabled"
            )
        if rec.not_before is not None and now < rec.not_before:
            raise ForbiddenError(f"The {kind.label} is not yet valid (nbf).", inner_code=f"{kind.title}NotYetValid")
        if rec.expires_on is not None and now >= rec.expires_on:
            raise ForbiddenError(f"The {kind.label} has expired (exp).", inner_code=f"{kind.title}Expired")

    def versions(self, kind: Kind, name: str, *, deleted: bool = False) -> list[VersionRecord]:
        """All versions in creation order; ``NotFoundError`` if the object does not exist."""
        okey = self.objkey(kind, name)
        db = DVERSIONS if deleted else VERSIONS
        with self._ctx.read() as txn:
            rows = list(txn.scan(db, okey))
        if not rows:
            raise self.not_found(kind, name, deleted=deleted)
        return [self._open_version(k, v) for k, v in rows]

    def latest_all(self, kind: Kind, *, deleted: bool = False) -> list[VersionRecord]:
        """The latest version of every object of *kind* (live or soft-deleted)."""
        db = DVERSIONS if deleted else VERSIONS
        out: list[VersionRecord] = []
        with self._ctx.read() as txn:
            last: tuple[bytes, bytes] | None = None
            for key, blob in txn.scan(db, bytes([kind.byte])):
                if last is not None and key[:17] != last[0][:17]:
                    out.append(self._open_version(*last))
                last = (key, blob)
            if last is not None:
                out.append(self._open_version(*last))
        return out

    def get_object(self, kind: Kind, name: str) -> ObjectRecord:
        okey = self.objkey(kind, name)
        with self._ctx.read() as txn:
            blob = txn.get(OBJECTS, okey)
        if blob is None:
            raise self.not_found(kind, name)
        return self._open_object(okey, blob)

    def get_deleted(self, kind: Kind, name: str) -> tuple[DeletedRecord, VersionRecord]:
        okey = self.objkey(kind, name)
        with self._ctx.read() as txn:
            blob = txn.get(DELETED, okey)
            last = txn.last_with_prefix(DVERSIONS, okey)
        if blob is None or last is None:
            raise self.not_found(kind, name, deleted=True)
        return self._open_deleted(okey, blob), self._open_version(*last)

    def list_deleted(self, kind: Kind) -> list[tuple[DeletedRecord, VersionRecord]]:
        out = []
        with self._ctx.read() as txn:
            for okey, blob in txn.scan(DELETED, bytes([kind.byte])):
                last = txn.last_with_prefix(DVERSIONS, okey)
                if last is not None:
                    out.append((self._open_deleted(okey, blob), self._open_version(*last)))
        return out

    # -- writes ------------------------------------------------------------------------

    def write(self, fn: Callable[[WriteTxn], T]) -> T:
        """Run *fn* in one write transaction (compose several engine calls atomically)."""
        return self._ctx.write(fn)

    def add_version_in(self, txn: WriteTxn, kind: Kind, name: str, new: NewVersion) -> VersionRecord:
        """Create a version (and the object if new) inside *txn*."""
        okey = self.objkey(kind, name)
        if txn.get(DELETED, okey) is not None:
            raise self._deleted_conflict(kind, name)
        now = self._ctx.now()
        obj_blob = txn.get(OBJECTS, okey)
        if obj_blob is None:
            obj = ObjectRecord(name=name, created_on=now, extra={"managed": True} if new.managed else {})
            txn.put(OBJECTS, okey, self._ctx.envelope.seal(RecordType.OBJECT, okey, obj.to_bytes()))
        else:
            obj = self._open_object(okey, obj_blob)
            if bool(obj.extra.get("managed")) != new.managed:
                raise ConflictError(
                    f"{kind.title} {name} is managed by a certificate and can only be changed through it."
                    if obj.extra.get("managed")
                    else f"A {kind.label} named {name} already exists and is not managed by a certificate.",
                    inner_code="Conflict",
                )
        if new.version is not None:
            vid = bytes.fromhex(new.version)
            if txn.get(VERSIONS, okey + vid) is not None:
                raise ConflictError(f"{kind.title} version {name}/{new.version} already exists")
        else:
            vid = self._new_vid(txn, VERSIONS, okey)
        rec = new.record(obj.name, vid, now)
        key = okey + vid
        txn.put(VERSIONS, key, self._seal_version(key, rec))
        return rec

    def add_version(self, kind: Kind, name: str, new: NewVersion) -> VersionRecord:
        return self.write(lambda txn: self.add_version_in(txn, kind, name, new))

    def add_versions_bulk_in(
        self, txn: WriteTxn, kind: Kind, items: Sequence[tuple[str, NewVersion]]
    ) -> list[VersionRecord]:
        """Create many versions in one transaction.

        Object and version records are each sealed in one native batch call, and the random
        part of every version id comes from one draw: the per-secret cost is Python glue.
        """
        now = self._ctx.now()
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        randomness = _bindings.random_bytes(10 * len(items))
        seen: dict[bytes, tuple[bytes, str]] = {}  # okey -> (last vid, display name) in this batch
        new_objects: list[tuple[bytes, bytes]] = []
        keys: list[bytes] = []
        recs: list[VersionRecord] = []
        # One batched read per database (one round trip on PostgreSQL, not two per secret).
        okeys = [self.objkey(kind, name) for name, _ in items]
        deleted = txn.get_many(DELETED, okeys)
        objects = txn.get_many(OBJECTS, okeys)
        for i, (name, new) in enumerate(items):
            okey = okeys[i]
            prior = seen.get(okey)
            if prior is None:
                if okey in deleted:
                    raise self._deleted_conflict(kind, name)
                obj_blob = objects.get(okey)
                if obj_blob is None:
                    new_objects.append((okey, ObjectRecord(name=name, created_on=now).to_bytes()))
                    display, floor_ms = name, now_ms  # a new object has no versions yet
                else:
                    existing = self._open_object(okey, obj_blob)
                    if existing.extra.get("managed"):
                        raise ConflictError(f"{kind.title} {name} is managed by a certificate.", inner_code="Conflict")
                    display = existing.name
                    last = txn.last_with_prefix(VERSIONS, okey)
                    floor_ms = max(now_ms, int.from_bytes(last[0][17:23], "big") + 1) if last else now_ms
            else:
                display = prior[1]
                floor_ms = max(now_ms, int.from_bytes(prior[0][:6], "big") + 1)
            vid = floor_ms.to_bytes(6, "big") + randomness[10 * i : 10 * i + 10]
            seen[okey] = (vid, display)
            keys.append(okey + vid)
            recs.append(new.record(display, vid, now))
        envelope = self._ctx.envelope
        if new_objects:
            okeys = [k for k, _ in new_objects]
            sealed = envelope.seal_many(RecordType.OBJECT, okeys, [p for _, p in new_objects])
            for okey, blob in zip(okeys, sealed):
                txn.put(OBJECTS, okey, blob)
        blobs = envelope.seal_many(RecordType.VERSION, keys, [r.to_bytes() for r in recs])
        for key, blob in zip(keys, blobs):
            txn.put(VERSIONS, key, blob)
        return recs

    def update_version_in(
        self, txn: WriteTxn, kind: Kind, name: str, version: str | None, changes: dict[str, Any]
    ) -> VersionRecord:
        okey = self.objkey(kind, name)
        found = self._find(txn, VERSIONS, okey, version)
        if found is None:
            raise self.not_found(kind, name, version)
        rec = self._open_version(*found).evolve(updated_on=self._ctx.now(), **changes)
        txn.put(VERSIONS, found[0], self._seal_version(found[0], rec))
        return rec

    def update_version(self, kind: Kind, name: str, version: str | None, changes: dict[str, Any]) -> VersionRecord:
        return self.write(lambda txn: self.update_version_in(txn, kind, name, version, changes))

    def update_object_in(self, txn: WriteTxn, kind: Kind, name: str, extra: dict[str, Any]) -> ObjectRecord:
        okey = self.objkey(kind, name)
        blob = txn.get(OBJECTS, okey)
        if blob is None:
            raise self.not_found(kind, name)
        obj = self._open_object(okey, blob)
        merged = {**obj.extra, **extra}
        obj = ObjectRecord(
            name=obj.name, created_on=obj.created_on, extra={k: v for k, v in merged.items() if v is not None}
        )
        txn.put(OBJECTS, okey, self._ctx.envelope.seal(RecordType.OBJECT, okey, obj.to_bytes()))
        return obj

    def get_object_in(self, txn: ReadTxn, kind: Kind, name: str) -> ObjectRecord:
        okey = self.objkey(kind, name)
        blob = txn.get(OBJECTS, okey)
        if blob is None:
            raise self.not_found(kind, name)
        return self._open_object(okey, blob)

    def new_version_id_in(self, txn: ReadTxn, kinds: Sequence[Kind], name: str) -> str:
        """A fresh version id above the latest version of *name* in every one of *kinds*.

        A certificate version and its backing key and secret share one id, so it must be
        new for all three objects (pass it as ``NewVersion(version=...)``).
        """
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        for kind in kinds:
            last = txn.last_with_prefix(VERSIONS, self.objkey(kind, name))
            if last is not None:
                now_ms = max(now_ms, int.from_bytes(last[0][17:23], "big") + 1)
        return (now_ms.to_bytes(6, "big") + _bindings.random_bytes(10)).hex()

    def ensure_object_in(self, txn: WriteTxn, kind: Kind, name: str) -> ObjectRecord:
        """The object record of *name*, created without versions if absent.

        A certificate whose first version waits for a CA (pending CSR) has an object record
        (policy, pending operation) but no version yet.
        """
        okey = self.objkey(kind, name)
        if txn.get(DELETED, okey) is not None:
            raise self._deleted_conflict(kind, name)
        blob = txn.get(OBJECTS, okey)
        if blob is not None:
            return self._open_object(okey, blob)
        obj = ObjectRecord(name=name, created_on=self._ctx.now())
        txn.put(OBJECTS, okey, self._ctx.envelope.seal(RecordType.OBJECT, okey, obj.to_bytes()))
        return obj

    def drop_empty_object_in(self, txn: WriteTxn, kind: Kind, name: str) -> bool:
        """Remove an object record that has no version (an abandoned pending certificate).

        Returns False, changing nothing, when the object has versions or does not exist.
        """
        okey = self.objkey(kind, name)
        if txn.get(OBJECTS, okey) is None or txn.last_with_prefix(VERSIONS, okey) is not None:
            return False
        return txn.delete(OBJECTS, okey)

    # -- soft delete / recover / purge -------------------------------------------------

    def delete_in(self, txn: WriteTxn, kind: Kind, name: str) -> tuple[DeletedRecord, VersionRecord]:
        """Move the object and all its versions to the deleted state."""
        okey = self.objkey(kind, name)
        obj_blob = txn.get(OBJECTS, okey)
        if obj_blob is None:
            raise self.not_found(kind, name)
        obj = self._open_object(okey, obj_blob)
        now = self._ctx.now()
        purge_at = now + self._ctx.settings.retention_days * _DAY
        deleted = DeletedRecord(obj=obj, deleted_on=now, scheduled_purge=purge_at)
        rows = list(txn.scan(VERSIONS, okey))
        for key, blob in rows:
            txn.put(DVERSIONS, key, blob)
            txn.delete(VERSIONS, key)
        txn.delete(OBJECTS, okey)
        txn.put(DELETED, okey, self._ctx.envelope.seal(RecordType.DELETED, okey, deleted.to_bytes()))
        txn.put(PURGEQ, _TS.pack(purge_at) + okey, b"")
        latest = self._open_version(*rows[-1]) if rows else None
        if latest is None:
            raise self.not_found(kind, name)
        return deleted, latest

    def delete(self, kind: Kind, name: str) -> tuple[DeletedRecord, VersionRecord]:
        return self.write(lambda txn: self.delete_in(txn, kind, name))

    def recover_in(self, txn: WriteTxn, kind: Kind, name: str) -> VersionRecord:
        okey = self.objkey(kind, name)
        blob = txn.get(DELETED, okey)
        if blob is None:
            raise self.not_found(kind, name, deleted=True)
        deleted = self._open_deleted(okey, blob)
        if txn.get(OBJECTS, okey) is not None:
            raise ConflictError(f"{kind.title} {name} already exists")
        rows = list(txn.scan(DVERSIONS, okey))
        for key, vblob in rows:
            txn.put(VERSIONS, key, vblob)
            txn.delete(DVERSIONS, key)
        txn.delete(DELETED, okey)
        txn.delete(PURGEQ, _TS.pack(deleted.scheduled_purge) + okey)
        txn.put(OBJECTS, okey, self._ctx.envelope.seal(RecordType.OBJECT, okey, deleted.obj.to_bytes()))
        return self._open_version(*rows[-1])

    def recover(self, kind: Kind, name: str) -> VersionRecord:
        return self.write(lambda txn: self.recover_in(txn, kind, name))

    def purge_in(
        self,
        txn: WriteTxn,
        kind: Kind,
        name: str,
        *,
        sweeping: bool = False,
        erased: list[tuple[Kind, VersionRecord]] | None = None,
    ) -> None:
        """Erase a soft-deleted object: its sealed records and wrapped DEKs are deleted."""
        okey = self.objkey(kind, name)
        blob = txn.get(DELETED, okey)
        if blob is None:
            raise self.not_found(kind, name, deleted=True)
        deleted = self._open_deleted(okey, blob)
        if self._ctx.settings.purge_protection and not sweeping and self._ctx.now() < deleted.scheduled_purge:
            raise ForbiddenError(
                f"Operation 'purge' is not allowed: purge protection is enabled on this vault; the "
                f"{kind.label} is purged automatically on its scheduled purge date.",
                inner_code="PurgeProtected",
            )
        self._erase(txn, okey, deleted.scheduled_purge, erased)

    def _erase(
        self, txn: WriteTxn, okey: bytes, scheduled: int, erased: list[tuple[Kind, VersionRecord]] | None = None
    ) -> None:
        if erased is not None and self.on_erased is not None:
            kind = next(k for k in Kind if k.byte == okey[0])
            erased.extend((kind, self._open_version(k, v)) for k, v in txn.scan(DVERSIONS, okey))
        txn.delete_prefix(DVERSIONS, okey)
        txn.delete(DELETED, okey)
        txn.delete(PURGEQ, _TS.pack(scheduled) + okey)

    def purge(self, kind: Kind, name: str) -> None:
        erased: list[tuple[Kind, VersionRecord]] = []
        self.write(lambda txn: self.purge_in(txn, kind, name, erased=erased))
        self._notify_erased(erased)

    def _notify_erased(self, erased: list[tuple[Kind, VersionRecord]]) -> None:
        """After commit: let the owner of out-of-store resources (HSM keys) release them."""
        if self.on_erased is None:
            return
        for kind in Kind:
            records = [rec for k, rec in erased if k is kind]
            if records:
                self.on_erased(kind, records)

    def sweep(self) -> int:
        """Purge every soft-deleted object whose scheduled purge date has passed."""
        now = self._ctx.now()
        with self._ctx.read() as rtxn:
            due = [k for k, _ in _take_until(rtxn.scan(PURGEQ), _TS.pack(now + 1))]
        if not due:
            return 0

        erased: list[tuple[Kind, VersionRecord]] = []

        def run(txn: WriteTxn) -> int:
            erased.clear()
            count = 0
            for qkey in due:
                okey = qkey[8:]
                if txn.get(DELETED, okey) is not None:
                    scheduled = _TS.unpack(qkey[:8])[0]
                    self._erase(txn, okey, scheduled, erased)
                    count += 1
                else:
                    txn.delete(PURGEQ, qkey)
            return count

        count = self.write(run)
        self._notify_erased(erased)
        return count

    # -- whole-object export / import (backup) ----------------------------------------

    def export_in(self, txn: ReadTxn, kind: Kind, name: str) -> tuple[ObjectRecord, list[VersionRecord]]:
        okey = self.objkey(kind, name)
        blob = txn.get(OBJECTS, okey)
        if blob is None:
            raise self.not_found(kind, name)
        obj = self._open_object(okey, blob)
        versions = [self._open_version(k, v) for k, v in txn.scan(VERSIONS, okey)]
        return obj, versions

    def import_in(
        self, txn: WriteTxn, kind: Kind, obj: ObjectRecord, versions: Iterable[VersionRecord]
    ) -> VersionRecord:
        """Recreate an object with its original versions (restore). Conflict if it exists."""
        okey = self.objkey(kind, obj.name)
        if txn.get(DELETED, okey) is not None:
            raise self._deleted_conflict(kind, obj.name)
        if txn.get(OBJECTS, okey) is not None:
            raise ConflictError(
                f"{kind.title} {obj.name} already exists in this vault; delete and purge it before restoring",
                inner_code="Conflict",
            )
        txn.put(OBJECTS, okey, self._ctx.envelope.seal(RecordType.OBJECT, okey, obj.to_bytes()))
        last = None
        for rec in versions:
            key = okey + bytes.fromhex(rec.version)
            txn.put(VERSIONS, key, self._seal_version(key, rec))
            last = rec
        if last is None:
            raise ConflictError("a backup without versions cannot be restored")
        return last


def _take_until(rows: Iterable[tuple[bytes, bytes]], bound: bytes) -> Iterable[tuple[bytes, bytes]]:
    for key, value in rows:
        if key >= bound:
            return
        yield key, value


def _version_key(okey: bytes, version: str) -> bytes | None:
    """The store key of a version id (32 hex digits), or None if it cannot be one."""
    try:
        vid = bytes.fromhex(version)
    except ValueError:
        return None
    return okey + vid if len(vid) == 16 else None
