"""The security domain under a quorum of operator RSA keys, as Managed HSM downloads it.

``download`` splits the 32-byte domain key with Shamir's scheme (``crypto._shamir``) into
N shares (3 to 10, one per RSA public key the operator supplies, 2048 bits or more) with
quorum M (2 to N), and encrypts each share to its key with RSA-OAEP (SHA-256, the domain
id as the OAEP label). ``upload`` with any M of the private keys decrypts M shares and
recombines the key. The file is JSON::

    {"format": "vaultcore-security-domain", "version": 1, "kind": "quorum",
     "domain_id": hex, "quorum": M,
     "check": base64(HMAC-SHA256(domain_key, "vaultcore security domain check" | domain_id)),
     "shares": [{"x": 1..N, "key": hex SHA-256 of the public key (DER SPKI),
                 "value": base64(RSA-OAEP(x | share))}, ...]}

``check`` lets ``upload`` tell a wrong or damaged share from a good key without holding
the key (HMAC under the key itself reveals nothing about it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vaultcore.crypto import _bindings, _shamir
from vaultcore.exceptions import IntegrityError, InvalidParameterError

__all__ = ["MAX_KEYS", "MIN_KEYS", "download_domain", "is_quorum_domain", "upload_domain"]

FORMAT = "vaultcore-security-domain"
MIN_KEYS, MAX_KEYS = 3, 10
MIN_RSA_BITS = 2048
_CHECK = b"vaultcore security domain check"


def _oaep(domain_id: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"vaultcore-sd:" + domain_id
    )


def _thumbprint(public: rsa.RSAPublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _check_value(domain_id: bytes, domain_key: bytes) -> bytes:
    return hmac.new(domain_key, _CHECK + domain_id, hashlib.sha256).digest()


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:  # a certificate is fine too (Managed HSM takes certificates)
            from cryptography import x509

            key = x509.load_pem_x509_certificate(pem).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InvalidParameterError("each key must be a PEM RSA public key or certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidParameterError("each key must be an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise InvalidParameterError(f"each RSA key must have at least {MIN_RSA_BITS} bits")
    return key


def download_domain(domain_id: bytes, domain_key: bytes, public_keys: Sequence[bytes], quorum: int) -> bytes:
    """The domain key split under a quorum of *public_keys* (PEM), as JSON bytes."""
    if isinstance(public_keys, bytes | str) or not MIN_KEYS <= len(public_keys) <= MAX_KEYS:
        raise InvalidParameterError(f"give {MIN_KEYS} to {MAX_KEYS} RSA public keys")
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 2 <= quorum <= len(public_keys):
        raise InvalidParameterError(f"the quorum must be from 2 to the number of keys ({len(public_keys)})")
    keys = [_public_key(bytes(pem)) for pem in public_keys]
    prints = [_thumbprint(k) for k in keys]
    if len(set(prints)) != len(prints):
        raise InvalidParameterError("the RSA keys must be distinct")
    shares = _shamir.split(domain_key, quorum, len(keys))
    oaep = _oaep(domain_id)
    doc = {
        "format": FORMAT,
        "version": 1,
        "kind": "quorum",
        "domain_id": domain_id.hex(),
        "quorum": quorum,
        "check": base64.b64encode(_check_value(domain_id, domain_key)).decode(),
        "shares": [
            {"x": x, "key": thumb, "value": base64.b64encode(key.encrypt(bytes([x]) + share, oaep)).decode()}
            for (x, share), key, thumb in zip(shares, keys, prints, strict=True)
        ],
    }
    return json.dumps(doc, indent=2).encode()


def is_quorum_domain(blob: bytes) -> bool:
    return isinstance(blob, bytes) and blob.lstrip()[:1] == b"{"


def _private_key(pem: bytes, password: bytes | None) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidParameterError("each key must be a PEM RSA private key (with its password if encrypted)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidParameterError("each key must be an RSA private key")
    return key


def upload_domain(
    blob: bytes, private_keys: Sequence[bytes], *, passwords: Sequence[bytes | None] | None = None
) -> tuple[bytes, bytes]:
    """(domain_id, domain_key) from a quorum download and at least quorum of its private keys."""
    try:
        doc = json.loads(blob)
        domain_id = bytes.fromhex(doc["domain_id"])
        quorum = int(doc["quorum"])
        check = base64.b64decode(doc["check"], validate=True)
        shares = {str(s["key"]): (int(s["x"]), base64.b64decode(s["value"], validate=True)) for s in doc["shares"]}
        ok = doc.get("format") == FORMAT and doc.get("version") == 1 and len(domain_id) == 16
    except (ValueError, KeyError, TypeError):
        raise InvalidParameterError("not a vaultcore security domain download") from None
    if not ok or not 2 <= quorum <= MAX_KEYS:
        raise InvalidParameterError("not a vaultcore security domain download")
    if isinstance(private_keys, bytes | str):
        raise InvalidParameterError("give a list of PEM private keys")
    passwords = list(passwords) if passwords is not None else [None] * len(private_keys)
    if len(passwords) != len(private_keys):
        raise InvalidParameterError("give one password (or None) per private key")
    oaep = _oaep(domain_id)
    found: dict[int, bytes] = {}
    for pem, password in zip(private_keys, passwords, strict=True):
        key = _private_key(bytes(pem), password)
        entry = shares.get(_thumbprint(key.public_key()))
        if entry is None:
            raise InvalidParameterError("a private key does not belong to this security domain download")
        x, sealed = entry
        try:
            plain = key.decrypt(sealed, oaep)
        except ValueError:
            raise IntegrityError("a share of the security domain cannot be decrypted (damaged download)") from None
        if len(plain) != 33 or plain[0] != x:
            raise IntegrityError("a share of the security domain is damaged")
        found[x] = plain[1:]
    if len(found) < quorum:
        raise InvalidParameterError(f"the quorum is {quorum}: give at least {quorum} different private keys")
    domain_key = _shamir.combine(sorted(found.items())[:quorum])
    if not _bindings.constant_time_eq(_check_value(domain_id, domain_key), check):
        raise IntegrityError("the security domain download is damaged: the shares do not recombine")
    return domain_id, domain_key
