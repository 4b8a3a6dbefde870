"""Policy-driven certificate lifetime: when lifetime actions fire, and imported policies.

``lifetime_action_time`` / ``lifetime_action_due`` place a LifetimeAction on a
certificate's validity period; ``policy_from_certificate`` derives the policy Azure
gives a certificate imported without one. Re-exported by :mod:`vaultcore.certificates._x509`.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore.certificates._policy_enums import (
    CURVE_KEY_SIZES,
    CertificateContentType,
    CertificatePolicyAction,
    KeyUsageType,
    WellKnownIssuerNames,
)
from vaultcore.certificates._policy_models import CertificatePolicy, LifetimeAction
from vaultcore.certificates._x509_issue import UPN_OID, _parse_der_utf8string, add_months
from vaultcore.certificates._x509_keys import _CURVES
from vaultcore.certificates._x509_names import format_subject
from vaultcore.crypto._jwk import KeyType
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "lifetime_action_due",
    "lifetime_action_time",
    "policy_from_certificate",
]

# --------------------------------------------------------------------------- lifetime


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidParameterError(f"{what} must be a timezone-aware datetime")
    return value


def lifetime_action_time(action: LifetimeAction, not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
    """When ``action`` fires for a certificate valid from ``not_before`` to ``not_after``.

    ``lifetime_percentage``: ``not_before + pct % of the validity period``;
    ``days_before_expiry``: ``not_after - days``.
    """
    start = _aware(not_before, "not_before")
    end = _aware(not_after, "not_after")
    if action.lifetime_percentage is not None:
        return start + (end - start) * action.lifetime_percentage / 100
    if action.days_before_expiry is not None:
        return end - dt.timedelta(days=action.days_before_expiry)
    raise InvalidParameterError("the lifetime action has no trigger")


def lifetime_action_due(
    action: LifetimeAction, not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime
) -> bool:
    """True once ``now`` has reached the action's trigger time (AutoRenew or EmailContacts)."""
    return _aware(now, "now") >= lifetime_action_time(action, not_before, not_after)


# --------------------------------------------------------------------------- policy


def _validity_months(not_before: dt.datetime, not_after: dt.datetime) -> int:
    """Calendar months from not_before to not_after, to the nearest month, 1..1200."""
    months = (not_after.year - not_before.year) * 12 + not_after.month - not_before.month
    while months > 0 and add_months(not_before, months) > not_after:
        months -= 1
    if not_after - add_months(not_before, months) >= dt.timedelta(days=15):
        months += 1
    return max(1, min(1200, months))


def policy_from_certificate(
    cert: x509.Certificate,
    *,
    content_type: CertificateContentType = CertificateContentType.pkcs12,
    exportable: bool = True,
) -> CertificatePolicy:
    """The policy Azure derives when a certificate is imported without one.

    Subject, SANs, EKUs, key usage, validity and key properties come from the
    certificate; the issuer is ``Unknown`` (vaultcore cannot renew it) and the lifetime
    action is EmailContacts at 80 %.
    """
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        key_type, key_size, curve = KeyType.rsa, public_key.key_size, None
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _CURVES:
        curve = _CURVES[public_key.curve.name]
        key_type, key_size = KeyType.ec, CURVE_KEY_SIZES[curve]
    else:
        raise InvalidParameterError("the certificate's key must be RSA or EC (P-256/384/521/256K)")
    dns: list[str] = []
    emails: list[str] = []
    upns: list[str] = []
    uris: list[str] = []
    ips: list[str] = []
    ekus: list[str] | None = None
    usages: list[KeyUsageType] | None = None
    for extension in cert.extensions:
        value = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            dns = value.get_values_for_type(x509.DNSName)
            emails = value.get_values_for_type(x509.RFC822Name)
            uris = value.get_values_for_type(x509.UniformResourceIdentifier)
            ips = [str(ip) for ip in value.get_values_for_type(x509.IPAddress)]
            for other in value.get_values_for_type(x509.OtherName):
                upn = _parse_der_utf8string(other.value) if other.type_id == UPN_OID else None
                if upn is not None:
                    upns.append(upn)
        elif isinstance(value, x509.ExtendedKeyUsage):
            ekus = [oid.dotted_string for oid in value]
        elif isinstance(value, x509.KeyUsage):
            usages = _usages_of(value)
    subject = format_subject(cert.subject) if len(cert.subject) else None
    return CertificatePolicy(
        WellKnownIssuerNames.Unknown.value,
        subject=subject,
        san_emails=emails or None,
        san_dns_names=dns or None,
        san_user_principal_names=upns or None,
        san_uris=uris or None,
        san_ip_addresses=ips or None,
        exportable=exportable,
        key_type=key_type,
        key_size=key_size,
        reuse_key=False,
        key_curve_name=curve,
        enhanced_key_usage=ekus if ekus is not None else [],
        key_usage=usages if usages is not None else [],
        content_type=content_type,
        validity_in_months=_validity_months(cert.not_valid_before_utc, cert.not_valid_after_utc),
        lifetime_actions=[LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=80)],
        enabled=True,
    )


def _usages_of(value: x509.KeyUsage) -> list[KeyUsageType]:
    flags = [
        (value.digital_signature, KeyUsageType.digital_signature),
        (value.content_commitment, KeyUsageType.non_repudiation),
        (value.key_encipherment, KeyUsageType.key_encipherment),
        (value.data_encipherment, KeyUsageType.data_encipherment),
        (value.key_agreement, KeyUsageType.key_agreement),
        (value.key_cert_sign, KeyUsageType.key_cert_sign),
        (value.crl_sign, KeyUsageType.crl_sign),
    ]
    if value.key_agreement:
        flags += [
            (value.encipher_only, KeyUsageType.encipher_only),
            (value.decipher_only, KeyUsageType.decipher_only),
        ]
    return [usage for present, usage in flags if present]
