"""``CryptographyClient``: Azure's cryptographic operations with a vault key.

Every call re-reads the key version (so a key disabled, changed or deleted a moment ago,
by any process, stops working at once: with LMDB one C call tells whether its stored bytes
are the ones opened before), checks ``key_ops``/enabled/``nbf``/``exp`` against windows
worked out once per opened record, then runs the operation on the key material, which is
parsed once per version and cached with each algorithm bound to it (a version's material
never changes). Results carry ``key_id`` and ``algorithm`` like the SDK's.

Wrap, unwrap, sign and verify (and the ``_data`` forms) learn on their decorated path what
the next call with the same algorithm needs (``access._operations.FastOp``: the store's
check that the version's sealed record is unchanged, the operation's time window, the
bound operation, the audit template's key) and then run through
``access._operations.run_fast``, which checks the same conditions in a few comparisons and
one C call and queues the success event in C; any other case (a changed record, a session
with roles, a failure, ...) takes the decorated path, which checks, raises and audits as
before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vaultcore.access._operations import FastOp, Session, operation, run_fast, url_path
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto._jwk import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from vaultcore.engine._context import utc_now
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

    def _fast_view(
        self, name: str, version: str | None, op: str
    ) -> tuple[Callable[[], int], tuple[float, float], KeyHandle, str] | None: ...


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
    return url_path(kid) if isinstance(kid, str) else None


def _fast_key(algorithm: object) -> bool:
    """Whether *algorithm* can key a client's table of fast operations (hashable)."""
    try:
        hash(algorithm)
    except TypeError:
        return False
    return True


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
        #: Operations learnt on the decorated path, per method, by the algorithm passed.
        self._fast: dict[str, dict[object, FastOp]] = {
            op: {} for op in ("wrapKey", "unwrapKey", "sign", "verify", "sign_data", "verify_data")
        }

    def _run_fast(self, method: str, algorithm: object, args: tuple[Any, ...]) -> Any:
        """*method*'s learnt fast path for *algorithm* (:func:`run_fast`), or None: then the
        caller runs the decorated operation."""
        try:
            fast = self._fast[method][algorithm]
        except (KeyError, TypeError):  # not learnt, or an unhashable algorithm
            return None
        return run_fast(self, fast, args)

    def _forget(self) -> None:
        """Drop every learnt operation (and the key handles they hold): after a purge."""
        for table in self._fast.values():
            table.clear()

    @property
    def key_id(self) -> str:
        return f"{self._ctx.settings.url}/keys/{self._name}" + (f"/{self._version}" if self._version else "")

    def _learn(
        self, method: str, algorithm: object, event: str, op: str, alg: Any, handle: KeyHandle, make: Any
    ) -> None:
        """After *method* ran (decorated) with *algorithm* on *handle*: keep what its next
        call needs to run through :func:`run_fast`, when that path can serve it (an
        administrator, the audit grouped or off, a store with watches, a software key)."""
        ctx = self._ctx
        if (
            self._session._authorizer is not None
            or ctx.clock is not utc_now
            or ctx.audit.mode == "sync"
            or not _fast_key(algorithm)
        ):
            return
        bound = getattr(handle, "bound", None)
        fn: Callable[..., Any] | None = None if bound is None else bound(method, alg)
        view = None if fn is None else self._keys._fast_view(self._name, self._version, op)
        if fn is None or view is None or view[2] is not handle:
            return
        same, window, _, kid = view
        oid = _key_path(new_wrap_result(kid, alg, b""))
        if oid is None or not oid.isascii() or not oid.isprintable() or '"' in oid or "\\" in oid:
            return
        self._fast[method][algorithm] = FastOp(same, window, fn, self._session, event, oid.encode(), kid, alg, make)

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

    def wrap_key(self, algorithm: KeyWrapAlgorithm | str, key: bytes) -> WrapResult:
        result: WrapResult | None = self._run_fast("wrapKey", algorithm, (key,))
        return result if result is not None else self._wrap_key(algorithm, key)

    @operation("KeyWrap", A.KEY_WRAP, object_id=_key_path, pure=True)
    def _wrap_key(self, algorithm: KeyWrapAlgorithm | str, key: bytes) -> WrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "wrapKey")
        result = new_wrap_result(kid, alg, handle.wrap_key(alg, key))
        self._learn("wrapKey", algorithm, "KeyWrap", "wrapKey", alg, handle, new_wrap_result)
        return result

    def unwrap_key(self, algorithm: KeyWrapAlgorithm | str, encrypted_key: bytes) -> UnwrapResult:
        result: UnwrapResult | None = self._run_fast("unwrapKey", algorithm, (encrypted_key,))
        return result if result is not None else self._unwrap_key(algorithm, encrypted_key)

    @operation("KeyUnwrap", A.KEY_UNWRAP, object_id=_key_path, pure=True)
    def _unwrap_key(self, algorithm: KeyWrapAlgorithm | str, encrypted_key: bytes) -> UnwrapResult:
        alg = _enum(KeyWrapAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "unwrapKey")
        result = new_unwrap_result(kid, alg, handle.unwrap_key(alg, encrypted_key))
        self._learn("unwrapKey", algorithm, "KeyUnwrap", "unwrapKey", alg, handle, new_unwrap_result)
        return result

    def sign(self, algorithm: SignatureAlgorithm | str, digest: bytes) -> SignResult:
        result: SignResult | None = self._run_fast("sign", algorithm, (digest,))
        return result if result is not None else self._sign(algorithm, digest)

    @operation("KeySign", A.KEY_SIGN, object_id=_key_path, pure=True)
    def _sign(self, algorithm: SignatureAlgorithm | str, digest: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "sign")
        result = new_sign_result(kid, alg, handle.sign(alg, digest))
        self._learn("sign", algorithm, "KeySign", "sign", alg, handle, new_sign_result)
        return result

    def verify(self, algorithm: SignatureAlgorithm | str, digest: bytes, signature: bytes) -> VerifyResult:
        result: VerifyResult | None = self._run_fast("verify", algorithm, (digest, signature))
        return result if result is not None else self._verify(algorithm, digest, signature)

    @operation("KeyVerify", A.KEY_VERIFY, object_id=_key_path, pure=True)
    def _verify(self, algorithm: SignatureAlgorithm | str, digest: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "verify")
        result = new_verify_result(kid, alg, handle.verify(alg, digest, signature))
        self._learn("verify", algorithm, "KeyVerify", "verify", alg, handle, new_verify_result)
        return result

    def sign_data(self, algorithm: SignatureAlgorithm | str, data: bytes) -> SignResult:
        result: SignResult | None = self._run_fast("sign_data", algorithm, (data,))
        return result if result is not None else self._sign_data(algorithm, data)

    @operation("KeySign", A.KEY_SIGN, object_id=_key_path, pure=True)
    def _sign_data(self, algorithm: SignatureAlgorithm | str, data: bytes) -> SignResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "sign")
        result = new_sign_result(kid, alg, handle.sign_data(alg, data))
        self._learn("sign_data", algorithm, "KeySign", "sign", alg, handle, new_sign_result)
        return result

    def verify_data(self, algorithm: SignatureAlgorithm | str, data: bytes, signature: bytes) -> VerifyResult:
        result: VerifyResult | None = self._run_fast("verify_data", algorithm, (data, signature))
        return result if result is not None else self._verify_data(algorithm, data, signature)

    @operation("KeyVerify", A.KEY_VERIFY, object_id=_key_path, pure=True)
    def _verify_data(self, algorithm: SignatureAlgorithm | str, data: bytes, signature: bytes) -> VerifyResult:
        alg = _enum(SignatureAlgorithm, algorithm)
        handle, kid = self._keys._usable(self._name, self._version, "verify")
        result = new_verify_result(kid, alg, handle.verify_data(alg, data, signature))
        self._learn("verify_data", algorithm, "KeyVerify", "verify", alg, handle, new_verify_result)
        return result
