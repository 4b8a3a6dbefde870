"""Public result types of ``vault.certificates`` (Azure SDK names).

Frozen dataclasses like the secrets' and keys' models. A certificate result carries only
public material (the DER certificate, its thumbprint, the policy); the private key lives in
the backing key and secret and never appears here. Policies, contacts, issuers and
operations are the classes of :mod:`vaultcore.certificates._policy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vaultcore.certificates._policy import CertificatePolicy
from vaultcore.engine._models import ObjectProperties

__all__ = ["CertificateProperties", "DeletedCertificate", "KeyVaultCertificate"]


@dataclass(frozen=True)
class CertificateProperties(ObjectProperties):
    """A certificate version's attributes; ``x509_thumbprint`` is the SHA-1 of the DER (``x5t``)."""

    x509_thumbprint: bytes | None = None
    preserve_order: bool | None = None  # Azure's preserveCertOrder, as given at import


@dataclass(frozen=True)
class KeyVaultCertificate:
    """A certificate version: properties, the DER certificate (``cer``) and its policy.

    ``key_id`` and ``secret_id`` name the backing key and secret, which have the same name
    and version. ``policy`` is set by ``get_certificate`` (latest version) and is ``None``
    for ``get_certificate_version``, as in Azure.
    """

    properties: CertificateProperties
    cer: bytes
    policy: CertificatePolicy | None = None
    key_id: str | None = None
    secret_id: str | None = None

    @property
    def id(self) -> str:
        return self.properties.id

    @property
    def name(self) -> str:
        return self.properties.name


@dataclass(frozen=True)
class DeletedCertificate:
    """A soft-deleted certificate (its latest version) with the deletion dates."""

    properties: CertificateProperties
    cer: bytes
    recovery_id: str
    deleted_on: datetime | None
    scheduled_purge_date: datetime | None
    policy: CertificatePolicy | None = None
    key_id: str | None = None
    secret_id: str | None = None

    @property
    def id(self) -> str:
        return self.properties.id

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def deleted_date(self) -> datetime | None:
        """Alias of ``deleted_on`` (the name the secrets and keys results use)."""
        return self.deleted_on
