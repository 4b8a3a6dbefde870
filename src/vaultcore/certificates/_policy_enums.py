"""Enumerations and constants of the certificate model (Azure Key Vault's names).

Split out of :mod:`vaultcore.certificates._policy` so the policy classes, the issuer/operation
classes and :mod:`vaultcore.certificates._x509` can share them without importing each other; import
them from :mod:`vaultcore.certificates._policy`, which re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from vaultcore.crypto._jwk import KeyCurveName

__all__ = [
    "CLIENT_AUTH_EKU",
    "CURVE_KEY_SIZES",
    "DAYS_PER_MONTH_BOUND",
    "MAX_VALIDITY_MONTHS",
    "RSA_KEY_SIZES",
    "SERVER_AUTH_EKU",
    "CertificateContentType",
    "CertificateOperationStatus",
    "CertificatePolicyAction",
    "KeyUsageType",
    "WellKnownIssuerNames",
]

# --------------------------------------------------------------------------- enums


class CertificatePolicyAction(StrEnum):
    """What a lifetime action does when its trigger fires."""

    email_contacts = "EmailContacts"
    auto_renew = "AutoRenew"


class CertificateContentType(StrEnum):
    """Format of the secret backing a certificate."""

    pkcs12 = "application/x-pkcs12"
    pem = "application/x-pem-file"


class KeyUsageType(StrEnum):
    """X.509 key usage bits, with Azure's names."""

    digital_signature = "digitalSignature"
    non_repudiation = "nonRepudiation"
    key_encipherment = "keyEncipherment"
    data_encipherment = "dataEncipherment"
    key_agreement = "keyAgreement"
    key_cert_sign = "keyCertSign"
    crl_sign = "cRLSign"
    encipher_only = "encipherOnly"
    decipher_only = "decipherOnly"


class WellKnownIssuerNames(StrEnum):
    """Reserved issuer names: ``Self`` signs locally, ``Unknown`` waits for a merge."""

    Self = "Self"
    Unknown = "Unknown"


class CertificateOperationStatus(StrEnum):
    """States of a pending certificate operation."""

    in_progress = "inProgress"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


RSA_KEY_SIZES = (2048, 3072, 4096)
"""RSA sizes a certificate key may have (the same as the keys API)."""

CURVE_KEY_SIZES: Mapping[KeyCurveName, int] = {
    KeyCurveName.p_256: 256,
    KeyCurveName.p_384: 384,
    KeyCurveName.p_521: 521,
    KeyCurveName.p_256_k: 256,
}
"""Key size in bits that the service reports for each curve."""

MAX_VALIDITY_MONTHS = 1200
"""Longest validity a policy may ask for (100 years)."""

DAYS_PER_MONTH_BOUND = 27
"""``days_before_expiry`` may be at most ``validity_in_months * 27`` (service rule)."""

SERVER_AUTH_EKU = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2"
