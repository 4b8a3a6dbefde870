"""X.500 distinguished names for certificates: ``parse_subject`` and ``format_subject``.

Reads a subject the way Azure accepts it (``"CN=a, O=b, C=US"``, RFC 4514 escapes,
quoted values, .NET key spellings) and writes it back in Azure's spelling. Kept apart
from issuance and import because the policy model validates subjects with it too.
Re-exported by :mod:`vaultcore.certificates._x509`.
"""

from __future__ import annotations

import re
from typing import NoReturn

from cryptography import x509
from cryptography.x509.oid import NameOID

from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "format_subject",
    "parse_subject",
]

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
