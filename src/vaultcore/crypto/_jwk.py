"""JWK and JWA vocabulary (RFC 7517/7518) with Azure Key Vault's names and limits.

The enums mirror ``azure.keyvault.keys`` (member names and values), as ``StrEnum`` so plain
strings compare equal. The functions convert between JWK mappings and ``cryptography`` key
objects, validating everything an import must check; :mod:`vaultcore.crypto._keymaterial` wraps
their results in ``KeyMaterial`` objects.

Binary members are base64url without padding (raw ``bytes`` are accepted on input, as the
Azure SDK's ``JsonWebKey`` holds them). Integers are big-endian: ``n, e, d, p, q, dp, dq,
qi`` with the minimum number of octets, EC ``x, y, d`` with the curve's fixed width.
Messages name members, never their values.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultcore.exceptions import InvalidParameterError, UnsupportedError

__all__ = [
    "RSA_KEY_SIZES",
    "RSA_PUBLIC_EXPONENTS",
    "SYMMETRIC_KEY_SIZES",
    "EncryptionAlgorithm",
    "KeyCurveName",
    "KeyOperation",
    "KeyType",
    "KeyWrapAlgorithm",
    "SignatureAlgorithm",
]

JWK: TypeAlias = dict[str, Any]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
_E = TypeVar("_E", bound=enum.StrEnum)


class KeyType(enum.StrEnum):
    """Key types (JWK ``kty``), as ``azure.keyvault.keys.KeyType``; case-insensitive like it."""

    ec = "EC"
    ec_hsm = "EC-HSM"
    rsa = "RSA"
    rsa_hsm = "RSA-HSM"
    oct = "oct"
    oct_hsm = "oct-HSM"

    @classmethod
    def _missing_(cls, value: object) -> KeyType | None:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.lower():
                    return member
        return None

    @property
    def software(self) -> KeyType:
        """The software type with the same material: ``RSA-HSM`` → ``RSA``."""
        return KeyType(self.value.removesuffix("-HSM"))


class KeyCurveName(enum.StrEnum):
    """Elliptic curves (JWK ``crv``), as ``azure.keyvault.keys.KeyCurveName``."""

    p_256 = "P-256"
    p_384 = "P-384"
    p_521 = "P-521"
    p_256_k = "P-256K"


class KeyOperation(enum.StrEnum):
    """Key operations (JWK ``key_ops``), as ``azure.keyvault.keys.KeyOperation``."""

    encrypt = "encrypt"
    decrypt = "decrypt"
    import_key = "import"
    sign = "sign"
    verify = "verify"
    wrap_key = "wrapKey"
    unwrap_key = "unwrapKey"
    export = "export"


class EncryptionAlgorithm(enum.StrEnum):
    """Encryption algorithms, as ``azure.keyvault.keys.crypto.EncryptionAlgorithm``."""

    rsa_oaep = "RSA-OAEP"
    rsa_oaep_256 = "RSA-OAEP-256"
    rsa1_5 = "RSA1_5"
    a128_gcm = "A128GCM"
    a192_gcm = "A192GCM"
    a256_gcm = "A256GCM"
    a128_cbc = "A128CBC"
    a192_cbc = "A192CBC"
    a256_cbc = "A256CBC"
    a128_cbcpad = "A128CBCPAD"
    a192_cbcpad = "A192CBCPAD"
    a256_cbcpad = "A256CBCPAD"


class KeyWrapAlgorithm(enum.StrEnum):
    """Key wrap algorithms, as ``azure.keyvault.keys.crypto.KeyWrapAlgorithm``."""

    aes_128 = "A128KW"
    aes_192 = "A192KW"
    aes_256 = "A256KW"
    rsa_oaep = "RSA-OAEP"
    rsa_oaep_256 = "RSA-OAEP-256"
    rsa1_5 = "RSA1_5"
    ckm_aes_key_wrap = "CKM_AES_KEY_WRAP"
    ckm_aes_key_wrap_pad = "CKM_AES_KEY_WRAP_PAD"


class SignatureAlgorithm(enum.StrEnum):
    """Signature algorithms, as ``azure.keyvault.keys.crypto.SignatureAlgorithm``."""

    ps256 = "PS256"
    ps384 = "PS384"
    ps512 = "PS512"
    rs256 = "RS256"
    rs384 = "RS384"
    rs512 = "RS512"
    es256 = "ES256"
    es384 = "ES384"
    es512 = "ES512"
    es256_k = "ES256K"


RSA_KEY_SIZES = (2048, 3072, 4096)
RSA_PUBLIC_EXPONENTS = (65537, 3)
SYMMETRIC_KEY_SIZES = (128, 192, 256)

#: curve name -> (cryptography curve, bytes per coordinate and per private scalar)
CURVES: dict[KeyCurveName, tuple[ec.EllipticCurve, int]] = {
    KeyCurveName.p_256: (ec.SECP256R1(), 32),
    KeyCurveName.p_384: (ec.SECP384R1(), 48),
    KeyCurveName.p_521: (ec.SECP521R1(), 66),
    KeyCurveName.p_256_k: (ec.SECP256K1(), 32),
}
_CURVE_BY_OPENSSL_NAME = {curve.name: name for name, (curve, _) in CURVES.items()}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_RSA_CRT_MEMBERS = ("p", "q", "dp", "dq", "qi")


# --------------------------------------------------------------------------- checks


def show(value: object) -> str:
    """A short rendering of a caller-supplied *parameter* for messages (never of material)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def choices(values: Iterable[object]) -> str:
    """``"a, b or c"`` for error messages."""
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _parse(cls: type[_E], value: object) -> _E | None:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            return None
    return None


def key_type(kty: object) -> KeyType:
    """Parse a key type for software material; ``-HSM`` types are the HSM layer's."""
    kind = _parse(KeyType, kty)
    if kind is None:
        raise InvalidParameterError(f"key type {show(kty)} is not supported; use {choices(KeyType)}")
    if kind is not kind.software:
        raise UnsupportedError(
            f"{kind} key material lives in the HSM and is not handled here; "
            f"use key type {kind.software} for software keys"
        )
    return kind


def curve_name(curve: object) -> KeyCurveName:
    """Parse a curve name (``P-256`` ...), with a message listing the supported ones."""
    name = _parse(KeyCurveName, curve)
    if name is None:
        raise InvalidParameterError(f"EC curve {show(curve)} is not supported; use {choices(KeyCurveName)}")
    return name


def curve_of(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> KeyCurveName:
    """The Azure curve name of a ``cryptography`` EC key; other curves are refused."""
    name = _CURVE_BY_OPENSSL_NAME.get(key.curve.name)
    if name is None:
        raise InvalidParameterError(f"EC curve {key.curve.name} is not supported; use {choices(KeyCurveName)}")
    return name


def check_rsa_size(bits: int) -> None:
    """Azure's RSA sizes: 2048, 3072, 4096."""
    if bits not in RSA_KEY_SIZES:
        raise InvalidParameterError(f"RSA key size {bits} is not supported; use {choices(RSA_KEY_SIZES)}")


def check_oct_size(bits: int) -> None:
    """Azure's (Managed HSM) AES sizes: 128, 192, 256."""
    if bits not in SYMMETRIC_KEY_SIZES:
        raise InvalidParameterError(f"oct key size {bits} is not supported; use {choices(SYMMETRIC_KEY_SIZES)}")


# --------------------------------------------------------------------------- encoding


def b64u(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64u(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _fixed(value: int, size: int) -> str:
    return b64u(value.to_bytes(size, "big"))


def head(kid: str | None, kty: KeyType, key_ops: Iterable[str] | None) -> JWK:
    """The common members ``kid, kty, key_ops`` in Azure's order (absent ones omitted)."""
    jwk: JWK = {}
    if kid is not None:
        jwk["kid"] = kid
    jwk["kty"] = str(kty)
    if key_ops is not None:
        ops = []
        for op in key_ops:
            try:
                ops.append(str(KeyOperation(op)))
            except ValueError:
                raise InvalidParameterError(
                    f"key operation {show(op)} is not supported; use {choices(KeyOperation)}"
                ) from None
        jwk["key_ops"] = ops
    return jwk


def public_members(key: PublicKey) -> JWK:
    """``n, e`` or ``crv, x, y`` of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"n": _uint(numbers.n), "e": _uint(numbers.e)}
    curve = curve_of(key)
    size = CURVES[curve][1]
    point = key.public_numbers()
    return {"crv": str(curve), "x": _fixed(point.x, size), "y": _fixed(point.y, size)}


def private_members(key: PrivateKey | bytes) -> JWK:
    """``d, p, q, dp, dq, qi`` (RSA), ``d`` (EC) or ``k`` (oct)."""
    if isinstance(key, bytes):
        return {"k": b64u(key)}
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        return {
            "d": _uint(n.d),
            "p": _uint(n.p),
            "q": _uint(n.q),
            "dp": _uint(n.dmp1),
            "dq": _uint(n.dmq1),
            "qi": _uint(n.iqmp),
        }
    size = CURVES[curve_of(key)][1]
    return {"d": _fixed(key.private_numbers().private_value, size)}


# --------------------------------------------------------------------------- decoding


def _member(jwk: Mapping[str, object], name: str, kty: str) -> bytes:
    """Decode one binary member: a base64url string (padding tolerated) or raw bytes."""
    value = jwk.get(name)
    if value is None:
        raise InvalidParameterError(f"{kty} JWK is missing member {name!r}")
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        text = value.rstrip("=")
        if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
            raise InvalidParameterError(f"JWK member {name!r} is not valid base64url")
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise InvalidParameterError(f"JWK member {name!r} is not valid base64url") from None
    else:
        raise InvalidParameterError(f"JWK member {name!r} must be a base64url string, not {type(value).__name__}")
    if not data:
        raise InvalidParameterError(f"JWK member {name!r} is empty")
    return data


_MAX_RSA_MEMBER = 512  # bytes: 4096 bits, the largest modulus Azure supports


def _int(jwk: Mapping[str, object], name: str) -> int:
    data = _member(jwk, name, "RSA")
    if len(data) > _MAX_RSA_MEMBER:  # before any arithmetic: a huge d or e costs minutes of CPU
        raise InvalidParameterError(f"RSA JWK member {name!r} is longer than a 4096-bit key allows")
    return int.from_bytes(data, "big")


def check_rsa_exponent(e: int) -> None:
    """Azure's public exponents: 65537 or a small odd value (3 ... 65537)."""
    if not 3 <= e <= 65537 or e % 2 == 0:
        raise InvalidParameterError("RSA public exponent must be an odd number from 3 to 65537 (usually 65537)")


def _coordinate(jwk: Mapping[str, object], name: str, curve: KeyCurveName) -> int:
    data = _member(jwk, name, "EC")
    size = CURVES[curve][1]
    if len(data) != size:
        raise InvalidParameterError(f"EC JWK member {name!r} must be {size} bytes for {curve}")
    return int.from_bytes(data, "big")


def jwk_kty(jwk: object) -> str:
    """The ``kty`` of a JWK mapping, checked to be a non-empty string."""
    if not isinstance(jwk, Mapping):
        raise InvalidParameterError(f"a JWK must be a mapping, not {type(jwk).__name__}")
    kty = jwk.get("kty")
    if not isinstance(kty, str) or not kty:
        raise InvalidParameterError("JWK has no 'kty' member")
    return kty


def rsa_public_from_jwk(jwk: Mapping[str, object]) -> rsa.RSAPublicKey:
    """``n, e`` → RSA public key of a supported size."""
    n, e = _int(jwk, "n"), _int(jwk, "e")
    check_rsa_size(n.bit_length())
    check_rsa_exponent(e)
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise InvalidParameterError("RSA JWK is not a valid public key") from None


def rsa_private_from_jwk(jwk: Mapping[str, object]) -> rsa.RSAPrivateKey:
    """``n, e, d`` (+ ``p, q, dp, dq, qi``, checked when present) → RSA private key."""
    if "oth" in jwk:
        raise InvalidParameterError("multi-prime RSA keys (JWK member 'oth') are not supported")
    n, e = _int(jwk, "n"), _int(jwk, "e")
    check_rsa_size(n.bit_length())
    check_rsa_exponent(e)
    if jwk.get("d") is None:
        raise InvalidParameterError("RSA JWK for import must contain the private key (member 'd')")
    d = _int(jwk, "d")
    present = [m for m in _RSA_CRT_MEMBERS if jwk.get(m) is not None]
    if present and len(present) != len(_RSA_CRT_MEMBERS):
        missing = [m for m in _RSA_CRT_MEMBERS if m not in present]
        raise InvalidParameterError(f"RSA JWK has {', '.join(present)} but lacks {', '.join(missing)}")
    if present:
        p, q, dp, dq, qi = (_int(jwk, m) for m in _RSA_CRT_MEMBERS)
        if p < 3 or q < 3 or p * q != n:
            raise InvalidParameterError("RSA JWK members p and q do not multiply to n")
        if (e * d) % math.lcm(p - 1, q - 1) != 1:
            raise InvalidParameterError("RSA JWK member d is not the private exponent for e")
        if dp != d % (p - 1) or dq != d % (q - 1) or qi >= p or (q * qi) % p != 1:
            raise InvalidParameterError("RSA JWK members dp, dq, qi do not match p, q and d")
    else:
        try:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        except (ValueError, OverflowError):
            raise InvalidParameterError("RSA JWK member d does not match n and e") from None
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n))
    try:
        return numbers.private_key()  # OpenSSL's full check, primality included
    except (ValueError, TypeError):
        raise InvalidParameterError("RSA JWK is not a valid private key") from None


def _jwk_curve(jwk: Mapping[str, object]) -> KeyCurveName:
    if jwk.get("crv") is None:
        raise InvalidParameterError("EC JWK is missing member 'crv'")
    return curve_name(jwk["crv"])


def ec_public_from_jwk(jwk: Mapping[str, object]) -> ec.EllipticCurvePublicKey:
    """``crv, x, y`` → EC public key; the point must lie on the curve."""
    name = _jwk_curve(jwk)
    x, y = _coordinate(jwk, "x", name), _coordinate(jwk, "y", name)
    try:
        return ec.EllipticCurvePublicNumbers(x, y, CURVES[name][0]).public_key()
    except ValueError:
        raise InvalidParameterError(f"EC JWK point (x, y) is not on curve {name}") from None


def ec_private_from_jwk(jwk: Mapping[str, object]) -> ec.EllipticCurvePrivateKey:
    """``crv, x, y, d`` → EC private key; ``x, y`` must be the public point of ``d``."""
    name = _jwk_curve(jwk)
    if jwk.get("d") is None:
        raise InvalidParameterError("EC JWK for import must contain the private key (member 'd')")
    public = ec_public_from_jwk(jwk)
    d = _coordinate(jwk, "d", name)
    try:
        key = ec.derive_private_key(d, CURVES[name][0])
    except ValueError:
        raise InvalidParameterError(f"EC JWK member 'd' is out of range for {name}") from None
    if key.public_key().public_numbers() != public.public_numbers():
        raise InvalidParameterError("EC JWK members x and y do not match d")
    return key


def oct_from_jwk(jwk: Mapping[str, object]) -> bytes:
    """``k`` → raw AES key of a supported size."""
    if jwk.get("k") is None:
        raise InvalidParameterError("oct JWK for import must contain the key (member 'k')")
    secret = _member(jwk, "k", "oct")
    check_oct_size(len(secret) * 8)
    return secret
