"""Key operations bound to one key and algorithm: :mod:`_keyops`'s functions with the
algorithm looked up, the key checked and its ``cryptography`` object (or KEK) taken out
once, for a key version used many times (the vault's key handles).

Each ``bind_*`` raises ``InvalidParameterError`` when the key does not fit the algorithm;
the bound function then checks only its input, with :mod:`_keyops`'s messages. Input that
is plainly fine (bytes of a size the algorithm takes) goes straight to the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from vaultcore.crypto._jwk import KeyWrapAlgorithm, SignatureAlgorithm
from vaultcore.crypto._keymaterial import KeyMaterial
from vaultcore.crypto._keyops import (
    _WRAP,
    BytesLike,
    Key,
    _AesCipher,
    _data,
    _digest,
    _hash,
    _lookup,
    _oct,
    _signature,
    _signer,
    _signing,
    _unwrapper,
    _verifying,
    _wrapper,
)

if TYPE_CHECKING:
    from vaultcore.crypto._bindings import KwKey

__all__ = ["bind_sign", "bind_sign_data", "bind_unwrap_key", "bind_verify", "bind_verify_data", "bind_wrap_key"]

#: Makes (or hands back) the keyed C context of a KEK (``_bindings.KwKey``).
Keyed: TypeAlias = Callable[[bytes], "KwKey"]


def _kw_context(key: Key, cipher: _AesCipher, keyed: Keyed | None) -> KwKey:
    """The keyed C context of an AxxxKW key: from *keyed*, else an untracked one."""
    kek = _oct(key, cipher.name, cipher.key_bytes)
    if keyed is not None:
        return keyed(kek)
    from vaultcore.crypto._bindings import KwKey

    return KwKey(kek)


def bind_wrap_key(key: Key, alg: KeyWrapAlgorithm | str, keyed: Keyed | None = None) -> Callable[[BytesLike], bytes]:
    """:func:`wrap_key` with *key* and *alg* fixed: the algorithm is looked up and the key
    checked here, once (``InvalidParameterError`` if they do not fit), not on every call.

    Input that is plainly fine (bytes of a size the algorithm takes) goes straight to the
    operation; anything else through the checks of :func:`wrap_key`, with its messages.
    AxxxKW runs on a keyed C context (its key schedules kept in locked memory, see
    ``_bindings.KwKey``) that *keyed* makes or hands back (a key handle keeps one per key,
    tracked by the vault, which wipes it with its other C key material).
    """
    cipher = _lookup(_WRAP, alg, "a key wrap", KeyWrapAlgorithm)
    wrap = _wrapper(key, cipher)
    if isinstance(cipher, _AesCipher) and cipher.mode == "kw":
        kw = _kw_context(key, cipher, keyed).wrap

        def bound_kw(key_to_wrap: BytesLike) -> bytes:
            if key_to_wrap.__class__ is bytes and len(key_to_wrap) >= 16 and not len(key_to_wrap) % 8:
                return kw(key_to_wrap)  # type: ignore[arg-type]  # bytes, checked above
            return wrap(_data(key_to_wrap, "key"))

        return bound_kw

    def bound(key_to_wrap: BytesLike) -> bytes:
        return wrap(_data(key_to_wrap, "key"))

    return bound


def bind_unwrap_key(
    key: KeyMaterial, alg: KeyWrapAlgorithm | str, keyed: Keyed | None = None
) -> Callable[[BytesLike], bytes]:
    """:func:`unwrap_key` with *key* and *alg* fixed (see :func:`bind_wrap_key`)."""
    cipher = _lookup(_WRAP, alg, "a key wrap", KeyWrapAlgorithm)
    unwrap = _unwrapper(key, cipher)
    if isinstance(cipher, _AesCipher) and cipher.mode == "kw":
        kw = _kw_context(key, cipher, keyed).unwrap

        def bound_kw(wrapped: BytesLike) -> bytes:
            if wrapped.__class__ is bytes and len(wrapped) >= 24 and not len(wrapped) % 8:
                return kw(wrapped)  # type: ignore[arg-type]  # bytes, checked above
            return unwrap(wrapped if wrapped.__class__ is bytes and wrapped else _data(wrapped, "wrapped key"))  # type: ignore[arg-type]

        return bound_kw

    def bound(wrapped: BytesLike) -> bytes:
        return unwrap(wrapped if wrapped.__class__ is bytes and wrapped else _data(wrapped, "wrapped key"))  # type: ignore[arg-type]

    return bound


def bind_sign(key: KeyMaterial, alg: SignatureAlgorithm | str) -> Callable[[BytesLike], bytes]:
    """:func:`sign` with *key* and *alg* fixed: the algorithm is looked up and the key
    checked here, once (``InvalidParameterError`` if they do not fit), not on every call.
    A digest of bytes of the right size goes straight to the operation; anything else
    through the checks of :func:`sign`, with its messages."""
    signer = _signer(alg)
    op = _signing(key, signer)
    size = signer.hash.digest_size

    def bound(digest: BytesLike) -> bytes:
        if digest.__class__ is bytes and len(digest) == size:
            return op(digest)  # type: ignore[arg-type]  # bytes, checked above
        return op(_digest(digest, signer))

    return bound


def bind_verify(key: Key, alg: SignatureAlgorithm | str) -> Callable[[BytesLike, BytesLike], bool]:
    """:func:`verify` with *key* and *alg* fixed (see :func:`bind_sign`)."""
    signer = _signer(alg)
    op = _verifying(key, signer)
    size = signer.hash.digest_size

    def bound(digest: BytesLike, signature: BytesLike) -> bool:
        if digest.__class__ is bytes and len(digest) == size and signature.__class__ is bytes:
            return op(digest, signature)  # type: ignore[arg-type]  # bytes, checked above
        return op(_digest(digest, signer), _signature(signature))

    return bound


def bind_sign_data(key: KeyMaterial, alg: SignatureAlgorithm | str) -> Callable[[BytesLike], bytes]:
    """:func:`sign_data` with *key* and *alg* fixed (see :func:`bind_sign`)."""
    signer = _signer(alg)
    op = _signing(key, signer)

    def bound(data: BytesLike) -> bytes:
        return op(_hash(signer, data))

    return bound


def bind_verify_data(key: Key, alg: SignatureAlgorithm | str) -> Callable[[BytesLike, BytesLike], bool]:
    """:func:`verify_data` with *key* and *alg* fixed (see :func:`bind_sign`)."""
    signer = _signer(alg)
    op = _verifying(key, signer)

    def bound(data: BytesLike, signature: BytesLike) -> bool:
        return op(_hash(signer, data), _signature(signature))

    return bound
