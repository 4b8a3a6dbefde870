"""The state one open vault shares with its clients: store, keyring, envelope, clock, settings.

The keyring is cached in memory and re-read when another process changed it: every write
transaction compares the stored generation with the cached one (one point read), and a
record under an unknown term makes readers reload once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from vaultcore._frozen import Frozen
from vaultcore.crypto._credentials import RootKey
from vaultcore.crypto._envelope import Envelope
from vaultcore.crypto._keyring import Keyring
from vaultcore.exceptions import (
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    UnauthorizedError,
    VaultLockedError,
)
from vaultcore.storage._interface import Prefetch, ReadTxn, Store, WriteTxn

__all__ = ["Clock", "VaultContext", "VaultSettings", "keyring_aad", "utc_now"]

T = TypeVar("T")
Clock = Callable[[], datetime]
_GEN = struct.Struct(">Q")

META = b"meta"
HEADER_KEY = b"header"
KEYRING_KEY = b"keyring"
GENERATION_KEY = b"generation"
FORMAT_NAME = "vaultcore"
FORMAT_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def keyring_aad(header: bytes) -> bytes:
    """The keyring blob is bound to the exact header bytes (settings, KDF, ids)."""
    return b"vaultcore keyring/1" + hashlib.sha256(header).digest()


def generation_record(ring: Keyring) -> tuple[bytes, bytes]:
    """The META key and value of *ring*'s generation, as a keyring change stores it (a
    writer compares it in its transaction to know it seals under the vault's keyring)."""
    return GENERATION_KEY, _GEN.pack(ring.generation)


class VaultSettings(Frozen):
    """Settings fixed in the vault header (authenticated through the keyring's AAD)."""

    _fields = (
        "vault_id",
        "name",
        "kind",
        "tier",
        "retention_days",
        "purge_protection",
        "created_on",
        "allow_software_oct",
    )

    vault_id: bytes
    name: str
    kind: str  # "vault" | "managed_hsm"
    tier: str  # "standard" | "premium"
    retention_days: int
    purge_protection: bool
    created_on: int
    allow_software_oct: bool = False

    def __init__(
        self,
        vault_id: bytes,
        name: str,
        kind: str,
        tier: str,
        retention_days: int,
        purge_protection: bool,
        created_on: int,
        allow_software_oct: bool = False,
    ) -> None:
        self.__dict__.update(
            vault_id=vault_id,
            name=name,
            kind=kind,
            tier=tier,
            retention_days=retention_days,
            purge_protection=purge_protection,
            created_on=created_on,
            allow_software_oct=allow_software_oct,
        )

    @cached_property
    def url(self) -> str:
        """Base of object ids (the server substitutes the host a client used)."""
        service = "managedhsm" if self.kind == "managed_hsm" else "vault"
        return f"https://{self.name}.{service}.vaultcore.local"

    @cached_property
    def recovery_level(self) -> str:
        base = "Recoverable" if self.retention_days == 90 else "CustomizedRecoverable"
        return base if self.purge_protection else base + "+Purgeable"

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> VaultSettings:
        try:
            return cls(
                vault_id=bytes.fromhex(header["vault_id"]),
                name=str(header["name"]),
                kind=str(header["kind"]),
                tier=str(header["tier"]),
                retention_days=int(header["retention_days"]),
                purge_protection=bool(header["purge_protection"]),
                created_on=int(header["created_on"]),
                allow_software_oct=bool(header.get("allow_software_oct", False)),
            )
        except (KeyError, TypeError, ValueError):
            raise NotAVaultError("the vault header is damaged") from None


def parse_header(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise NotAVaultError("no vault header: this is not a vaultcore vault")
    try:
        header = json.loads(raw)
    except ValueError:
        raise NotAVaultError("the vault header is not valid") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise NotAVaultError("this is not a vaultcore vault")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise NotAVaultError(
            f"this vault has format version {version}; this vaultcore reads up to {FORMAT_VERSION}: upgrade vaultcore"
        )
    return header


class VaultContext:
    """Everything a client needs; owned by one ``Vault``."""

    def __init__(
        self,
        store: Store,
        root: RootKey,
        header_raw: bytes,
        keyring: Keyring,
        clock: Clock,
    ) -> None:
        self.store = store
        self.root = root
        self.header_raw = header_raw
        self.header = parse_header(header_raw)
        self.settings = VaultSettings.from_header(self.header)
        self.clock = clock
        self._keyring = keyring
        self._ring_lock = threading.Lock()
        self._hasher = keyring.name_hasher()
        self.envelope = Envelope(lambda: self._keyring, self.reload_keyring)
        self._closed = False
        self.audit: Any = None  # set by the Vault once the audit log is attached
        self._events: Any = None  # the event outbox (vaultcore.events): see ``events``
        #: Makes the outbox on first use (set by the Vault; events sit above the engine).
        self.events_factory: Callable[[VaultContext], Any] | None = None
        self._events_lock = threading.Lock()

    @property
    def events(self) -> Any:
        """The event outbox, made by ``events_factory`` when first needed (the first event
        emitted, ``vault.events``): a process that only reads never loads it."""
        outbox = self._events
        if outbox is None and self.events_factory is not None:
            with self._events_lock:
                if self._events is None and self.events_factory is not None:
                    self._events = self.events_factory(self)
                outbox = self._events
        return outbox

    @events.setter
    def events(self, outbox: Any) -> None:
        self._events = outbox

    def emit_in(
        self,
        txn: WriteTxn,
        event: str,
        object_type: str,
        name: str,
        version: str | None = None,
        nbf: int | None = None,
        exp: int | None = None,
    ) -> None:
        """Record the change event *event* (``SecretNewVersionCreated``...) in the outbox in
        *txn*, so it commits with the change or not at all."""
        if self.events is not None:
            self.events.emit_in(txn, event, object_type, name, version, nbf, exp)

    def emit_same_in(
        self,
        txn: WriteTxn,
        event: str,
        object_type: str,
        names: list[str],
        versions: list[str],
        nbf: int | None,
        exp: int | None,
    ) -> None:
        """One *event* per (name, version) at once, the other fields shared (a bulk write: one
        outbox segment, no tuple per event)."""
        if self.events is not None and names:
            self.events.emit_same_in(txn, event, object_type, names, versions, nbf, exp)

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        """Closing wipes and frees the cached DEKs (set by ``Vault.close``)."""
        self._closed = value
        if value:
            self.envelope.close()

    # -- time --------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.timestamp())

    def timestamp(self) -> float:
        """The vault clock as Unix seconds (the system clock without building a datetime)."""
        if self.clock is utc_now:
            return time.time()
        value = self.clock()
        if value.tzinfo is None:
            raise InvalidParameterError("the vault clock must return timezone-aware datetimes")
        return value.timestamp()

    # -- keyring -----------------------------------------------------------------------

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def name_hasher(self) -> hmac.HMAC:
        return self._hasher.copy()

    def _load_keyring(self, txn: ReadTxn) -> Keyring:
        blob = txn.get(META, KEYRING_KEY)
        if blob is None:
            raise IntegrityError("the keyring is missing")
        header_raw = txn.get(META, HEADER_KEY)
        if header_raw is None or header_raw == self.header_raw:
            ring = Keyring.from_bytes(self.root.unwrap(blob, keyring_aad(self.header_raw)))
            if ring.vault_id != self.settings.vault_id:
                raise IntegrityError()
            return ring
        # Another handle (or process) changed the header: new settings or a new credential.
        header = parse_header(header_raw)
        if header.get("root") != self.header.get("root"):
            raise UnauthorizedError(
                "the vault's credential was changed by another handle; open the vault again with the new credential"
            )
        ring = Keyring.from_bytes(self.root.unwrap(blob, keyring_aad(header_raw)))
        settings = VaultSettings.from_header(header)
        if ring.vault_id != self.settings.vault_id or settings.vault_id != self.settings.vault_id:
            raise IntegrityError()
        with self._ring_lock:
            if ring.generation >= self._keyring.generation:
                self.header_raw, self.header, self.settings = header_raw, header, settings
        return ring

    def reload_keyring(self) -> Keyring:
        with self.store.read() as txn:
            ring = self._load_keyring(txn)
        self._set_keyring(ring)
        return ring

    def _set_keyring(self, ring: Keyring) -> None:
        with self._ring_lock:
            if ring.generation >= self._keyring.generation:
                if ring.generation != self._keyring.generation:
                    self.envelope.forget_keys()  # a rotation (or any keyring change)
                self._keyring = ring

    def replace_keyring_in(self, txn: WriteTxn, ring: Keyring, header_raw: bytes | None = None) -> None:
        """Store *ring* (wrapped by the root key) and its generation inside *txn*."""
        header = header_raw if header_raw is not None else self.header_raw
        txn.put(META, KEYRING_KEY, self.root.wrap(ring.to_bytes(), keyring_aad(header)))
        txn.put(META, *generation_record(ring))
        if header_raw is not None:
            txn.put(META, HEADER_KEY, header_raw)

    def adopt(self, ring: Keyring, header_raw: bytes | None = None, root: RootKey | None = None) -> None:
        """After a committed keyring change: use the new state in memory."""
        if header_raw is not None:
            self.header_raw = header_raw
            self.header = parse_header(header_raw)
            self.settings = VaultSettings.from_header(self.header)
        if root is not None:
            self.root = root
        with self._ring_lock:
            self._keyring = ring
        self.envelope.forget_keys()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[ReadTxn]:
        self._check_open()
        with self.store.read() as txn:
            yield txn

    def write(
        self,
        fn: Callable[[WriteTxn], T],
        *,
        with_event: bool = True,
        durable: bool = True,
        prefetch: Prefetch | None = None,
    ) -> T:
        """One write transaction, with the keyring refreshed if another process changed it.

        *durable*: see ``LmdbStore.write`` (False: a power loss may undo it, never corrupts).
        *prefetch*: the reads *fn* will make (``Store.write``: a database server sends them
        with the transaction's first round trip).

        The audit event of the operation in progress commits in the same transaction; it is
        marked written only once the transaction committed (*fn* may run more than once).
        *with_event* False: the audit log's own writes (a flush during ``events()`` must not
        commit that read's event as a success before it has even finished).
        """
        self._check_open()
        committed: list[Callable[[], None] | None] = [None]

        def run(txn: WriteTxn) -> T:
            raw = txn.get(META, GENERATION_KEY)
            if raw is not None and _GEN.unpack(raw)[0] != self._keyring.generation:
                self._set_keyring(self._load_keyring(txn))
            result = fn(txn)
            if with_event and self.audit is not None:
                committed[0] = self.audit.commit_pending_in(txn, result)
            return result

        result = self.store.write(run, durable=durable, prefetch=prefetch)
        if committed[0] is not None:
            committed[0]()
        if self._events is not None:  # not made here: without an outbox no event was written
            self._events.after_commit()
        return result

    def check_open(self) -> None:
        """``VaultLockedError`` once the vault is closed."""
        self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise VaultLockedError("the vault is closed")
