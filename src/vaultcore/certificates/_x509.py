"""X.509 work for certificates: names, issuance, CSRs, import/export, merge, lifetime.

Pure functions over ``cryptography``; nothing here touches storage. They follow what
Azure Key Vault does:

* self-signed issuance: subject = issuer, ``not_before = now`` (whole seconds),
  ``not_after = now + validity_in_months`` calendar months, a random positive 159-bit
  serial, SANs (DNS, email, UPN as an ``otherName`` UTF8String, URI, IP), EKUs, key usage
  (critical), basicConstraints CA:FALSE (critical), SKI and AKI; SHA-256 signatures for
  RSA, P-256 and P-256K, SHA-384 for P-384, SHA-512 for P-521;
* import takes PEM (private key and certificates in any order, encrypted keys with a
  password) or PKCS#12, raw or base64 (Azure's import ``value``); the leaf is the
  certificate that matches the private key, the rest keep the order given;
* exports carry no password, like the secret Azure stores behind a certificate.

Error messages name what is wrong, never key material or passwords.

The code lives in smaller modules, re-exported here so ``vaultcore.certificates._x509`` stays the one
import path: :mod:`vaultcore.certificates._x509_names` (subject parsing/formatting),
:mod:`vaultcore.certificates._x509_keys` (certificate key checks, signature digest),
:mod:`vaultcore.certificates._x509_issue` (self-signed certificates, CSRs, extensions, thumbprint),
:mod:`vaultcore.certificates._x509_import` (PEM/PFX import, export, merge) and
:mod:`vaultcore.certificates._x509_policy` (lifetime-action timing, policy of an imported certificate).
"""

from __future__ import annotations

from vaultcore.certificates._x509_import import (
    ImportedCertificate,
    export_pem,
    export_pkcs12,
    merge_chain,
    parse_import,
)
from vaultcore.certificates._x509_issue import UPN_OID, add_months, build_csr, build_self_signed, thumbprint
from vaultcore.certificates._x509_keys import (
    CertificatePrivateKey,
    certificate_matches_key,
    check_key_for_policy,
    signature_hash,
)
from vaultcore.certificates._x509_names import format_subject, parse_subject
from vaultcore.certificates._x509_policy import lifetime_action_due, lifetime_action_time, policy_from_certificate

__all__ = [
    "UPN_OID",
    "CertificatePrivateKey",
    "ImportedCertificate",
    "add_months",
    "build_csr",
    "build_self_signed",
    "certificate_matches_key",
    "check_key_for_policy",
    "export_pem",
    "export_pkcs12",
    "format_subject",
    "lifetime_action_due",
    "lifetime_action_time",
    "merge_chain",
    "parse_import",
    "parse_subject",
    "policy_from_certificate",
    "signature_hash",
    "thumbprint",
]
