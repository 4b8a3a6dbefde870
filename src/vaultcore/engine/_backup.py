"""Object backups and the security domain.

Object backup blob (version 1)::

    offset  size  field
    0       4     magic b"VCB1"
    4       1     kind byte (1 secret, 2 key, 3 certificate)
    5       16    security domain id
    21      ...   sealed body: wrapped DEK(40) | nonce(12) | AES-256-GCM(DEK, body) | tag(16)

The DEK is fresh per backup and wrapped (AES-KW) under the security domain's KEK; the first
21 bytes are the GCM associated data, so the whole blob is authenticated by one tag. The
body holds the object record and every version (attributes and values) in the record
encoding. A blob therefore restores into this vault, or any vault created from the same
exported security domain, and nowhere else: another domain id gives ``ForbiddenError``,
any change to the blob gives ``IntegrityError``. The body is re-encrypted rather than
carrying the vault's own sealed records because their AAD binds them to this vault's id and
name index, which a vault sharing the domain does not have.

Security domain export (version 1)::

    b"VCSD" | u8 1 | u32 memory_cost | u32 iterations | u32 lanes | salt(16) | nonce(12)
    | AES-256-GCM(Argon2id(passphrase), domain_id(16) | domain_key(32)) | tag(16)

with the bytes before the nonce as AAD.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vaultcore.crypto import _bindings
from vaultcore.crypto._credentials import KDF_DEFAULT, KdfParameters
from vaultcore.engine._records import Kind, ObjectRecord, VersionRecord, decode, encode
from vaultcore.exceptions import ForbiddenError, IntegrityError, InvalidParameterError

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.engine._lifecycle import Lifecycle

__all__ = ["ObjectBackup", "export_domain", "import_domain"]

_MAGIC = b"VCB1"
_HEAD = 4 + 1 + 16
_SD_MAGIC = b"VCSD\x01"
_SD_PARAMS = struct.Struct(">III")
_MAX_BACKUP = 64 << 20


class ObjectBackup:
    """``backup_*`` / ``restore_*_backup`` for every kind, over the lifecycle engine."""

    def __init__(self, ctx: VaultContext, engine: Lifecycle) -> None:
        self._ctx = ctx
        self._engine = engine

    def backup(self, kind: Kind, name: str, *, also: tuple[Kind, ...] = ()) -> bytes:
        """Seal *name* (and the same-named objects of kinds *also*, e.g. a certificate's
        backing key and secret) into one blob."""
        with self._ctx.read() as txn:
            parts = [self._export(txn, kind, name)]
            parts += [self._export(txn, other, name) for other in also]
        body = encode({"kind": kind.byte, "parts": [p[0] for p in parts]}, b"".join(p[1] for p in parts))
        ring = self._ctx.keyring
        head = _MAGIC + bytes([kind.byte]) + ring.domain_id
        blob = head + _bindings.seal_record(ring.domain_kek(), b"", head, body)
        if len(blob) > _MAX_BACKUP:  # restore refuses such blobs: do not hand one out
            raise InvalidParameterError(
                f"{kind.title} {name} is too large to back up: {len(blob)} bytes, over the {_MAX_BACKUP}-byte "
                "limit that restoring accepts"
            )
        return blob

    def _export(self, txn: Any, kind: Kind, name: str) -> tuple[dict[str, Any], bytes]:
        obj, versions = self._engine.export_in(txn, kind, name)
        payloads = [v.to_bytes() for v in versions]
        meta = {
            "kind": kind.byte,
            "object": base64.b64encode(obj.to_bytes()).decode(),
            "sizes": [len(p) for p in payloads],
        }
        return meta, b"".join(payloads)

    def open_blob(self, kind: Kind, blob: bytes) -> list[tuple[Kind, ObjectRecord, list[VersionRecord]]]:
        """Authenticate and decode a backup blob of *kind*."""
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise InvalidParameterError("a backup must be bytes")
        blob = bytes(blob)
        if len(blob) > _MAX_BACKUP:
            raise InvalidParameterError("the backup blob is too large")
        if len(blob) < _HEAD + 40 + 12 + 16 or blob[:4] != _MAGIC:
            raise IntegrityError("not a vaultcore backup blob")
        ring = self._ctx.keyring
        if not _bindings.constant_time_eq(blob[5:_HEAD], ring.domain_id):
            raise ForbiddenError(
                "this backup belongs to another security domain and cannot be restored here",
                inner_code="BackupFromAnotherDomain",
            )
        body = _bindings.open_record(ring.domain_kek(), blob[_HEAD:], 0, blob[:_HEAD])
        # Only an authenticated kind byte is reported as a wrong kind; a damaged one failed above.
        if blob[4] != kind.byte:
            raise InvalidParameterError(f"this backup does not hold a {kind.label}")
        header, payload = decode(body)
        out = []
        try:
            offset = 0
            for part in header["parts"]:
                part_kind = next(k for k in Kind if k.byte == part["kind"])
                obj = ObjectRecord.from_bytes(base64.b64decode(part["object"]))
                versions = []
                for size in part["sizes"]:
                    versions.append(VersionRecord.from_bytes(payload[offset : offset + size]))
                    offset += size
                out.append((part_kind, obj, versions))
        except (KeyError, TypeError, ValueError, StopIteration):
            raise IntegrityError() from None
        return out

    def restore(
        self,
        kind: Kind,
        blob: bytes,
        check: Callable[[list[tuple[Kind, ObjectRecord, list[VersionRecord]]]], None] | None = None,
    ) -> VersionRecord:
        """Recreate the object(s) of a blob in one transaction; Conflict if a name exists.

        *check* sees the decoded parts first and may refuse them (a managed HSM refuses
        software keys) before anything is written."""
        parts = self.open_blob(kind, blob)
        if check is not None:
            check(parts)

        def run(txn: Any) -> VersionRecord:
            results = [self._engine.import_in(txn, k, obj, versions) for k, obj, versions in parts]
            return results[0]

        return self._engine.write(run)


# -- security domain -------------------------------------------------------------------


def _domain_key(passphrase: bytes, salt: bytes, params: KdfParameters) -> bytes:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # loaded by domain export/import only

    return Argon2id(
        salt=salt, length=32, iterations=params.iterations, lanes=params.lanes, memory_cost=params.memory_cost
    ).derive(passphrase)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    data = passphrase.encode() if isinstance(passphrase, str) else bytes(passphrase)
    if not data:
        raise InvalidParameterError("the security domain passphrase must not be empty")
    return data


def export_domain(
    domain_id: bytes, domain_key: bytes, passphrase: str | bytes, kdf: KdfParameters = KDF_DEFAULT
) -> bytes:
    """The security domain sealed under a passphrase (give it to a new vault's ``create``)."""
    kdf.check()
    salt = _bindings.random_bytes(16)
    head = _SD_MAGIC + _SD_PARAMS.pack(kdf.memory_cost, kdf.iterations, kdf.lanes) + salt
    key = _domain_key(_passphrase_bytes(passphrase), salt, kdf)
    nonce = _bindings.random_bytes(12)
    return head + nonce + _bindings.gcm_seal(key, nonce, head, domain_id + domain_key)


def import_domain(blob: bytes, passphrase: str | bytes) -> tuple[bytes, bytes]:
    """(domain_id, domain_key) from an exported security domain."""
    size = len(_SD_MAGIC) + _SD_PARAMS.size + 16
    if not isinstance(blob, bytes) or len(blob) != size + 12 + 48 + 16 or blob[: len(_SD_MAGIC)] != _SD_MAGIC:
        raise InvalidParameterError("not a vaultcore security domain export")
    memory, iterations, lanes = _SD_PARAMS.unpack_from(blob, len(_SD_MAGIC))
    params = KdfParameters(memory_cost=memory, iterations=iterations, lanes=lanes)
    params.check()
    head, nonce, sealed = blob[:size], blob[size : size + 12], blob[size + 12 :]
    key = _domain_key(_passphrase_bytes(passphrase), head[-16:], params)
    try:
        plain = _bindings.gcm_open(key, nonce, head, sealed)
    except IntegrityError:
        raise IntegrityError("the security domain passphrase is wrong or the export is damaged") from None
    return plain[:16], plain[16:]
