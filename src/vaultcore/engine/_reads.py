"""The read half of the one lifecycle engine (``engine._lifecycle`` adds the writes).

Split out of :mod:`vaultcore.engine._lifecycle` by responsibility: everything here reads
(store keys of names, opening sealed records, Azure's usability rules, point reads and
ordered listings); the store layout is described in ``engine._lifecycle``'s docstring.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple

from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._models import FusedSecret
from vaultcore.engine._records import DeletedRecord, Kind, ObjectRecord, VersionRecord
from vaultcore.engine._validation import check_name
from vaultcore.exceptions import ConflictError, ForbiddenError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import FALLBACK, ReadTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = [
    "DELETED",
    "DVERSIONS",
    "OBJECTS",
    "OBJKEY_MEMO",
    "PURGEQ",
    "VERSIONS",
    "CachedVersion",
    "LifecycleReads",
    "version_key",
]

#: Names whose store key the engine remembers (LRU); ~0.2 KB each.
OBJKEY_MEMO = 32_768

# What the bound native reader of versions does (LifecycleReads._bind): reads the store and
# computes the prefix from the name; reads the store given the prefix; opens a record
# another store read.
_HASHES, _READS, _OPENS = 2, 1, 0

OBJECTS, VERSIONS, DELETED, DVERSIONS, PURGEQ = b"objects", b"versions", b"deleted", b"dversions", b"purgeq"


class LifecycleReads:
    """The read half of the lifecycle engine: store keys, opening records, Azure's usability
    rules, point reads and ordered listings (one page inside a scan window)."""

    def __init__(self, ctx: VaultContext) -> None:
        self._ctx = ctx
        self._objkeys: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self.objkey_capacity = OBJKEY_MEMO
        # LMDB reads and opens a record in one C call (read_open), or else in one read
        # transaction (find_open); other stores: find() + open().
        self._read_open = getattr(ctx.store, "read_open", None)
        self._find_open = getattr(ctx.store, "find_open", None)
        self._opener = ctx.envelope.opener(RecordType.VERSION)
        # The store's bound native reader of versions and the key material it was bound to.
        self._bound: tuple[object, Any, int, Any, int] | None = None
        #: Called after a purge commits with the erased versions (HSM keys free token objects).
        self.on_erased: Callable[[Kind, list[VersionRecord]], None] | None = None

    # -- keys of the store -------------------------------------------------------------

    def objkey(self, kind: Kind, name: str) -> bytes:
        """The store prefix of an object: kind byte and keyed hash of the lowercased name.

        Memoised in a bounded LRU (``objkey_capacity`` names; the least recently used one
        makes room): the keyed hash of a name never changes for a vault.
        """
        memo = self._objkeys
        cache_key = (kind.byte, name)
        hit = memo.get(cache_key)
        if hit is not None:
            try:  # noqa: SIM105 (contextlib.suppress costs ~0.4 us on the hot path of every read)
                memo.move_to_end(cache_key)
            except KeyError:  # another thread evicted it meanwhile
                pass
            return hit
        check_name(name, kind)
        h = self._ctx.name_hasher()
        h.update(bytes([kind.byte]) + name.lower().encode())
        okey = bytes([kind.byte]) + h.digest()[:16]
        memo[cache_key] = okey
        while len(memo) > self.objkey_capacity:
            try:
                memo.popitem(last=False)
            except KeyError:  # emptied by another thread
                break
        return okey

    def objkeys(self, kind: Kind, names: list[str]) -> list[bytes]:
        """:meth:`objkey` of each of *names* (bulk writes), checked and hashed in one native
        call (the memo is neither read nor filled: the C hash costs less than its lookup,
        and a bulk load would only push out the names being read)."""
        found = _bindings.objkeys_many(self._ctx.keyring.index_key, kind.byte, names)
        if isinstance(found, int):  # the first invalid name: the check raises its error
            check_name(names[found], kind)
            raise InvalidParameterError(f"invalid {kind.label} name")  # (C and the check disagree)
        return found

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
        db = DVERSIONS if deleted else VERSIONS
        finder = self._find_open
        if finder is not None:  # opened inside the read transaction
            self._ctx.check_open()
            key = None if version is None or version == "" else version_key(okey, version)
            if key is None and version:
                plain = None
            else:
                plain = FALLBACK
                fused = self._read_open
                if fused is not None:
                    native = self._ctx.envelope.native_key(RecordType.VERSION)
                    if native is not None:
                        plain = fused(db, okey, key, *native)
                if plain is FALLBACK:
                    plain = finder(db, okey, key, self._opener)
            if plain is None:
                raise self.not_found(kind, name, version, deleted=deleted)
            rec = VersionRecord.from_bytes(plain)
        else:
            found = self._find_one(db, okey, version)
            if found is None:
                raise self.not_found(kind, name, version, deleted=deleted)
            rec = self._open_version(*found)
        if rec.name.lower() != name.lower():
            raise self.not_found(kind, name, version, deleted=deleted)
        return rec

    def read_latest(self, kind: Kind, name: str, event: int, make: Any, id_prefix: str) -> tuple[Any, int] | None:
        """The success path of reading the latest version of *name* in one native call:
        (a :class:`~vaultcore.engine._models.FusedSecret` whose properties are ``make(record)``
        on first use and whose id starts with *id_prefix*, audit events waiting), its read
        event queued through the template at address *event* (0: none). On LMDB the call
        reads the store too; other stores read the record first (PostgreSQL: one round trip)
        and the call opens and checks it. None when the record is not for this path (absent,
        disabled, under another term, an older format, damaged, a resize or close under
        way): :meth:`get` then decides and raises.

        On LMDB the native reader also computes the object's store prefix from *name* (the
        keyed states of the index key in its locked page, the name checked as
        :func:`~vaultcore.engine._validation.check_name` does; an invalid name answers None
        and :meth:`get` raises), so the memo of :meth:`objkey` is neither consulted nor
        filled: the C hash costs less than the memo's lookup, and with more names than the
        memo holds most reads would miss it. Otherwise a name found in the memo is not moved
        to its recent end here (that costs as much as the lookup).
        """
        bound = self._bound
        if bound is None or bound[0] is not self._ctx._keyring:
            bound = self._bind()
            if bound is None:
                return None
        if bound[4] == _HASHES:  # the store reads in the same call, which hashes the name
            return bound[1](bound[2], kind.byte, name, event, FusedSecret, make, id_prefix)  # type: ignore[no-any-return]
        okey = self._objkeys.get((kind.byte, name))
        if okey is None:
            okey = self.objkey(kind, name)
        if bound[4] == _READS:  # the store reads in the same call
            return bound[1](bound[2], okey, name, event, FusedSecret, make, id_prefix)  # type: ignore[no-any-return]
        self._ctx.check_open()
        found = self._ctx.store.find(VERSIONS, okey)  # (another store: one round trip)
        if found is None:
            return None
        return bound[1](bound[2], found[0], found[1], name, event, FusedSecret, make, id_prefix)  # type: ignore[no-any-return]

    def latest_call(self) -> tuple[object, Any, int, Any] | None:
        """:meth:`read_latest`'s one native call on LMDB, for a caller that makes it without
        that method's frame: (the keyring it is bound to, entry point, its first argument,
        the reader), which the caller keeps whole (it holds the reader alive) and uses while
        that keyring is the vault's (``ctx._keyring``, as :meth:`read_latest` checks):
        ``entry(first, kind.byte, name, event, FusedSecret, make, id_prefix)`` is then what
        :meth:`read_latest` returns. None on other stores (or with no native key): call
        :meth:`read_latest`."""
        bound = self._bound
        if bound is None or bound[0] is not self._ctx._keyring:
            bound = self._bind()
        if bound is None or bound[4] != _HASHES:
            return None
        return bound[:4]

    def _bind(self) -> tuple[object, Any, int, Any, int] | None:
        """The native reader of versions bound to the current keyring, as (keyring, entry
        point, its first argument, the reader, what it does: ``_HASHES``, ``_READS`` or
        ``_OPENS``): the store's own (LMDB), which also hashes names with the index key, or,
        for other stores, an opener of the records they return."""
        ring = self._ctx.keyring
        native = self._ctx.envelope.native_key(RecordType.VERSION)
        if native is None:
            return None
        make = getattr(self._ctx.store, "reader", None)
        if make is not None:
            reader = make(VERSIONS, *native, index_key=ring.index_key)
            mode = _HASHES if reader.names else _READS
        else:
            reader, mode = _bindings.RecordOpener(*native), _OPENS
        self._ctx.envelope.readers.append(reader)  # its key copies are wiped with the vault
        entry, handle = reader.entry
        self._bound = (ring, entry, handle, reader, mode)
        return self._bound

    def get_cached(
        self,
        kind: Kind,
        name: str,
        version: str | None,
        cache: MutableMapping[tuple[int, str, str | None], CachedVersion],
    ) -> VersionRecord:
        """:meth:`get` that skips decrypting and parsing a record whose stored bytes are unchanged.

        The stored record is still read on every call, so an update, delete, re-seal or
        tampered byte made by any process is seen at once; only bytes identical to ones this
        process already authenticated reuse the record opened then, and the very same
        :class:`VersionRecord` object is returned for them. With a store that offers watches
        (LMDB) that check is one C call (``unchanged``: the store reads the record and
        compares its key and bytes); otherwise the record is found and compared here.
        *cache* maps (kind, name, version) to what was found; it is cleared when it reaches
        256 entries. For hot read paths whose records are not secret values (key
        operations: their material is cached anyway).
        """
        self._ctx.check_open()
        request = (kind.byte, name, version)
        hit = cache.get(request)
        if hit is not None and hit.watch is not None and self._ctx.store.unchanged(VERSIONS, hit.watch):  # type: ignore[attr-defined]
            return hit.rec
        okey = self.objkey(kind, name)
        key = None if version is None or version == "" else version_key(okey, version)
        found = None if key is None and version else self._ctx.store.find(VERSIONS, okey, key)
        if found is None:
            raise self.not_found(kind, name, version)
        found_key, blob = found
        if hit is not None and hit.key == found_key and hit.blob == blob:
            rec = hit.rec
        else:
            rec = self._open_version(found_key, blob)
            if rec.name.lower() != name.lower():
                raise self.not_found(kind, name, version)
        watcher = getattr(self._ctx.store, "watch", None)
        watch = None if watcher is None else watcher(okey, key, found_key, blob)
        if len(cache) >= 256:
            cache.clear()
        cache[request] = CachedVersion(found_key, blob, rec, watch)
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
        key = version_key(okey, version)
        return None if key is None else self._ctx.store.find(db, okey, key)

    @staticmethod
    def _find(txn: ReadTxn, db: bytes, okey: bytes, version: str | None) -> tuple[bytes, bytes] | None:
        if version is None or version == "":
            return txn.last_with_prefix(db, okey)
        key = version_key(okey, version)
        if key is None:
            return None
        blob = txn.get(db, key)
        return None if blob is None else (key, blob)

    def check_usable(self, kind: Kind, rec: VersionRecord, *, window: bool = True) -> None:
        """Azure's rules: a disabled version cannot be used; outside its ``nbf``/``exp`` window
        it cannot be used either when *window* is true (keys: encrypt, wrap, sign, export).

        Secrets pass ``window=False``: Azure documents that "a secret's get operation will work
        for not-yet-valid and expired secrets"; only a disabled secret is refused.
        """
        if not rec.enabled:
            raise ForbiddenError(
                f"Operation is not allowed on a disabled {kind.label}.", inner_code=f"{kind.title}Disabled"
            )
        if not window:
            return
        now = self._ctx.now()
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
        """The latest version of every object of *kind* (live or soft-deleted), in storage
        order; inside a :func:`~vaultcore.engine._paging.scan_window` only one page of them."""
        from vaultcore.engine._paging import take_window  # lists only: a get never loads it

        db = DVERSIONS if deleted else VERSIONS
        prefix = bytes([kind.byte])
        window = take_window()
        start = prefix if window is None else window.start(prefix)
        out: list[VersionRecord] = []
        if start is None:
            return out
        with self._ctx.read() as txn:
            last: tuple[bytes, bytes] | None = None
            for key, blob in txn.scan_from(db, start):
                if not key.startswith(prefix):
                    break
                if last is not None and key[:17] != last[0][:17]:
                    out.append(self._open_version(*last))
                    if window is not None and len(out) == window.limit:
                        window.next, last = last[0][:17], None
                        break
                last = (key, blob)
            if last is not None:
                out.append(self._open_version(*last))
        return out

    def objects_without_versions(self, kind: Kind) -> list[ObjectRecord]:
        """Live objects of *kind* with no version yet (a certificate whose first version is pending)."""
        out: list[ObjectRecord] = []
        with self._ctx.read() as txn:
            for key, blob in txn.scan(OBJECTS, bytes([kind.byte])):
                if self._find(txn, VERSIONS, key, None) is None:
                    out.append(self._open_object(key, blob))
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
        """Soft-deleted objects of *kind* in storage order (one page inside a scan window)."""
        from vaultcore.engine._paging import take_window

        prefix = bytes([kind.byte])
        window = take_window()
        start = prefix if window is None else window.start(prefix)
        out: list[tuple[DeletedRecord, VersionRecord]] = []
        if start is None:
            return out
        shown = b""
        with self._ctx.read() as txn:
            for okey, blob in txn.scan_from(DELETED, start):
                if not okey.startswith(prefix):
                    break
                if window is not None and len(out) == window.limit:
                    window.next = shown
                    break
                last = txn.last_with_prefix(DVERSIONS, okey)
                if last is not None:
                    out.append((self._open_deleted(okey, blob), self._open_version(*last)))
                    shown = okey
        return out


def version_key(okey: bytes, version: str) -> bytes | None:
    """The store key of a version id (32 hex digits), or None if it cannot be one."""
    try:
        vid = bytes.fromhex(version)
    except ValueError:
        return None
    return okey + vid if len(vid) == 16 else None


class CachedVersion(NamedTuple):
    """What :meth:`LifecycleReads.get_cached` remembers of a version it read: the record's
    store key and sealed bytes as found, the record opened from them, and the store's watch
    on them (None: the store has no watches, or the record is too large for one)."""

    key: bytes
    blob: bytes
    rec: VersionRecord
    watch: Any
