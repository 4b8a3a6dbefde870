"""Azure Key Vault's cryptographic operations on key material, as pure functions.

``encrypt``/``decrypt``, ``wrap_key``/``unwrap_key`` and ``sign``/``verify`` (over
digests; ``sign_data``/``verify_data`` hash first) with Azure's algorithm names and rules.
They take a :class:`~vaultcore.crypto._keymaterial.KeyMaterial`, or for the public operations
(encrypt, wrap, verify with RSA/EC) a :class:`~vaultcore.crypto._keymaterial.PublicKeyMaterial`
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
- AxxxKW is RFC 3394 in the native core (``vaultcore.crypto._bindings``).
- PSxxx uses a salt as long as the digest and MGF1 with the same hash; ESxxx signatures
  are raw ``r ‖ s`` of fixed width (JWS), not DER.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias, TypeVar, cast

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

from vaultcore.crypto import _jwk
from vaultcore.crypto._jwk import (
    EncryptionAlgorithm,
    KeyCurveName,
    KeyType,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from vaultcore.crypto._keymaterial import KeyMaterial, PublicKeyMaterial
from vaultcore.exceptions import IntegrityError, InvalidParameterError

__all__ = [
    "GCM_IV_SIZE",
    "GCM_TAG_SIZE",
    "EncryptOutput",
    "decrypt",
    "encrypt",
    "hash_for",
    "raw_signature",
    "sign",
    "sign_data",
    "unwrap_key",
    "verify",
    "verify_data",
    "wrap_key",
]

Key: TypeAlias = KeyMaterial | PublicKeyMaterial
_T = TypeVar("_T")
BytesLike: TypeAlias = bytes | bytearray | memoryview

GCM_IV_SIZE = 12
GCM_TAG_SIZE = 16
_BLOCK = 16
_KEY_CLASSES = (KeyMaterial, PublicKeyMaterial)
_BYTES_LIKE = (bytes, bytearray, memoryview)


@dataclass(frozen=True, slots=True)
class EncryptOutput:
    """What ``encrypt`` returns: the ciphertext and what ``decrypt`` needs back.

    ``iv`` is set for GCM (generated) and CBC (the caller's); ``tag`` and ``aad`` for GCM.
    """

    ciphertext: bytes
    iv: bytes | None = None
    tag: bytes | None = None
    aad: bytes | None = None


# Algorithm tables are keyed by the plain string values, so a caller's str or enum member
# finds its entry in one dict lookup; each entry carries the name used in messages.


class _RsaCipher(NamedTuple):
    name: str
    padding: asympadding.AsymmetricPadding
    overhead: int  # bytes of padding: the longest plaintext is modulus bytes - overhead


class _AesCipher(NamedTuple):
    name: str
    key_bytes: int  # 0: any AES key size (the PKCS#11-named CKM_* wraps)
    mode: Literal["gcm", "cbc", "cbcpad", "kw", "kwp"]


class _Signer(NamedTuple):
    name: str
    hash: hashes.HashAlgorithm
    curve: KeyCurveName | None  # None: RSA
    padding: asympadding.AsymmetricPadding | None  # RSA only
    prehashed: Prehashed
    ecdsa: ec.ECDSA | None  # EC only


def _rsa(alg: enum.StrEnum, padding: asympadding.AsymmetricPadding, overhead: int) -> _RsaCipher:
    return _RsaCipher(alg.value, padding, overhead)


def _aes(alg: enum.StrEnum, key_bytes: int, mode: Literal["gcm", "cbc", "cbcpad", "kw", "kwp"]) -> _AesCipher:
    return _AesCipher(alg.value, key_bytes, mode)


def _rsa_signer(alg: SignatureAlgorithm, h: hashes.HashAlgorithm, pss: bool) -> _Signer:
    pad: asympadding.AsymmetricPadding = (
        asympadding.PSS(asympadding.MGF1(h), salt_length=h.digest_size) if pss else asympadding.PKCS1v15()
    )
    return _Signer(alg.value, h, None, pad, Prehashed(h), None)


def _ec_signer(alg: SignatureAlgorithm, h: hashes.HashAlgorithm, curve: KeyCurveName) -> _Signer:
    return _Signer(alg.value, h, curve, None, Prehashed(h), ec.ECDSA(Prehashed(h)))


_SHA1_OAEP = asympadding.OAEP(asympadding.MGF1(hashes.SHA1()), hashes.SHA1(), None)  # noqa: S303 - Azure's RSA-OAEP
_SHA256_OAEP = asympadding.OAEP(asympadding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
_RSA_CIPHERS = [
    (EncryptionAlgorithm.rsa1_5, KeyWrapAlgorithm.rsa1_5, asympadding.PKCS1v15(), 11),
    (EncryptionAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep, _SHA1_OAEP, 2 * 20 + 2),
    (EncryptionAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep_256, _SHA256_OAEP, 2 * 32 + 2),
]
E, W = EncryptionAlgorithm, KeyWrapAlgorithm
_ENCRYPTION: dict[str, _RsaCipher | _AesCipher] = {e.value: _rsa(e, pad, over) for e, _, pad, over in _RSA_CIPHERS}
_ENCRYPTION.update(
    {
        E.a128_gcm.value: _aes(E.a128_gcm, 16, "gcm"),
        E.a192_gcm.value: _aes(E.a192_gcm, 24, "gcm"),
        E.a256_gcm.value: _aes(E.a256_gcm, 32, "gcm"),
        E.a128_cbc.value: _aes(E.a128_cbc, 16, "cbc"),
        E.a192_cbc.value: _aes(E.a192_cbc, 24, "cbc"),
        E.a256_cbc.value: _aes(E.a256_cbc, 32, "cbc"),
        E.a128_cbcpad.value: _aes(E.a128_cbcpad, 16, "cbcpad"),
        E.a192_cbcpad.value: _aes(E.a192_cbcpad, 24, "cbcpad"),
        E.a256_cbcpad.value: _aes(E.a256_cbcpad, 32, "cbcpad"),
    }
)
_WRAP: dict[str, _RsaCipher | _AesCipher] = {w.value: _rsa(w, pad, over) for _, w, pad, over in _RSA_CIPHERS}
_WRAP.update(
    {
        W.aes_128.value: _aes(W.aes_128, 16, "kw"),
        W.aes_192.value: _aes(W.aes_192, 24, "kw"),
        W.aes_256.value: _aes(W.aes_256, 32, "kw"),
        # Managed HSM's PKCS#11 names: RFC 3394, and RFC 5649 for the padded form (see
        # docs/keys.md, "CKM_AES_KEY_WRAP_PAD"); any AES key size, unlike AxxxKW.
        W.ckm_aes_key_wrap.value: _aes(W.ckm_aes_key_wrap, 0, "kw"),
        W.ckm_aes_key_wrap_pad.value: _aes(W.ckm_aes_key_wrap_pad, 0, "kwp"),
    }
)
S = SignatureAlgorithm
_SIGNERS: dict[str, _Signer] = {
    S.rs256.value: _rsa_signer(S.rs256, hashes.SHA256(), pss=False),
    S.rs384.value: _rsa_signer(S.rs384, hashes.SHA384(), pss=False),
    S.rs512.value: _rsa_signer(S.rs512, hashes.SHA512(), pss=False),
    S.ps256.value: _rsa_signer(S.ps256, hashes.SHA256(), pss=True),
    S.ps384.value: _rsa_signer(S.ps384, hashes.SHA384(), pss=True),
    S.ps512.value: _rsa_signer(S.ps512, hashes.SHA512(), pss=True),
    S.es256.value: _ec_signer(S.es256, hashes.SHA256(), KeyCurveName.p_256),
    S.es256_k.value: _ec_signer(S.es256_k, hashes.SHA256(), KeyCurveName.p_256_k),
    S.es384.value: _ec_signer(S.es384, hashes.SHA384(), KeyCurveName.p_384),
    S.es512.value: _ec_signer(S.es512, hashes.SHA512(), KeyCurveName.p_521),
}
del E, W, S


# --------------------------------------------------------------------------- checks


def _lookup(table: dict[str, _T], value: object, what: str, names: type[enum.StrEnum]) -> _T:
    spec = table.get(value) if isinstance(value, str) else None
    if spec is None:
        raise InvalidParameterError(f"{_jwk.show(value)} is not {what} algorithm; use {_jwk.choices(names)}")
    return spec


def _data(value: object, what: str) -> bytes:
    if type(value) is bytes:
        data = value
    elif isinstance(value, _BYTES_LIKE):
        data = bytes(value)
    else:
        raise InvalidParameterError(f"{what} must be bytes, not {type(value).__name__}")
    if not data:
        raise InvalidParameterError(f"{what} must not be empty")
    return data


def _optional(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, _BYTES_LIKE):
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
    if not isinstance(key, _KEY_CLASSES):
        raise InvalidParameterError(f"key must be KeyMaterial or PublicKeyMaterial, not {type(key).__name__}")
    return key._kty


def _wrong_type(alg: str, need: str, key: Key) -> InvalidParameterError:
    return InvalidParameterError(f"{alg} needs {need} key; this key is {key.kty}")


# The accessors below read KeyMaterial's cached attributes directly (same package): the
# type was checked at construction, so no isinstance against cryptography's ABCs is needed.


def _rsa_public(key: Key, alg: str) -> rsa.RSAPublicKey:
    if _kty(key) is not KeyType.rsa:
        raise _wrong_type(alg, "an RSA", key)
    return cast(rsa.RSAPublicKey, key._public if type(key) is KeyMaterial else key._key)


def _rsa_private(key: Key, alg: str, action: str) -> rsa.RSAPrivateKey:
    if _kty(key) is not KeyType.rsa:
        raise _wrong_type(alg, "an RSA", key)
    if type(key) is not KeyMaterial:
        raise InvalidParameterError(f"{alg} {action} needs the private key")
    return cast(rsa.RSAPrivateKey, key._key)


def _check_curve(key: Key, alg: str, curve: KeyCurveName) -> None:
    if _kty(key) is not KeyType.ec:
        raise _wrong_type(alg, f"an EC {curve}", key)
    if key._curve is not curve:
        raise InvalidParameterError(f"{alg} needs an EC {curve} key; this key is on {key._curve}")


def _oct(key: Key, alg: str, size: int) -> bytes:
    """The secret of an oct key of *size* bytes (0: any AES size, 16, 24 or 32)."""
    if _kty(key) is not KeyType.oct or type(key) is not KeyMaterial:
        raise _wrong_type(alg, f"a {size * 8}-bit oct" if size else "an oct", key)
    secret = cast(bytes, key._key)
    if size == 0:
        if len(secret) not in (16, 24, 32):
            raise InvalidParameterError(f"{alg} needs a 128, 192 or 256-bit oct key")
        return secret
    if len(secret) != size:
        raise InvalidParameterError(f"{alg} needs a {size * 8}-bit oct key; this key has {len(secret) * 8} bits")
    return secret


def _signer(alg: object) -> _Signer:
    return _lookup(_SIGNERS, alg, "a signature", SignatureAlgorithm)


def _digest(value: object, signer: _Signer) -> bytes:
    digest = _data(value, "digest")
    size = signer.hash.digest_size
    if len(digest) != size:
        raise InvalidParameterError(
            f"{signer.name} signs a {size}-byte {signer.hash.name.upper()} digest; got {len(digest)} bytes"
        )
    return digest


def hash_for(alg: SignatureAlgorithm | str) -> hashes.HashAlgorithm:
    """The hash a signature algorithm signs: SHA-256 for RS256/PS256/ES256/ES256K, etc."""
    return type(_signer(alg).hash)()


def _hash(signer: _Signer, data: object) -> bytes:
    if not isinstance(data, _BYTES_LIKE):
        raise InvalidParameterError(f"data must be bytes, not {type(data).__name__}")
    h = hashes.Hash(signer.hash)
    h.update(data)
    return h.finalize()


# --------------------------------------------------------------------------- RSA and AES


def _rsa_encrypt(key: Key, cipher: _RsaCipher, data: bytes) -> bytes:
    return _rsa_encrypt_with(_rsa_public(key, cipher.name), cipher, data)


def _rsa_encrypt_with(public: rsa.RSAPublicKey, cipher: _RsaCipher, data: bytes) -> bytes:
    limit = (public.key_size + 7) // 8 - cipher.overhead
    if len(data) > limit:
        raise InvalidParameterError(
            f"{cipher.name} with a {public.key_size}-bit key takes at most {limit} bytes; got {len(data)}"
        )
    return public.encrypt(data, cipher.padding)


def _rsa_decrypt(key: Key, cipher: _RsaCipher, data: bytes) -> bytes:
    return _rsa_decrypt_with(_rsa_private(key, cipher.name, "decryption"), cipher, data)


def _rsa_decrypt_with(private: rsa.RSAPrivateKey, cipher: _RsaCipher, data: bytes) -> bytes:
    size = (private.key_size + 7) // 8
    if len(data) != size:
        raise InvalidParameterError(
            f"{cipher.name} ciphertext for a {private.key_size}-bit key is {size} bytes; got {len(data)}"
        )
    try:
        return private.decrypt(data, cipher.padding)
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
    cipher = _lookup(_ENCRYPTION, alg, "an encryption", EncryptionAlgorithm)
    data = _data(plaintext, "plaintext")
    name = cipher.name
    if isinstance(cipher, _RsaCipher):
        _unused(name, iv=iv, aad=aad)
        return EncryptOutput(_rsa_encrypt(key, cipher, data))
    secret = _oct(key, name, cipher.key_bytes)
    header = _optional(aad, "aad")
    if cipher.mode == "gcm":
        if iv is not None:
            raise InvalidParameterError(
                f"{name} generates its own random IV (returned with the ciphertext); do not pass iv"
            )
        nonce = os.urandom(GCM_IV_SIZE)
        sealed = AESGCM(secret).encrypt(nonce, data, header)
        return EncryptOutput(sealed[:-GCM_TAG_SIZE], nonce, sealed[-GCM_TAG_SIZE:], header)
    if header is not None:
        raise InvalidParameterError(f"aad is not used by {name}; only AES-GCM takes aad")
    vector = _exact(iv, _BLOCK, "iv", name)
    if cipher.mode == "cbc":
        if len(data) % _BLOCK:
            raise InvalidParameterError(
                f"{name} encrypts whole 16-byte blocks; plaintext is {len(data)} bytes "
                f"(use {name}PAD for other lengths)"
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
    cipher = _lookup(_ENCRYPTION, alg, "an encryption", EncryptionAlgorithm)
    data = _data(ciphertext, "ciphertext")
    name = cipher.name
    if isinstance(cipher, _RsaCipher):
        _unused(name, iv=iv, aad=aad, tag=tag)
        return _rsa_decrypt(key, cipher, data)
    secret = _oct(key, name, cipher.key_bytes)
    if cipher.mode == "gcm":
        nonce = _exact(iv, GCM_IV_SIZE, "iv", name)
        check = _exact(tag, GCM_TAG_SIZE, "tag", name)
        try:
            return AESGCM(secret).decrypt(nonce, data + check, _optional(aad, "aad"))
        except InvalidTag:
            raise IntegrityError() from None
    _unused(name, aad=aad, tag=tag)
    vector = _exact(iv, _BLOCK, "iv", name)
    if len(data) % _BLOCK:
        raise InvalidParameterError(f"{name} ciphertext is whole 16-byte blocks; got {len(data)} bytes")
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


_KwFunctions: TypeAlias = tuple[Callable[[bytes, bytes], bytes], Callable[[bytes, bytes], bytes]]
_kw_functions: _KwFunctions | None = None


def _native_kw() -> _KwFunctions:
    """RFC 3394 wrap/unwrap of the native core, imported on first use and then kept
    (an import statement per call would cost about a microsecond)."""
    global _kw_functions
    if _kw_functions is None:
        from vaultcore.crypto import _bindings

        _kw_functions = (_bindings.kw_wrap, _bindings.kw_unwrap)
    return _kw_functions


def _kw_wrapper_of(kek: bytes) -> Callable[[bytes], bytes]:
    """RFC 3394 wrap under *kek*, the KEK checked once (``_bindings.kw_wrapper``)."""
    from vaultcore.crypto import _bindings

    return _bindings.kw_wrapper(kek)


def _native_kwp() -> _KwFunctions:
    """RFC 5649 wrap/unwrap of the native core (CKM_AES_KEY_WRAP_PAD), imported on first use."""
    from vaultcore.crypto import _bindings

    return _bindings.kwp_wrap, _bindings.kwp_unwrap


def _wrapper(key: Key, cipher: _RsaCipher | _AesCipher) -> Callable[[bytes], bytes]:
    """Wrap under *cipher* with *key*, the key checked: a function of the checked input."""
    if isinstance(cipher, _RsaCipher):
        public = _rsa_public(key, cipher.name)
        return functools.partial(_rsa_encrypt_with, public, cipher)
    kek = _oct(key, cipher.name, cipher.key_bytes)
    name = cipher.name
    if cipher.mode == "kwp":
        kwp = functools.partial(_native_kwp()[0], kek)

        def wrap_padded(data: bytes) -> bytes:
            if not data:
                raise InvalidParameterError(f"{name} wraps 1 byte or more; got 0 bytes")
            return kwp(data)

        return wrap_padded
    kw = _kw_wrapper_of(kek)

    def wrap(data: bytes) -> bytes:
        if len(data) < 16 or len(data) % 8:
            raise InvalidParameterError(
                f"{name} wraps keys of 16 bytes or more in multiples of 8; got {len(data)} bytes"
            )
        return kw(data)

    return wrap


def _unwrapper(key: Key, cipher: _RsaCipher | _AesCipher) -> Callable[[bytes], bytes]:
    """Unwrap under *cipher* with *key*, the key checked: a function of the checked input."""
    if isinstance(cipher, _RsaCipher):
        private = _rsa_private(key, cipher.name, "decryption")
        return functools.partial(_rsa_decrypt_with, private, cipher)
    kek = _oct(key, cipher.name, cipher.key_bytes)
    name = cipher.name
    padded = cipher.mode == "kwp"
    native = _native_kwp()[1] if padded else _native_kw()[1]
    least = 16 if padded else 24

    def unwrap(data: bytes) -> bytes:
        if len(data) < least or len(data) % 8:
            raise InvalidParameterError(
                f"{name} wrapped keys are {least} bytes or more in multiples of 8; got {len(data)} bytes"
            )
        return native(kek, data)

    return unwrap


def wrap_key(key: Key, alg: KeyWrapAlgorithm | str, key_to_wrap: BytesLike) -> bytes:
    """Wrap a key: RSA algorithms encrypt it, AxxxKW is RFC 3394 (16+ bytes, 8-byte steps)."""
    cipher = _lookup(_WRAP, alg, "a key wrap", KeyWrapAlgorithm)
    data = _data(key_to_wrap, "key")
    return _wrapper(key, cipher)(data)


def unwrap_key(key: KeyMaterial, alg: KeyWrapAlgorithm | str, wrapped: BytesLike) -> bytes:
    """Undo :func:`wrap_key`; a failed unwrap raises ``IntegrityError``."""
    cipher = _lookup(_WRAP, alg, "a key wrap", KeyWrapAlgorithm)
    data = _data(wrapped, "wrapped key")
    return _unwrapper(key, cipher)(data)


# --------------------------------------------------------------------------- signatures


def _signing(key: KeyMaterial, signer: _Signer) -> Callable[[bytes], bytes]:
    """Sign under *signer* with *key*, the key checked: a function of the checked digest."""
    if signer.curve is None:
        private = _rsa_private(key, signer.name, "signing")
        pad = cast(asympadding.AsymmetricPadding, signer.padding)
        prehashed = signer.prehashed

        def sign_rsa(d: bytes) -> bytes:
            return private.sign(d, pad, prehashed)

        return sign_rsa
    _check_curve(key, signer.name, signer.curve)
    if type(key) is not KeyMaterial:
        raise InvalidParameterError(f"{signer.name} signing needs the private key")
    private_ec = cast(ec.EllipticCurvePrivateKey, key._key)
    ecdsa = cast(ec.ECDSA, signer.ecdsa)
    width = _jwk.CURVES[signer.curve][1]

    def sign_ec(d: bytes) -> bytes:
        return raw_signature(private_ec.sign(d, ecdsa), width)

    return sign_ec


def raw_signature(der: bytes, width: int) -> bytes:
    """JOSE's ``r || s`` (each *width* bytes) of a DER ECDSA signature: with one-byte
    lengths (curves up to 384 bits) the two INTEGERs are sliced out (DER's leading zero
    dropped, short ones padded), a third of the cost of decoding them; else (P-521) decoded."""
    n = len(der)
    if n > 8 and der[0] == 0x30 and der[1] == n - 2 and der[2] == 0x02:
        rl = der[3]
        sl = n - 6 - rl
        if 0 < rl <= width + 1 and 0 < sl <= width + 1 and der[4 + rl] == 0x02 and der[5 + rl] == sl:
            return der[4 : 4 + rl][-width:].rjust(width, b"\0") + der[6 + rl :][-width:].rjust(width, b"\0")
    r, s = decode_dss_signature(der)
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def _verifying(key: Key, signer: _Signer) -> Callable[[bytes, bytes], bool]:
    """Verify under *signer* with *key*, the key checked: a function of the checked digest
    and signature that is ``False`` for a bad signature."""
    if signer.curve is None:
        public = _rsa_public(key, signer.name)
        pad = cast(asympadding.AsymmetricPadding, signer.padding)
        prehashed = signer.prehashed

        def verify_rsa(d: bytes, sig: bytes) -> bool:
            try:
                public.verify(sig, d, pad, prehashed)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    _check_curve(key, signer.name, signer.curve)
    public_ec = cast(ec.EllipticCurvePublicKey, key._public if type(key) is KeyMaterial else key._key)
    ecdsa = cast(ec.ECDSA, signer.ecdsa)
    width = _jwk.CURVES[signer.curve][1]

    def verify_ec(d: bytes, sig: bytes) -> bool:
        if len(sig) != 2 * width:
            return False
        r, s = int.from_bytes(sig[:width], "big"), int.from_bytes(sig[width:], "big")
        try:
            public_ec.verify(encode_dss_signature(r, s), d, ecdsa)
        except InvalidSignature:
            return False
        return True

    return verify_ec


def _signature(value: object) -> bytes:
    if not isinstance(value, _BYTES_LIKE):
        raise InvalidParameterError(f"signature must be bytes, not {type(value).__name__}")
    return bytes(value)


def sign(key: KeyMaterial, alg: SignatureAlgorithm | str, digest: BytesLike) -> bytes:
    """Sign a digest: RSxxx PKCS#1 v1.5, PSxxx PSS, ESxxx raw ``r ‖ s`` (curve must match)."""
    signer = _signer(alg)
    d = _digest(digest, signer)
    return _signing(key, signer)(d)


def verify(key: Key, alg: SignatureAlgorithm | str, digest: BytesLike, signature: BytesLike) -> bool:
    """``True`` if ``signature`` is valid for ``digest``; ``False`` for any bad signature."""
    signer = _signer(alg)
    d = _digest(digest, signer)
    sig = _signature(signature)
    return _verifying(key, signer)(d, sig)


def sign_data(key: KeyMaterial, alg: SignatureAlgorithm | str, data: BytesLike) -> bytes:
    """Hash ``data`` with the algorithm's hash (:func:`hash_for`), then :func:`sign`."""
    signer = _signer(alg)
    d = _hash(signer, data)
    return _signing(key, signer)(d)


def verify_data(key: Key, alg: SignatureAlgorithm | str, data: BytesLike, signature: BytesLike) -> bool:
    """Hash ``data`` with the algorithm's hash, then :func:`verify`."""
    signer = _signer(alg)
    d = _hash(signer, data)
    sig = _signature(signature)
    return _verifying(key, signer)(d, sig)
