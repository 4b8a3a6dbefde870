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
"""

from __future__ import annotations

import base64
import binascii
import calendar
import dataclasses
import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import NoReturn, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from vaultcore._certpolicy import (
    CURVE_KEY_SIZES,
    RSA_KEY_SIZES,
    CertificateContentType,
    CertificatePolicy,
    CertificatePolicyAction,
    KeyUsageType,
    LifetimeAction,
    WellKnownIssuerNames,
)
from vaultcore._jwk import KeyCurveName, KeyType
from vaultcore.exceptions import InvalidParameterError

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

CertificatePrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""Private keys a certificate may have (Azure's RSA and EC)."""

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
"""Microsoft's user principal name ``otherName`` (value: DER UTF8String)."""

_MAX_SERIAL = 1 << 159

_CURVES: dict[str, KeyCurveName] = {
    ec.SECP256R1.name: KeyCurveName.p_256,
    ec.SECP384R1.name: KeyCurveName.p_384,
    ec.SECP521R1.name: KeyCurveName.p_521,
    ec.SECP256K1.name: KeyCurveName.p_256_k,
}

# --------------------------------------------------------------------------- names

_NAME_KEYS: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "G": NameOID.GIVEN_NAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
    "SURNAME": NameOID.SURNAME,
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
    "POSTALCODE": NameOID.POSTAL_CODE,
}
# How format_subject writes each attribute (the .NET / Azure spelling).
_NAME_LABELS: dict[x509.ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.COUNTRY_NAME: "C",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.GIVEN_NAME: "G",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "T",
    NameOID.POSTAL_CODE: "PostalCode",
}
_ASCII_ONLY = {NameOID.EMAIL_ADDRESS, NameOID.DOMAIN_COMPONENT, NameOID.COUNTRY_NAME}
_OID_KEY_RE = re.compile(r"(?:OID\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)", re.IGNORECASE)
_SEPARATORS = ",;+"
_ESCAPABLE = ',;+"\\<>=# '


def _bad_subject(reason: str) -> NoReturn:
    raise InvalidParameterError(f"the subject is not a valid X.500 distinguished name: {reason}")


def _split_dn(text: str) -> list[list[tuple[str, str]]]:
    """Split ``"CN=a, O=b+OU=c"`` into RDNs of (key, value), in string order.

    Accepts ``,`` or ``;`` between RDNs, ``+`` inside one, spaces around keys and
    values, RFC 4514 backslash escapes (``\\,`` and ``\\2C``) and ``"quoted"`` values.
    """
    rdns: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            _bad_subject("expected KEY=value")
        key = text[i:eq].strip()
        if not key or any(c in key for c in _SEPARATORS + '"\\'):
            _bad_subject("expected KEY=value")
        i = eq + 1
        while i < n and text[i].isspace():
            i += 1
        raw = bytearray()
        if i < n and text[i] == '"':
            i += 1
            while True:
                if i >= n:
                    _bad_subject("unterminated quoted value")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n:
                    i += 1
                    c = text[i]
                raw += c.encode()
                i += 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] not in _SEPARATORS:
                _bad_subject("text after a quoted value")
        else:
            if i < n and text[i] == "#":
                _bad_subject("hex-encoded (#...) values are not supported")
            significant = 0  # length of raw up to the last non-space or escaped char
            while i < n and text[i] not in _SEPARATORS:
                c = text[i]
                if c == "\\":
                    pair = text[i + 1 : i + 3]
                    if len(pair) == 2 and all(h in "0123456789abcdefABCDEF" for h in pair):
                        raw.append(int(pair, 16))
                        i += 3
                    elif i + 1 < n and text[i + 1] in _ESCAPABLE:
                        raw += text[i + 1].encode()
                        i += 2
                    else:
                        _bad_subject("bad escape sequence")
                    significant = len(raw)
                    continue
                if c == '"':
                    _bad_subject('unescaped " inside a value')
                raw += c.encode()
                if not c.isspace():
                    significant = len(raw)
                i += 1
            del raw[significant:]
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            _bad_subject("an escaped value is not UTF-8")
        current.append((key, value))
        if i >= n:
            rdns.append(current)
            return rdns
        sep = text[i]
        i += 1
        if sep != "+":
            rdns.append(current)
            current = []
        if i >= n or not text[i:].strip():
            _bad_subject("empty component after a separator")


def _name_oid(key: str) -> x509.ObjectIdentifier:
    oid = _NAME_KEYS.get(key.upper())
    if oid is not None:
        return oid
    match = _OID_KEY_RE.fullmatch(key)
    if match:
        return x509.ObjectIdentifier(match.group(1))
    _bad_subject(f"unknown attribute {key[:20]!r}")


def parse_subject(subject: str) -> x509.Name:
    """Parse a distinguished name the way Azure accepts it: ``"CN=a, O=b, C=US"``.

    Keys: CN, O, OU, L, ST or S, C, E / EMAIL / emailAddress, STREET, DC, UID,
    SERIALNUMBER, G, SN, T, PostalCode, or a dotted OID. The string lists the most
    specific RDN first (RFC 4514), so the encoded sequence is reversed, as .NET and
    OpenSSL do; ``format_subject`` turns it back into the same string.
    """
    if not isinstance(subject, str) or not subject.strip():
        _bad_subject("it is empty")
    rdns: list[x509.RelativeDistinguishedName] = []
    for items in _split_dn(subject):
        attributes: list[x509.NameAttribute[str]] = []
        for key, value in items:
            oid = _name_oid(key)
            if not value:
                _bad_subject(f"{key} has an empty value")
            if oid in _ASCII_ONLY and not value.isascii():
                _bad_subject(f"{key} must be ASCII")
            try:
                attributes.append(x509.NameAttribute(oid, value))
            except ValueError as err:
                _bad_subject(f"{key}: {err}")
        try:
            rdns.append(x509.RelativeDistinguishedName(attributes))
        except ValueError as err:
            _bad_subject(str(err))
    return x509.Name(list(reversed(rdns)))


def _escape_dn_value(value: str) -> str:
    """RFC 4514 escaping, plus hex for unprintable characters and edge whitespace."""

    def hexed(c: str) -> str:
        return "".join(f"\\{b:02X}" for b in c.encode("utf-8"))

    last = len(value) - 1
    out = []
    for i, c in enumerate(value):
        if c in ',;+"\\<>=' or (i == 0 and c == "#"):
            out.append("\\" + c)
        elif not c.isprintable() or (c.isspace() and i in (0, last)):
            out.append(hexed(c))
        else:
            out.append(c)
    return "".join(out)


def format_subject(name: x509.Name) -> str:
    """Write a name as Azure shows it (``"CN=a, O=b"``); ``parse_subject`` reads it back."""
    parts = []
    for rdn in reversed(name.rdns):
        items = []
        for attribute in rdn:
            label = _NAME_LABELS.get(attribute.oid, attribute.oid.dotted_string)
            value = attribute.value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            items.append(f"{label}={_escape_dn_value(value)}")
        parts.append("+".join(items))
    return ", ".join(parts)


# --------------------------------------------------------------------------- keys


def _check_key(private_key: object) -> CertificatePrivateKey:
    """The key, if it is an RSA or EC key that a certificate may have."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size not in RSA_KEY_SIZES:
            raise InvalidParameterError("RSA certificate keys must be 2048, 3072 or 4096 bits")
        return private_key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name not in _CURVES:
            raise InvalidParameterError("EC certificate keys must use P-256, P-384, P-521 or P-256K")
        return private_key
    raise InvalidParameterError("certificate keys must be RSA or EC keys")


def signature_hash(
    private_key: CertificatePrivateKey,
) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    """The digest Azure signs with: SHA-256, or SHA-384 / SHA-512 for P-384 / P-521."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name == ec.SECP384R1.name:
            return hashes.SHA384()
        if private_key.curve.name == ec.SECP521R1.name:
            return hashes.SHA512()
    return hashes.SHA256()


def check_key_for_policy(private_key: CertificatePrivateKey, policy: CertificatePolicy) -> None:
    """Raise InvalidParameterError unless the key has the policy's type, size and curve.

    ``-HSM`` types match a software key of the same family: where the key lives is the
    vault's business.
    """
    key = _check_key(private_key)
    kty = policy.key_type or KeyType.rsa
    if isinstance(key, rsa.RSAPrivateKey):
        if kty not in (KeyType.rsa, KeyType.rsa_hsm):
            raise InvalidParameterError(f"the policy asks for a {kty.value} key, not RSA")
        if policy.key_size is not None and key.key_size != policy.key_size:
            raise InvalidParameterError(f"the policy asks for RSA {policy.key_size}, the key has {key.key_size} bits")
        return
    if kty not in (KeyType.ec, KeyType.ec_hsm):
        raise InvalidParameterError(f"the policy asks for a {kty.value} key, not EC")
    curve = _CURVES[key.curve.name]
    if policy.key_curve_name is not None and curve != policy.key_curve_name:
        raise InvalidParameterError(
            f"the policy asks for curve {policy.key_curve_name.value}, the key uses {curve.value}"
        )


def certificate_matches_key(cert: x509.Certificate, private_key: CertificatePrivateKey) -> bool:
    """True when the certificate's public key is the public half of ``private_key``."""
    cert_key = cert.public_key()
    own_key = private_key.public_key()
    if isinstance(cert_key, rsa.RSAPublicKey) and isinstance(own_key, rsa.RSAPublicKey):
        return cert_key.public_numbers() == own_key.public_numbers()
    if isinstance(cert_key, ec.EllipticCurvePublicKey) and isinstance(own_key, ec.EllipticCurvePublicKey):
        return cert_key.curve.name == own_key.curve.name and cert_key.public_numbers() == own_key.public_numbers()
    return False


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


# --------------------------------------------------------------------------- import


@dataclasses.dataclass(frozen=True, eq=False)
class ImportedCertificate:
    """A parsed import: the private key, the leaf certificate and the rest of the chain.

    ``chain`` holds the other certificates in the order they were given (the leaf is not
    repeated); ``certificates`` is leaf first. The private key stays out of ``repr`` and
    the object refuses to be pickled.
    """

    private_key: CertificatePrivateKey = dataclasses.field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    content_type: CertificateContentType

    @property
    def certificates(self) -> list[x509.Certificate]:
        """Leaf first, then the chain in the order given."""
        return [self.certificate, *self.chain]

    def __reduce__(self) -> NoReturn:
        raise TypeError("ImportedCertificate holds a private key and cannot be pickled")


_PEM_BLOCK_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_PEM_KEY_LABELS = {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"}
_PEM_IGNORED_LABELS = {b"EC PARAMETERS"}


def _looks_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data[:4096]


def _looks_pfx(data: bytes) -> bool:
    """True for a DER/BER SEQUENCE whose first member is INTEGER 3 (PFX version)."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    first = data[1]
    offset = 2 if first <= 0x80 else 2 + (first & 0x7F)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def _b64decode(data: bytes) -> bytes | None:
    """Standard or URL-safe base64 (whitespace and missing padding tolerated), else None."""
    compact = re.sub(rb"\s+", b"", data)
    if not compact:
        return None
    compact = compact.replace(b"-", b"+").replace(b"_", b"/")
    compact += b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _load_pem_key(block: bytes, password: bytes | None) -> object:
    try:
        return serialization.load_pem_private_key(block, password)
    except TypeError:
        if password is None:
            raise InvalidParameterError("the private key is encrypted; a password is required") from None
        # A password was given for a key that is not encrypted: Azure ignores it.
        return _load_pem_key(block, None)
    except UnsupportedAlgorithm:
        raise InvalidParameterError("the private key uses an unsupported algorithm") from None
    except ValueError:
        if password is not None:
            raise InvalidParameterError("the password is wrong or the private key is corrupt") from None
        raise InvalidParameterError("the private key is corrupt or unsupported") from None


def _parse_pem(data: bytes, password: bytes | None) -> ImportedCertificate:
    keys: list[object] = []
    certs: list[x509.Certificate] = []
    for match in _PEM_BLOCK_RE.finditer(data):
        label = match.group(1)
        block = match.group(0)
        if label == b"CERTIFICATE":
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                raise InvalidParameterError("a certificate in the PEM data is malformed") from None
        elif label in _PEM_KEY_LABELS:
            keys.append(_load_pem_key(block, password))
        elif label not in _PEM_IGNORED_LABELS:
            shown = label.decode("ascii")
            raise InvalidParameterError(f"unsupported PEM block {shown!r} in the certificate data")
    if not keys and not certs:
        raise InvalidParameterError("the PEM data holds no complete PEM block")
    if len(keys) > 1:
        raise InvalidParameterError("the PEM data holds more than one private key")
    return _assemble(keys[0] if keys else None, certs, CertificateContentType.pem)


def _parse_pfx(data: bytes, password: bytes | None) -> ImportedCertificate:
    attempts = [password] if password is not None else [None, b""]
    loaded = None
    for attempt in attempts:
        try:
            loaded = pkcs12.load_pkcs12(data, attempt)
            break
        except UnsupportedAlgorithm:
            raise InvalidParameterError("the PFX uses an unsupported encryption algorithm") from None
        except (ValueError, TypeError):
            continue
    if loaded is None:
        raise InvalidParameterError("the PFX password is wrong or the file is corrupt")
    certs = [] if loaded.cert is None else [loaded.cert.certificate]
    certs += [extra.certificate for extra in loaded.additional_certs]
    return _assemble(loaded.key, certs, CertificateContentType.pkcs12)


def _assemble(key: object, certs: list[x509.Certificate], content_type: CertificateContentType) -> ImportedCertificate:
    if key is None:
        raise InvalidParameterError("the certificate data has no private key")
    private_key = _check_key(key)
    if not certs:
        raise InvalidParameterError("the certificate data has no certificate")
    leaf = next((cert for cert in certs if certificate_matches_key(cert, private_key)), None)
    if leaf is None:
        raise InvalidParameterError("the private key does not match the certificate")
    chain = tuple(cert for cert in certs if cert is not leaf)
    return ImportedCertificate(private_key, leaf, chain, content_type)


def parse_import(data: bytes, password: bytes | None = None) -> ImportedCertificate:
    """Parse certificate data to import: PEM, PKCS#12, or base64 of either.

    Needs a private key that matches one certificate (the leaf). ``content_type`` tells
    which format came in. Every failure is an InvalidParameterError that says what is
    wrong without echoing the data.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidParameterError("the certificate data must be bytes")
    if password is not None and not isinstance(password, bytes):
        raise InvalidParameterError("the password must be bytes")
    raw = bytes(data)
    if not raw.strip():
        raise InvalidParameterError("the certificate data is empty")
    for candidate in (raw, _b64decode(raw)):
        if candidate is None:
            continue
        if _looks_pem(candidate):
            return _parse_pem(candidate, password)
        if _looks_pfx(candidate):
            return _parse_pfx(candidate, password)
    raise InvalidParameterError("the certificate data is neither PEM nor PKCS#12 (PFX), raw or base64")


# --------------------------------------------------------------------------- export


def export_pkcs12(
    private_key: CertificatePrivateKey | None,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """A PKCS#12 archive without a password: key (if any), leaf, then the chain in order.

    ``private_key`` is None when the policy makes the key non-exportable.
    """
    if private_key is not None and not certificate_matches_key(cert, private_key):
        raise InvalidParameterError("the private key does not match the certificate")
    return pkcs12.serialize_key_and_certificates(
        None, private_key, cert, list(chain) or None, serialization.NoEncryption()
    )


def export_pem(
    private_key: CertificatePrivateKey | None,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> str:
    """PEM text: the key as unencrypted PKCS#8 ``PRIVATE KEY`` (if any), leaf, chain."""
    parts: list[bytes] = []
    if private_key is not None:
        if not certificate_matches_key(cert, private_key):
            raise InvalidParameterError("the private key does not match the certificate")
        parts.append(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    parts += [c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain)]
    return b"".join(parts).decode("ascii")


# --------------------------------------------------------------------------- merge


def _load_cert_item(item: bytes, index: int) -> list[x509.Certificate]:
    bad = InvalidParameterError(f"x509_certificates[{index}] is not a DER, PEM or base64 certificate")
    if not isinstance(item, bytes | bytearray | memoryview):
        raise bad
    for candidate in (bytes(item), _b64decode(bytes(item))):
        if candidate is None:
            continue
        try:
            if _looks_pem(candidate):
                return x509.load_pem_x509_certificates(candidate)
            if candidate[:1] == b"\x30":
                return [x509.load_der_x509_certificate(candidate)]
        except ValueError:
            raise bad from None
    raise bad


def merge_chain(
    pending_private_key: CertificatePrivateKey, x509_certificates: Sequence[bytes]
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Check a CA's answer to a pending CSR: (leaf, rest of the chain in order).

    Items may be DER, PEM (one or more certificates) or base64 DER, as ``x5c`` carries
    them. The first certificate must be for the pending key.
    """
    if isinstance(x509_certificates, bytes | str) or not x509_certificates:
        raise InvalidParameterError("x509_certificates must be a non-empty list")
    certs: list[x509.Certificate] = []
    for index, item in enumerate(x509_certificates):
        certs += _load_cert_item(item, index)
    leaf, chain = certs[0], certs[1:]
    if not certificate_matches_key(leaf, pending_private_key):
        raise InvalidParameterError("the certificate does not match the pending key")
    return leaf, chain


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
