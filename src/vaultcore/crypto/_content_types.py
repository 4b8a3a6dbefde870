"""Certificate-backed secret values in another media type (Azure's ``outContentType``).

A certificate's backing secret holds its key and chain as base64 PKCS#12
(``application/x-pkcs12``) or as PEM text (``application/x-pem-file``). Azure converts on
read "from PFX to PEM" only, and only for certificate-backed (managed) secrets: asking for
the type a value already has, or converting a secret the vault did not write for a
certificate, returns it unchanged (so a user-supplied PKCS#12 is never parsed here). Pure
functions over ``cryptography``; nothing here touches storage.
"""

from __future__ import annotations

import base64
import binascii

from vaultcore.exceptions import InvalidParameterError

__all__ = ["PEM", "PKCS12", "convert_secret_value"]

PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"


def _pkcs12_to_pem(value: str) -> str:
    """PEM text of an unencrypted base64 PKCS#12: the key as PKCS#8, the leaf, then the chain."""
    from cryptography.hazmat.primitives import serialization  # X.509 loads only when converting
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        archive = base64.b64decode("".join(value.split()), validate=True)
        key, cert, chain = pkcs12.load_key_and_certificates(archive, None)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidParameterError("the secret's value is not a PKCS#12 certificate bundle") from None
    parts: list[bytes] = []
    if key is not None:
        parts.append(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    parts += [c.public_bytes(serialization.Encoding.PEM) for c in ([cert] if cert is not None else []) + chain]
    return b"".join(parts).decode("ascii")


def convert_secret_value(value: str, content_type: str | None, out: str, *, managed: bool) -> tuple[str, str | None]:
    """``(value, content type)`` of a secret read with ``outContentType=out``.

    Raises InvalidParameterError for a media type other than the two above, and for PEM to
    PFX (which Azure does not offer either).
    """
    if not isinstance(out, str) or out.lower() not in (PKCS12, PEM):
        raise InvalidParameterError(f"outContentType must be {PEM} or {PKCS12}")
    wanted = out.lower()
    current = (content_type or "").lower()
    if not managed or current not in (PKCS12, PEM) or current == wanted:
        return value, content_type
    if wanted == PKCS12:
        raise InvalidParameterError("only PFX to PEM conversion is supported (outContentType)")
    return _pkcs12_to_pem(value), PEM
