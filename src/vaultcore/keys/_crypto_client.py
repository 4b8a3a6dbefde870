"""``CryptographyClient``: Azure's cryptographic operations with a vault key.

Every call re-reads the key version's attributes (so a key disabled or deleted a moment
ago stops working at once), checks ``key_ops``/enabled/``nbf``/``exp``, then runs the
operation on the key material, which is parsed once per version and cached (a version's
material never changes). Results carry ``key_id`` and ``algorithm`` like the SDK's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vaultcore.access._operations import Session, id_of, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto._jwk import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from vaultcore.engine._records import VersionRecord
from vaultcore.exceptions import InvalidParameterError
from vaultcore.keys._models import DecryptResult, EncryptResult, SignResult, UnwrapResult, VerifyResult, WrapResult

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext
    from vaultcore.keys._handles import KeyHandle

__all__ = ["CryptographyClient", "KeySource"]


class KeySource(Protocol):
    """What a :class:`CryptographyClient` needs from the key client that made it (``keys._client``).

    A protocol rather than an import of the key client keeps the two modules acyclic.
    """

    _ctx: VaultContext
    _session: Session

    def _resolve(self, name: str, version: str | None) -> VersionRecord: ...

    def _check(self, rec: VersionRecord, op: str) -> None: ...

    def handle(self, rec: VersionRecord) -> KeyHandle: ...


_Alg = TypeVar("_Alg", EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm)
#: Members by value; a str-valued member hashes and compares as its value, so one dict
#: lookup takes either (the hot path of every operation: no enum construction).
_MEMBERS: dict[type, dict[object, Any]] = {
    cls: {member.value: member for member in cls} for cls in (EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm)
}


def _enum(cls: type[_Alg], value: object) -> _Alg:
    try:
        member: _Alg | None = _MEMBERS[cls].get(value)
    except TypeError:  # unhashable
        member = None
    if member is None:
        raise InvalidParameterError(
            f"algorithm {value!r} is not supported; use one of {', '.join(a.value for a in cls)}"
        )
    return member


class CryptographyClient:
    """Operations with one key (latest version unless *version* is given)."""

    def __init__(self, keys: KeySource, name: str, version: str | None = None) -> None:
        self._keys = keys
        self._ctx: VaultContext = keys._ctx
        self._session: Session = keys._session
        self._name = name
        self._version = version
        #: The scope every operation of this client acts on (for role checks and audit).
        self._default_scope = f"/keys/{name.lower()}"

    @property
    def key_id(self) -> str:
        return f"{self._ctx.settings.url}/keys/{self._name}" + (f"/{self._version}" if self._version else "")

    def _prepare(self, op: str) -> tuple[VersionRecord, KeyHandle, str]:
        rec = self._keys._resolve(self._name, self._version)
        self._keys._check(rec, op)
        kid = f"{self._ctx.settings.url}/keys/{rec.name}/{rec.version}"
        return rec, self._keys.handle(rec), kid

    @operation("KeyEncrypt", A.KEY_ENCRYPT, object_id=id_of)
    def encrypt(
        self,
        algorithm: EncryptionAlgorithm | str,
        plaintext: bytes,
        *,
        iv: bytes | None = None,
        additional_authenticated_data: bytes | None = None,
    ) -> EncryptResult:
        alg = _enum(EncryptionAlgorithm, algorithm)
        _, handle, kid = self._prepare("encrypt")
        out = handle.encrypt(alg, plaintext, iv=iv, aad=additional_authenticated_data)
        return EncryptResult(kid, alg, out.ciphertext, out.iv, out.tag, out.aad)

    @operation("KeyDecrypt", A.KEY_DECRYPT, object_id=id_of)
    def decrypt(
        self,
        algorithm: EncryptionAlgorithm | str,
        ciphertext: bytes,
        *,
        iv: bytes | None = None,
        authentication_tag: bytes | None = None,
        additional_authenticated_data: bytes | None = None,
    ) -> DecryptResult:
        alg = _enum(EncryptionAlgorithm, algorithm)
        _, handle, kid = self._prepare("decrypt")
        plain = handle.decrypt(alg, ciphertext, iv=iv, aad=additional_authenticated_data, tag=authentication_tag)
        return DecryptResult(kid, alg, plain)

    @operation("KeyWrap", A.KEY_WRAP, object_id=id_of)
    def wrap_key(self, algorithm: KeyWrapAlgorithm | str, key: bytes) -> WrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        _, handle, kid = self._prepare("wrapKey")
        return WrapResult(kid, alg, handle.wrap_key(alg, key))

    @operation("KeyUnwrap", A.KEY_UNWRAP, object_id=id_of)
    def unwrap_key(self, algorithm: KeyWrapAlgorithm | str, encrypted_key: bytes) -> UnwrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        _, handle, kid = self._prepare("unwrapKey")
        return UnwrapResult(kid, alg, handle.unwrap_key(alg, encrypted_key))

    @operation("KeySign", A.KEY_SIGN, object_id=id_of)
    def sign(self, algorithm: SignatureAlgorithm | str, digest: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        _, handle, kid = self._prepare("sign")
        return SignResult(kid, alg, handle.sign(alg, digest))

    @operation("KeyVerify", A.KEY_VERIFY, object_id=id_of)
    def verify(self, algorithm: SignatureAlgorithm | str, digest: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        _, handle, kid = self._prepare("verify")
        return VerifyResult(kid, alg, handle.verify(alg, digest, signature))

    @operation("KeySign", A.KEY_SIGN, object_id=id_of)
    def sign_data(self, algorithm: SignatureAlgorithm | str, data: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        _, handle, kid = self._prepare("sign")
        return SignResult(kid, alg, handle.sign_data(alg, data))

    @operation("KeyVerify", A.KEY_VERIFY, object_id=id_of)
    def verify_data(self, algorithm: SignatureAlgorithm | str, data: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        _, handle, kid = self._prepare("verify")
        return VerifyResult(kid, alg, handle.verify_data(alg, data, signature))
