"""Whole-vault copies between backends (LMDB <-> PostgreSQL), every record re-verified.

``Vault.backup_to`` uses this when either side is a ``postgresql://`` URL. The records are
copied sealed and unchanged (their AAD binds them to their key and the vault id, not to the
backend), from one read snapshot; then the copy is read back and checked: per sub-database
the same number of records with the same digest of every key and value, the keyring blob
opens with the vault's root key, and every sealed record's wrapped DEK authenticates
(AES key unwrap) under that keyring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import HEADER_SIZE, WRAPPED_DEK_SIZE, term_of
from vaultcore.crypto._keyring import Keyring
from vaultcore.engine._rotation import SEALED_DATABASES
from vaultcore.exceptions import IntegrityError
from vaultcore.storage._interface import copy_to_new, digest_of, open_store

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["copy_and_verify"]


def copy_and_verify(ctx: VaultContext, dest: str) -> int:
    """Copy the vault to the new location *dest* and re-verify the copy; returns the record count."""
    from vaultcore.engine._context import HEADER_KEY, KEYRING_KEY, META, keyring_aad

    copied = copy_to_new(ctx.store, dest)
    target = open_store(dest, create=False)
    try:
        with target.read() as txn:
            for name, expected in copied.items():
                if digest_of(txn, name) != expected:
                    raise IntegrityError(f"the copy of sub-database {name.decode()!r} differs from the source")
            header, blob = txn.get(META, HEADER_KEY), txn.get(META, KEYRING_KEY)
            if header is None or blob is None:
                raise IntegrityError("the copy holds no header or keyring")
            ring = Keyring.from_bytes(ctx.root.unwrap(blob, keyring_aad(header)))
            if ring.vault_id != ctx.settings.vault_id:
                raise IntegrityError("the copy's keyring belongs to another vault")
            for name in SEALED_DATABASES:
                _check_deks(ring, [v for _, v in txn.scan(name)])
    finally:
        target.close()
    return sum(count for count, _ in copied.values())


def _check_deks(ring: Keyring, blobs: list[bytes]) -> None:
    by_term: dict[int, list[bytes]] = {}
    for blob in blobs:
        by_term.setdefault(term_of(blob), []).append(blob[HEADER_SIZE : HEADER_SIZE + WRAPPED_DEK_SIZE])
    for term, wrapped in by_term.items():
        kek = ring.kek(term)
        _, ok = _bindings.rewrap_dek_batch(kek, kek, b"".join(wrapped))
        if not all(ok):
            raise IntegrityError("a record of the copy failed authentication")
