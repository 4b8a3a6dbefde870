"""Envelope encryption of every stored record.

Byte layout of a sealed record (format 1)::

    offset  size  field
    0       1     format byte (0x01)
    1       4     term id, big-endian: which keyring term's KEK wrapped the DEK
    5       40    DEK (256-bit, fresh per record) wrapped with AES-KW (RFC 3394) under the KEK
    45      12    nonce (random, drawn in C)
    57      n     AES-256-GCM ciphertext of the record
    57+n    16    GCM tag

Associated data: ``b"vaultcore/1" || vault_id(16) || record type(1) || store key``. The store
key already names the object (kind, keyed hash of the name, version), so a record copied
to another name, version, kind, record type or vault fails authentication. The format byte
and term id are not in the AAD: keyring rotation re-wraps the DEK and rewrites the term id
without touching the ciphertext; a forged term id makes the unwrap fail instead.

The DEK and nonce are generated and used inside the C core (``seal_record`` /
``open_record``): plaintext DEKs never exist in Python memory. Opening goes through a
bounded cache of unwrapped DEKs in locked C memory (``DekCache``), wiped on close, fork,
keyring change and purge.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from vaultcore.crypto import _bindings
from vaultcore.crypto._keyring import Keyring
from vaultcore.exceptions import IntegrityError, InvalidParameterError
from vaultcore.storage._rows import PackedRows

__all__ = ["FORMAT_V1", "HEADER_SIZE", "Envelope", "RecordType"]

FORMAT_V1 = 0x01
HEADER_SIZE = 5
WRAPPED_DEK_SIZE = 40
MIN_SIZE = HEADER_SIZE + WRAPPED_DEK_SIZE + 12 + 16
_AAD_PREFIX = b"vaultcore/1"
_TERM = struct.Struct(">I")
_DEK_SLOTS = 1 << 14
_DEK_MAX_SLOTS = 1 << 17


class RecordType:
    """Record-type bytes bound into the AAD."""

    OBJECT = b"o"
    VERSION = b"v"
    DELETED = b"d"
    AUDIT = b"a"
    ACCESS = b"p"
    META = b"m"
    EVENT = b"e"
    SUBSCRIPTION = b"s"


def term_of(blob: bytes | memoryview) -> int:
    """The keyring term a sealed record is wrapped under (no authentication)."""
    if len(blob) < MIN_SIZE or blob[0] != FORMAT_V1:
        raise IntegrityError()
    return int(_TERM.unpack_from(blob, 1)[0])


def with_rewrapped(blob: bytes, term: int, wrapped_dek: bytes | memoryview) -> bytes:
    """*blob* with its DEK replaced by *wrapped_dek* under *term* (ciphertext unchanged)."""
    return bytes([FORMAT_V1]) + _TERM.pack(term) + bytes(wrapped_dek) + blob[HEADER_SIZE + WRAPPED_DEK_SIZE :]


def wrapped_dek_of(blob: bytes | memoryview) -> bytes:
    return bytes(blob[HEADER_SIZE : HEADER_SIZE + WRAPPED_DEK_SIZE])


class Envelope:
    """Seals and opens records under the current keyring.

    ``keyring`` is a callable so that a keyring rotated by another process is picked up:
    a record under an unknown term triggers one ``reload`` before failing.
    """

    def __init__(self, keyring: Callable[[], Keyring], reload: Callable[[], Keyring]) -> None:
        self._keyring = keyring
        self._reload = reload
        #: Unwrapped DEKs of records opened before, in locked C memory (see ``DekCache``):
        #: 16,384 slots (1.3 MB) to start, doubling up to 131,072 (10.5 MB) for vaults whose
        #: reads span more records (a DEK is no more exposed than the KEK held beside it).
        self.deks = _bindings.DekCache(_DEK_SLOTS, _DEK_MAX_SLOTS)
        self._native: tuple[Keyring | None, dict[bytes, tuple[Any, bytes, int, bytes]]] = (None, {})
        #: Native readers holding a KEK copy (``storage._mdb.Reader``): wiped on close.
        self.readers: list[Any] = []
        #: Keyed C contexts of the vault's keys (``_bindings.KwKey``): wiped with the DEKs.
        self.key_contexts = _bindings.KeyContexts()

    def native_key(self, rtype: bytes) -> tuple[Any, bytes, int, bytes] | None:
        """What the store's fused read needs to open a record of *rtype* in C: the DEK
        cache, the active term's KEK, that term and the AAD without the store key; None
        once closed. Records under another term are opened by :meth:`open`."""
        ring = self._keyring()
        known, by_type = self._native
        if known is not ring:
            by_type = {}
            self._native = (ring, by_type)
        params = by_type.get(rtype)
        if params is None:
            handle = self.deks.handle
            if handle is None:
                return None
            term = ring.active_term
            params = by_type[rtype] = (handle, ring.kek(term), term, _AAD_PREFIX + ring.vault_id + rtype)
        return params

    def seal_params(self, rtype: bytes) -> tuple[int, bytes, bytes]:
        """(active term, its KEK, AAD head) for sealing records of *rtype* in C (the audit
        queue seals its segments there); the AAD is the head followed by the store key."""
        ring = self._keyring()
        term = ring.active_term
        return term, ring.kek(term), _AAD_PREFIX + ring.vault_id + rtype

    def forget_keys(self) -> None:
        """Wipe the cached DEKs and the keys' C contexts (keyring rotation, purge)."""
        self.deks.wipe()
        self.key_contexts.wipe()

    def close(self) -> None:
        """Wipe and free the cached DEKs (vault closed); opening then bypasses the cache."""
        self._native = (None, {})
        self.deks.close()
        self.key_contexts.close()
        for reader in self.readers:
            reader.wipe()
        self.readers.clear()

    def _aad(self, ring: Keyring, rtype: bytes, key: bytes) -> bytes:
        return _AAD_PREFIX + ring.vault_id + rtype + key

    def seal(self, rtype: bytes, key: bytes, plaintext: bytes) -> bytes:
        ring = self._keyring()
        term = ring.active_term
        prefix = bytes([FORMAT_V1]) + _TERM.pack(term)
        return _bindings.seal_record(ring.kek(term), prefix, self._aad(ring, rtype, key), plaintext)

    def seal_keyed(self, rtype: bytes, keys: Sequence[bytes], plaintexts: Sequence[bytes]) -> PackedRows:
        """Seal N records (one fresh DEK each) in one native call, each bound to its place
        (its store key, of one length for all) by the AAD, which C builds: packed for a
        store's bulk insert, no Python object per record."""
        ring = self._keyring()
        term = ring.active_term
        prefix = bytes([FORMAT_V1]) + _TERM.pack(term)
        sizes = set(map(len, keys))
        if len(sizes) > 1:
            raise InvalidParameterError("seal_keyed needs keys of one length")
        key_len = sizes.pop() if sizes else 1
        packed = b"".join(keys)
        head = _AAD_PREFIX + ring.vault_id + rtype
        values, lengths = _bindings.seal_records_keyed(ring.kek(term), prefix, head, packed, key_len, plaintexts)
        return PackedRows(packed, key_len, values, lengths)

    def opener(self, rtype: bytes) -> Callable[[bytes, bytes], bytes]:
        """:meth:`open` for one record type as a closure (the read path: fewer lookups)."""
        keyring = self._keyring
        deks = self.deks
        unpack = _TERM.unpack_from
        slow = self.open

        def open_(key: bytes, blob: bytes) -> bytes:
            if len(blob) < MIN_SIZE or blob[0] != FORMAT_V1:
                raise IntegrityError()
            term = unpack(blob, 1)[0]
            ring = keyring()
            if term not in ring.terms:
                return slow(rtype, key, blob)  # reloads the keyring once
            return deks.open_record(ring.kek(term), blob, HEADER_SIZE, _AAD_PREFIX + ring.vault_id + rtype + key)

        return open_

    def open(self, rtype: bytes, key: bytes, blob: bytes | memoryview) -> bytes:
        """The plaintext of *blob*; ``IntegrityError`` for any failure."""
        term = term_of(blob)
        ring = self._keyring()
        if not ring.has_term(term):
            ring = self._reload()
            if not ring.has_term(term):
                raise IntegrityError()
        return self.deks.open_record(ring.kek(term), blob, HEADER_SIZE, _AAD_PREFIX + ring.vault_id + rtype + key)
