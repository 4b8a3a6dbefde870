"""Azure Key Vault's cryptographic operations on key material, as pure functions.

``encrypt``/``decrypt``, ``wrap_key``/``unwrap_key`` and ``sign``/``verify`` (over
digests; ``sign_data``/``verify_data`` hash first) with Azure's algorithm names and rules.
They take a :class:`~vaultcore._keymaterial.KeyMaterial`, or for the public operations
(encrypt, wrap, verify with RSA/EC) a :class:`~vaultcore._keymaterial.PublicKeyMaterial`
rebuilt from a public JWK. Policy (``key_ops``, enabled, nbf/exp) is the vault's job.

Errors: :class:`InvalidParameterError` for a request that cannot be right — an algorithm
that does not fit the key type, size or curve, a digest of the wrong length, empty input,
an IV or tag of the wrong length, a caller IV for GCM. :class:`IntegrityError` when
authenticated decryption or unwrapping fails. ``verify`` returns ``False`` for a bad (or
wrongly sized) signature.

Algorithm notes, as Azure does them:

- RSA-OAEP is SHA-1 with MGF1-SHA-1; RSA-OAEP-256 is SHA-256 with MGF1-SHA-256.
- RSA1_5 decryption uses OpenSSL's implicit rejection (Marvin attack defence): a tampered
  ciphertext yields pseudo-random bytes rather than an error, so no padding oracle exists.
  Prefer RSA-OAEP-256.
- AxxxGCM: the IV is 12 random bytes chosen here (a caller IV is refused, as by Azure
  Managed HSM); the 16-byte tag is returned separately; AAD is optional.
- AxxxCBC (no padding: whole blocks) and AxxxCBCPAD (PKCS#7) need a 16-byte caller IV.
  CBC is not authenticated: a tampered ciphertext decrypts to garbage; only a bad PKCS#7
  padding is detected (as ``IntegrityError``).
- AxxxKW is RFC 3394 in the native core (``vaultcore._bindings``).
- PSxxx uses a salt as long as the digest and MGF1 with the same hash; ESxxx signatures
  are raw ``r ‖ s`` of fixed width (JWS), not DER.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias, TypeVar

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asympadding
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vaultcore import _jwk
from vaultcore._jwk import (
    EncryptionAlgorithm,
    KeyCurveName,
    KeyType,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from vaultcore._keymaterial import KeyMaterial, PublicKeyMaterial
from vaultcore.exceptions import IntegrityError, InvalidParameterError

__all__ = [
    "GCM_IV_SIZE",
    "GCM_TAG_SIZE",
    "EncryptOutput",
    "decrypt",
    "encrypt",
    "hash_for",
    "sign",
    "sign_data",
    "unwrap_key",
    "verify",
    "verify_data",
    "wrap_key",
]

Key: TypeAlias = KeyMaterial | PublicKeyMaterial
BytesLike: TypeAlias = bytes | bytearray | memoryview
_E = TypeVar("_E", bound=enum.StrEnum)

GCM_IV_SIZE = 12
GCM_TAG_SIZE = 16
_BLOCK = 16


@dataclass(frozen=True, slots=True)
class EncryptOutput:
    """What ``encrypt`` returns: the ciphertext and what ``decrypt`` needs back.

    ``iv`` is set for GCM (generated) and CBC (the caller's); ``tag`` and ``aad`` for GCM.
    """

    ciphertext: bytes
    iv: bytes | None = None
    tag: bytes | None = None
    aad: bytes | None = None


class _RsaCipher(NamedTuple):
    padding: asympadding.AsymmetricPadding
    overhead: int  # bytes of padding: the longest plaintext is modulus bytes - overhead


class _AesCipher(NamedTuple):
    key_bytes: int
    mode: Literal["gcm", "cbc", "cbcpad"]


class _Signer(NamedTuple):
    hash: hashes.HashAlgorithm
    curve: KeyCurveName | None  # None: RSA
    padding: asympadding.AsymmetricPadding | None  # RSA only
    ecdsa: ec.ECDSA | None  # EC only


_RSA: dict[str, _RsaCipher] = {
    EncryptionAlgorithm.rsa1_5: _RsaCipher(asympadding.PKCS1v15(), 11),
    EncryptionAlgorithm.rsa_oaep: _RsaCipher(
        asympadding.OAEP(asympadding.MGF1(hashes.SHA1()), hashes.SHA1(), None),  # noqa: S303
        2 * 20 + 2,
    ),
    EncryptionAlgorithm.rsa_oaep_256: _RsaCipher(
        asympadding.OAEP(asympadding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
        2 * 32 + 2,
    ),
}

_AES: dict[str, _AesCipher] = {
    EncryptionAlgorithm.a128_gcm: _AesCipher(16, "gcm"),
    EncryptionAlgorithm.a192_gcm: _AesCipher(24, "gcm"),
    EncryptionAlgorithm.a256_gcm: _AesCipher(32, "gcm"),
    EncryptionAlgorithm.a128_cbc: _AesCipher(16, "cbc"),
    EncryptionAlgorithm.a192_cbc: _AesCipher(24, "cbc"),
    EncryptionAlgorithm.a256_cbc: _AesCipher(32, "cbc"),
    EncryptionAlgorithm.a128_cbcpad: _AesCipher(16, "cbcpad"),
    EncryptionAlgorithm.a192_cbcpad: _AesCipher(24, "cbcpad"),
    EncryptionAlgorithm.a256_cbcpad: _AesCipher(32, "cbcpad"),
}

_KW: dict[str, int] = {
    KeyWrapAlgorithm.aes_128: 16,
    KeyWrapAlgorithm.aes_192: 24,
    KeyWrapAlgorithm.aes_256: 32,
}


def _rsa_signer(h: hashes.HashAlgorithm, pss: bool) -> _Signer:
    pad: asympadding.AsymmetricPadding = (
        asympadding.PSS(asympadding.MGF1(h), salt_length=h.digest_size) if pss else asympadding.PKCS1v15()
    )
    return _Signer(h, None, pad, None)


def _ec_signer(h: hashes.HashAlgorithm, curve: KeyCurveName) -> _Signer:
    return _Signer(h, curve, None, ec.ECDSA(Prehashed(h)))


_SIGNERS: dict[str, _Signer] = {
    SignatureAlgorithm.rs256: _rsa_signer(hashes.SHA256(), pss=False),
    SignatureAlgorithm.rs384: _rsa_signer(hashes.SHA384(), pss=False),
    SignatureAlgorithm.rs512: _rsa_signer(hashes.SHA512(), pss=False),
    SignatureAlgorithm.ps256: _rsa_signer(hashes.SHA256(), pss=True),
    SignatureAlgorithm.ps384: _rsa_signer(hashes.SHA384(), pss=True),
    SignatureAlgorithm.ps512: _rsa_signer(hashes.SHA512(), pss=True),
    SignatureAlgorithm.es256: _ec_signer(hashes.SHA256(), KeyCurveName.p_256),
    SignatureAlgorithm.es256_k: _ec_signer(hashes.SHA256(), KeyCurveName.p_256_k),
    SignatureAlgorithm.es384: _ec_signer(hashes.SHA384(), KeyCurveName.p_384),
    SignatureAlgorithm.es512: _ec_signer(hashes.SHA512(), KeyCurveName.p_521),
}
_PREHASHED = {name: Prehashed(s.hash) for name, s in _SIGNERS.items()}


# --------------------------------------------------------------------------- checks


def _algorithm(cls: type[_E], value: object, what: str) -> _E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    raise InvalidParameterError(f"{_jwk.show(value)} is not {what} algorithm; use {_jwk.choices(cls)}")


def _data(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, bytearray | memoryview):
        data = bytes(value)
    else:
        raise InvalidParameterError(f"{what} must be bytes, not {type(value).__name__}")
    if not data:
        raise InvalidParameterError(f"{what} must not be empty")
    return data


def _optional(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidParameterError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _exact(value: object, size: int, what: str, alg: str) -> bytes:
    data = _optional(value, what)
    if data is None or len(data) != size:
        got = "none" if data is None else f"{len(data)} bytes"
        raise InvalidParameterError(f"{alg} needs a {size}-byte {what}; got {got}")
    return data


def _unused(alg: str, **params: object) -> None:
    for name, value in params.items():
        if value is not None:
            raise InvalidParameterError(f"{name} is not used by {alg}; do not pass it")


def _kty(key: object) -> KeyType:
    if not isinstance(key, KeyMaterial | PublicKeyMaterial):
        raise InvalidParameterError(f"key must be KeyMaterial or PublicKeyMaterial, not {type(key).__name__}")
    return key.kty


def _wrong_type(alg: str, need: str, key: Key) -> InvalidParameterError:
    return InvalidParameterError(f"{alg} needs {need} key; this key is {key.kty}")


def _rsa_public(key: Key, alg: str) -> rsa.RSAPublicKey:
    if _kty(key) is not KeyType.rsa:
        raise _wrong_type(alg, "an RSA", key)
    obj = key.as_cryptography()
    public = obj.public_key() if isinstance(obj, rsa.RSAPrivateKey) else obj
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def _rsa_private(key: Key, alg: str, action: str) -> rsa.RSAPrivateKey:
    if _kty(key) is not KeyType.rsa:
        raise _wrong_type(alg, "an RSA", key)
    obj = key.as_cryptography()
    if not isinstance(obj, rsa.RSAPrivateKey):
        raise InvalidParameterError(f"{alg} {action} needs the private key")
    return obj


def _check_curve(key: Key, alg: str, curve: KeyCurveName) -> None:
    if _kty(key) is not KeyType.ec:
        raise _wrong_type(alg, f"an EC {curve}", key)
    if key.curve is not curve:
        raise InvalidParameterError(f"{alg} needs an EC {curve} key; this key is on {key.curve}")


def _oct(key: Key, alg: str, size: int) -> bytes:
    if _kty(key) is not KeyType.oct or not isinstance(key, KeyMaterial):
        raise _wrong_type(alg, f"a {size * 8}-bit oct", key)
    secret = key._key
    assert isinstance(secret, bytes)
    if len(secret) != size:
        raise InvalidParameterError(f"{alg} needs a {size * 8}-bit oct key; this key has {len(secret) * 8} bits")
    return secret


def _signer(alg: object) -> tuple[SignatureAlgorithm, _Signer]:
    algorithm = _algorithm(SignatureAlgorithm, alg, "a signature")
    return algorithm, _SIGNERS[algorithm]


def _digest(value: object, algorithm: SignatureAlgorithm, signer: _Signer) -> bytes:
    digest = _data(value, "digest")
    size = signer.hash.digest_size
    if len(digest) != size:
        raise InvalidParameterError(
            f"{algorithm} signs a {size}-byte {signer.hash.name.upper()} digest; got {len(digest)} bytes"
        )
    return digest


def hash_for(alg: SignatureAlgorithm | str) -> hashes.HashAlgorithm:
    """The hash a signature algorithm signs: SHA-256 for RS256/PS256/ES256/ES256K, etc."""
    _, signer = _signer(alg)
    return type(signer.hash)()


def _hash(signer: _Signer, data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidParameterError(f"data must be bytes, not {type(data).__name__}")
    h = hashes.Hash(signer.hash)
    h.update(data)
    return h.finalize()


# --------------------------------------------------------------------------- RSA and AES


def _rsa_encrypt(key: Key, alg: str, data: bytes) -> bytes:
    cipher = _RSA[alg]
    public = _rsa_public(key, alg)
    limit = (public.key_size + 7) // 8 - cipher.overhead
    if len(data) > limit:
        raise InvalidParameterError(
            f"{alg} with a {public.key_size}-bit key takes at most {limit} bytes; got {len(data)}"
        )
    return public.encrypt(data, cipher.padding)


def _rsa_decrypt(key: Key, alg: str, data: bytes) -> bytes:
    private = _rsa_private(key, alg, "decryption")
    size = (private.key_size + 7) // 8
    if len(data) != size:
        raise InvalidParameterError(
            f"{alg} ciphertext for a {private.key_size}-bit key is {size} bytes; got {len(data)}"
        )
    try:
        return private.decrypt(data, _RSA[alg].padding)
    except ValueError:
        raise IntegrityError() from None


def _cbc(secret: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(secret), modes.CBC(iv))


def encrypt(
    key: Key,
    alg: EncryptionAlgorithm | str,
    plaintext: BytesLike,
    *,
    iv: BytesLike | None = None,
    aad: BytesLike | None = None,
) -> EncryptOutput:
    """Encrypt ``plaintext`` (RSA with the public key suffices; AES needs the oct key)."""
    algorithm = _algorithm(EncryptionAlgorithm, alg, "an encryption")
    data = _data(plaintext, "plaintext")
    if algorithm in _RSA:
        _unused(algorithm, iv=iv, aad=aad)
        return EncryptOutput(_rsa_encrypt(key, algorithm, data))
    cipher = _AES[algorithm]
    secret = _oct(key, algorithm, cipher.key_bytes)
    header = _optional(aad, "aad")
    if cipher.mode == "gcm":
        if iv is not None:
            raise InvalidParameterError(
                f"{algorithm} generates its own random IV (returned with the ciphertext); do not pass iv"
            )
        nonce = os.urandom(GCM_IV_SIZE)
        sealed = AESGCM(secret).encrypt(nonce, data, header)
        return EncryptOutput(sealed[:-GCM_TAG_SIZE], nonce, sealed[-GCM_TAG_SIZE:], header)
    if header is not None:
        raise InvalidParameterError(f"aad is not used by {algorithm}; only AES-GCM takes aad")
    vector = _exact(iv, _BLOCK, "iv", algorithm)
    if cipher.mode == "cbc":
        if len(data) % _BLOCK:
            raise InvalidParameterError(
                f"{algorithm} encrypts whole 16-byte blocks; plaintext is {len(data)} bytes "
                f"(use {algorithm}PAD for other lengths)"
            )
    else:
        padder = sympadding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    encryptor = _cbc(secret, vector).encryptor()
    return EncryptOutput(encryptor.update(data) + encryptor.finalize(), vector)


def decrypt(
    key: KeyMaterial,
    alg: EncryptionAlgorithm | str,
    ciphertext: BytesLike,
    *,
    iv: BytesLike | None = None,
    aad: BytesLike | None = None,
    tag: BytesLike | None = None,
) -> bytes:
    """Decrypt what :func:`encrypt` made; a failed GCM tag or OAEP check → ``IntegrityError``."""
    algorithm = _algorithm(EncryptionAlgorithm, alg, "an encryption")
    data = _data(ciphertext, "ciphertext")
    if algorithm in _RSA:
        _unused(algorithm, iv=iv, aad=aad, tag=tag)
        return _rsa_decrypt(key, algorithm, data)
    cipher = _AES[algorithm]
    secret = _oct(key, algorithm, cipher.key_bytes)
    if cipher.mode == "gcm":
        nonce = _exact(iv, GCM_IV_SIZE, "iv", algorithm)
        check = _exact(tag, GCM_TAG_SIZE, "tag", algorithm)
        try:
            return AESGCM(secret).decrypt(nonce, data + check, _optional(aad, "aad"))
        except InvalidTag:
            raise IntegrityError() from None
    _unused(algorithm, aad=aad, tag=tag)
    vector = _exact(iv, _BLOCK, "iv", algorithm)
    if len(data) % _BLOCK:
        raise InvalidParameterError(f"{algorithm} ciphertext is whole 16-byte blocks; got {len(data)} bytes")
    decryptor = _cbc(secret, vector).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    if cipher.mode == "cbc":
        return plain
    unpadder = sympadding.PKCS7(128).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise IntegrityError() from None


# --------------------------------------------------------------------------- key wrap


def _kw_sizes(key: Key, alg: KeyWrapAlgorithm) -> bytes:
    return _oct(key, alg, _KW[alg])


def wrap_key(key: Key, alg: KeyWrapAlgorithm | str, key_to_wrap: BytesLike) -> bytes:
    """Wrap a key: RSA algorithms encrypt it, AxxxKW is RFC 3394 (16+ bytes, 8-byte steps)."""
    algorithm = _algorithm(KeyWrapAlgorithm, alg, "a key wrap")
    data = _data(key_to_wrap, "key")
    if algorithm in _RSA:
        return _rsa_encrypt(key, algorithm, data)
    kek = _kw_sizes(key, algorithm)
    if len(data) < 16 or len(data) % 8:
        raise InvalidParameterError(
            f"{algorithm} wraps keys of 16 bytes or more in multiples of 8; got {len(data)} bytes"
        )
    from vaultcore import _bindings  # native core: loaded on first use

    wrapped: bytes = _bindings.kw_wrap(kek, data)
    return wrapped


def unwrap_key(key: KeyMaterial, alg: KeyWrapAlgorithm | str, wrapped: BytesLike) -> bytes:
    """Undo :func:`wrap_key`; a failed unwrap raises ``IntegrityError``."""
    algorithm = _algorithm(KeyWrapAlgorithm, alg, "a key wrap")
    data = _data(wrapped, "wrapped key")
    if algorithm in _RSA:
        return _rsa_decrypt(key, algorithm, data)
    kek = _kw_sizes(key, algorithm)
    if len(data) < 24 or len(data) % 8:
        raise InvalidParameterError(
            f"{algorithm} wrapped keys are 24 bytes or more in multiples of 8; got {len(data)} bytes"
        )
    from vaultcore import _bindings  # native core: loaded on first use

    unwrapped: bytes = _bindings.kw_unwrap(kek, data)
    return unwrapped


# --------------------------------------------------------------------------- signatures


def _sign(key: KeyMaterial, algorithm: SignatureAlgorithm, signer: _Signer, d: bytes) -> bytes:
    if signer.curve is None:
        assert signer.padding is not None
        private = _rsa_private(key, algorithm, "signing")
        return private.sign(d, signer.padding, _PREHASHED[algorithm])
    assert signer.ecdsa is not None
    _check_curve(key, algorithm, signer.curve)
    private_ec = key.as_cryptography()
    if not isinstance(private_ec, ec.EllipticCurvePrivateKey):
        raise InvalidParameterError(f"{algorithm} signing needs the private key")
    r, s = decode_dss_signature(private_ec.sign(d, signer.ecdsa))
    width = _jwk.CURVES[signer.curve][1]
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def _verify(key: Key, algorithm: SignatureAlgorithm, signer: _Signer, d: bytes, signature: object) -> bool:
    if not isinstance(signature, bytes | bytearray | memoryview):
        raise InvalidParameterError(f"signature must be bytes, not {type(signature).__name__}")
    sig = bytes(signature)
    try:
        if signer.curve is None:
            assert signer.padding is not None
            public = _rsa_public(key, algorithm)
            public.verify(sig, d, signer.padding, _PREHASHED[algorithm])
            return True
        assert signer.ecdsa is not None
        _check_curve(key, algorithm, signer.curve)
        obj = key.as_cryptography()
        public_ec = obj.public_key() if isinstance(obj, ec.EllipticCurvePrivateKey) else obj
        assert isinstance(public_ec, ec.EllipticCurvePublicKey)
        width = _jwk.CURVES[signer.curve][1]
        if len(sig) != 2 * width:
            return False
        r, s = int.from_bytes(sig[:width], "big"), int.from_bytes(sig[width:], "big")
        public_ec.verify(encode_dss_signature(r, s), d, signer.ecdsa)
        return True
    except InvalidSignature:
        return False


def sign(key: KeyMaterial, alg: SignatureAlgorithm | str, digest: BytesLike) -> bytes:
    """Sign a digest: RSxxx PKCS#1 v1.5, PSxxx PSS, ESxxx raw ``r ‖ s`` (curve must match)."""
    algorithm, signer = _signer(alg)
    return _sign(key, algorithm, signer, _digest(digest, algorithm, signer))


def verify(key: Key, alg: SignatureAlgorithm | str, digest: BytesLike, signature: BytesLike) -> bool:
    """``True`` if ``signature`` is valid for ``digest``; ``False`` for any bad signature."""
    algorithm, signer = _signer(alg)
    return _verify(key, algorithm, signer, _digest(digest, algorithm, signer), signature)


def sign_data(key: KeyMaterial, alg: SignatureAlgorithm | str, data: BytesLike) -> bytes:
    """Hash ``data`` with the algorithm's hash (:func:`hash_for`), then :func:`sign`."""
    algorithm, signer = _signer(alg)
    return _sign(key, algorithm, signer, _hash(signer, data))


def verify_data(key: Key, alg: SignatureAlgorithm | str, data: BytesLike, signature: BytesLike) -> bool:
    """Hash ``data`` with the algorithm's hash, then :func:`verify`."""
    algorithm, signer = _signer(alg)
    return _verify(key, algorithm, signer, _hash(signer, data), signature)
