"""The administration plane of the facade: full backup/restore (the vault's settings are in
:mod:`vaultcore._settings`).

``Vault`` mixes in :class:`AdministrationOperations` (``full_backup``, ``full_restore``,
``restore_key_from_full_backup``) and exposes :class:`~vaultcore._settings.VaultSettingsClient`
as ``vault.settings``. Both are operations like every other: authorised against the
caller's roles (``backup/start/action``, ``restore/start/action``, ``settings/read|write``)
and audited. A full backup is the whole vault (every live object with all versions, the
principals, custom roles, role assignments, settings and certificate contacts/issuers)
sealed for its security domain; it restores only into a vault of the same domain holding
no secret, key or certificate, whose access records and certificate metadata it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import DataAction
from vaultcore.engine._records import Kind
from vaultcore.exceptions import ConflictError, InvalidParameterError, NotFoundError

if TYPE_CHECKING:
    from vaultcore._results import FullRestoreResult
    from vaultcore.access._principals import AccessManager
    from vaultcore.certificates._client import CertificateClient
    from vaultcore.engine._context import VaultContext
    from vaultcore.engine._lifecycle import Lifecycle
    from vaultcore.storage._interface import WriteTxn

__all__ = ["AdministrationOperations", "open_security_domain"]


def open_security_domain(security_domain: tuple[bytes, str | bytes | Sequence[bytes]]) -> tuple[bytes, bytes]:
    """(domain_id, domain_key) from ``(export, passphrase)`` or ``(quorum download, [private keys])``."""
    from vaultcore.engine._backup import import_domain
    from vaultcore.engine._domainquorum import is_quorum_domain, upload_domain  # RSA loads only here

    if not isinstance(security_domain, tuple) or len(security_domain) != 2:
        raise InvalidParameterError("security_domain must be (blob, passphrase) or (blob, [PEM private keys])")
    blob, secret = security_domain
    if isinstance(secret, str | bytes):
        if is_quorum_domain(blob):
            raise InvalidParameterError("this security domain is split under a quorum: give the private keys")
        return import_domain(blob, secret)
    return upload_domain(blob, list(secret))


class AdministrationOperations:
    """Full backup and restore, mixed into :class:`~vaultcore.Vault`."""

    _ctx: VaultContext
    _session: Session
    _engine: Lifecycle

    if TYPE_CHECKING:  # the facade's clients (created on first use there)

        @property
        def access(self) -> AccessManager: ...

        @property
        def certificates(self) -> CertificateClient: ...

    @operation("VaultFullBackup", DataAction.FULL_BACKUP)
    def full_backup(self) -> bytes:
        """The whole vault, sealed for its security domain (see ``full_restore``)."""
        from vaultcore.engine._fullbackup import export_vault

        with self._ctx.read() as txn:
            access, certmeta = self.access._export_in(txn), self.certificates._meta.export_in(txn)
            return export_vault(self._ctx, self._engine, txn, access, certmeta)

    @operation("VaultFullRestore", DataAction.FULL_RESTORE)
    def full_restore(self, backup: bytes) -> FullRestoreResult:
        """Restore a full backup into this vault, which must share its security domain and hold
        no object (live or deleted). Its principals, custom roles, role assignments and
        settings are replaced by the backup's, as a Managed HSM full restore does."""
        from vaultcore._results import FullRestoreResult
        from vaultcore.engine._fullbackup import import_objects_in, objects_empty_in, open_vault

        contents = open_vault(self._ctx, backup)

        def run(txn: WriteTxn) -> FullRestoreResult:
            if not objects_empty_in(txn):
                raise ConflictError(
                    "a full restore needs a vault without secrets, keys or certificates (live or deleted)",
                    inner_code="VaultNotEmpty",
                )
            count = import_objects_in(txn, self._engine, contents.objects)
            self.access._replace_in(txn, contents.access)
            self.certificates._meta.replace_in(txn, contents.certmeta)
            return FullRestoreResult(count, len(contents.access))

        return self._engine.write(run)

    @operation("SecurityDomainDownload", DataAction.VAULT_ADMIN)
    def download_security_domain(self, public_keys: Sequence[bytes], quorum: int) -> bytes:
        """The security domain split under a *quorum* of 3-10 RSA *public_keys* (PEM), as JSON.

        Any *quorum* of the matching private keys recreate it in a new vault:
        ``Vault.create(..., security_domain=(download, [private_key_pem, ...]))``.
        """
        from vaultcore.engine._domainquorum import download_domain  # RSA loads only here

        ring = self._ctx.keyring
        return download_domain(ring.domain_id, ring.domain_key, public_keys, quorum)

    @operation("VaultFullBackupPreCheck", DataAction.FULL_BACKUP)
    def full_backup_precheck(self) -> None:
        """Authorise (and audit) a full backup without taking one: Azure's pre-backup check."""
        self._ctx.keyring  # noqa: B018 - the vault must be open

    @operation("VaultFullRestorePreCheck", DataAction.FULL_RESTORE)
    def full_restore_precheck(self, backup: bytes) -> None:
        """Check that *backup* would restore here (same domain, empty vault) without restoring."""
        from vaultcore.engine._fullbackup import objects_empty_in, open_vault

        open_vault(self._ctx, backup)
        with self._ctx.read() as txn:
            if not objects_empty_in(txn):
                raise ConflictError(
                    "a full restore needs a vault without secrets, keys or certificates (live or deleted)",
                    inner_code="VaultNotEmpty",
                )

    @operation("BackupStatusGet", DataAction.BACKUP_STATUS)
    def check_backup_status_access(self) -> None:
        """Authorise (and audit) reading a backup job's status (the jobs live in the front end)."""

    @operation("RestoreStatusGet", DataAction.RESTORE_STATUS)
    def check_restore_status_access(self) -> None:
        """Authorise (and audit) reading a restore job's status."""

    @operation("KeySelectiveRestore", DataAction.FULL_RESTORE)
    def restore_key_from_full_backup(self, backup: bytes, key_name: str) -> str:
        """Restore one key (all its versions) from a full backup; ``ConflictError`` if it exists."""
        if not isinstance(key_name, str) or not key_name:
            raise InvalidParameterError("key_name must be a key name")
        from vaultcore.engine._fullbackup import import_objects_in, open_vault

        contents = open_vault(self._ctx, backup)
        found = [
            item for item in contents.objects if item.kind is Kind.KEY and item.record.name.lower() == key_name.lower()
        ]
        if not found:
            raise NotFoundError(f"the backup holds no key named {key_name}", inner_code="KeyNotFound")

        def run(txn: WriteTxn) -> str:
            import_objects_in(txn, self._engine, found)
            return found[0].record.name

        return self._engine.write(run)
