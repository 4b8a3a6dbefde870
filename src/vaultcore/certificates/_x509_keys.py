"""Certificate private keys: which keys a certificate may have and how they are checked.

RSA 2048/3072/4096 and EC P-256/P-384/P-521/P-256K, as Azure allows; the signature
digest Azure uses for each key; the check of a key against a policy and against a
certificate. Shared by issuance, import and policy derivation; re-exported by
:mod:`vaultcore.certificates._x509`.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore.certificates._policy_enums import RSA_KEY_SIZES
from vaultcore.certificates._policy_models import CertificatePolicy
from vaultcore.crypto._jwk import KeyCurveName, KeyType, check_rsa_exponent
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "CertificatePrivateKey",
    "certificate_matches_key",
    "check_key_for_policy",
    "signature_hash",
]

CertificatePrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""Private keys a certificate may have (Azure's RSA and EC)."""

_CURVES: dict[str, KeyCurveName] = {
    ec.SECP256R1.name: KeyCurveName.p_256,
    ec.SECP384R1.name: KeyCurveName.p_384,
    ec.SECP521R1.name: KeyCurveName.p_521,
    ec.SECP256K1.name: KeyCurveName.p_256_k,
}

# --------------------------------------------------------------------------- keys


def _check_key(private_key: object) -> CertificatePrivateKey:
    """The key, if it is an RSA or EC key that a certificate may have."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size not in RSA_KEY_SIZES:
            raise InvalidParameterError("RSA certificate keys must be 2048, 3072 or 4096 bits")
        check_rsa_exponent(private_key.public_key().public_numbers().e)
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
