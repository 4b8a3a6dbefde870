"""Certificate policies and certificate metadata, in Azure Key Vault's model.

The classes mirror the names of the Azure SDK (``azure-keyvault-certificates``) so Azure
users feel at home, and ``to_dict`` / ``from_dict`` speak the REST JSON shape of the
service (the server sends it on the wire, the vault's storage keeps it)::

    {"key_props": {"exportable", "kty", "key_size", "reuse_key", "crv"},
     "secret_props": {"contentType"},
     "x509_props": {"subject", "ekus", "key_usage", "validity_months",
                    "sans": {"emails", "dns_names", "upns", "uris", "ipAddresses"}},
     "lifetime_actions": [{"trigger": {"lifetime_percentage" | "days_before_expiry"},
                           "action": {"action_type"}}],
     "issuer": {"name", "cty", "cert_transparency"},
     "attributes": {"enabled", "created", "updated"}}     (timestamps: Unix seconds)

Everything here is a frozen dataclass. Constructors check each field on its own (type,
range, known enum value) so a bad value fails where it is written; a policy may still be
partial, as an update is. ``CertificatePolicy.with_azure_defaults()`` fills the gaps exactly
as the service does for an empty policy and then runs the cross-field checks of
``validate()``. Every problem raises :class:`~vaultcore.exceptions.InvalidParameterError`.

The code lives in smaller modules, re-exported here so ``vaultcore.certificates._policy`` stays the
one import path: :mod:`vaultcore.certificates._policy_enums` (enums and constants),
:mod:`vaultcore.certificates._policy_fields` (per-field checks and JSON helpers),
:mod:`vaultcore.certificates._policy_models` (``LifetimeAction``, ``CertificatePolicy``) and
:mod:`vaultcore.certificates._policy_issuers` (contacts, issuers, operations).
"""

from __future__ import annotations

from vaultcore.certificates._policy_enums import CLIENT_AUTH_EKU as CLIENT_AUTH_EKU
from vaultcore.certificates._policy_enums import CURVE_KEY_SIZES as CURVE_KEY_SIZES
from vaultcore.certificates._policy_enums import DAYS_PER_MONTH_BOUND as DAYS_PER_MONTH_BOUND
from vaultcore.certificates._policy_enums import MAX_VALIDITY_MONTHS as MAX_VALIDITY_MONTHS
from vaultcore.certificates._policy_enums import RSA_KEY_SIZES as RSA_KEY_SIZES
from vaultcore.certificates._policy_enums import SERVER_AUTH_EKU as SERVER_AUTH_EKU
from vaultcore.certificates._policy_enums import (
    CertificateContentType,
    CertificateOperationStatus,
    CertificatePolicyAction,
    KeyUsageType,
    WellKnownIssuerNames,
)
from vaultcore.certificates._policy_issuers import (
    AdministratorContact,
    CertificateContact,
    CertificateIssuer,
    CertificateOperation,
    CertificateOperationError,
    IssuerProperties,
)
from vaultcore.certificates._policy_models import CertificatePolicy, LifetimeAction

__all__ = [
    "AdministratorContact",
    "CertificateContact",
    "CertificateContentType",
    "CertificateIssuer",
    "CertificateOperation",
    "CertificateOperationError",
    "CertificateOperationStatus",
    "CertificatePolicy",
    "CertificatePolicyAction",
    "IssuerProperties",
    "KeyUsageType",
    "LifetimeAction",
    "WellKnownIssuerNames",
]
