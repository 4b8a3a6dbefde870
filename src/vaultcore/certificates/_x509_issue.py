"""Certificate issuance: self-signed certificates and CSRs built from a policy.

Self-signed: subject = issuer, ``not_before = now`` (whole seconds), ``not_after = now +
validity_in_months`` calendar months, a random positive 159-bit serial, SANs (DNS,
email, UPN as an ``otherName`` UTF8String, URI, IP), EKUs, key usage (critical),
basicConstraints CA:FALSE (critical), SKI and AKI. CSRs carry the same subject and
extensions for an external CA. Also the SHA-1 ``x5t`` thumbprint. Re-exported by
:mod:`vaultcore.certificates._x509`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from vaultcore.certificates._policy_enums import KeyUsageType
from vaultcore.certificates._policy_models import CertificatePolicy
from vaultcore.certificates._x509_keys import CertificatePrivateKey, _check_key, check_key_for_policy, signature_hash
from vaultcore.certificates._x509_names import parse_subject
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "UPN_OID",
    "add_months",
    "build_csr",
    "build_self_signed",
    "thumbprint",
]

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
"""Microsoft's user principal name ``otherName`` (value: DER UTF8String)."""

_MAX_SERIAL = 1 << 159

# --------------------------------------------------------------------------- issuance


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """``start`` plus calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return start.replace(year=year, month=month0 + 1, day=day)


def _utc_seconds(now: dt.datetime) -> dt.datetime:
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise InvalidParameterError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC).replace(microsecond=0)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_utf8string(text: str) -> bytes:
    body = text.encode("utf-8")
    return b"\x0c" + _der_length(len(body)) + body


def _parse_der_utf8string(der: bytes) -> str | None:
    """The text of a DER UTF8String, or None if ``der`` is not exactly one."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    first = der[1]
    offset = 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return None
        length = int.from_bytes(der[2 : 2 + count], "big")
        offset += count
    if len(der) != offset + length:
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _general_names(policy: CertificatePolicy) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    names += [x509.DNSName(name) for name in policy.san_dns_names or ()]
    names += [x509.RFC822Name(email) for email in policy.san_emails or ()]
    names += [x509.OtherName(UPN_OID, _der_utf8string(upn)) for upn in policy.san_user_principal_names or ()]
    names += [x509.UniformResourceIdentifier(uri) for uri in policy.san_uris or ()]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in policy.san_ip_addresses or ()]
    return names


def _key_usage(usages: Iterable[KeyUsageType]) -> x509.KeyUsage:
    wanted = set(usages)
    return x509.KeyUsage(
        digital_signature=KeyUsageType.digital_signature in wanted,
        content_commitment=KeyUsageType.non_repudiation in wanted,
        key_encipherment=KeyUsageType.key_encipherment in wanted,
        data_encipherment=KeyUsageType.data_encipherment in wanted,
        key_agreement=KeyUsageType.key_agreement in wanted,
        key_cert_sign=KeyUsageType.key_cert_sign in wanted,
        crl_sign=KeyUsageType.crl_sign in wanted,
        encipher_only=KeyUsageType.encipher_only in wanted,
        decipher_only=KeyUsageType.decipher_only in wanted,
    )


def _policy_extensions(policy: CertificatePolicy, subject: x509.Name) -> list[tuple[x509.ExtensionType, bool]]:
    """(extension, critical) pairs shared by certificates and CSRs."""
    out: list[tuple[x509.ExtensionType, bool]] = []
    names = _general_names(policy)
    if names:
        # RFC 5280 4.2.1.6: critical when the subject is empty.
        out.append((x509.SubjectAlternativeName(names), len(subject) == 0))
    if policy.enhanced_key_usage:
        ekus = [x509.ObjectIdentifier(oid) for oid in policy.enhanced_key_usage]
        out.append((x509.ExtendedKeyUsage(ekus), False))
    if policy.key_usage:
        out.append((_key_usage(policy.key_usage), True))
    return out


def _subject(policy: CertificatePolicy) -> x509.Name:
    return x509.Name([]) if policy.subject is None else parse_subject(policy.subject)


def build_self_signed(
    private_key: CertificatePrivateKey,
    policy: CertificatePolicy,
    *,
    now: dt.datetime,
    serial: int | None = None,
) -> x509.Certificate:
    """Issue a self-signed certificate for ``private_key`` under ``policy``.

    The policy is completed with Azure's defaults first. Validity runs from ``now`` (to
    the second) for ``validity_in_months`` calendar months. ``serial`` defaults to a
    random positive 159-bit number.
    """
    key = _check_key(private_key)
    policy = policy.with_azure_defaults()
    check_key_for_policy(key, policy)
    subject = _subject(policy)
    not_before = _utc_seconds(now)
    not_after = add_months(not_before, policy.validity_in_months or 12)
    if serial is None:
        serial = x509.random_serial_number()
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 < serial < _MAX_SERIAL:
        raise InvalidParameterError("serial must be a positive integer below 2**159")
    public_key = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    for extension, critical in _policy_extensions(policy, subject):
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, signature_hash(key))


def build_csr(private_key: CertificatePrivateKey, policy: CertificatePolicy) -> x509.CertificateSigningRequest:
    """A CSR for an external CA (issuer ``Unknown``) with the policy's subject and extensions.

    SANs, EKUs and key usage travel as the CSR's extension request.
    """
    key = _check_key(private_key)
    policy = policy.with_azure_defaults()
    check_key_for_policy(key, policy)
    subject = _subject(policy)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    for extension, critical in _policy_extensions(policy, subject):
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, signature_hash(key))


def thumbprint(cert: x509.Certificate) -> bytes:
    """SHA-1 of the DER certificate: Azure's ``x5t`` (an identifier, not a security check)."""
    return cert.fingerprint(hashes.SHA1())  # noqa: S303
