"""``vault.certificates``: Azure Key Vault's CertificateClient over the lifecycle engine.

Like Azure, every certificate version is three objects with the same name and version id,
written in one transaction: the certificate, a managed key and a managed secret (see
:mod:`vaultcore.certificates._issuance`). The secrets and keys clients can read the managed objects
but refuse to change or delete them; deleting, recovering, purging, backing up and restoring
a certificate acts on all three at once. ``kid``/``sid`` are derived from the vault URL,
name and version (not stored), so a backup restored into a sibling vault names that vault.

This module is the public, audited API: every method that Azure's client has is here with
its ``@operation`` (authorisation + audit), checks its arguments and delegates the work to

* :mod:`vaultcore.certificates._issuance` - policy completion, key choice (``reuse_key``),
  self-signing / CSR / merge / import, and writing the three same-version records;
* :mod:`vaultcore.certificates._state` - the per-certificate state in the object record (policy,
  last operation, pending key, lifetime actions done);
* :mod:`vaultcore.certificates._metadata` - contacts and issuers in the ``certmeta`` database;
* :mod:`vaultcore.certificates._lifetime` - lifetime actions (AutoRenew, EmailContacts) for
  ``run_maintenance``.

Premium (PKCS#11) certificate keys are not supported yet: issuance signs with
``cryptography``, which cannot use a key inside the token, so ``-HSM`` key types raise
``UnsupportedError`` in a premium vault (``InvalidParameterError`` in a standard one, as for
keys). A managed HSM holds no certificates (``ForbiddenError``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, id_of, name_scope, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.certificates._issuance import CertificateIssuance, unpack_chain
from vaultcore.certificates._lifetime import LifetimeActions
from vaultcore.certificates._metadata import CERTMETA as CERTMETA
from vaultcore.certificates._metadata import CertificateMetadata
from vaultcore.certificates._models import CertificateProperties, DeletedCertificate, KeyVaultCertificate
from vaultcore.certificates._policy import (
    AdministratorContact,
    CertificateContact,
    CertificateIssuer,
    CertificateOperation,
    CertificateOperationStatus,
    CertificatePolicy,
    IssuerProperties,
)
from vaultcore.certificates._state import BACKING, KIND, no_operation, pending_of, policy_of
from vaultcore.engine._backup import ObjectBackup
from vaultcore.engine._lifecycle import Lifecycle
from vaultcore.engine._models import base_properties, deleted_fields
from vaultcore.engine._records import DeletedRecord, Kind, ObjectRecord, VersionRecord
from vaultcore.engine._validation import attribute_changes, check_bool, check_name, check_tags, from_timestamp
from vaultcore.exceptions import ForbiddenError, IntegrityError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.keys._client import KeyClient

__all__ = ["CertificateClient"]

_name = name_scope("certificates")


class CertificateClient:
    """Certificates: policies, self-signed issuance, CSR + merge, import, renewal, backing objects."""

    def __init__(
        self, ctx: VaultContext, engine: Lifecycle, backups: ObjectBackup, session: Session, keys: KeyClient
    ) -> None:
        self._ctx = ctx
        self._engine = engine
        self._backups = backups
        self._session = session
        self._keys = keys
        self._meta = CertificateMetadata(ctx)
        self._issuance = CertificateIssuance(ctx, engine, keys, self._meta)
        self._lifetime = LifetimeActions(ctx, engine, self._issuance, self._meta)

    @property
    def vault_url(self) -> str:
        return self._ctx.settings.url

    # -- ids and conversions -----------------------------------------------------------

    def _id(self, collection: str, name: str, version: str) -> str:
        return f"{self._ctx.settings.url}/{collection}/{name}/{version}"

    def _props(self, rec: VersionRecord) -> CertificateProperties:
        x5t = rec.extra.get("x5t")
        try:
            tp = bytes.fromhex(x5t) if isinstance(x5t, str) else None
        except ValueError:
            raise IntegrityError() from None
        return CertificateProperties(
            **base_properties(KIND, rec, self._ctx.settings),  # type: ignore[arg-type]
            x509_thumbprint=tp,
            preserve_order=rec.extra.get("preserve_order"),
        )

    def _pending_props(self, obj: ObjectRecord) -> CertificateProperties:
        """A pending-only certificate as a list item: its name and creation time, no version."""
        settings = self._ctx.settings
        created = from_timestamp(obj.created_on)
        return CertificateProperties(
            id=f"{settings.url}/{KIND.collection}/{obj.name}",
            name=obj.name,
            version=None,
            vault_url=settings.url,
            enabled=False,
            not_before=None,
            expires_on=None,
            created_on=created,
            updated_on=created,
            recovery_level=settings.recovery_level,
            recoverable_days=settings.retention_days,
        )

    def _to_cert(self, rec: VersionRecord, policy: CertificatePolicy | None) -> KeyVaultCertificate:
        return KeyVaultCertificate(
            properties=self._props(rec),
            cer=unpack_chain(rec.payload)[0],
            policy=policy,
            key_id=self._id("keys", rec.name, rec.version),
            secret_id=self._id("secrets", rec.name, rec.version),
        )

    def _deleted(self, deleted: DeletedRecord, rec: VersionRecord) -> DeletedCertificate:
        fields = deleted_fields(KIND, rec.name, deleted, self._ctx.settings)
        return DeletedCertificate(
            properties=self._props(rec),
            cer=unpack_chain(rec.payload)[0],
            recovery_id=str(fields["recovery_id"]),
            deleted_on=from_timestamp(deleted.deleted_on),
            scheduled_purge_date=from_timestamp(deleted.scheduled_purge),
            policy=policy_of(deleted.obj),
            key_id=self._id("keys", rec.name, rec.version),
            secret_id=self._id("secrets", rec.name, rec.version),
        )

    def _operation(self, name: str, doc: Mapping[str, Any]) -> CertificateOperation:
        try:
            op = CertificateOperation.from_dict(doc, name=name)
        except InvalidParameterError:
            raise IntegrityError() from None
        return dataclasses.replace(op, id=f"{self._ctx.settings.url}/certificates/{name}/pending")

    # -- rules -------------------------------------------------------------------------

    def _check_allowed(self) -> None:
        if self._ctx.settings.kind == "managed_hsm":
            raise ForbiddenError(
                "Certificates are not supported by a managed HSM; it holds HSM-backed keys only.",
                inner_code="OperationNotAllowed",
            )

    # -- create / merge / import -------------------------------------------------------

    @operation("CertificateCreate", A.CERT_CREATE, _name, object_id=id_of)
    def create_certificate(
        self,
        name: str,
        policy: CertificatePolicy | None = None,
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> CertificateOperation:
        """Start creating a version of *name* under *policy* (Azure's default policy if None).

        Returns the operation as Azure does (status ``inProgress``). Issuer ``Self``: the
        version exists when this returns and ``get_certificate_operation`` says completed.
        Issuer ``Unknown`` (or a registered issuer: vaultcore never calls a CA): the operation
        stays pending with a CSR until :meth:`merge_certificate`. A second create while one is
        pending is a ConflictError.
        """
        self._check_allowed()
        check_name(name, KIND)
        full = self._issuance.complete(CertificatePolicy.get_default() if policy is None else policy)
        is_enabled = full.enabled is not False if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(tags)
        return self._issuance.create(name, full, enabled=is_enabled, tags=tag_map)

    @operation("CertificatePendingMerge", A.CERT_CREATE, _name, object_id=id_of)
    def merge_certificate(
        self,
        name: str,
        x509_certificates: Sequence[bytes],
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> KeyVaultCertificate:
        """Complete a pending CSR with the CA's certificate (leaf first, then its chain).

        The leaf must be for the pending key (else InvalidParameterError). Items may be DER,
        PEM or base64 DER. Creates the certificate, key and secret versions.
        """
        self._check_allowed()
        obj, rec = self._issuance.merge(name, x509_certificates, enabled=enabled, tags=tags)
        return self._to_cert(rec, policy_of(obj))

    @operation("CertificateImport", A.CERT_IMPORT, _name, object_id=id_of)
    def import_certificate(
        self,
        name: str,
        certificate_bytes: bytes,
        *,
        password: str | bytes | None = None,
        policy: CertificatePolicy | None = None,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
        preserve_order: bool | None = None,
    ) -> KeyVaultCertificate:
        """Import a PEM or PKCS#12 (raw or base64) with its private key as a new version.

        The stored value has no password; the chain keeps the order given, leaf first unless
        *preserve_order* is true (Azure's ``preserveCertOrder``: a PEM value then keeps the
        leaf where it was). Without *policy*
        the policy is derived from the certificate (issuer Unknown, content type = the
        format imported); fields of *policy* override it. A key that does not match the
        certificate or the policy, or data that is neither PEM nor PFX: InvalidParameterError.
        """
        self._check_allowed()
        check_name(name, KIND)
        if password is not None and not isinstance(password, str | bytes):
            raise InvalidParameterError("password must be a string or bytes")
        pwd = password.encode("utf-8") if isinstance(password, str) else password
        if policy is not None and not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")
        if preserve_order is not None:
            check_bool(preserve_order, "preserve_order")
        obj, rec = self._issuance.import_(
            name, certificate_bytes, pwd, policy, enabled=enabled, tags=tags, preserve_order=preserve_order
        )
        return self._to_cert(rec, policy_of(obj))

    # -- reads -------------------------------------------------------------------------

    @operation("CertificateGet", A.CERT_READ, _name, object_id=id_of)
    def get_certificate(self, name: str) -> KeyVaultCertificate:
        """The latest version with its policy (certificates are public: disabled ones are readable)."""
        self._check_allowed()
        with self._ctx.read() as txn:
            rec = self._engine.get_in(txn, KIND, name)
            obj = self._engine.get_object_in(txn, KIND, name)
        return self._to_cert(rec, policy_of(obj))

    @operation("CertificateGet", A.CERT_READ, _name, object_id=id_of)
    def get_certificate_version(self, name: str, version: str) -> KeyVaultCertificate:
        """One version (without the policy, as in Azure)."""
        self._check_allowed()
        if not isinstance(version, str) or not version:
            raise InvalidParameterError("version must be a non-empty string")
        return self._to_cert(self._engine.get(KIND, name, version), None)

    @operation("CertificateList", A.CERT_READ)
    def list_properties_of_certificates(self, *, include_pending: bool = False) -> Iterator[CertificateProperties]:
        """Properties of the latest version of every certificate.

        A certificate whose first version is still pending has no version: it is listed only
        with ``include_pending=True`` (Azure's ``includePending``), with ``version=None``.
        """
        self._check_allowed()
        listed = [self._props(r) for r in self._engine.latest_all(KIND)]
        if include_pending is True:
            listed += [self._pending_props(obj) for obj in self._engine.objects_without_versions(KIND)]
        elif include_pending is not False:
            raise InvalidParameterError("include_pending must be True or False")
        return iter(listed)

    @operation("CertificateListVersions", A.CERT_READ, _name)
    def list_properties_of_certificate_versions(self, name: str) -> Iterator[CertificateProperties]:
        self._check_allowed()
        return iter([self._props(r) for r in self._engine.versions(KIND, name)])

    @operation("CertificateUpdate", A.CERT_UPDATE, _name, object_id=id_of)
    def update_certificate_properties(
        self,
        name: str,
        version: str | None = None,
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> KeyVaultCertificate:
        """Change ``enabled``/``tags`` of a version; ``enabled`` also applies to its key and secret."""
        self._check_allowed()
        changes = attribute_changes(enabled=enabled, tags=tags)

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            rec = self._engine.update_version_in(txn, KIND, name, version, changes)
            if "enabled" in changes:
                for kind in BACKING:
                    try:
                        backing = self._engine.get_in(txn, kind, name, rec.version)
                    except NotFoundError:
                        continue
                    if backing.managed:
                        self._engine.update_version_in(txn, kind, name, rec.version, {"enabled": changes["enabled"]})
            return self._engine.get_object_in(txn, KIND, name), rec

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, policy_of(obj))

    # -- policy ------------------------------------------------------------------------

    @operation("CertificatePolicyGet", A.CERT_READ, _name)
    def get_certificate_policy(self, name: str) -> CertificatePolicy:
        """The certificate's current policy (also while its first version is pending)."""
        self._check_allowed()
        policy = policy_of(self._engine.get_object(KIND, name))
        if policy is None:
            raise self._engine.not_found(KIND, name)
        return policy

    @operation("CertificatePolicySet", A.CERT_UPDATE, _name)
    def update_certificate_policy(self, name: str, policy: CertificatePolicy) -> CertificatePolicy:
        """Merge *policy* into the current one (fields it sets win); applies to future versions."""
        self._check_allowed()
        if not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")

        def run(txn: WriteTxn) -> dict[str, Any]:
            obj = self._engine.get_object_in(txn, KIND, name)
            current = policy_of(obj) or CertificatePolicy()
            full = self._issuance.complete(current.updated_with(policy), txn)
            doc = self._issuance.stamped(full, obj.extra.get("policy"))
            self._engine.update_object_in(txn, KIND, name, {"policy": doc})
            return doc

        return CertificatePolicy.from_dict(self._engine.write(run))

    # -- delete / recover / purge ------------------------------------------------------

    def _managed_in(self, txn: ReadTxn, kind: Kind, name: str) -> bool:
        try:
            return bool(self._engine.get_object_in(txn, kind, name).extra.get("managed"))
        except NotFoundError:
            return False

    @operation("CertificateDelete", A.CERT_DELETE, _name)
    def delete_certificate(self, name: str) -> DeletedCertificate:
        """Soft-delete the certificate with all its versions and its backing key and secret."""
        self._check_allowed()

        def run(txn: WriteTxn) -> tuple[DeletedRecord, VersionRecord]:
            result = self._engine.delete_in(txn, KIND, name)
            for kind in BACKING:
                if self._managed_in(txn, kind, name):
                    self._engine.delete_in(txn, kind, name)
            return result

        return self._deleted(*self._engine.write(run))

    @operation("CertificateGetDeleted", A.DELETED_CERT_READ, _name)
    def get_deleted_certificate(self, name: str) -> DeletedCertificate:
        self._check_allowed()
        return self._deleted(*self._engine.get_deleted(KIND, name))

    @operation("CertificateListDeleted", A.DELETED_CERT_READ)
    def list_deleted_certificates(self) -> Iterator[DeletedCertificate]:
        self._check_allowed()
        return iter([self._deleted(d, r) for d, r in self._engine.list_deleted(KIND)])

    @operation("CertificateRecover", A.DELETED_CERT_RECOVER, _name, object_id=id_of)
    def recover_deleted_certificate(self, name: str) -> KeyVaultCertificate:
        """Bring the certificate back with its backing key and secret."""
        self._check_allowed()

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            rec = self._engine.recover_in(txn, KIND, name)
            for kind in BACKING:
                try:
                    self._engine.recover_in(txn, kind, name)
                except NotFoundError:
                    continue  # not in the deleted state (nothing to recover)
            return self._engine.get_object_in(txn, KIND, name), rec

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, policy_of(obj))

    @operation("CertificatePurge", A.DELETED_CERT_PURGE, _name)
    def purge_deleted_certificate(self, name: str) -> None:
        """Erase a soft-deleted certificate and its key and secret (refused under purge protection)."""
        self._check_allowed()

        def run(txn: WriteTxn) -> None:
            self._engine.purge_in(txn, KIND, name)
            for kind in BACKING:
                try:
                    self._engine.purge_in(txn, kind, name)
                except NotFoundError:
                    continue

        self._engine.write(run)

    # -- backup / restore --------------------------------------------------------------

    @operation("CertificateBackup", A.CERT_BACKUP, _name)
    def backup_certificate(self, name: str) -> bytes:
        """One blob with every version of the certificate, its key and its secret."""
        self._check_allowed()
        self._engine.get(KIND, name)  # NotFound names the certificate, not its key
        return self._backups.backup(KIND, name, also=BACKING)

    @operation("CertificateRestore", A.CERT_RESTORE, object_id=id_of)
    def restore_certificate_backup(self, backup: bytes) -> KeyVaultCertificate:
        """Recreate the certificate, key and secret of a blob in one transaction."""
        self._check_allowed()
        rec = self._backups.restore(KIND, backup)
        return self._to_cert(rec, policy_of(self._engine.get_object(KIND, rec.name)))

    # -- pending operations ------------------------------------------------------------

    @operation("CertificatePendingGet", A.CERT_READ, _name)
    def get_certificate_operation(self, name: str) -> CertificateOperation:
        """The certificate's last operation: inProgress (CSR waiting), completed or cancelled."""
        self._check_allowed()
        obj = self._engine.get_object(KIND, name)
        doc = obj.extra.get("operation")
        if not doc:
            raise no_operation(name)
        return self._operation(obj.name, doc)

    @operation("CertificatePendingCancel", A.CERT_UPDATE, _name)
    def cancel_certificate_operation(self, name: str) -> CertificateOperation:
        """Cancel a pending operation: status cancelled, the pending key is dropped."""
        self._check_allowed()

        def run(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.get_object_in(txn, KIND, name)
            doc, _ = pending_of(obj)
            cancelled = {
                **doc,
                "status": CertificateOperationStatus.cancelled.value,
                "cancellation_requested": True,
                "status_details": "The certificate operation was cancelled.",
            }
            return self._engine.update_object_in(txn, KIND, name, {"operation": cancelled, "pending": None})

        obj = self._engine.write(run)
        return self._operation(obj.name, obj.extra["operation"])

    @operation("CertificatePendingDelete", A.CERT_DELETE, _name)
    def delete_certificate_operation(self, name: str) -> CertificateOperation:
        """Forget the certificate's operation (and its pending key); returns it as it was."""
        self._check_allowed()

        def run(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.get_object_in(txn, KIND, name)
            if not obj.extra.get("operation"):
                raise no_operation(name)
            self._engine.update_object_in(txn, KIND, name, {"operation": None, "pending": None})
            self._engine.drop_empty_object_in(txn, KIND, name)
            return obj

        obj = self._engine.write(run)
        return self._operation(obj.name, obj.extra["operation"])

    # -- contacts ----------------------------------------------------------------------

    @operation("CertificateContactsSet", A.CERT_CONTACTS_WRITE)
    def set_contacts(self, contacts: Sequence[CertificateContact]) -> list[CertificateContact]:
        """Replace the vault's certificate contacts (told by EmailContacts lifetime actions)."""
        self._check_allowed()
        return self._meta.set_contacts(contacts)

    @operation("CertificateContactsGet", A.CERT_CONTACTS_READ)
    def get_contacts(self) -> list[CertificateContact]:
        self._check_allowed()
        return self._meta.get_contacts()

    @operation("CertificateContactsDelete", A.CERT_CONTACTS_WRITE)
    def delete_contacts(self) -> list[CertificateContact]:
        """Remove the contacts; returns them."""
        self._check_allowed()
        return self._meta.delete_contacts()

    # -- issuers -----------------------------------------------------------------------

    @operation("CertificateIssuerCreate", A.CERT_ISSUERS_WRITE)
    def create_issuer(
        self,
        issuer_name: str,
        provider: str,
        *,
        enabled: bool | None = None,
        account_id: str | None = None,
        password: str | None = None,
        organization_id: str | None = None,
        admin_contacts: Sequence[AdministratorContact] | None = None,
    ) -> CertificateIssuer:
        """Register (or replace) an issuer: metadata only, vaultcore never calls a CA."""
        self._check_allowed()
        name = self._meta.check_issuer_name(issuer_name)
        issuer = CertificateIssuer(
            name,
            provider,
            account_id=account_id,
            password=password,
            organization_id=organization_id,
            admin_contacts=admin_contacts,
            enabled=enabled,
        )
        return self._meta.create_issuer(name, issuer)

    @operation("CertificateIssuerUpdate", A.CERT_ISSUERS_WRITE)
    def update_issuer(
        self,
        issuer_name: str,
        *,
        provider: str | None = None,
        enabled: bool | None = None,
        account_id: str | None = None,
        password: str | None = None,
        organization_id: str | None = None,
        admin_contacts: Sequence[AdministratorContact] | None = None,
    ) -> CertificateIssuer:
        """Change the fields given; the others keep their value."""
        self._check_allowed()
        name = self._meta.check_issuer_name(issuer_name)
        given = {
            "provider": provider,
            "enabled": enabled,
            "account_id": account_id,
            "password": password,
            "organization_id": organization_id,
            "admin_contacts": admin_contacts,
        }
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        return self._meta.update_issuer(name, changes)

    @operation("CertificateIssuerGet", A.CERT_ISSUERS_READ)
    def get_issuer(self, issuer_name: str) -> CertificateIssuer:
        self._check_allowed()
        name = self._meta.check_issuer_name(issuer_name)
        return self._meta.get_issuer(name)

    @operation("CertificateIssuerDelete", A.CERT_ISSUERS_DELETE)
    def delete_issuer(self, issuer_name: str) -> CertificateIssuer:
        """Remove an issuer; returns it (without its password)."""
        self._check_allowed()
        name = self._meta.check_issuer_name(issuer_name)
        return self._meta.delete_issuer(name)

    @operation("CertificateIssuerList", A.CERT_ISSUERS_READ)
    def list_properties_of_issuers(self) -> Iterator[IssuerProperties]:
        """Name, provider and id of every issuer."""
        self._check_allowed()
        return iter(self._meta.list_issuers())

    # -- lifetime actions (run_maintenance) --------------------------------------------

    @operation("VaultMaintenance", A.VAULT_ADMIN)
    def run_lifetime_actions(self) -> list[dict[str, Any]]:
        """Apply every certificate's lifetime actions at the vault clock's now.

        AutoRenew issues a new version (issuer Self; ``reuse_key`` honoured) or starts a
        pending CSR (other issuers); EmailContacts records an event naming the contacts (no
        mail is sent). Each action fires once per version. Returns the events.
        """
        return self._lifetime.run()
