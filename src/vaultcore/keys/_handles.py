"""Key handles: one interface over software key material and HSM-backed keys.

The cryptography client calls a handle without knowing where the private key lives:

- :class:`SoftwareHandle` runs :mod:`_keyops` on key material unsealed from the vault;
- :class:`HsmHandle` runs private-key operations (decrypt, unwrap, sign, and every oct-HSM
  operation) inside the PKCS#11 token and public ones (RSA encrypt/wrap, verify) on the
  public key the token exports. An operation the token cannot do raises
  ``UnsupportedError`` — never a silent software fallback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import hashes

from vaultcore.crypto import _keybind, _keyops
from vaultcore.crypto._keymaterial import KeyMaterial, PublicKeyMaterial
from vaultcore.crypto._keyops import EncryptOutput
from vaultcore.exceptions import IntegrityError, InvalidParameterError, UnsupportedError

if TYPE_CHECKING:
    from vaultcore.crypto._bindings import KeyContexts, KwKey

__all__ = [
    "HsmHandle",
    "KeyHandle",
    "SoftwareHandle",
    "discard_hsm_key_on_failure",
    "hsm_ref_from_payload",
    "hsm_ref_to_payload",
]

_RSA_ENCRYPTION = ("RSA1_5", "RSA-OAEP", "RSA-OAEP-256")


class KeyHandle(Protocol):
    def public_jwk(self, kid: str, key_ops: list[str]) -> dict[str, Any]: ...
    def encrypt(self, alg: str, plaintext: bytes, *, iv: bytes | None, aad: bytes | None) -> EncryptOutput: ...
    def decrypt(
        self, alg: str, ciphertext: bytes, *, iv: bytes | None, aad: bytes | None, tag: bytes | None
    ) -> bytes: ...
    def wrap_key(self, alg: str, key: bytes) -> bytes: ...
    def unwrap_key(self, alg: str, wrapped: bytes) -> bytes: ...
    def sign(self, alg: str, digest: bytes) -> bytes: ...
    def verify(self, alg: str, digest: bytes, signature: bytes) -> bool: ...
    def sign_data(self, alg: str, data: bytes) -> bytes: ...
    def verify_data(self, alg: str, data: bytes, signature: bytes) -> bool: ...


class SoftwareHandle:
    """Operations on key material held (unsealed) in this process.

    Wrap, unwrap, sign and verify (and the ``_data`` forms) run through functions bound
    once per algorithm (``_keybind.bind_*``: the algorithm looked up, the key checked and
    the ``cryptography`` key object taken out), so a call does only its own input checks
    and the operation. An algorithm that does not fit the key is not bound: the unbound
    function runs and reports the error as it always did.
    """

    __slots__ = ("_bound", "_contexts", "_kw", "material")

    def __init__(self, material: KeyMaterial, contexts: KeyContexts | None = None) -> None:
        self.material = material
        #: Where the keyed C contexts of AxxxKW wrap/unwrap are tracked (and wiped: the
        #: vault's ``envelope.key_contexts``); None: untracked.
        self._contexts = contexts
        #: The keyed C context of an oct key's KEK, shared by its wrap and unwrap bindings.
        self._kw: KwKey | None = None
        #: (operation, algorithm) -> bound function; at most one per operation and algorithm.
        self._bound: dict[tuple[str, str], Callable[..., Any]] = {}

    def _bind(self, op: str, alg: str, binder: Callable[[KeyMaterial, str], Callable[..., Any]]) -> Any:
        """The bound function of *op* with *alg*, made on first use; None if *alg* does not fit."""
        if not isinstance(alg, str):
            return None
        try:
            fn = binder(self.material, alg)
        except InvalidParameterError:
            return None
        self._bound[(op, alg)] = fn
        return fn

    def bound(self, op: str, alg: str) -> Callable[..., Any] | None:
        """The function bound for *op* ("wrapKey", "sign_data", ...) with *alg*, if a call
        made it (the cryptography client's fast path keeps it)."""
        return self._bound.get((op, alg))

    def _wrap_binder(self, material: KeyMaterial, alg: str) -> Callable[..., Any]:
        return _keybind.bind_wrap_key(material, alg, self._keyed)

    def _unwrap_binder(self, material: KeyMaterial, alg: str) -> Callable[..., Any]:
        return _keybind.bind_unwrap_key(material, alg, self._keyed)

    def _keyed(self, kek: bytes) -> KwKey:
        """This key's keyed C context (an oct key has one KEK), made on first use."""
        kw = self._kw
        if kw is None:
            from vaultcore.crypto._bindings import KwKey

            kw = self._kw = KwKey(kek, self._contexts)
        return kw

    def public_jwk(self, kid: str, key_ops: list[str]) -> dict[str, Any]:
        return dict(self.material.public_jwk(kid, key_ops=key_ops))

    def encrypt(self, alg: str, plaintext: bytes, *, iv: bytes | None, aad: bytes | None) -> EncryptOutput:
        return _keyops.encrypt(self.material, alg, plaintext, iv=iv, aad=aad)

    def decrypt(self, alg: str, ciphertext: bytes, *, iv: bytes | None, aad: bytes | None, tag: bytes | None) -> bytes:
        return _keyops.decrypt(self.material, alg, ciphertext, iv=iv, aad=aad, tag=tag)

    def wrap_key(self, alg: str, key: bytes) -> bytes:
        try:
            fn = self._bound[("wrapKey", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("wrapKey", alg, self._wrap_binder)
        if fn is None:
            return _keyops.wrap_key(self.material, alg, key)
        out: bytes = fn(key)
        return out

    def unwrap_key(self, alg: str, wrapped: bytes) -> bytes:
        try:
            fn = self._bound[("unwrapKey", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("unwrapKey", alg, self._unwrap_binder)
        if fn is None:
            return _keyops.unwrap_key(self.material, alg, wrapped)
        out: bytes = fn(wrapped)
        return out

    def sign(self, alg: str, digest: bytes) -> bytes:
        try:
            fn = self._bound[("sign", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("sign", alg, _keybind.bind_sign)
        if fn is None:
            return _keyops.sign(self.material, alg, digest)
        out: bytes = fn(digest)
        return out

    def verify(self, alg: str, digest: bytes, signature: bytes) -> bool:
        try:
            fn = self._bound[("verify", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("verify", alg, _keybind.bind_verify)
        if fn is None:
            return _keyops.verify(self.material, alg, digest, signature)
        out: bool = fn(digest, signature)
        return out

    def sign_data(self, alg: str, data: bytes) -> bytes:
        try:
            fn = self._bound[("sign_data", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("sign_data", alg, _keybind.bind_sign_data)
        if fn is None:
            return _keyops.sign_data(self.material, alg, data)
        out: bytes = fn(data)
        return out

    def verify_data(self, alg: str, data: bytes, signature: bytes) -> bool:
        try:
            fn = self._bound[("verify_data", alg)]
        except (KeyError, TypeError):  # first use, or not an algorithm name
            fn = self._bind("verify_data", alg, _keybind.bind_verify_data)
        if fn is None:
            return _keyops.verify_data(self.material, alg, data, signature)
        out: bool = fn(data, signature)
        return out


def hsm_ref_to_payload(ref: Any) -> bytes:
    """What the vault stores for an HSM key: a reference, never key material."""
    doc = {"kty": ref.kty, "id": ref.key_id.hex(), "size": ref.size, "crv": ref.curve}
    return b"HSM1" + json.dumps(doc, sort_keys=True).encode()


def hsm_ref_from_payload(payload: bytes) -> Any:
    from vaultcore.hsm._pkcs11 import HsmKeyRef

    if not payload.startswith(b"HSM1"):
        raise IntegrityError()
    try:
        doc = json.loads(payload[4:])
        return HsmKeyRef(doc["kty"], bytes.fromhex(doc["id"]), size=doc["size"], curve=doc["crv"])
    except (KeyError, TypeError, ValueError):
        raise IntegrityError() from None


def _digest(alg: str, data: bytes) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidParameterError("data must be bytes")
    h = hashes.Hash(_keyops.hash_for(alg))
    h.update(bytes(data))
    return h.finalize()


class HsmHandle:
    """Operations on a key that lives in the PKCS#11 token."""

    __slots__ = ("_public", "_token", "ref")

    def __init__(self, token: Any, ref: Any) -> None:
        self._token = token
        self.ref = ref
        self._public: PublicKeyMaterial | None = None

    @property
    def public(self) -> PublicKeyMaterial:
        if self._public is None:
            if self.ref.kty == "oct-HSM":
                raise InvalidParameterError("oct keys are symmetric and have no public key")
            self._public = PublicKeyMaterial.from_cryptography(self._token.public_key(self.ref))
        return self._public

    def public_jwk(self, kid: str, key_ops: list[str]) -> dict[str, Any]:
        if self.ref.kty == "oct-HSM":
            return {"kid": kid, "kty": "oct-HSM", "key_ops": list(key_ops)}
        jwk = dict(self.public.public_jwk(kid, key_ops=key_ops))
        jwk["kty"] = self.ref.kty
        return jwk

    def _refuse_undecryptable(self, alg: str) -> None:
        """The public key could encrypt RSA-OAEP-256 in software, but the token cannot decrypt
        it: refuse rather than make data this key can never decrypt."""
        if self.ref.kty == "RSA-HSM" and str(alg) == "RSA-OAEP-256":
            from vaultcore.hsm._pkcs11 import _OAEP256_REFUSAL

            raise UnsupportedError(_OAEP256_REFUSAL)

    def encrypt(self, alg: str, plaintext: bytes, *, iv: bytes | None, aad: bytes | None) -> EncryptOutput:
        self._refuse_undecryptable(alg)
        if self.ref.kty == "RSA-HSM" and str(alg) in _RSA_ENCRYPTION:
            return _keyops.encrypt(self.public, alg, plaintext, iv=iv, aad=aad)
        if iv is not None:
            raise InvalidParameterError(f"{alg} generates its own random IV; do not pass iv")
        out = self._token.encrypt(self.ref, str(alg), bytes(plaintext), aad=aad)
        return EncryptOutput(out.ciphertext, out.iv, out.tag, aad)

    def decrypt(self, alg: str, ciphertext: bytes, *, iv: bytes | None, aad: bytes | None, tag: bytes | None) -> bytes:
        return bytes(self._token.decrypt(self.ref, str(alg), bytes(ciphertext), iv=iv, tag=tag, aad=aad))

    def wrap_key(self, alg: str, key: bytes) -> bytes:
        self._refuse_undecryptable(alg)
        if self.ref.kty == "RSA-HSM":
            return _keyops.wrap_key(self.public, alg, key)
        return bytes(self._token.wrap_key(self.ref, str(alg), bytes(key)))

    def unwrap_key(self, alg: str, wrapped: bytes) -> bytes:
        return bytes(self._token.unwrap_key(self.ref, str(alg), bytes(wrapped)))

    def sign(self, alg: str, digest: bytes) -> bytes:
        return bytes(self._token.sign(self.ref, str(alg), bytes(digest)))

    def verify(self, alg: str, digest: bytes, signature: bytes) -> bool:
        return _keyops.verify(self.public, alg, digest, signature)

    def sign_data(self, alg: str, data: bytes) -> bytes:
        return self.sign(alg, _digest(alg, data))

    def verify_data(self, alg: str, data: bytes, signature: bytes) -> bool:
        return _keyops.verify_data(self.public, alg, data, signature)


@contextmanager
def discard_hsm_key_on_failure(token: Callable[[], Any], payload: bytes, is_hsm: bool) -> Iterator[None]:
    """Destroy the token objects of a just generated HSM key if storing it fails, so a
    refused request leaves nothing in the token that the vault cannot see or purge."""
    try:
        yield
    except BaseException:
        if is_hsm:
            with suppress(Exception):  # the original error is the one to report
                token().delete_hsm_key(hsm_ref_from_payload(payload))
        raise
