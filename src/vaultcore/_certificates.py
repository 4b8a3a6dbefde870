"""``vault.certificates``: Azure Key Vault's CertificateClient over the lifecycle engine.

Like Azure, every certificate version is three objects with the same name and version id,
written in one transaction:

* the **certificate** version (``Kind.CERTIFICATE``): payload = the DER leaf and chain,
  attributes ``nbf``/``exp`` = the certificate's validity, ``extra`` = thumbprint (``x5t``)
  and a snapshot of the policy it was issued under;
* a **managed key** version (``Kind.KEY``, ``managed=True``): the private key, with
  ``key_ops`` derived from the policy's key usage and ``exportable`` from the policy;
* a **managed secret** version (``Kind.SECRET``, ``managed=True``): the PFX (base64, no
  password) or PEM text, with the private key only when the policy makes it exportable.

The secrets and keys clients can read the managed objects but refuse to change or delete
them; deleting, recovering, purging, backing up and restoring a certificate acts on all
three at once. ``kid``/``sid`` are derived from the vault URL, name and version (not
stored), so a backup restored into a sibling vault names that vault.

The certificate's object record ``extra`` holds per-certificate state::

    policy        the current policy (REST JSON, Azure defaults filled, created/updated stamps)
    operation     the last certificate operation (REST JSON without ``id``): inProgress for a
                  CSR waiting for a merge, else completed/cancelled
    pending       while an operation is in progress: the pending private key (KeyMaterial
                  bytes, base64), and the ``enabled``/``tags`` asked at creation
    actions_done  {action type: version} — each lifetime action fires once per version

The whole object record is envelope-sealed, so the pending key is as protected as a key
version's payload. A certificate whose first version is still pending has an object record
but no version: ``get_certificate`` says NotFound and lists skip it (Azure's
``include_pending=False``), while its policy and operation can be read.

Contacts and issuers are vault-level metadata in the ``certmeta`` database, sealed records
(``RecordType.META``) under opaque keys (issuer: keyed hash of the name), so keyring
rotation re-wraps them and names are not readable at rest. Issuer passwords are stored
sealed and never returned.

Premium (PKCS#11) certificate keys are not supported yet: issuance signs with
``cryptography``, which cannot use a key inside the token, so ``-HSM`` key types raise
``UnsupportedError`` in a premium vault (``InvalidParameterError`` in a standard one, as for
keys). A managed HSM holds no certificates (``ForbiddenError``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import _keymaterial as km
from ._backup import ObjectBackup
from ._cert_models import CertificateProperties, DeletedCertificate, KeyVaultCertificate
from ._certpolicy import (
    AdministratorContact,
    CertificateContact,
    CertificateContentType,
    CertificateIssuer,
    CertificateOperation,
    CertificateOperationStatus,
    CertificatePolicy,
    CertificatePolicyAction,
    IssuerProperties,
    KeyUsageType,
    WellKnownIssuerNames,
)
from ._envelope import RecordType
from ._jwk import KeyOperation, KeyType
from ._lifecycle import Lifecycle, NewVersion
from ._models import base_properties, deleted_fields
from ._operations import Session, id_of, name_scope, operation
from ._records import DeletedRecord, Kind, ObjectRecord, VersionRecord, decode, encode
from ._roles import DataAction as A
from ._storage import ReadTxn, WriteTxn
from ._validation import attribute_changes, check_bool, check_name, check_tags, from_timestamp
from ._x509 import (
    build_csr,
    build_self_signed,
    check_key_for_policy,
    export_pem,
    export_pkcs12,
    lifetime_action_due,
    merge_chain,
    parse_import,
    policy_from_certificate,
    thumbprint,
)
from .exceptions import (
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    NotFoundError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from ._context import VaultContext
    from ._keys import KeyClient

__all__ = ["CertificateClient"]

_KIND = Kind.CERTIFICATE
_BACKING = (Kind.KEY, Kind.SECRET)
_ALL = (Kind.CERTIFICATE, Kind.KEY, Kind.SECRET)
_name = name_scope("certificates")

CERTMETA = b"certmeta"
_CONTACTS_KEY = b"contacts"
_ISSUER_PREFIX = b"issuer/"
_PENDING_DETAILS = "Pending certificate created. Please Perform Merge to complete the request."
_SIGNING_USAGES = {
    KeyUsageType.digital_signature,
    KeyUsageType.non_repudiation,
    KeyUsageType.key_cert_sign,
    KeyUsageType.crl_sign,
}
_IN_PROGRESS = CertificateOperationStatus.in_progress.value
_RESERVED_ISSUERS = {n.value.lower() for n in WellKnownIssuerNames}


@dataclasses.dataclass(frozen=True)
class _Issued:
    """What one issuance writes, prepared outside the transaction (no version id yet)."""

    cert: NewVersion
    key: NewVersion
    secret: NewVersion


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
            **base_properties(_KIND, rec, self._ctx.settings),  # type: ignore[arg-type]
            x509_thumbprint=tp,
        )

    def _to_cert(self, rec: VersionRecord, policy: CertificatePolicy | None) -> KeyVaultCertificate:
        return KeyVaultCertificate(
            properties=self._props(rec),
            cer=_unpack_chain(rec.payload)[0],
            policy=policy,
            key_id=self._id("keys", rec.name, rec.version),
            secret_id=self._id("secrets", rec.name, rec.version),
        )

    def _deleted(self, deleted: DeletedRecord, rec: VersionRecord) -> DeletedCertificate:
        fields = deleted_fields(_KIND, rec.name, deleted, self._ctx.settings)
        return DeletedCertificate(
            properties=self._props(rec),
            cer=_unpack_chain(rec.payload)[0],
            recovery_id=str(fields["recovery_id"]),
            deleted_on=from_timestamp(deleted.deleted_on),
            scheduled_purge_date=from_timestamp(deleted.scheduled_purge),
            policy=_policy_of(deleted.obj),
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

    def _check_key_type(self, kty: KeyType | None) -> None:
        if kty is None or not kty.value.endswith("-HSM"):
            return
        if self._ctx.settings.tier == "premium":
            raise UnsupportedError(
                f"Certificates with key type {kty.value} are not supported yet: vaultcore signs certificates "
                "with software keys and cannot use a key inside the PKCS#11 token. Use RSA or EC.",
                inner_code="BadParameter",
            )
        raise InvalidParameterError(
            f"Key type {kty.value} needs a premium vault or a managed HSM (its key lives in the HSM); "
            "this vault is standard tier.",
            inner_code="BadParameter",
        )

    def _complete(self, policy: CertificatePolicy, txn: ReadTxn | None = None) -> CertificatePolicy:
        """The policy with Azure's defaults, checked against this vault (key type, issuer)."""
        if not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")
        full = policy.with_azure_defaults()
        self._check_key_type(full.key_type)
        issuer = str(full.issuer_name)
        if issuer.lower() not in _RESERVED_ISSUERS:
            if txn is None:
                with self._ctx.read() as rtxn:
                    found = rtxn.get(CERTMETA, self._issuer_key(issuer)) is not None
            else:
                found = txn.get(CERTMETA, self._issuer_key(issuer)) is not None
            if not found:
                raise InvalidParameterError(
                    f"The issuer {issuer!r} is not registered in this vault; create it with create_issuer, or use "
                    "'Self' or 'Unknown'.",
                    inner_code="BadParameter",
                )
        return full

    def _stamped(self, policy: CertificatePolicy, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """The policy's REST JSON with created (kept from *previous*) and updated stamps."""
        now = self._ctx.clock()
        created = _policy_created(previous) or now
        doc = dataclasses.replace(policy, created_on=created, updated_on=now).to_dict()
        return doc

    # -- issuance ----------------------------------------------------------------------

    def _generate(self, policy: CertificatePolicy) -> km.KeyMaterial:
        kty = (policy.key_type or KeyType.rsa).software
        if kty is KeyType.ec:
            return km.generate(KeyType.ec, curve=policy.key_curve_name)
        return km.generate(KeyType.rsa, size=policy.key_size)

    def _material_for(self, name: str, policy: CertificatePolicy) -> km.KeyMaterial:
        """A new key, or the latest version's key when ``reuse_key`` is set and it fits the policy."""
        if policy.reuse_key:
            try:
                cert = self._engine.get(_KIND, name)
                key_rec = self._engine.get(Kind.KEY, name, cert.version)
            except NotFoundError:
                key_rec = None
            if key_rec is not None:
                material = self._keys.material(key_rec)
                try:
                    check_key_for_policy(material.as_cryptography(), policy)
                    return material
                except InvalidParameterError:
                    pass  # the policy now asks for another key type or size: a new key
        return self._generate(policy)

    def _prepare(
        self,
        policy: CertificatePolicy,
        material: km.KeyMaterial,
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        enabled: bool,
        tags: dict[str, str],
        policy_doc: dict[str, Any],
    ) -> _Issued:
        """The three versions of one certificate version (ids are set in the transaction)."""
        nbf, exp = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        exportable = bool(policy.exportable)
        content_type = policy.content_type or CertificateContentType.pkcs12
        private = material.as_cryptography() if exportable else None
        if content_type is CertificateContentType.pem:
            value = export_pem(private, leaf, chain)
        else:
            value = base64.b64encode(export_pkcs12(private, leaf, chain)).decode("ascii")
        cert = NewVersion(
            payload=_pack_chain([leaf, *chain]),
            enabled=enabled,
            not_before=int(nbf.timestamp()),
            expires_on=int(exp.timestamp()),
            tags=tags,
            extra={"x5t": thumbprint(leaf).hex(), "policy": policy_doc},
        )
        kty = material.kty
        key = self._keys._new_version(
            material,
            kty,
            _key_ops(kty, policy.key_usage),
            enabled=enabled,
            not_before=nbf,
            expires_on=exp,
            tags=None,
            exportable=exportable,
            managed=True,
        )
        secret = NewVersion(
            payload=value.encode("ascii"),
            enabled=enabled,
            not_before=cert.not_before,
            expires_on=cert.expires_on,
            content_type=content_type.value,
            managed=True,
        )
        return _Issued(cert, key, secret)

    def _issue_in(
        self,
        txn: WriteTxn,
        name: str,
        issued: _Issued,
        object_changes: dict[str, Any],
        *,
        refuse_pending: bool,
    ) -> tuple[ObjectRecord, VersionRecord]:
        """Write the certificate, key and secret versions with one fresh id, and the object state."""
        obj = self._engine.ensure_object_in(txn, _KIND, name)
        if refuse_pending:
            _refuse_pending(obj)
        display = obj.name
        vid = self._engine.new_version_id_in(txn, _ALL, display)
        rec = self._engine.add_version_in(txn, _KIND, display, dataclasses.replace(issued.cert, version=vid))
        self._engine.add_version_in(txn, Kind.KEY, display, dataclasses.replace(issued.key, version=vid))
        secret = dataclasses.replace(issued.secret, version=vid, extra={"kid": self._id("keys", display, vid)})
        self._engine.add_version_in(txn, Kind.SECRET, display, secret)
        obj = self._engine.update_object_in(txn, _KIND, display, object_changes)
        return obj, rec

    def _completed_op(self, policy: CertificatePolicy, name: str, request_id: str) -> dict[str, Any]:
        return CertificateOperation(
            name,
            issuer_name=policy.issuer_name,
            certificate_type=policy.certificate_type,
            certificate_transparency=policy.certificate_transparency,
            status=CertificateOperationStatus.completed,
            target=f"{self._ctx.settings.url}/certificates/{name}",
            request_id=request_id,
        ).to_dict()

    def _pending_op(self, policy: CertificatePolicy, name: str, csr: bytes, request_id: str) -> CertificateOperation:
        return CertificateOperation(
            name,
            issuer_name=policy.issuer_name,
            certificate_type=policy.certificate_type,
            certificate_transparency=policy.certificate_transparency,
            csr=csr,
            status=CertificateOperationStatus.in_progress,
            status_details=_PENDING_DETAILS,
            target=f"{self._ctx.settings.url}/certificates/{name}",
            request_id=request_id,
        )

    def _self_sign(
        self,
        name: str,
        policy: CertificatePolicy,
        material: km.KeyMaterial,
        *,
        enabled: bool,
        tags: dict[str, str],
        policy_doc: dict[str, Any],
        request_id: str,
    ) -> tuple[_Issued, dict[str, Any]]:
        """A self-signed certificate at the vault clock's now, its three versions and its completed operation."""
        leaf = build_self_signed(material.as_cryptography(), policy, now=self._ctx.clock())
        issued = self._prepare(policy, material, leaf, (), enabled=enabled, tags=tags, policy_doc=policy_doc)
        return issued, self._completed_op(policy, name, request_id)

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
        check_name(name, _KIND)
        full = self._complete(CertificatePolicy.get_default() if policy is None else policy)
        is_enabled = full.enabled is not False if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(tags)
        with contextlib.suppress(NotFoundError):
            _refuse_pending(self._engine.get_object(_KIND, name))
        material = self._material_for(name, full)
        request_id = uuid.uuid4().hex
        target = f"{self._ctx.settings.url}/certificates/{name}"
        if full.issuer_name == WellKnownIssuerNames.Self.value:
            issued, op_doc = self._self_sign(
                name, full, material, enabled=is_enabled, tags=tag_map, policy_doc=full.to_dict(), request_id=request_id
            )

            def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
                current = _policy_doc_in(self._engine, txn, name)
                doc = self._stamped(full, current)
                local = dataclasses.replace(issued, cert=_with_policy(issued.cert, doc))
                changes = {"policy": doc, "operation": op_doc, "pending": None}
                return self._issue_in(txn, name, local, changes, refuse_pending=True)

            self._engine.write(run)
            return CertificateOperation(
                name,
                issuer_name=full.issuer_name,
                certificate_type=full.certificate_type,
                certificate_transparency=full.certificate_transparency,
                status=CertificateOperationStatus.in_progress,
                target=target,
                request_id=request_id,
                id=f"{target}/pending",
            )
        csr = build_csr(material.as_cryptography(), full).public_bytes(serialization.Encoding.DER)
        op = self._pending_op(full, name, csr, request_id)
        pending = {"key": base64.b64encode(material.to_bytes()).decode("ascii"), "enabled": is_enabled, "tags": tag_map}

        def start(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.ensure_object_in(txn, _KIND, name)
            _refuse_pending(obj)
            doc = self._stamped(full, obj.extra.get("policy"))
            changes = {"policy": doc, "operation": op.to_dict(), "pending": pending}
            return self._engine.update_object_in(txn, _KIND, obj.name, changes)

        obj = self._engine.write(start)
        return dataclasses.replace(op, name=obj.name, id=f"{target}/pending")

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
        obj = self._engine.get_object(_KIND, name)
        op_doc, pending = _pending_of(obj)
        material = _pending_material(pending)
        leaf, chain = merge_chain(material.as_cryptography(), x509_certificates)
        policy = _policy_of(obj) or CertificatePolicy(WellKnownIssuerNames.Unknown.value)
        is_enabled = bool(pending.get("enabled", True)) if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(dict(pending.get("tags") or {}) if tags is None else tags)
        doc = obj.extra.get("policy") or policy.to_dict()
        issued = self._prepare(policy, material, leaf, chain, enabled=is_enabled, tags=tag_map, policy_doc=doc)
        completed = {**op_doc, "status": CertificateOperationStatus.completed.value}
        completed.pop("status_details", None)
        completed.pop("csr", None)

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            current = self._engine.get_object_in(txn, _KIND, name)
            now_doc, _ = _pending_of(current)
            if now_doc.get("request_id") != op_doc.get("request_id"):
                raise ConflictError(f"The pending operation of certificate {name} changed meanwhile; retry.")
            changes = {"operation": completed, "pending": None}
            return self._issue_in(txn, name, issued, changes, refuse_pending=False)

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, _policy_of(obj))

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
    ) -> KeyVaultCertificate:
        """Import a PEM or PKCS#12 (raw or base64) with its private key as a new version.

        The stored value has no password; the chain keeps the order given. Without *policy*
        the policy is derived from the certificate (issuer Unknown, content type = the
        format imported); fields of *policy* override it. A key that does not match the
        certificate or the policy, or data that is neither PEM nor PFX: InvalidParameterError.
        """
        self._check_allowed()
        check_name(name, _KIND)
        if password is not None and not isinstance(password, str | bytes):
            raise InvalidParameterError("password must be a string or bytes")
        pwd = password.encode("utf-8") if isinstance(password, str) else password
        if policy is not None and not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")
        imported = parse_import(certificate_bytes, pwd)
        derived = policy_from_certificate(imported.certificate, content_type=imported.content_type)
        if policy is not None:
            derived = derived.updated_with(policy)
        full = self._complete(derived)
        check_key_for_policy(imported.private_key, full)
        is_enabled = True if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(tags)
        material = km.KeyMaterial.from_cryptography(imported.private_key)
        issued = self._prepare(
            full,
            material,
            imported.certificate,
            imported.chain,
            enabled=is_enabled,
            tags=tag_map,
            policy_doc=full.to_dict(),
        )

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            doc = self._stamped(full, _policy_doc_in(self._engine, txn, name))
            local = dataclasses.replace(issued, cert=_with_policy(issued.cert, doc))
            return self._issue_in(txn, name, local, {"policy": doc}, refuse_pending=True)

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, _policy_of(obj))

    # -- reads -------------------------------------------------------------------------

    @operation("CertificateGet", A.CERT_READ, _name, object_id=id_of)
    def get_certificate(self, name: str) -> KeyVaultCertificate:
        """The latest version with its policy (certificates are public: disabled ones are readable)."""
        self._check_allowed()
        with self._ctx.read() as txn:
            rec = self._engine.get_in(txn, _KIND, name)
            obj = self._engine.get_object_in(txn, _KIND, name)
        return self._to_cert(rec, _policy_of(obj))

    @operation("CertificateGet", A.CERT_READ, _name, object_id=id_of)
    def get_certificate_version(self, name: str, version: str) -> KeyVaultCertificate:
        """One version (without the policy, as in Azure)."""
        self._check_allowed()
        if not isinstance(version, str) or not version:
            raise InvalidParameterError("version must be a non-empty string")
        return self._to_cert(self._engine.get(_KIND, name, version), None)

    @operation("CertificateList", A.CERT_READ)
    def list_properties_of_certificates(self) -> Iterator[CertificateProperties]:
        """Properties of the latest version of every certificate (pending-only ones are skipped)."""
        self._check_allowed()
        return iter([self._props(r) for r in self._engine.latest_all(_KIND)])

    @operation("CertificateListVersions", A.CERT_READ, _name)
    def list_properties_of_certificate_versions(self, name: str) -> Iterator[CertificateProperties]:
        self._check_allowed()
        return iter([self._props(r) for r in self._engine.versions(_KIND, name)])

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
            rec = self._engine.update_version_in(txn, _KIND, name, version, changes)
            if "enabled" in changes:
                for kind in _BACKING:
                    try:
                        backing = self._engine.get_in(txn, kind, name, rec.version)
                    except NotFoundError:
                        continue
                    if backing.managed:
                        self._engine.update_version_in(txn, kind, name, rec.version, {"enabled": changes["enabled"]})
            return self._engine.get_object_in(txn, _KIND, name), rec

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, _policy_of(obj))

    # -- policy ------------------------------------------------------------------------

    @operation("CertificatePolicyGet", A.CERT_READ, _name)
    def get_certificate_policy(self, name: str) -> CertificatePolicy:
        """The certificate's current policy (also while its first version is pending)."""
        self._check_allowed()
        policy = _policy_of(self._engine.get_object(_KIND, name))
        if policy is None:
            raise self._engine.not_found(_KIND, name)
        return policy

    @operation("CertificatePolicySet", A.CERT_UPDATE, _name)
    def update_certificate_policy(self, name: str, policy: CertificatePolicy) -> CertificatePolicy:
        """Merge *policy* into the current one (fields it sets win); applies to future versions."""
        self._check_allowed()
        if not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")

        def run(txn: WriteTxn) -> dict[str, Any]:
            obj = self._engine.get_object_in(txn, _KIND, name)
            current = _policy_of(obj) or CertificatePolicy()
            full = self._complete(current.updated_with(policy), txn)
            doc = self._stamped(full, obj.extra.get("policy"))
            self._engine.update_object_in(txn, _KIND, name, {"policy": doc})
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
            result = self._engine.delete_in(txn, _KIND, name)
            for kind in _BACKING:
                if self._managed_in(txn, kind, name):
                    self._engine.delete_in(txn, kind, name)
            return result

        return self._deleted(*self._engine.write(run))

    @operation("CertificateGetDeleted", A.DELETED_CERT_READ, _name)
    def get_deleted_certificate(self, name: str) -> DeletedCertificate:
        self._check_allowed()
        return self._deleted(*self._engine.get_deleted(_KIND, name))

    @operation("CertificateListDeleted", A.DELETED_CERT_READ)
    def list_deleted_certificates(self) -> Iterator[DeletedCertificate]:
        self._check_allowed()
        return iter([self._deleted(d, r) for d, r in self._engine.list_deleted(_KIND)])

    @operation("CertificateRecover", A.DELETED_CERT_RECOVER, _name, object_id=id_of)
    def recover_deleted_certificate(self, name: str) -> KeyVaultCertificate:
        """Bring the certificate back with its backing key and secret."""
        self._check_allowed()

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            rec = self._engine.recover_in(txn, _KIND, name)
            for kind in _BACKING:
                try:
                    self._engine.recover_in(txn, kind, name)
                except NotFoundError:
                    continue  # not in the deleted state (nothing to recover)
            return self._engine.get_object_in(txn, _KIND, name), rec

        obj, rec = self._engine.write(run)
        return self._to_cert(rec, _policy_of(obj))

    @operation("CertificatePurge", A.DELETED_CERT_PURGE, _name)
    def purge_deleted_certificate(self, name: str) -> None:
        """Erase a soft-deleted certificate and its key and secret (refused under purge protection)."""
        self._check_allowed()

        def run(txn: WriteTxn) -> None:
            self._engine.purge_in(txn, _KIND, name)
            for kind in _BACKING:
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
        self._engine.get(_KIND, name)  # NotFound names the certificate, not its key
        return self._backups.backup(_KIND, name, also=_BACKING)

    @operation("CertificateRestore", A.CERT_RESTORE, object_id=id_of)
    def restore_certificate_backup(self, backup: bytes) -> KeyVaultCertificate:
        """Recreate the certificate, key and secret of a blob in one transaction."""
        self._check_allowed()
        rec = self._backups.restore(_KIND, backup)
        return self._to_cert(rec, _policy_of(self._engine.get_object(_KIND, rec.name)))

    # -- pending operations ------------------------------------------------------------

    @operation("CertificatePendingGet", A.CERT_READ, _name)
    def get_certificate_operation(self, name: str) -> CertificateOperation:
        """The certificate's last operation: inProgress (CSR waiting), completed or cancelled."""
        self._check_allowed()
        obj = self._engine.get_object(_KIND, name)
        doc = obj.extra.get("operation")
        if not doc:
            raise _no_operation(name)
        return self._operation(obj.name, doc)

    @operation("CertificatePendingCancel", A.CERT_UPDATE, _name)
    def cancel_certificate_operation(self, name: str) -> CertificateOperation:
        """Cancel a pending operation: status cancelled, the pending key is dropped."""
        self._check_allowed()

        def run(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.get_object_in(txn, _KIND, name)
            doc, _ = _pending_of(obj)
            cancelled = {
                **doc,
                "status": CertificateOperationStatus.cancelled.value,
                "cancellation_requested": True,
                "status_details": "The certificate operation was cancelled.",
            }
            return self._engine.update_object_in(txn, _KIND, name, {"operation": cancelled, "pending": None})

        obj = self._engine.write(run)
        return self._operation(obj.name, obj.extra["operation"])

    @operation("CertificatePendingDelete", A.CERT_DELETE, _name)
    def delete_certificate_operation(self, name: str) -> CertificateOperation:
        """Forget the certificate's operation (and its pending key); returns it as it was."""
        self._check_allowed()

        def run(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.get_object_in(txn, _KIND, name)
            if not obj.extra.get("operation"):
                raise _no_operation(name)
            self._engine.update_object_in(txn, _KIND, name, {"operation": None, "pending": None})
            self._engine.drop_empty_object_in(txn, _KIND, name)
            return obj

        obj = self._engine.write(run)
        return self._operation(obj.name, obj.extra["operation"])

    # -- contacts ----------------------------------------------------------------------

    def _meta_get(self, txn: ReadTxn, key: bytes) -> dict[str, Any] | None:
        blob = txn.get(CERTMETA, key)
        if blob is None:
            return None
        head, _ = decode(self._ctx.envelope.open(RecordType.META, CERTMETA + b"/" + key, blob))
        return head

    def _meta_put_in(self, txn: WriteTxn, key: bytes, doc: dict[str, Any]) -> None:
        txn.put(CERTMETA, key, self._ctx.envelope.seal(RecordType.META, CERTMETA + b"/" + key, encode(doc)))

    def _read_contacts(self) -> list[CertificateContact] | None:
        with self._ctx.read() as txn:
            doc = self._meta_get(txn, _CONTACTS_KEY)
        return None if doc is None else _contacts_from(doc)

    @operation("CertificateContactsSet", A.CERT_CONTACTS_WRITE)
    def set_contacts(self, contacts: Sequence[CertificateContact]) -> list[CertificateContact]:
        """Replace the vault's certificate contacts (told by EmailContacts lifetime actions)."""
        self._check_allowed()
        if isinstance(contacts, CertificateContact) or not isinstance(contacts, Sequence) or not contacts:
            raise InvalidParameterError("contacts must be a non-empty list of CertificateContact")
        if not all(isinstance(c, CertificateContact) for c in contacts):
            raise InvalidParameterError("contacts must be a non-empty list of CertificateContact")
        doc = {"contacts": [c.to_dict() for c in contacts]}
        self._ctx.write(lambda txn: self._meta_put_in(txn, _CONTACTS_KEY, doc))
        return list(contacts)

    @operation("CertificateContactsGet", A.CERT_CONTACTS_READ)
    def get_contacts(self) -> list[CertificateContact]:
        self._check_allowed()
        contacts = self._read_contacts()
        if contacts is None:
            raise NotFoundError("No certificate contacts are set in this key vault.", inner_code="ContactsNotFound")
        return contacts

    @operation("CertificateContactsDelete", A.CERT_CONTACTS_WRITE)
    def delete_contacts(self) -> list[CertificateContact]:
        """Remove the contacts; returns them."""
        self._check_allowed()

        def run(txn: WriteTxn) -> list[CertificateContact]:
            doc = self._meta_get(txn, _CONTACTS_KEY)
            if doc is None:
                raise NotFoundError("No certificate contacts are set in this key vault.", inner_code="ContactsNotFound")
            txn.delete(CERTMETA, _CONTACTS_KEY)
            return _contacts_from(doc)

        return self._ctx.write(run)

    # -- issuers -----------------------------------------------------------------------

    def _issuer_key(self, name: str) -> bytes:
        h = self._ctx.name_hasher()
        h.update(b"\xffcertificate-issuer\x00" + name.lower().encode())
        return _ISSUER_PREFIX + h.digest()[:16]

    def _issuer_out(self, doc: Mapping[str, Any]) -> CertificateIssuer:
        """The stored issuer as returned: with its id, never its password."""
        try:
            issuer = CertificateIssuer.from_dict(str(doc["name"]), doc["issuer"])
        except (KeyError, TypeError, InvalidParameterError):
            raise IntegrityError() from None
        ident = f"{self._ctx.settings.url}/certificates/issuers/{issuer.name}"
        return dataclasses.replace(issuer, password=None, id=ident)

    def _issuer_doc(self, txn: ReadTxn, name: str) -> dict[str, Any]:
        doc = self._meta_get(txn, self._issuer_key(name))
        if doc is None:
            raise NotFoundError(f"Issuer not found: {name}", inner_code="CertificateIssuerNotFound")
        return doc

    @staticmethod
    def _check_issuer_name(name: object) -> str:
        check_name(name)
        assert isinstance(name, str)
        if name.lower() in _RESERVED_ISSUERS:
            raise InvalidParameterError(f"the issuer name {name!r} is reserved", inner_code="BadParameter")
        return name

    def _store_issuer_in(self, txn: WriteTxn, issuer: CertificateIssuer, previous: dict[str, Any] | None) -> None:
        now = self._ctx.clock()
        created = None if previous is None else CertificateIssuer.from_dict(previous["name"], previous["issuer"])
        stamped = dataclasses.replace(
            issuer,
            enabled=True if issuer.enabled is None else issuer.enabled,
            created_on=created.created_on if created is not None and created.created_on else now,
            updated_on=now,
            id=None,
        )
        doc = {"name": issuer.name, "issuer": stamped.to_dict(include_password=True)}
        self._meta_put_in(txn, self._issuer_key(issuer.name), doc)

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
        name = self._check_issuer_name(issuer_name)
        issuer = CertificateIssuer(
            name,
            provider,
            account_id=account_id,
            password=password,
            organization_id=organization_id,
            admin_contacts=admin_contacts,
            enabled=enabled,
        )

        def run(txn: WriteTxn) -> dict[str, Any]:
            key = self._issuer_key(name)
            previous = self._meta_get(txn, key)
            self._store_issuer_in(txn, issuer, previous)
            return self._issuer_doc(txn, name)

        return self._issuer_out(self._ctx.write(run))

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
        name = self._check_issuer_name(issuer_name)
        given = {
            "provider": provider,
            "enabled": enabled,
            "account_id": account_id,
            "password": password,
            "organization_id": organization_id,
            "admin_contacts": admin_contacts,
        }
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}

        def run(txn: WriteTxn) -> dict[str, Any]:
            previous = self._issuer_doc(txn, name)
            try:
                current = CertificateIssuer.from_dict(previous["name"], previous["issuer"])
            except (KeyError, TypeError, InvalidParameterError):
                raise IntegrityError() from None
            self._store_issuer_in(txn, dataclasses.replace(current, **changes), previous)
            return self._issuer_doc(txn, name)

        return self._issuer_out(self._ctx.write(run))

    @operation("CertificateIssuerGet", A.CERT_ISSUERS_READ)
    def get_issuer(self, issuer_name: str) -> CertificateIssuer:
        self._check_allowed()
        name = self._check_issuer_name(issuer_name)
        with self._ctx.read() as txn:
            return self._issuer_out(self._issuer_doc(txn, name))

    @operation("CertificateIssuerDelete", A.CERT_ISSUERS_DELETE)
    def delete_issuer(self, issuer_name: str) -> CertificateIssuer:
        """Remove an issuer; returns it (without its password)."""
        self._check_allowed()
        name = self._check_issuer_name(issuer_name)

        def run(txn: WriteTxn) -> dict[str, Any]:
            doc = self._issuer_doc(txn, name)
            txn.delete(CERTMETA, self._issuer_key(name))
            return doc

        return self._issuer_out(self._ctx.write(run))

    @operation("CertificateIssuerList", A.CERT_ISSUERS_READ)
    def list_properties_of_issuers(self) -> Iterator[IssuerProperties]:
        """Name, provider and id of every issuer."""
        self._check_allowed()
        out: list[IssuerProperties] = []
        with self._ctx.read() as txn:
            for key, _ in txn.scan(CERTMETA, _ISSUER_PREFIX):
                doc = self._meta_get(txn, key)
                if doc is not None:
                    out.append(self._issuer_out(doc).properties)
        return iter(sorted(out, key=lambda p: p.name.lower()))

    # -- lifetime actions (run_maintenance) --------------------------------------------

    @operation("VaultMaintenance", A.VAULT_ADMIN)
    def run_lifetime_actions(self) -> list[dict[str, Any]]:
        """Apply every certificate's lifetime actions at the vault clock's now.

        AutoRenew issues a new version (issuer Self; ``reuse_key`` honoured) or starts a
        pending CSR (other issuers); EmailContacts records an event naming the contacts (no
        mail is sent). Each action fires once per version. Returns the events.
        """
        if self._ctx.settings.kind == "managed_hsm":
            return []
        now = self._ctx.clock()
        events: list[dict[str, Any]] = []
        for rec in self._engine.latest_all(_KIND):
            if not rec.enabled or rec.not_before is None or rec.expires_on is None:
                continue
            try:
                obj = self._engine.get_object(_KIND, rec.name)
            except NotFoundError:
                continue
            policy = _policy_of(obj)
            if policy is None:
                continue
            nbf, exp = datetime.fromtimestamp(rec.not_before, UTC), datetime.fromtimestamp(rec.expires_on, UTC)
            done = dict(obj.extra.get("actions_done") or {})
            for action in policy.lifetime_actions or ():
                kind = action.action.value
                if done.get(kind) == rec.version or not lifetime_action_due(action, nbf, exp, now):
                    continue
                done[kind] = rec.version
                if action.action is CertificatePolicyAction.email_contacts:
                    self._mark_done(rec.name, done)
                    contacts = self._read_contacts() or []
                    events.append(
                        {
                            "event": "CertificateNearExpiry",
                            "certificate": rec.name,
                            "version": rec.version,
                            "expires_on": exp.isoformat(),
                            "contacts": [c.email for c in contacts if c.email],
                        }
                    )
                else:
                    event = self._renew(rec, obj, policy, done)
                    if event is not None:
                        events.append(event)
        return events

    def _mark_done(self, name: str, done: dict[str, Any]) -> None:
        self._engine.write(lambda txn: self._engine.update_object_in(txn, _KIND, name, {"actions_done": done}))

    def _renew(
        self, rec: VersionRecord, obj: ObjectRecord, policy: CertificatePolicy, done: dict[str, Any]
    ) -> dict[str, Any] | None:
        """AutoRenew: a new self-signed version, or a pending CSR for another issuer."""
        op = obj.extra.get("operation") or {}
        if op.get("status") == _IN_PROGRESS:
            return None  # a request is already waiting for its merge
        try:
            full = self._complete(policy)
        except InvalidParameterError:
            return None  # e.g. the issuer was deleted: nothing can renew it
        material = self._material_for(rec.name, full)
        doc = obj.extra.get("policy") or full.to_dict()
        if full.issuer_name == WellKnownIssuerNames.Self.value:
            issued, op_doc = self._self_sign(
                rec.name, full, material, enabled=True, tags=dict(rec.tags), policy_doc=doc, request_id=uuid.uuid4().hex
            )

            def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
                changes = {"operation": op_doc, "actions_done": done}
                return self._issue_in(txn, rec.name, issued, changes, refuse_pending=True)

            _, new = self._engine.write(run)
            return {
                "event": "CertificateRenewed",
                "certificate": rec.name,
                "version": new.version,
                "previous": rec.version,
            }
        csr = build_csr(material.as_cryptography(), full).public_bytes(serialization.Encoding.DER)
        pending_op = self._pending_op(full, rec.name, csr, uuid.uuid4().hex)
        pending = {
            "key": base64.b64encode(material.to_bytes()).decode("ascii"),
            "enabled": True,
            "tags": dict(rec.tags),
        }

        def start(txn: WriteTxn) -> None:
            _refuse_pending(self._engine.get_object_in(txn, _KIND, rec.name))
            changes = {"operation": pending_op.to_dict(), "pending": pending, "actions_done": done}
            self._engine.update_object_in(txn, _KIND, rec.name, changes)

        self._engine.write(start)
        return {"event": "CertificateRenewalRequested", "certificate": rec.name, "version": rec.version}


# -- helpers ---------------------------------------------------------------------------


def _pack_chain(certs: Sequence[x509.Certificate]) -> bytes:
    """Certificate version payload: ``{"sizes": [...]}`` header, then the DER certificates, leaf first."""
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    return encode({"sizes": [len(d) for d in ders]}, b"".join(ders))


def _unpack_chain(payload: bytes) -> list[bytes]:
    """The DER certificates of a version payload (authenticated already: bad shape = IntegrityError)."""
    head, body = decode(payload)
    sizes = head.get("sizes")
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
        or sum(sizes) != len(body)
    ):
        raise IntegrityError()
    out, offset = [], 0
    for size in sizes:
        out.append(body[offset : offset + size])
        offset += size
    return out


def _key_ops(kty: KeyType, usages: Sequence[KeyUsageType] | None) -> list[str]:
    """Key operations of a certificate's key, from the policy's X.509 key usage.

    Signing usages give sign/verify; for RSA, keyEncipherment gives wrap/unwrap and
    encrypt/decrypt (as Azure's default RSA certificate key shows), dataEncipherment
    encrypt/decrypt. No key usage at all: the key type's defaults.
    """
    if not usages:
        return [op.value for op in km.default_key_ops(kty)]
    wanted = set(usages)
    ops: set[KeyOperation] = set()
    if wanted & _SIGNING_USAGES:
        ops |= {KeyOperation.sign, KeyOperation.verify}
    if kty is KeyType.rsa:
        if KeyUsageType.key_encipherment in wanted:
            ops |= {KeyOperation.encrypt, KeyOperation.decrypt, KeyOperation.wrap_key, KeyOperation.unwrap_key}
        if KeyUsageType.data_encipherment in wanted:
            ops |= {KeyOperation.encrypt, KeyOperation.decrypt}
    return [op.value for op in KeyOperation if op in ops]


def _policy_of(obj: ObjectRecord) -> CertificatePolicy | None:
    doc = obj.extra.get("policy")
    if not doc:
        return None
    try:
        return CertificatePolicy.from_dict(doc)
    except InvalidParameterError:
        raise IntegrityError() from None


def _policy_created(doc: Mapping[str, Any] | None) -> datetime | None:
    if not doc:
        return None
    created = (doc.get("attributes") or {}).get("created")
    return from_timestamp(created) if isinstance(created, int) else None


def _policy_doc_in(engine: Lifecycle, txn: ReadTxn, name: str) -> dict[str, Any] | None:
    try:
        doc = engine.get_object_in(txn, _KIND, name).extra.get("policy")
    except NotFoundError:
        return None
    return dict(doc) if doc else None


def _with_policy(new: NewVersion, doc: dict[str, Any]) -> NewVersion:
    return dataclasses.replace(new, extra={**(new.extra or {}), "policy": doc})


def _refuse_pending(obj: ObjectRecord) -> None:
    op = obj.extra.get("operation") or {}
    if op.get("status") == _IN_PROGRESS:
        raise ConflictError(
            f"Certificate {obj.name} has a pending operation; merge, cancel or delete it first.",
            inner_code="Conflict",
        )


def _no_operation(name: str) -> NotFoundError:
    return NotFoundError(
        f"Pending certificate not found: {name}",
        inner_code="PendingCertificateNotFound",
    )


def _pending_of(obj: ObjectRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """The in-progress operation and its pending state; NotFound/Conflict otherwise."""
    op = obj.extra.get("operation")
    if not op:
        raise _no_operation(obj.name)
    if op.get("status") != _IN_PROGRESS:
        raise ConflictError(
            f"The operation of certificate {obj.name} is {op.get('status')}, not in progress.",
            inner_code="Conflict",
        )
    return dict(op), dict(obj.extra.get("pending") or {})


def _pending_material(pending: Mapping[str, Any]) -> km.KeyMaterial:
    text = pending.get("key")
    if not isinstance(text, str):
        raise IntegrityError()
    try:
        return km.KeyMaterial.from_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise IntegrityError() from None


def _contacts_from(doc: Mapping[str, Any]) -> list[CertificateContact]:
    try:
        return [CertificateContact.from_dict(c) for c in doc["contacts"]]
    except (KeyError, TypeError, InvalidParameterError):
        raise IntegrityError() from None
