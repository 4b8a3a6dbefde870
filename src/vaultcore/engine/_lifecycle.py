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
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from vaultcore._frozen import Frozen
from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._reads import (
    DELETED,
    DVERSIONS,
    OBJECTS,
    OBJKEY_MEMO,
    PURGEQ,
    VERSIONS,
    LifecycleReads,
)
from vaultcore.engine._records import DeletedRecord, Kind, ObjectRecord, VersionRecord
from vaultcore.exceptions import ConflictError, ForbiddenError
from vaultcore.storage._interface import Prefetch, ReadTxn, WriteTxn

__all__ = [
    "DELETED",
    "DVERSIONS",
    "OBJECTS",
    "OBJKEY_MEMO",
    "PURGEQ",
    "VERSIONS",
    "BulkVersions",
    "Lifecycle",
    "NewVersion",
]

T = TypeVar("T")
_TS = struct.Struct(">Q")
#: A store that may be told to insert without looking every name up (PostgreSQL: the
#: lookup of existing objects scans the sub-database) has about this many names of a bulk
#: write looked up first; none found, the rest are guessed new, and a wrong guess makes the
#: store run the write again with every name looked up.
_SAMPLE = 32
_CHUNK = 512  # records sealed and handed to the store at a time by a bulk write
_DAY = 86400


class NewVersion(Frozen):
    """What a client supplies to create one version."""

    _fields = (
        "payload",
        "enabled",
        "not_before",
        "expires_on",
        "tags",
        "content_type",
        "managed",
        "extra",
        "version",
    )
    _unprinted = frozenset({"payload"})  # the secret value or key material

    payload: bytes
    enabled: bool = True
    not_before: int | None = None
    expires_on: int | None = None
    tags: dict[str, str] | None = None
    content_type: str | None = None
    managed: bool = False
    extra: dict[str, Any] | None = None
    version: str | None = None  # only for restore: keep the original id

    def __init__(
        self,
        payload: bytes,
        enabled: bool = True,
        not_before: int | None = None,
        expires_on: int | None = None,
        tags: dict[str, str] | None = None,
        content_type: str | None = None,
        managed: bool = False,
        extra: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> None:
        self.__dict__.update(
            payload=payload,
            enabled=enabled,
            not_before=not_before,
            expires_on=expires_on,
            tags=tags,
            content_type=content_type,
            managed=managed,
            extra=extra,
            version=version,
        )

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


class BulkVersions:
    """What :meth:`Lifecycle.add_versions_bulk_in` created: the display name and version id of
    each new version, in input order, and the attributes they share (*record*: its name,
    version and payload are placeholders)."""

    __slots__ = ("names", "record", "versions")

    def __init__(self, names: list[str], versions: list[str], record: VersionRecord) -> None:
        self.names = names
        self.versions = versions
        self.record = record


class Lifecycle(LifecycleReads):
    """Versioned objects with Azure Key Vault's soft-delete semantics (reads in ``LifecycleReads``)."""

    # -- writes ------------------------------------------------------------------------

    def write(self, fn: Callable[[WriteTxn], T], *, durable: bool = True) -> T:
        """Run *fn* in one write transaction (compose several engine calls atomically)."""
        return self._ctx.write(fn, durable=durable)

    def reserve(self, count: int, payload_bytes: int) -> None:
        """Before a bulk write of *count* versions: let a store with a fixed-size map grow it
        first (LMDB), so that the write does not fill it and run twice."""
        reserve = getattr(self._ctx.store, "reserve", None)
        if reserve is not None and count > 1000:
            reserve(payload_bytes + 600 * count)  # two sealed records, keys, outbox, audit

    def check_addable(self, kind: Kind, name: str, *, managed: bool = False) -> None:
        """Raise now what :meth:`add_version_in` would raise for *name* (soft-deleted, managed),
        for callers that must not make anything (an HSM key) for a request that will fail."""
        okey = self.objkey(kind, name)
        with self._ctx.read() as txn:
            if txn.get(DELETED, okey) is not None:
                raise self._deleted_conflict(kind, name)
            blob = txn.get(OBJECTS, okey)
            held = None if blob is None else bool(self._open_object(okey, blob).extra.get("managed"))
        if held is not None and held != managed:
            raise ConflictError(
                f"{kind.title} {name} is managed by a certificate and can only be changed through it."
                if held
                else f"A {kind.label} named {name} already exists and is not managed by a certificate."
            )

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
        self._new_version_event(txn, kind, rec)
        return rec

    def _new_version_event(self, txn: WriteTxn, kind: Kind, rec: VersionRecord) -> None:
        """Azure's ``<Kind>NewVersionCreated``, in the outbox of the creating transaction."""
        self._ctx.emit_in(
            txn, f"{kind.title}NewVersionCreated", kind.title, rec.name, rec.version, rec.not_before, rec.expires_on
        )

    def add_version(self, kind: Kind, name: str, new: NewVersion, *, durable: bool = True) -> VersionRecord:
        okey = self.objkey(kind, name)
        # What add_version_in reads, announced (PostgreSQL: fetched with BEGIN and the lock).
        if new.version is None:
            reads: Prefetch = ([(DELETED, okey), (OBJECTS, okey)], [(VERSIONS, okey)])
        else:
            reads = ([(DELETED, okey), (OBJECTS, okey), (VERSIONS, okey + bytes.fromhex(new.version))], [])
        return self._ctx.write(lambda txn: self.add_version_in(txn, kind, name, new), durable=durable, prefetch=reads)

    def add_versions_bulk_in(
        self, txn: WriteTxn, kind: Kind, names: Sequence[str], payloads: Sequence[bytes], new: NewVersion
    ) -> BulkVersions:
        """Create a version of each of *names* (payload from *payloads*, every other attribute
        from *new*) in one transaction: what :meth:`add_version_in` does per name, in one pass.

        Batched reads of the soft-deleted objects (skipped when one probe finds none of the
        kind) and the existing ones (where the store allows it, ``may_guess``, only for a
        sample of ~32 names: none found, the others are guessed new and inserted unchecked);
        one random draw for every version id; the records encoded with their shared
        attributes encoded once; object and version records each sealed in one native batch
        call; one outbox segment. Only a name that exists already (or twice in the batch, in
        another case) takes the per-name path.
        """
        now = self._ctx.now()
        now_ms = int(self._ctx.clock().timestamp() * 1000)
        count = len(names)
        randomness = _bindings.random_bytes(10 * count)
        okeys = self.objkeys(kind, list(names))
        distinct = len(set(okeys)) == count
        # Most vaults hold few soft-deleted objects: one probe for any of this kind spares a
        # large batch the lookup of every name among them.
        may_guess = distinct and getattr(txn, "may_guess", False)
        sample = okeys[:: max(1, count // _SAMPLE)]
        both = getattr(txn, "probe_last_and_many", None) if may_guess and count > _SAMPLE else None
        sampled: dict[bytes, bytes] | None = None
        if both is not None:  # the probe and the sample in one round trip (PostgreSQL)
            any_deleted, sampled = both(DELETED, okeys[0][:1], OBJECTS, sample)
            none_deleted = not any_deleted
        else:
            none_deleted = count > _SAMPLE and txn.last_with_prefix(DELETED, okeys[0][:1]) is None
        deleted = {} if none_deleted else txn.get_many(DELETED, okeys)
        guess = may_guess and not deleted
        if guess and (txn.get_many(OBJECTS, sample) if sampled is None else sampled):
            guess = False  # a sampled name exists: look them all up
        objects = {} if guess else txn.get_many(OBJECTS, okeys)
        if not deleted and not objects and distinct:  # all new (the usual bulk load)
            stamp = now_ms.to_bytes(6, "big")
            vids = [stamp + randomness[i : i + 10] for i in range(0, 10 * count, 10)]
            displays = list(names)
            new_okeys, new_names = okeys, displays
        else:
            vids, displays, new_okeys, new_names = self._bulk_ids(
                txn, kind, names, okeys, deleted, objects, now_ms, randomness
            )
        template = new.record("", bytes(16), now)
        envelope = self._ctx.envelope
        # Every key below is absent (or guessed so: insert_unchecked): objects were looked up
        # above, and each version id is above its object's newest. A store that can insert
        # without an upsert (PostgreSQL's COPY) does.
        insert = getattr(txn, "insert_unchecked" if guess else "insert_many", None) or partial(_put_each, txn)
        # Sealed and handed over in chunks, in key order: a store that streams (PostgreSQL's
        # COPY) starts inserting the first rows while the next are sealed, and a B-tree takes
        # keys in order with fewer page visits than in the (random) order of the HMAC'd names.
        keys = [okey + vid for okey, vid in zip(okeys, vids, strict=True)]
        order = _sorted_order(keys)
        if new_okeys:
            oorder = order if new_okeys is okeys else _sorted_order(new_okeys)
            objs = ObjectRecord.new_many([new_names[i] for i in oorder], now)
            okeys_sorted = [new_okeys[i] for i in oorder]
            for i in range(0, len(okeys_sorted), _CHUNK):
                insert(
                    OBJECTS, envelope.seal_keyed(RecordType.OBJECT, okeys_sorted[i : i + _CHUNK], objs[i : i + _CHUNK])
                )
        plain = template.to_bytes_many(
            [displays[i] for i in order], [vids[i] for i in order], [payloads[i] for i in order]
        )
        keys = [keys[i] for i in order]
        for i in range(0, count, _CHUNK):
            insert(VERSIONS, envelope.seal_keyed(RecordType.VERSION, keys[i : i + _CHUNK], plain[i : i + _CHUNK]))
        versions = [vid.hex() for vid in vids]
        self._ctx.emit_same_in(
            txn, f"{kind.title}NewVersionCreated", kind.title, displays, versions, new.not_before, new.expires_on
        )
        return BulkVersions(displays, versions, template)

    def _bulk_ids(
        self,
        txn: WriteTxn,
        kind: Kind,
        names: Sequence[str],
        okeys: list[bytes],
        deleted: dict[bytes, bytes],
        objects: dict[bytes, bytes],
        now_ms: int,
        randomness: bytes,
    ) -> tuple[list[bytes], list[str], list[bytes], list[str]]:
        """Version ids and display names of a batch with existing objects or repeated names (in
        order: the first name that cannot be written raises), and the objects to create."""
        seen: dict[bytes, tuple[bytes, str]] = {}  # okey -> (last vid, display name) in this batch
        vids: list[bytes] = []
        displays: list[str] = []
        new_okeys: list[bytes] = []
        new_names: list[str] = []
        for i, (name, okey) in enumerate(zip(names, okeys, strict=True)):
            prior = seen.get(okey)
            if prior is None:
                if okey in deleted:
                    raise self._deleted_conflict(kind, name)
                obj_blob = objects.get(okey)
                if obj_blob is None:
                    new_okeys.append(okey)
                    new_names.append(name)
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
            vids.append(vid)
            displays.append(display)
        return vids, displays, new_okeys, new_names

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
        self._ctx.envelope.forget_keys()  # no DEK of an erased record stays cached
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
        if count:
            self._ctx.envelope.forget_keys()
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


def _sorted_order(keys: list[bytes]) -> list[int]:
    """The indexes of *keys* in key order."""
    return sorted(range(len(keys)), key=keys.__getitem__)


def _put_each(txn: WriteTxn, db: bytes, rows: Iterable[tuple[bytes, bytes | memoryview]]) -> None:
    for key, value in rows:
        txn.put(db, key, value)


def _take_until(rows: Iterable[tuple[bytes, bytes]], bound: bytes) -> Iterable[tuple[bytes, bytes]]:
    for key, value in rows:
        if key >= bound:
            return
        yield key, value
