"""Raw cryptographic primitives of vaultcore's native core: **hazardous materials**.

.. warning::

   This module is for experts who know why they need raw AES-GCM or AES key wrap. It
   lets you pick nonces, reuse keys and skip AAD binding, and does nothing to stop you:
   a repeated (key, nonce) pair under AES-GCM destroys confidentiality *and*
   authenticity. If you want to store secrets, keys or certificates, use
   :class:`vaultcore.Vault` and its clients, which choose keys, nonces and AAD for you.

What is here:

* :class:`AESGCM`: AES-GCM with 128/192/256-bit keys, 12-byte nonces and 16-byte tags
  (an API shaped like ``cryptography``'s ``AESGCM``), including ``*_into`` forms that
  write into a caller buffer.
* AES key wrap: :func:`aes_key_wrap` / :func:`aes_key_unwrap` (RFC 3394) and
  :func:`aes_key_wrap_with_padding` / :func:`aes_key_unwrap_with_padding` (RFC 5649).
* Batch forms that do N operations in one native call, each failure reported per item:
  :func:`aes_gcm_encrypt_batch`, :func:`aes_gcm_decrypt_batch`,
  :func:`aes_key_wrap_batch`, :func:`aes_key_unwrap_batch`, :func:`aes_key_rewrap_batch`.
* Envelope records, the vault's storage primitive: :func:`seal_record` draws a fresh
  256-bit data key and nonce inside C, encrypts with AES-256-GCM and wraps the data key
  under your key-encryption key; :func:`open_record` reverses it in one call. Layout::

      prefix (0..64 B) || KW(kek, DEK) (40 B) || nonce (12 B) || ciphertext || tag (16 B)

  The prefix is copied verbatim and **not** authenticated by these functions: put
  nothing there that an attacker may change unnoticed, or authenticate it yourself (the
  vault's prefix holds a format byte, which it checks, and a key term id, which selects
  the key-encryption key, so a changed term fails the unwrap).
* :func:`random_bytes` (OpenSSL's DRBG) and :func:`constant_time_compare`.

Every authentication failure (bad tag, failed unwrap, short or malformed input) raises
:class:`~vaultcore.exceptions.IntegrityError`, with no detail on which check failed.
Bad arguments raise :class:`~vaultcore.exceptions.InvalidParameterError` (a
``ValueError``); arguments of the wrong type raise ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, TypeAlias

from vaultcore.crypto import _bindings
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "AESGCM",
    "NONCE_SIZE",
    "RECORD_OVERHEAD",
    "TAG_SIZE",
    "BytesLike",
    "aes_gcm_decrypt_batch",
    "aes_gcm_encrypt_batch",
    "aes_key_rewrap_batch",
    "aes_key_unwrap",
    "aes_key_unwrap_batch",
    "aes_key_unwrap_with_padding",
    "aes_key_wrap",
    "aes_key_wrap_batch",
    "aes_key_wrap_with_padding",
    "constant_time_compare",
    "open_record",
    "open_records",
    "openssl_version",
    "random_bytes",
    "seal_record",
    "seal_records",
]

BytesLike: TypeAlias = bytes | bytearray | memoryview

NONCE_SIZE = _bindings.NONCE_SIZE
TAG_SIZE = _bindings.TAG_SIZE
RECORD_OVERHEAD = _bindings.RECORD_OVERHEAD
_KEY_SIZES = (16, 24, 32)


def _bytes_like(value: object, name: str) -> BytesLike:
    if isinstance(value, bytes | bytearray | memoryview):
        return value
    raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}")


def _aes_key(value: object, name: str) -> bytes:
    key = bytes(_bytes_like(value, name))
    if len(key) not in _KEY_SIZES:
        raise InvalidParameterError(f"{name} must be 16, 24 or 32 bytes, not {len(key)}")
    return key


def _nonce(value: object) -> BytesLike:
    nonce = _bytes_like(value, "nonce")
    if memoryview(nonce).nbytes != NONCE_SIZE:
        raise InvalidParameterError(f"nonce must be {NONCE_SIZE} bytes")
    return nonce


def _writable(value: object) -> bytearray | memoryview:
    if isinstance(value, bytearray | memoryview) and not memoryview(value).readonly:
        return value
    raise TypeError("buf must be a writable bytearray or memoryview")


def _aad(value: object) -> BytesLike:
    return b"" if value is None else _bytes_like(value, "associated_data")


def _seq(values: object, name: str) -> Sequence[BytesLike]:
    if isinstance(values, bytes | bytearray | memoryview | str) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of bytes-like objects")
    for v in values:
        _bytes_like(v, f"items of {name}")
    return values


class AESGCM:
    """AES-GCM (NIST SP 800-38D) with a 16/24/32-byte key, 12-byte nonces, 16-byte tags.

    The object holds the key: it cannot be pickled or copied and its ``repr`` does not
    show the key. Never encrypt two messages with the same key and nonce.

    ``encrypt``/``decrypt`` run on ``cryptography``'s AES-GCM (measured faster for single
    messages than the system OpenSSL the native core links; docs/native.md);
    ``encrypt_into``/``decrypt_into`` run in the native core, into your buffer, in place
    if you like, without allocating.
    """

    __slots__ = ("_key",)

    def __init__(self, key: BytesLike) -> None:
        self._key = _aes_key(key, "key")

    @staticmethod
    def generate_key(bit_length: int) -> bytes:
        """A fresh random key of 128, 192 or 256 bits."""
        if bit_length not in (128, 192, 256):
            raise InvalidParameterError("bit_length must be 128, 192 or 256")
        return _bindings.random_bytes(bit_length // 8)

    def encrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike | None) -> bytes:
        """Return ciphertext || tag."""
        return _bindings.gcm_seal(self._key, _nonce(nonce), _aad(associated_data), _bytes_like(data, "data"))

    def decrypt(self, nonce: BytesLike, data: BytesLike, associated_data: BytesLike | None) -> bytes:
        """Verify and decrypt ciphertext || tag; :class:`IntegrityError` if it does not verify."""
        return _bindings.gcm_open(self._key, _nonce(nonce), _aad(associated_data), _bytes_like(data, "data"))

    def encrypt_into(
        self,
        nonce: BytesLike,
        data: BytesLike,
        associated_data: BytesLike | None,
        buf: bytearray | memoryview,
    ) -> int:
        """Write ciphertext || tag into ``buf`` (exactly ``len(data) + 16`` bytes; it may
        hold ``data`` itself for in-place encryption). Returns the bytes written."""
        data = _bytes_like(data, "data")
        _bindings.gcm_seal_into(self._key, _nonce(nonce), _aad(associated_data), data, _writable(buf))
        return memoryview(data).nbytes + TAG_SIZE

    def decrypt_into(
        self,
        nonce: BytesLike,
        data: BytesLike,
        associated_data: BytesLike | None,
        buf: bytearray | memoryview,
    ) -> int:
        """Verify and decrypt into ``buf`` (exactly ``len(data) - 16`` bytes). On failure
        ``buf`` is zeroed and :class:`IntegrityError` raised. Returns the bytes written."""
        data = _bytes_like(data, "data")
        _bindings.gcm_open_into(self._key, _nonce(nonce), _aad(associated_data), data, _writable(buf))
        return memoryview(data).nbytes - TAG_SIZE

    def __repr__(self) -> str:
        return f"<vaultcore.hazmat.AESGCM AES-{len(self._key) * 8} key=<hidden>>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("AESGCM holds key material and cannot be pickled or copied")

    def __getstate__(self) -> NoReturn:
        raise TypeError("AESGCM holds key material and cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("AESGCM holds key material and cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("AESGCM holds key material and cannot be copied")


# ---- key wrap ----------------------------------------------------------------------------


def aes_key_wrap(wrapping_key: BytesLike, key_to_wrap: BytesLike) -> bytes:
    """RFC 3394 key wrap. ``key_to_wrap`` must be >= 16 bytes and a multiple of 8."""
    return _bindings.kw_wrap(_aes_key(wrapping_key, "wrapping_key"), _bytes_like(key_to_wrap, "key_to_wrap"))


def aes_key_unwrap(wrapping_key: BytesLike, wrapped_key: BytesLike) -> bytes:
    """RFC 3394 key unwrap; :class:`IntegrityError` if the integrity check fails."""
    return _bindings.kw_unwrap(_aes_key(wrapping_key, "wrapping_key"), _bytes_like(wrapped_key, "wrapped_key"))


def aes_key_wrap_with_padding(wrapping_key: BytesLike, key_to_wrap: BytesLike) -> bytes:
    """RFC 5649 key wrap with padding; ``key_to_wrap`` is 1 .. 2**32-1 bytes."""
    return _bindings.kwp_wrap(_aes_key(wrapping_key, "wrapping_key"), _bytes_like(key_to_wrap, "key_to_wrap"))


def aes_key_unwrap_with_padding(wrapping_key: BytesLike, wrapped_key: BytesLike) -> bytes:
    """RFC 5649 key unwrap; :class:`IntegrityError` on any check failure."""
    return _bindings.kwp_unwrap(_aes_key(wrapping_key, "wrapping_key"), _bytes_like(wrapped_key, "wrapped_key"))


def aes_key_wrap_batch(wrapping_key: BytesLike, keys: Sequence[BytesLike]) -> list[bytes]:
    """RFC 3394-wrap N keys of one size (>= 16, multiple of 8) under one key, in one call."""
    return _bindings.kw_wrap_batch(_aes_key(wrapping_key, "wrapping_key"), _seq(keys, "keys"))


def aes_key_unwrap_batch(wrapping_key: BytesLike, wrapped_keys: Sequence[BytesLike]) -> list[bytes | None]:
    """RFC 3394-unwrap N wrapped keys of one size; ``None`` for each that fails its check."""
    return _bindings.kw_unwrap_batch(_aes_key(wrapping_key, "wrapping_key"), _seq(wrapped_keys, "wrapped_keys"))


def aes_key_rewrap_batch(
    old_wrapping_key: BytesLike, new_wrapping_key: BytesLike, wrapped: BytesLike
) -> tuple[bytearray, list[bool]]:
    """Re-wrap N RFC 3394-wrapped 32-byte keys (``wrapped`` is N * 40 contiguous bytes)
    from one wrapping key to another; the unwrapped keys never leave native memory.

    Returns the N * 40 re-wrapped bytes and a per-key ok flag (a failed slot is zeros).
    """
    return _bindings.rewrap_dek_batch(
        _aes_key(old_wrapping_key, "old_wrapping_key"),
        _aes_key(new_wrapping_key, "new_wrapping_key"),
        _bytes_like(wrapped, "wrapped"),
    )


# ---- AES-GCM batches ---------------------------------------------------------------------


def aes_gcm_encrypt_batch(
    keys: Sequence[BytesLike],
    nonces: Sequence[BytesLike],
    data: Sequence[BytesLike],
    associated_data: Sequence[BytesLike],
) -> list[bytes]:
    """Encrypt N messages in one call, each with its own key (one key size for the
    batch), 12-byte nonce and AAD. Returns each ciphertext || tag."""
    return _bindings.gcm_seal_batch(
        _seq(keys, "keys"),
        _seq(nonces, "nonces"),
        _seq(associated_data, "associated_data"),
        _seq(data, "data"),
    )


def aes_gcm_decrypt_batch(
    keys: Sequence[BytesLike],
    nonces: Sequence[BytesLike],
    data: Sequence[BytesLike],
    associated_data: Sequence[BytesLike],
) -> list[bytes | None]:
    """Decrypt N ciphertext || tag messages in one call; ``None`` for each that fails."""
    return _bindings.gcm_open_batch(
        _seq(keys, "keys"),
        _seq(nonces, "nonces"),
        _seq(associated_data, "associated_data"),
        _seq(data, "data"),
    )


# ---- envelope records --------------------------------------------------------------------


def seal_record(kek: BytesLike, prefix: BytesLike, aad: BytesLike, plaintext: BytesLike) -> bytes:
    """Seal ``plaintext`` under a fresh data key (drawn and wrapped under ``kek`` in C).

    Returns ``prefix || wrapped DEK (40) || nonce (12) || ciphertext || tag (16)``; the
    prefix (<= 64 bytes) is not authenticated here.
    """
    return _bindings.seal_record(
        _aes_key(kek, "kek"),
        _bytes_like(prefix, "prefix"),
        _bytes_like(aad, "aad"),
        _bytes_like(plaintext, "plaintext"),
    )


def open_record(kek: BytesLike, blob: BytesLike, prefix_len: int, aad: BytesLike) -> bytes:
    """Open a record made by :func:`seal_record`; ``prefix_len`` leading bytes are skipped
    (not checked). :class:`IntegrityError` if anything after the prefix was altered."""
    return _bindings.open_record(
        _aes_key(kek, "kek"), _bytes_like(blob, "blob"), _index(prefix_len), _bytes_like(aad, "aad")
    )


def seal_records(
    kek: BytesLike, prefix: BytesLike, aads: Sequence[BytesLike], plaintexts: Sequence[BytesLike]
) -> list[memoryview]:
    """Seal N records in one call (one fresh data key each). The blobs share one buffer and
    are returned as memoryview slices of it."""
    return _bindings.seal_records(
        _aes_key(kek, "kek"),
        _bytes_like(prefix, "prefix"),
        _seq(aads, "aads"),
        _seq(plaintexts, "plaintexts"),
    )


def open_records(
    kek: BytesLike, blobs: Sequence[BytesLike], prefix_len: int, aads: Sequence[BytesLike]
) -> list[bytes | None]:
    """Open N records in one call; ``None`` for each record that fails authentication."""
    return _bindings.open_records(_aes_key(kek, "kek"), _seq(blobs, "blobs"), _index(prefix_len), _seq(aads, "aads"))


# ---- utilities ---------------------------------------------------------------------------


def _index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("prefix_len must be an int")
    return value


def random_bytes(n: int) -> bytes:
    """``n`` bytes from OpenSSL's DRBG."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("n must be an int")
    return _bindings.random_bytes(n)


def constant_time_compare(a: BytesLike, b: BytesLike) -> bool:
    """``a == b`` in time that depends on the lengths only."""
    return _bindings.constant_time_eq(_bytes_like(a, "a"), _bytes_like(b, "b"))


def openssl_version() -> str:
    """The OpenSSL version the native core is linked against at run time."""
    return _bindings.openssl_version()
