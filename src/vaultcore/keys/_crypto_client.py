"""``CryptographyClient``: Azure's cryptographic operations with a vault key.

Every call re-reads the key version (so a key disabled, changed or deleted a moment ago,
by any process, stops working at once: with LMDB one C call tells whether its stored bytes
are the ones opened before), checks ``key_ops``/enabled/``nbf``/``exp`` against windows
worked out once per opened record, then runs the operation on the key material, which is
parsed once per version and cached with each algorithm bound to it (a version's material
never changes). Results carry ``key_id`` and ``algorithm`` like the SDK's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto._jwk import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from vaultcore.exceptions import InvalidParameterError
from vaultcore.keys._models import (
    DecryptResult,
    EncryptResult,
    SignResult,
    UnwrapResult,
    VerifyResult,
    WrapResult,
    new_decrypt_result,
    new_sign_result,
    new_unwrap_result,
    new_verify_result,
    new_wrap_result,
)

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

    def _usable(self, name: str, version: str | None, op: str) -> tuple[KeyHandle, str]: ...


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


def _key_path(result: object) -> str | None:
    """The audited object of a result: :func:`~vaultcore.access._operations.id_of` for
    results that carry ``key_id`` (every result here), without its ``id`` probe."""
    kid = getattr(result, "key_id", None)
    if not isinstance(kid, str):
        return None
    marker = kid.find("/", kid.find("//") + 2)
    return kid[marker:] if marker > 0 else kid


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

    @operation("KeyEncrypt", A.KEY_ENCRYPT, object_id=_key_path, pure=True)
    def encrypt(
        self,
        algorithm: EncryptionAlgorithm | str,
        plaintext: bytes,
        *,
        iv: bytes | None = None,
        additional_authenticated_data: bytes | None = None,
    ) -> EncryptResult:
        alg = _enum(EncryptionAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "encrypt")
        out = handle.encrypt(alg, plaintext, iv=iv, aad=additional_authenticated_data)
        return EncryptResult(kid, alg, out.ciphertext, out.iv, out.tag, out.aad)

    @operation("KeyDecrypt", A.KEY_DECRYPT, object_id=_key_path, pure=True)
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
        handle, kid = self._keys._usable(self._name, self._version, "decrypt")
        plain = handle.decrypt(alg, ciphertext, iv=iv, aad=additional_authenticated_data, tag=authentication_tag)
        return new_decrypt_result(kid, alg, plain)

    @operation("KeyWrap", A.KEY_WRAP, object_id=_key_path, pure=True)
    def wrap_key(self, algorithm: KeyWrapAlgorithm | str, key: bytes) -> WrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "wrapKey")
        return new_wrap_result(kid, alg, handle.wrap_key(alg, key))

    @operation("KeyUnwrap", A.KEY_UNWRAP, object_id=_key_path, pure=True)
    def unwrap_key(self, algorithm: KeyWrapAlgorithm | str, encrypted_key: bytes) -> UnwrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "unwrapKey")
        return new_unwrap_result(kid, alg, handle.unwrap_key(alg, encrypted_key))

    @operation("KeySign", A.KEY_SIGN, object_id=_key_path, pure=True)
    def sign(self, algorithm: SignatureAlgorithm | str, digest: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "sign")
        return new_sign_result(kid, alg, handle.sign(alg, digest))

    @operation("KeyVerify", A.KEY_VERIFY, object_id=_key_path, pure=True)
    def verify(self, algorithm: SignatureAlgorithm | str, digest: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "verify")
        return new_verify_result(kid, alg, handle.verify(alg, digest, signature))

    @operation("KeySign", A.KEY_SIGN, object_id=_key_path, pure=True)
    def sign_data(self, algorithm: SignatureAlgorithm | str, data: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "sign")
        return new_sign_result(kid, alg, handle.sign_data(alg, data))

    @operation("KeyVerify", A.KEY_VERIFY, object_id=_key_path, pure=True)
    def verify_data(self, algorithm: SignatureAlgorithm | str, data: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "verify")
        return new_verify_result(kid, alg, handle.verify_data(alg, data, signature))
