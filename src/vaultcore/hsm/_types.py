"""Plain values of the PKCS#11 layer: key references, results, input checks and algorithm tables.

:class:`HsmKeyRef` (a key inside the token, no key material), :class:`HsmEncrypted`,
the bytes check and CKA_EC_POINT parser, and the algorithm tables that are plain data
(sizes, curves, digest lengths, DigestInfo prefixes, refusal messages). Split out of
:mod:`vaultcore.hsm._pkcs11` because none of it needs the PKCS#11 binding; the tables that name
python-pkcs11 enums (``_PSS``, ``_RSA_ENC``) stay there, and ``hsm._pkcs11`` re-exports the
public names so callers keep importing them from there.
"""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric import ec

from vaultcore.exceptions import HSMError, InvalidParameterError
from vaultcore.hsm._config import _KEY_LABEL_PREFIX

__all__ = [
    "HsmEncrypted",
    "HsmKeyRef",
]

_RSA_SIZES = (2048, 3072, 4096)
_OCT_SIZES = (128, 192, 256)
# Azure curve name -> (DER OID of the named curve, cryptography curve class)
_CURVES: dict[str, tuple[bytes, type[ec.EllipticCurve]]] = {
    "P-256": (bytes.fromhex("06082a8648ce3d030107"), ec.SECP256R1),
    "P-384": (bytes.fromhex("06052b81040022"), ec.SECP384R1),
    "P-521": (bytes.fromhex("06052b81040023"), ec.SECP521R1),
    "P-256K": (bytes.fromhex("06052b8104000a"), ec.SECP256K1),
}
# alg -> (digest length, curve) for ECDSA; SoftHSM has no CKM_ECDSA_SHAxxx: the host hashes.
_ECDSA_ALGS = {"ES256": (32, "P-256"), "ES384": (48, "P-384"), "ES512": (64, "P-521"), "ES256K": (32, "P-256K")}
# RS*: DigestInfo prefix (DER) for CKM_RSA_PKCS (PS* parameters name pkcs11 enums: ``_hsm._PSS``).
_DIGEST_INFO = {
    "RS256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "RS384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "RS512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_RSA_DIGEST_LEN = {"RS256": 32, "RS384": 48, "RS512": 64}
_OAEP256_REFUSAL = "RSA-OAEP-256 is not supported by this HSM (SoftHSM 2.6.1 supports OAEP with SHA-1 only)"
_GCM_ALGS = {"A128GCM": 128, "A192GCM": 192, "A256GCM": 256}
# AES key wrap names -> key bits (0: any AES size). CKM_AES_KEY_WRAP is RFC 3394 and
# CKM_AES_KEY_WRAP_PAD is RFC 5649 (SoftHSM2's mechanism 0x210A; see docs/keys.md).
_KW_ALGS = {"A128KW": 128, "A192KW": 192, "A256KW": 256, "CKM_AES_KEY_WRAP": 0, "CKM_AES_KEY_WRAP_PAD": 0}
_KW_PADDED = "CKM_AES_KEY_WRAP_PAD"
_AZURE_ONLY_ALGS = {
    "A128CBC", "A192CBC", "A256CBC", "A128CBCPAD", "A192CBCPAD", "A256CBCPAD",
    "RSA-OAEP-256", "PS256", "EdDSA", "HS256", "HS384", "HS512",
}  # fmt: skip
_BACKUP_REFUSAL = (
    "backup of HSM keys is not supported by this HSM: SoftHSM 2.6.1 lets only the SO create "
    "a CKA_TRUSTED wrapping key, only as a public object stored unencrypted in the token "
    "directory, so a domain-wrapped blob would not stay inside the security domain "
    "(see docs/hsm.md)"
)


@dataclasses.dataclass(frozen=True)
class HsmKeyRef:
    """A key inside the token, found by ``key_id`` (CKA_ID). Holds no key material.

    ``kty`` is the Azure key type (``RSA-HSM``, ``EC-HSM``, ``oct-HSM``); ``size`` is the
    RSA modulus or AES key size in bits; ``curve`` the Azure curve name for EC keys.
    """

    kty: str
    key_id: bytes
    size: int | None = None
    curve: str | None = None

    @property
    def label(self) -> str:
        """CKA_LABEL of the key objects (informational; lookups use CKA_ID)."""
        return _KEY_LABEL_PREFIX + self.key_id.hex()


@dataclasses.dataclass(frozen=True)
class HsmEncrypted:
    """Result of :meth:`HsmToken.encrypt`: ``iv`` and ``tag`` are set for AES-GCM only."""

    ciphertext: bytes
    iv: bytes | None = None
    tag: bytes | None = None


def _check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidParameterError(f"{name} must be bytes")
    return bytes(value)


def _parse_ec_point(der: bytes) -> bytes:
    """Unwrap CKA_EC_POINT (a DER OCTET STRING) to the SEC1 point; bounds-checked."""
    if len(der) < 2 or der[0] != 0x04:
        raise HSMError("token returned a malformed CKA_EC_POINT")
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or len(der) < 2 + count:
            raise HSMError("token returned a malformed CKA_EC_POINT")
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != offset + length:
        raise HSMError("token returned a malformed CKA_EC_POINT")
    return der[offset:]
