"""Certificate issuance: the policy rules and the three same-version records of a certificate.

Split out of :mod:`vaultcore.certificates._client` so the client keeps the public, audited API
while the machinery that creates versions lives here: completing a policy with Azure's
defaults, choosing the key (``reuse_key``), self-signing or starting a CSR, merging a CA's
answer, importing a PEM/PFX, and writing the versions.

Like Azure, every certificate version is three objects with the same name and version id,
written in one transaction:

* the **certificate** version (``Kind.CERTIFICATE``): payload = the DER leaf and chain,
  attributes ``nbf``/``exp`` = the certificate's validity, ``extra`` = thumbprint (``x5t``)
  and a snapshot of the policy it was issued under;
* a **managed key** version (``Kind.KEY``, ``managed=True``): the private key, with
  ``key_ops`` derived from the policy's key usage and ``exportable`` from the policy;
* a **managed secret** version (``Kind.SECRET``, ``managed=True``): the PFX (base64, no
  password) or PEM text, with the private key only when the policy makes it exportable.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vaultcore.certificates._metadata import RESERVED_ISSUERS, CertificateMetadata
from vaultcore.certificates._policy import (
    CertificateContentType,
    CertificateOperation,
    CertificateOperationStatus,
    CertificatePolicy,
    KeyUsageType,
    WellKnownIssuerNames,
)
from vaultcore.certificates._state import (
    ALL,
    KIND,
    pending_material,
    pending_of,
    policy_created,
    policy_doc_in,
    policy_of,
    refuse_if_pending,
    with_policy,
)
from vaultcore.certificates._x509 import (
    build_csr,
    build_self_signed,
    check_key_for_policy,
    export_pem,
    export_pkcs12,
    merge_chain,
    parse_import,
    policy_from_certificate,
    thumbprint,
)
from vaultcore.crypto import _keymaterial as km
from vaultcore.crypto._jwk import KeyOperation, KeyType
from vaultcore.engine._lifecycle import Lifecycle, NewVersion
from vaultcore.engine._records import Kind, ObjectRecord, VersionRecord, decode, encode
from vaultcore.engine._validation import check_bool, check_tags
from vaultcore.exceptions import ConflictError, IntegrityError, InvalidParameterError, NotFoundError, UnsupportedError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.keys._client import KeyClient

__all__ = ["CertificateIssuance", "Issued", "key_ops", "pack_chain", "unpack_chain"]

_PENDING_DETAILS = "Pending certificate created. Please Perform Merge to complete the request."
_SIGNING_USAGES = {
    KeyUsageType.digital_signature,
    KeyUsageType.non_repudiation,
    KeyUsageType.key_cert_sign,
    KeyUsageType.crl_sign,
}


@dataclasses.dataclass(frozen=True)
class Issued:
    """What one issuance writes, prepared outside the transaction (no version id yet)."""

    cert: NewVersion
    key: NewVersion
    secret: NewVersion


class CertificateIssuance:
    """Creates certificate versions (with their managed key and secret) for ``CertificateClient``."""

    def __init__(self, ctx: VaultContext, engine: Lifecycle, keys: KeyClient, meta: CertificateMetadata) -> None:
        self._ctx = ctx
        self._engine = engine
        self._keys = keys
        self._meta = meta

    def _id(self, collection: str, name: str, version: str) -> str:
        return f"{self._ctx.settings.url}/{collection}/{name}/{version}"

    # -- policy rules ------------------------------------------------------------------

    def check_key_type(self, kty: KeyType | None) -> None:
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

    def complete(self, policy: CertificatePolicy, txn: ReadTxn | None = None) -> CertificatePolicy:
        """The policy with Azure's defaults, checked against this vault (key type, issuer)."""
        if not isinstance(policy, CertificatePolicy):
            raise InvalidParameterError("policy must be a CertificatePolicy")
        full = policy.with_azure_defaults()
        self.check_key_type(full.key_type)
        issuer = str(full.issuer_name)
        if issuer.lower() not in RESERVED_ISSUERS and not self._meta.has_issuer(issuer, txn):
            raise InvalidParameterError(
                f"The issuer {issuer!r} is not registered in this vault; create it with create_issuer, or use "
                "'Self' or 'Unknown'.",
                inner_code="BadParameter",
            )
        return full

    def stamped(self, policy: CertificatePolicy, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """The policy's REST JSON with created (kept from *previous*) and updated stamps."""
        now = self._ctx.clock()
        created = policy_created(previous) or now
        doc = dataclasses.replace(policy, created_on=created, updated_on=now).to_dict()
        return doc

    # -- keys and versions -------------------------------------------------------------

    def _generate(self, policy: CertificatePolicy) -> km.KeyMaterial:
        kty = (policy.key_type or KeyType.rsa).software
        if kty is KeyType.ec:
            return km.generate(KeyType.ec, curve=policy.key_curve_name)
        return km.generate(KeyType.rsa, size=policy.key_size)

    def material_for(self, name: str, policy: CertificatePolicy) -> km.KeyMaterial:
        """A new key, or the latest version's key when ``reuse_key`` is set and it fits the policy."""
        if policy.reuse_key:
            try:
                cert = self._engine.get(KIND, name)
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

    def prepare(
        self,
        policy: CertificatePolicy,
        material: km.KeyMaterial,
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        enabled: bool,
        tags: dict[str, str],
        policy_doc: dict[str, Any],
        preserve_order: bool | None = None,
        leaf_index: int = 0,
    ) -> Issued:
        """The three versions of one certificate version (ids are set in the transaction).

        *preserve_order* (Azure's ``preserveCertOrder``) is recorded on the version; when true
        a PEM value keeps the leaf at *leaf_index* of the chain as imported, otherwise the
        leaf comes first. (A PKCS#12 value always has the leaf as its certificate bag.)
        """
        nbf, exp = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        exportable = bool(policy.exportable)
        content_type = policy.content_type or CertificateContentType.pkcs12
        private = material.as_cryptography() if exportable else None
        if content_type is CertificateContentType.pem:
            value = export_pem(private, leaf, chain, leaf_index=leaf_index if preserve_order else 0)
        else:
            value = base64.b64encode(export_pkcs12(private, leaf, chain)).decode("ascii")
        cert = NewVersion(
            payload=pack_chain([leaf, *chain]),
            enabled=enabled,
            not_before=int(nbf.timestamp()),
            expires_on=int(exp.timestamp()),
            tags=tags,
            extra={"x5t": thumbprint(leaf).hex(), "policy": policy_doc}
            | ({} if preserve_order is None else {"preserve_order": preserve_order}),
        )
        kty = material.kty
        key = self._keys._new_version(
            material,
            kty,
            key_ops(kty, policy.key_usage),
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
        return Issued(cert, key, secret)

    def issue_in(
        self,
        txn: WriteTxn,
        name: str,
        issued: Issued,
        object_changes: dict[str, Any],
        *,
        refuse_pending: bool,
    ) -> tuple[ObjectRecord, VersionRecord]:
        """Write the certificate, key and secret versions with one fresh id, and the object state."""
        obj = self._engine.ensure_object_in(txn, KIND, name)
        if refuse_pending:
            refuse_if_pending(obj)
        display = obj.name
        vid = self._engine.new_version_id_in(txn, ALL, display)
        rec = self._engine.add_version_in(txn, KIND, display, issued.cert.evolve(version=vid))
        self._engine.add_version_in(txn, Kind.KEY, display, issued.key.evolve(version=vid))
        secret = issued.secret.evolve(version=vid, extra={"kid": self._id("keys", display, vid)})
        self._engine.add_version_in(txn, Kind.SECRET, display, secret)
        obj = self._engine.update_object_in(txn, KIND, display, object_changes)
        return obj, rec

    # -- operations --------------------------------------------------------------------

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

    def pending_op(self, policy: CertificatePolicy, name: str, csr: bytes, request_id: str) -> CertificateOperation:
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

    def self_sign(
        self,
        name: str,
        policy: CertificatePolicy,
        material: km.KeyMaterial,
        *,
        enabled: bool,
        tags: dict[str, str],
        policy_doc: dict[str, Any],
        request_id: str,
    ) -> tuple[Issued, dict[str, Any]]:
        """A self-signed certificate at the vault clock's now, its three versions and its completed operation."""
        leaf = build_self_signed(material.as_cryptography(), policy, now=self._ctx.clock())
        issued = self.prepare(policy, material, leaf, (), enabled=enabled, tags=tags, policy_doc=policy_doc)
        return issued, self._completed_op(policy, name, request_id)

    # -- create / merge / import -------------------------------------------------------

    def create(
        self, name: str, full: CertificatePolicy, *, enabled: bool, tags: dict[str, str]
    ) -> CertificateOperation:
        """``create_certificate`` once its arguments are checked: self-sign now, or start a CSR."""
        with contextlib.suppress(NotFoundError):
            refuse_if_pending(self._engine.get_object(KIND, name))
        material = self.material_for(name, full)
        request_id = uuid.uuid4().hex
        target = f"{self._ctx.settings.url}/certificates/{name}"
        if full.issuer_name == WellKnownIssuerNames.Self.value:
            issued, op_doc = self.self_sign(
                name, full, material, enabled=enabled, tags=tags, policy_doc=full.to_dict(), request_id=request_id
            )

            def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
                current = policy_doc_in(self._engine, txn, name)
                doc = self.stamped(full, current)
                local = dataclasses.replace(issued, cert=with_policy(issued.cert, doc))
                changes = {"policy": doc, "operation": op_doc, "pending": None}
                return self.issue_in(txn, name, local, changes, refuse_pending=True)

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
        op = self.pending_op(full, name, csr, request_id)
        pending = {"key": base64.b64encode(material.to_bytes()).decode("ascii"), "enabled": enabled, "tags": tags}

        def start(txn: WriteTxn) -> ObjectRecord:
            obj = self._engine.ensure_object_in(txn, KIND, name)
            refuse_if_pending(obj)
            doc = self.stamped(full, obj.extra.get("policy"))
            changes = {"policy": doc, "operation": op.to_dict(), "pending": pending}
            return self._engine.update_object_in(txn, KIND, obj.name, changes)

        obj = self._engine.write(start)
        return dataclasses.replace(op, name=obj.name, id=f"{target}/pending")

    def merge(
        self,
        name: str,
        x509_certificates: Sequence[bytes],
        *,
        enabled: bool | None,
        tags: Mapping[str, str] | None,
    ) -> tuple[ObjectRecord, VersionRecord]:
        """``merge_certificate``: complete the pending CSR with the CA's leaf and chain."""
        obj = self._engine.get_object(KIND, name)
        op_doc, pending = pending_of(obj)
        material = pending_material(pending)
        leaf, chain = merge_chain(material.as_cryptography(), x509_certificates)
        policy = policy_of(obj) or CertificatePolicy(WellKnownIssuerNames.Unknown.value)
        is_enabled = bool(pending.get("enabled", True)) if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(dict(pending.get("tags") or {}) if tags is None else tags)
        doc = obj.extra.get("policy") or policy.to_dict()
        issued = self.prepare(policy, material, leaf, chain, enabled=is_enabled, tags=tag_map, policy_doc=doc)
        completed = {**op_doc, "status": CertificateOperationStatus.completed.value}
        completed.pop("status_details", None)
        completed.pop("csr", None)

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            current = self._engine.get_object_in(txn, KIND, name)
            now_doc, _ = pending_of(current)
            if now_doc.get("request_id") != op_doc.get("request_id"):
                raise ConflictError(f"The pending operation of certificate {name} changed meanwhile; retry.")
            changes = {"operation": completed, "pending": None}
            return self.issue_in(txn, name, issued, changes, refuse_pending=False)

        return self._engine.write(run)

    def import_(
        self,
        name: str,
        certificate_bytes: bytes,
        pwd: bytes | None,
        policy: CertificatePolicy | None,
        *,
        enabled: bool | None,
        tags: Mapping[str, str] | None,
        preserve_order: bool | None = None,
    ) -> tuple[ObjectRecord, VersionRecord]:
        """``import_certificate`` once its arguments are checked: parse, derive the policy, write."""
        imported = parse_import(certificate_bytes, pwd)
        derived = policy_from_certificate(imported.certificate, content_type=imported.content_type)
        if policy is not None:
            derived = derived.updated_with(policy)
        full = self.complete(derived)
        check_key_for_policy(imported.private_key, full)
        is_enabled = True if enabled is None else check_bool(enabled, "enabled")
        tag_map = check_tags(tags)
        material = km.KeyMaterial.from_cryptography(imported.private_key)
        issued = self.prepare(
            full,
            material,
            imported.certificate,
            imported.chain,
            enabled=is_enabled,
            tags=tag_map,
            policy_doc=full.to_dict(),
            preserve_order=preserve_order,
            leaf_index=imported.leaf_index,
        )

        def run(txn: WriteTxn) -> tuple[ObjectRecord, VersionRecord]:
            doc = self.stamped(full, policy_doc_in(self._engine, txn, name))
            local = dataclasses.replace(issued, cert=with_policy(issued.cert, doc))
            return self.issue_in(txn, name, local, {"policy": doc}, refuse_pending=True)

        return self._engine.write(run)


# -- payload and key operations ----------------------------------------------------------


def pack_chain(certs: Sequence[x509.Certificate]) -> bytes:
    """Certificate version payload: ``{"sizes": [...]}`` header, then the DER certificates, leaf first."""
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    return encode({"sizes": [len(d) for d in ders]}, b"".join(ders))


def unpack_chain(payload: bytes) -> list[bytes]:
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


def key_ops(kty: KeyType, usages: Sequence[KeyUsageType] | None) -> list[str]:
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
