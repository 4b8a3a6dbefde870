"""Client assertions: the JWT an application signs with its certificate's key (RFC 7523).

azure-identity sends two dialects, and both are accepted (research notes, docs/server.md):

- sync (MSAL): ``{"alg":"RS256","x5t":<SHA-1 thumbprint>}``, standard base64url without
  padding, float ``iat``/``exp``, no ``nbf``;
- async: ``{"alg":"PS256","x5t#S256":<SHA-256 thumbprint>}`` (or RS256 + x5t for tenant
  ``adfs``), **padded** base64url segments, integer ``nbf``/``exp``, no ``iat``.

Checks, in order: size and shape; the algorithm (RS256 or PS256 only: never ``none``, never
HMAC); the thumbprint names a certificate registered on the application; the signature over
the bytes received; ``iss`` = ``sub`` = the client id; ``aud`` = the token endpoint the
request was posted to; ``exp`` in the future and at most :data:`MAX_LIFETIME` ahead,
``nbf``/``iat`` not in the future (5 minutes of skew); finally ``jti`` not seen before
from anyone else (:class:`ReplayCache`, kept until the assertion expires). Every failure is the same
:class:`AssertionRejected` with a short reason (no key material, no token text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["ASSERTION_TYPE", "AssertionRejected", "ReplayCache", "verify_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION = 16384
MAX_LIFETIME = 3600  # seconds an assertion may still be valid (bounds the replay cache)
SKEW = 300


class AssertionRejected(Exception):
    """The client assertion is not acceptable (``reason`` says why, without secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unb64(segment: str) -> bytes:
    """base64url with or without ``=`` padding (the async SDK pads, JWS does not)."""
    text = segment.rstrip("=")
    if not text or any(c not in _B64URL for c in text):
        raise AssertionRejected("malformed assertion")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRejected("malformed assertion") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AssertionRejected("malformed assertion") from None
    if not isinstance(value, dict):
        raise AssertionRejected("malformed assertion")
    return value


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AssertionRejected(f"the assertion's {name} is not a number")
    return float(value)


def _thumbprint(der: bytes, name: str) -> str:
    digest = hashlib.sha1(der).digest() if name == "x5t" else hashlib.sha256(der).digest()  # noqa: S324 - x5t is SHA-1
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _find_certificate(header: dict[str, Any], certificates: Sequence[bytes]) -> x509.Certificate:
    """The registered certificate the header's ``x5t#S256`` (preferred) or ``x5t`` names."""
    for name in ("x5t#S256", "x5t"):
        claimed = header.get(name)
        if claimed is None:
            continue
        if not isinstance(claimed, str):
            raise AssertionRejected(f"the assertion's {name} is not a string")
        wanted = claimed.rstrip("=").encode()
        found = None
        for der in certificates:  # compare every one: the time does not depend on which matched
            if hmac.compare_digest(_thumbprint(der, name).encode(), wanted):
                found = der
        if found is None:
            raise AssertionRejected("the assertion's certificate is not registered for this client")
        return x509.load_der_x509_certificate(found)
    raise AssertionRejected("the assertion names no certificate (x5t or x5t#S256)")


def _check_signature(alg: str, cert: x509.Certificate, signed: bytes, signature: bytes) -> None:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise AssertionRejected("the registered certificate has no RSA key")
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if alg == "RS256"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    )
    try:
        key.verify(signature, signed, pad, hashes.SHA256())
    except InvalidSignature:
        raise AssertionRejected("the assertion's signature is not valid") from None


class ReplayCache:
    """The ``jti`` of every accepted assertion until it expires (bounded; thread-safe).

    Each is bound to who first presented it (the peer's uid, from the kernel). Only that same
    local user may present it again: sync MSAL reuses one assertion for about 9 minutes (for a
    claims challenge, say), while anyone else - or any peer the kernel cannot name - replaying
    it is refused.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._seen: dict[str, tuple[float, int | None]] = {}
        self._size = size
        self._lock = threading.Lock()

    def claim(self, key: str, expires: float, now: float, holder: int | None = None) -> None:
        """Remember *key* for *holder* until *expires*; ``AssertionRejected`` if someone else
        (or an unknown peer) used it before."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen[0] > now - SKEW:
                if holder is None or seen[1] != holder:
                    raise AssertionRejected("the assertion was already used (jti replayed)")
                return
            if len(self._seen) >= self._size:
                self._seen = {k: e for k, e in self._seen.items() if e[0] > now - SKEW}
                if len(self._seen) >= self._size:
                    raise AssertionRejected("too many assertions in flight; try again later")
            self._seen[key] = (expires, holder)


def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    audience: str,
    certificates: Sequence[bytes],
    replay: ReplayCache,
    holder: int | None = None,
    now: float | None = None,
) -> None:
    """Accept *assertion* for *client_id* posted to *audience*, or raise ``AssertionRejected``.

    *holder* is the peer's uid when the kernel knows it (see :class:`ReplayCache`)."""
    if not isinstance(assertion, str) or not 0 < len(assertion) <= MAX_ASSERTION:
        raise AssertionRejected("malformed assertion")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AssertionRejected("malformed assertion")
    header = _json_object(_unb64(parts[0]))
    alg = header.get("alg")
    if alg not in ("RS256", "PS256"):
        raise AssertionRejected("the assertion must be signed RS256 or PS256")
    if not certificates:
        raise AssertionRejected("no certificate is registered for this client")
    cert = _find_certificate(header, certificates)
    _check_signature(str(alg), cert, f"{parts[0]}.{parts[1]}".encode("ascii"), _unb64(parts[2]))
    claims = _json_object(_unb64(parts[1]))
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected("the assertion's iss and sub must be the client id")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/").lower() == audience.lower() for a in audiences):
        raise AssertionRejected("the assertion's audience is not this token endpoint")
    now = time.time() if now is None else now
    exp = _number(claims, "exp")
    if exp is None or exp <= now - SKEW:
        raise AssertionRejected("the assertion has expired")
    if exp > now + MAX_LIFETIME + SKEW:
        raise AssertionRejected("the assertion is valid for too long (at most one hour)")
    for name in ("nbf", "iat"):
        value = _number(claims, name)
        if value is not None and value > now + SKEW:
            raise AssertionRejected(f"the assertion's {name} is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise AssertionRejected("the assertion has no jti")
    replay.claim(f"{client_id.lower()}\0{jti}", exp, now, holder)
