"""Key material of vault keys: generation, JWK import/export and the sealed format.

Pure classes and functions over ``cryptography``: no storage, no access policy. The vault
seals :meth:`KeyMaterial.to_bytes` in its envelope like a secret value and runs the
operations of :mod:`vaultcore.crypto._keyops` on the :class:`KeyMaterial` it unseals. The Azure
enums and JWK codecs live in :mod:`vaultcore.crypto._jwk` and are re-exported here.

Sealed format (:meth:`KeyMaterial.to_bytes`): one tag byte, then the payload::

    0x01 ‖ PKCS#8 DER (unencrypted)   RSA private key
    0x02 ‖ PKCS#8 DER (unencrypted)   EC private key on a named curve
    0x03 ‖ raw key bytes              oct key of 16, 24 or 32 bytes

A new layout gets a new tag. The envelope has authenticated these bytes before they are
parsed, so a malformed blob is reported as :class:`~vaultcore.exceptions.IntegrityError`.

Objects holding private material keep it out of ``repr``, refuse to pickle, and never put
it into exception messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import NoReturn, SupportsIndex

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore.crypto import _jwk
from vaultcore.crypto._jwk import (
    JWK,
    RSA_KEY_SIZES,
    RSA_PUBLIC_EXPONENTS,
    SYMMETRIC_KEY_SIZES,
    EncryptionAlgorithm,
    KeyCurveName,
    KeyOperation,
    KeyType,
    KeyWrapAlgorithm,
    PrivateKey,
    PublicKey,
    SignatureAlgorithm,
)
from vaultcore.exceptions import IntegrityError, InvalidParameterError, UnsupportedError

__all__ = [
    "JWK",
    "RSA_KEY_SIZES",
    "RSA_PUBLIC_EXPONENTS",
    "SYMMETRIC_KEY_SIZES",
    "EncryptionAlgorithm",
    "KeyCurveName",
    "KeyMaterial",
    "KeyOperation",
    "KeyType",
    "KeyWrapAlgorithm",
    "PublicKeyMaterial",
    "SignatureAlgorithm",
    "default_key_ops",
    "from_jwk",
    "generate",
    "public_from_jwk",
]

_DEFAULT_RSA_SIZE = 2048
_DEFAULT_EXPONENT = 65537
_DEFAULT_CURVE = KeyCurveName.p_256
_DEFAULT_OCT_SIZE = 256

_TAG_RSA = 0x01
_TAG_EC = 0x02
_TAG_OCT = 0x03

_DEFAULT_KEY_OPS = {
    KeyType.rsa: (
        KeyOperation.encrypt,
        KeyOperation.decrypt,
        KeyOperation.sign,
        KeyOperation.verify,
        KeyOperation.wrap_key,
        KeyOperation.unwrap_key,
    ),
    KeyType.ec: (KeyOperation.sign, KeyOperation.verify),
    KeyType.oct: (
        KeyOperation.encrypt,
        KeyOperation.decrypt,
        KeyOperation.wrap_key,
        KeyOperation.unwrap_key,
    ),
}


def default_key_ops(kty: KeyType | str) -> list[KeyOperation]:
    """The ``key_ops`` a new key of this type gets when the caller names none."""
    try:
        kind = KeyType(kty)
    except ValueError:
        raise InvalidParameterError(f"key type {_jwk.show(kty)} is not supported") from None
    return list(_DEFAULT_KEY_OPS[kind.software])


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"{what} must be an integer, not {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- public keys


class PublicKeyMaterial:
    """The public half of an RSA or EC key: enough to verify, encrypt and wrap.

    Built from a :class:`KeyMaterial` (:meth:`KeyMaterial.public_key`) or from a public
    JWK alone (:func:`public_from_jwk`), so a holder of Azure's ``GET key`` answer can
    check signatures and encrypt without the vault.
    """

    # Type, size and curve are worked out once: isinstance checks against cryptography's
    # ABCs cost ~0.3-1.5 µs each, which the operations would otherwise pay on every call.
    __slots__ = ("_curve", "_key", "_kty", "_size")
    _key: PublicKey
    _kty: KeyType
    _size: int
    _curve: KeyCurveName | None

    def __init__(self, key: PublicKey) -> None:
        """Wrap a ``cryptography`` RSA or EC public key, checking its size or curve."""
        curve: KeyCurveName | None = None
        if isinstance(key, rsa.RSAPublicKey):
            _jwk.check_rsa_size(key.key_size)
            kty, size = KeyType.rsa, key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            curve = _jwk.curve_of(key)
            kty, size = KeyType.ec, key.curve.key_size
        else:
            raise InvalidParameterError(f"unsupported public key type {type(key).__name__}")
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_kty", kty)
        object.__setattr__(self, "_size", size)
        object.__setattr__(self, "_curve", curve)

    @classmethod
    def from_cryptography(cls, key: PublicKey) -> PublicKeyMaterial:
        """Wrap a ``cryptography`` RSA or EC public key (e.g. from a certificate)."""
        return cls(key)

    @property
    def kty(self) -> KeyType:
        """``KeyType.rsa`` or ``KeyType.ec``."""
        return self._kty

    @property
    def key_size(self) -> int:
        """Modulus bits (RSA) or the curve's size in bits (EC: 256, 384, 521)."""
        return self._size

    @property
    def curve(self) -> KeyCurveName | None:
        """The curve of an EC key, ``None`` for RSA."""
        return self._curve

    def as_cryptography(self) -> PublicKey:
        """The ``cryptography`` public key object (for x509 code and interop)."""
        return self._key

    def public_jwk(self, kid: str | None = None, *, key_ops: Iterable[str] | None = None) -> JWK:
        """The public JWK: ``kid, kty, key_ops`` (when given), then ``n, e`` or ``crv, x, y``."""
        jwk = _jwk.head(kid, self._kty, key_ops)
        jwk.update(_jwk.public_members(self._key))
        return jwk

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKeyMaterial):
            return NotImplemented
        mine, theirs = self._key.public_numbers(), other._key.public_numbers()
        return type(mine) is type(theirs) and mine == theirs

    def __hash__(self) -> int:
        return hash(self._key.public_numbers())

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("PublicKeyMaterial is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("PublicKeyMaterial is immutable")

    def __repr__(self) -> str:
        if self._curve is not None:
            return f"PublicKeyMaterial(kty='EC', curve='{self._curve}')"
        return f"PublicKeyMaterial(kty='RSA', key_size={self._size})"


# --------------------------------------------------------------------------- private keys


class KeyMaterial:
    """The private material of one key version: RSA, EC or oct (symmetric).

    Immutable. ``repr`` shows only the type and size, pickling raises ``TypeError``, and
    error messages never include the material. Build one with :func:`generate`,
    :func:`from_jwk`, :meth:`from_bytes` or :meth:`from_cryptography`.
    """

    # Type, size, curve and the public key are worked out once (see PublicKeyMaterial).
    __slots__ = ("_curve", "_key", "_kty", "_public", "_size")
    _key: PrivateKey | bytes
    _kty: KeyType
    _size: int
    _curve: KeyCurveName | None
    _public: PublicKey | None

    def __init__(self, key: PrivateKey | bytes) -> None:
        """Wrap a ``cryptography`` private key or raw oct bytes, checking size and curve."""
        curve: KeyCurveName | None = None
        public: PublicKey | None = None
        if isinstance(key, rsa.RSAPrivateKey):
            _jwk.check_rsa_size(key.key_size)
            kty, size, public = KeyType.rsa, key.key_size, key.public_key()
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            curve = _jwk.curve_of(key)
            kty, size, public = KeyType.ec, key.curve.key_size, key.public_key()
        elif isinstance(key, bytes | bytearray | memoryview):
            key = bytes(key)
            _jwk.check_oct_size(len(key) * 8)
            kty, size = KeyType.oct, len(key) * 8
        else:
            raise InvalidParameterError(f"unsupported private key type {type(key).__name__}")
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_kty", kty)
        object.__setattr__(self, "_size", size)
        object.__setattr__(self, "_curve", curve)
        object.__setattr__(self, "_public", public)

    @classmethod
    def from_cryptography(cls, key: PrivateKey) -> KeyMaterial:
        """Wrap a ``cryptography`` RSA or EC private key (e.g. one read from a PFX)."""
        return cls(key)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> KeyMaterial:
        """Parse :meth:`to_bytes` output; a malformed blob raises ``IntegrityError``.

        The bytes come out of the authenticated envelope and were checked when the key was
        generated or imported, so RSA keys are not re-validated here: OpenSSL's full RSA
        check costs ~50 ms per 2048-bit key, a hundred RSA signatures.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidParameterError(f"key material must be bytes, not {type(data).__name__}")
        blob = bytes(data)
        if len(blob) < 2:
            raise IntegrityError()
        tag, body = blob[0], blob[1:]
        key: PrivateKey | bytes
        if tag == _TAG_OCT:
            key = body
        elif tag in (_TAG_RSA, _TAG_EC):
            try:
                loaded = serialization.load_der_private_key(body, password=None, unsafe_skip_rsa_key_validation=True)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                raise IntegrityError() from None
            expected = rsa.RSAPrivateKey if tag == _TAG_RSA else ec.EllipticCurvePrivateKey
            if not isinstance(loaded, expected):
                raise IntegrityError()
            key = loaded
        else:
            raise IntegrityError()
        try:
            return cls(key)
        except InvalidParameterError:
            raise IntegrityError() from None

    @property
    def kty(self) -> KeyType:
        """``KeyType.rsa``, ``KeyType.ec`` or ``KeyType.oct``."""
        return self._kty

    @property
    def key_size(self) -> int:
        """Bits: RSA modulus, oct key length, or the EC curve's size (256, 384, 521)."""
        return self._size

    @property
    def curve(self) -> KeyCurveName | None:
        """The curve of an EC key, ``None`` otherwise."""
        return self._curve

    @property
    def public_exponent(self) -> int | None:
        """RSA ``e``; ``None`` for EC and oct keys."""
        if isinstance(self._public, rsa.RSAPublicKey):
            return self._public.public_numbers().e
        return None

    def public_key(self) -> PublicKeyMaterial:
        """The public half of an RSA or EC key; oct keys have none."""
        if self._public is None:
            raise InvalidParameterError("oct keys are symmetric and have no public key")
        return PublicKeyMaterial(self._public)

    def as_cryptography(self) -> PrivateKey:
        """The ``cryptography`` private key object, for x509 code (hazmat: handle with care)."""
        if isinstance(self._key, bytes):
            raise InvalidParameterError("oct keys have no cryptography private key object")
        return self._key

    def to_bytes(self) -> bytes:
        """The compact form the vault seals: a tag byte, then PKCS#8 DER or raw oct bytes."""
        if isinstance(self._key, bytes):
            return bytes([_TAG_OCT]) + self._key
        tag = _TAG_RSA if self._kty is KeyType.rsa else _TAG_EC
        der = self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return bytes([tag]) + der

    def public_jwk(self, kid: str | None = None, *, key_ops: Iterable[str] | None = None) -> JWK:
        """The JWK Azure returns on ``GET key``: never ``d, p, q, dp, dq, qi`` or ``k``."""
        jwk = _jwk.head(kid, self._kty, key_ops)
        if self._public is not None:
            jwk.update(_jwk.public_members(self._public))
        return jwk

    def private_jwk(self, kid: str | None = None, *, key_ops: Iterable[str] | None = None) -> JWK:
        """The JWK with private members, for an explicit export of an exportable key only."""
        jwk = self.public_jwk(kid, key_ops=key_ops)
        jwk.update(_jwk.private_members(self._key))
        return jwk

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyMaterial holds private key material and cannot be pickled")

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError("KeyMaterial holds private key material and cannot be pickled")

    def __copy__(self) -> KeyMaterial:
        return self  # immutable: a copy is the same object

    def __deepcopy__(self, memo: object) -> KeyMaterial:
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("KeyMaterial is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("KeyMaterial is immutable")

    def __repr__(self) -> str:
        if self._curve is not None:
            return f"KeyMaterial(kty='EC', curve='{self._curve}')"
        return f"KeyMaterial(kty='{self._kty}', key_size={self._size})"


# --------------------------------------------------------------------------- construction


def generate(
    kty: KeyType | str,
    *,
    size: int | None = None,
    curve: KeyCurveName | str | None = None,
    public_exponent: int | None = None,
) -> KeyMaterial:
    """Generate new key material with Azure's choices and defaults.

    RSA: ``size`` 2048 (default), 3072 or 4096; ``public_exponent`` 65537 (default) or 3.
    EC: ``curve`` P-256 (default), P-384, P-521 or P-256K (secp256k1).
    oct: ``size`` 128, 192 or 256 (default) bits.
    Anything else raises :class:`InvalidParameterError` (``-HSM`` types:
    :class:`UnsupportedError`, their material is made inside the HSM).
    """
    kind = _jwk.key_type(kty)
    if kind is KeyType.rsa:
        if curve is not None:
            raise InvalidParameterError("curve does not apply to RSA keys")
        bits = _DEFAULT_RSA_SIZE if size is None else _integer(size, "RSA key size")
        _jwk.check_rsa_size(bits)
        e = _DEFAULT_EXPONENT if public_exponent is None else _integer(public_exponent, "e")
        if e not in RSA_PUBLIC_EXPONENTS:
            raise InvalidParameterError(
                f"RSA public exponent {e} is not supported; use {_jwk.choices(RSA_PUBLIC_EXPONENTS)}"
            )
        return KeyMaterial(rsa.generate_private_key(public_exponent=e, key_size=bits))
    if public_exponent is not None:
        raise InvalidParameterError(f"public_exponent applies to RSA keys only, not {kind}")
    if kind is KeyType.ec:
        if size is not None:
            raise InvalidParameterError("size does not apply to EC keys; choose a curve")
        name = _DEFAULT_CURVE if curve is None else _jwk.curve_name(curve)
        return KeyMaterial(ec.generate_private_key(_jwk.CURVES[name][0]))
    if curve is not None:
        raise InvalidParameterError("curve does not apply to oct keys")
    bits = _DEFAULT_OCT_SIZE if size is None else _integer(size, "oct key size")
    _jwk.check_oct_size(bits)
    return KeyMaterial(os.urandom(bits // 8))


def from_jwk(jwk: Mapping[str, object]) -> KeyMaterial:
    """Import a JWK with private members (Azure's ``import_key``).

    RSA needs ``n, e, d`` (``p, q, dp, dq, qi`` are checked when present, recovered when
    absent); EC needs ``crv, x, y, d``; oct needs ``k``. Members are base64url strings or
    raw bytes. Public-only JWKs are refused, as Azure refuses them; ``key_ops`` and other
    members are left to the caller.
    """
    kty = _jwk.jwk_kty(jwk)
    try:
        kind = _jwk.key_type(kty)
    except UnsupportedError:
        raise InvalidParameterError(
            f"JWK kty {_jwk.show(kty)} names an HSM key; import the material as kty "
            f"'{KeyType(kty).software}' and let the vault protect it in the HSM"
        ) from None
    if kind is KeyType.rsa:
        return KeyMaterial(_jwk.rsa_private_from_jwk(jwk))
    if kind is KeyType.ec:
        return KeyMaterial(_jwk.ec_private_from_jwk(jwk))
    return KeyMaterial(_jwk.oct_from_jwk(jwk))


def public_from_jwk(jwk: Mapping[str, object]) -> PublicKeyMaterial:
    """Rebuild a public key from a public JWK (``n, e`` or ``crv, x, y``).

    ``-HSM`` key types are accepted (their public half is an ordinary RSA or EC key);
    private members, if any, are ignored. oct JWKs have no public part.
    """
    kty = _jwk.jwk_kty(jwk)
    try:
        kind = KeyType(kty).software
    except ValueError:
        raise InvalidParameterError(
            f"key type {_jwk.show(kty)} is not supported; use {_jwk.choices(KeyType)}"
        ) from None
    if kind is KeyType.rsa:
        return PublicKeyMaterial(_jwk.rsa_public_from_jwk(jwk))
    if kind is KeyType.ec:
        return PublicKeyMaterial(_jwk.ec_public_from_jwk(jwk))
    raise InvalidParameterError("oct keys are symmetric and have no public key")
