"""Certificate import, export and merge: PEM / PKCS#12 in, PEM / PKCS#12 out.

Import takes PEM (private key and certificates in any order, encrypted keys with a
password) or PKCS#12, raw or base64 (Azure's import ``value``); the leaf is the
certificate that matches the private key, the rest keep the order given. Exports carry
no password, like the secret Azure stores behind a certificate. Merge checks a CA's
answer to a pending CSR. Error messages never echo key material or passwords.
Re-exported by :mod:`vaultcore.certificates._x509`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Sequence
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from vaultcore.certificates._pfxwork import check_pfx_work
from vaultcore.certificates._policy_enums import CertificateContentType
from vaultcore.certificates._x509_keys import CertificatePrivateKey, _check_key, certificate_matches_key
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "ImportedCertificate",
    "export_pem",
    "export_pkcs12",
    "merge_chain",
    "parse_import",
]

# --------------------------------------------------------------------------- import


@dataclasses.dataclass(frozen=True, eq=False)
class ImportedCertificate:
    """A parsed import: the private key, the leaf certificate and the rest of the chain.

    ``chain`` holds the other certificates in the order they were given (the leaf is not
    repeated); ``certificates`` is leaf first; ``leaf_index`` is where the leaf was in the
    data (Azure's ``preserveCertOrder`` keeps that order). The private key stays out of
    ``repr`` and the object refuses to be pickled.
    """

    private_key: CertificatePrivateKey = dataclasses.field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    content_type: CertificateContentType
    leaf_index: int = 0

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
    check_pfx_work(data)  # before any key derivation: the file names its own iteration counts
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
        except BaseException as exc:  # a Rust panic in the parser is a BaseException
            if type(exc).__name__ != "PanicException":
                raise
            raise InvalidParameterError("the PFX could not be parsed") from None
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
    return ImportedCertificate(private_key, leaf, chain, content_type, certs.index(leaf))


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
    if password is not None and b"\0" in password:
        # OpenSSL takes C strings: cryptography's Rust code panics (PanicException, which is
        # not an Exception) on a NUL, and no PFX or PEM password can hold one anyway.
        raise InvalidParameterError("the password must not contain a NUL character")
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
    *,
    leaf_index: int = 0,
) -> str:
    """PEM text: the key as unencrypted PKCS#8 ``PRIVATE KEY`` (if any), then the leaf and its
    chain: leaf first, or at *leaf_index* among the chain to keep an imported order."""
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
    ordered = [*chain[:leaf_index], cert, *chain[leaf_index:]]
    parts += [c.public_bytes(serialization.Encoding.PEM) for c in ordered]
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
