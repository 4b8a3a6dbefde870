"""Thin marshalling layer over the compiled native core (``vaultcore._native``).

This is the only module that uses the core's crypto half (``storage._mdb`` uses its LMDB half;
``vaultcore._ffi`` loads it). It checks lengths, hands
buffers to C without copying where it can (``bytes`` directly, other buffers through
``ffi.from_buffer``), allocates outputs, and maps C status codes to the vaultcore
exception tree:

* ``VC_ERR_AUTH``  -> :class:`~vaultcore.exceptions.IntegrityError` (every cause alike)
* ``VC_ERR_PARAM`` -> :class:`~vaultcore.exceptions.InvalidParameterError`
* ``VC_ERR_NOMEM`` -> :class:`MemoryError`; anything else -> :class:`VaultError`

It holds no policy: which key, which AAD, which prefix is the caller's business.
The C contract is ``csrc/vaultcore_native.h``; ``docs/native.md`` explains the choices.

Record layout produced by :func:`seal_record` (the prefix is copied, not authenticated
here; the vault binds it through the AAD)::

    prefix (0..64) || KW(kek, DEK) (40) || nonce (12) || GCM(DEK, nonce, aad, pt) || tag (16)

cffi scratch buffers that receive plaintext or key material are wiped (``vc_cleanse``)
once copied into the returned ``bytes``; those ``bytes`` are Python's and cannot be wiped.

Routing: single AES-GCM calls (``gcm_seal``/``gcm_open``) go through ``cryptography``'s
``AESGCM``: its wheel bundles a newer OpenSSL (VAES/AVX-512 GCM, cheaper EVP init) and was
measured faster at every size here, AESGCM construction included (~1.2x at 64 B, ~2x at
16 KiB, ~5x at 1 MiB; docs/native.md). Inputs of 2**31 bytes or more (cryptography's
limit) stay native. ``cryptography`` is imported on the first routed call, not with this
module: opening a vault and a fused read make no routed call, and the import is ~12 ms of
a cold start. The ``*_into`` forms (caller buffer, in place allowed), the batch
forms and the fused record functions always use the native core.
"""

from __future__ import annotations

import threading
import weakref
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from typing import Any, TypeAlias

# The compiled core (through its one importer, vaultcore._ffi) has no stubs: everything
# from it is Any and stays in this module.
from vaultcore._ffi import event_push as _event_push
from vaultcore._ffi import fast_open as _fast_open
from vaultcore._ffi import ffi, lib
from vaultcore._ffi import kw_run as _kw_run
from vaultcore.exceptions import IntegrityError, InvalidParameterError, VaultError

__all__ = [
    "DEK_SIZE",
    "MAX_PREFIX_SIZE",
    "NONCE_SIZE",
    "NO_EVENT",
    "RECORD_OVERHEAD",
    "TAG_SIZE",
    "WRAPPED_DEK_SIZE",
    "AuditQueue",
    "DekCache",
    "EventTemplate",
    "KeyContexts",
    "KwKey",
    "RecordOpener",
    "constant_time_eq",
    "error_queue_pending",
    "gcm_open",
    "gcm_open_batch",
    "gcm_open_into",
    "gcm_seal",
    "gcm_seal_batch",
    "gcm_seal_into",
    "hkdf_sha256",
    "kw_unwrap",
    "kw_unwrap_batch",
    "kw_wrap",
    "kw_wrap_batch",
    "kw_wrapper",
    "kwp_unwrap",
    "kwp_wrap",
    "objkeys_many",
    "open_record",
    "open_records",
    "openssl_version",
    "push_event",
    "random_bytes",
    "rewrap_dek_batch",
    "seal_record",
    "seal_records",
]

Buf: TypeAlias = bytes | bytearray | memoryview

DEK_SIZE: int = lib.VC_DEK_SIZE
WRAPPED_DEK_SIZE: int = lib.VC_WRAPPED_DEK_SIZE
NONCE_SIZE: int = lib.VC_GCM_NONCE_SIZE
TAG_SIZE: int = lib.VC_GCM_TAG_SIZE
RECORD_OVERHEAD: int = lib.VC_RECORD_OVERHEAD
MAX_PREFIX_SIZE: int = lib.VC_MAX_PREFIX

_AES_KEY_SIZES = frozenset((16, 24, 32))
_OK = lib.VC_OK
_ERR_AUTH = lib.VC_ERR_AUTH
_ERR_PARAM = lib.VC_ERR_PARAM
_ERR_NOMEM = lib.VC_ERR_NOMEM
_ERR_GONE = lib.VC_ERR_GONE

# size_t arrays are passed as array.array buffers (built in C from a map, no per-item
# cffi conversion).
_SIZE_T = next(c for c in "LQI" if array(c).itemsize == ffi.sizeof("size_t"))

# Output scratch: not zeroed on allocation (C writes every byte or zeroes on failure).
_raw_new = ffi.new_allocator(should_clear_after_alloc=False)
_from_buffer = ffi.from_buffer
_buffer = ffi.buffer
_wipe = lib.vc_cleanse

# Single AES-GCM calls of _GCM_ROUTE_MIN..._GCM_ROUTE_MAX bytes go through cryptography
# (measured faster at every size; docs/native.md). It refuses 2**31 bytes and more.
_GCM_ROUTE_MIN = 0
_GCM_ROUTE_MAX = (1 << 31) - 1


def _raise(rc: int) -> None:
    if rc == _ERR_AUTH:
        raise IntegrityError()
    if rc == _ERR_PARAM:
        raise InvalidParameterError("invalid size or argument for the native crypto core")
    if rc == _ERR_NOMEM:
        raise MemoryError("native crypto core: out of memory")
    raise VaultError(f"native crypto core failure (status {rc})")


def _in(buf: Any) -> Any:
    """A pointer-compatible view of a bytes-like object (bytes pass through as is)."""
    return buf if buf.__class__ is bytes else _from_buffer(buf)


def _nbytes(buf: Any) -> int:
    return len(buf) if buf.__class__ is bytes else memoryview(buf).nbytes


def _check_key(key: Any, what: str = "key") -> int:
    n = _nbytes(key)
    if n not in _AES_KEY_SIZES:
        raise InvalidParameterError(f"AES {what} must be 16, 24 or 32 bytes, not {n}")
    return n


def _check_nonce(nonce: Any) -> None:
    if _nbytes(nonce) != NONCE_SIZE:
        raise InvalidParameterError(f"AES-GCM nonce must be {NONCE_SIZE} bytes")


def _check_prefix_len(prefix_len: int) -> None:
    if not 0 <= prefix_len <= MAX_PREFIX_SIZE:
        raise InvalidParameterError(f"prefix length must be 0..{MAX_PREFIX_SIZE}")


def _pack(items: Sequence[Any], what: str) -> tuple[bytes, Any]:
    """Concatenate bytes-like items and their lengths (as a size_t array).

    The join is checked against the sum of the lengths, so that an item whose ``len``
    is not its byte size (a memoryview of non-bytes) cannot make C read out of bounds.
    """
    lens = array(_SIZE_T, map(len, items))
    packed = b"".join(items)
    if len(packed) != sum(lens):
        lens = array(_SIZE_T, (memoryview(x).nbytes for x in items))
        if len(packed) != sum(lens):  # pragma: no cover - defensive
            raise InvalidParameterError(f"{what}: inconsistent buffer sizes")
    return packed, lens


# ---- utilities ---------------------------------------------------------------------------


def objkeys_many(key: Buf, kind: int, names: Sequence[str]) -> list[bytes] | int:
    """The store prefixes of *names* (kind byte || first 16 bytes of HMAC-SHA256(*key*, kind
    byte || name lowercased)) in one call, names checked as ``check_name`` does; or, if a
    name is not 1-127 characters of ``[0-9A-Za-z-]``, the index of the first such name
    (nothing hashed: the caller raises the check's error)."""
    n = len(names)
    if n == 0:
        return []
    try:  # (a character outside ASCII becomes '?', which no name may hold: C finds it in order)
        encoded = [name.encode("ascii", "replace") for name in names]
    except AttributeError:  # not a str: the same, as a name of one invalid character
        encoded = [name.encode("ascii", "replace") if isinstance(name, str) else b"?" for name in names]
    packed, lens = _pack(encoded, "names")
    out = _raw_new("uint8_t[]", 17 * n)
    bad = ffi.new("size_t *")
    rc = lib.vc_objkeys_many(_in(key), _nbytes(key), kind, n, packed, _from_buffer("size_t[]", lens), out, bad)
    if rc == lib.VC_ERR_PARAM and bad[0] < n:
        return int(bad[0])
    if rc:
        _raise(rc)
    raw = _buffer(out)[:]
    return [raw[i : i + 17] for i in range(0, 17 * n, 17)]


def openssl_version() -> str:
    """The version string of the libcrypto the native core is linked against."""
    return str(ffi.string(lib.vc_openssl_version()).decode("ascii"))


def error_queue_pending() -> bool:
    """Whether this thread's OpenSSL error queue holds entries (tests assert it never does)."""
    return bool(lib.vc_error_pending())


def _take_secret(out: Any, n: int) -> bytes:
    """Copy a scratch buffer holding plaintext or key bytes out, then wipe it."""
    res: bytes = _buffer(out, n)[:]
    if n:
        _wipe(out, n)
    return res


def hkdf_sha256(secret: Buf, salt: Buf, info: Buf, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) in OpenSSL: *length* (1..8160) bytes from a non-empty *secret*."""
    if not 1 <= length <= 255 * 32:
        raise InvalidParameterError("HKDF output length must be 1..8160 bytes")
    if not _nbytes(secret):
        raise InvalidParameterError("HKDF secret must not be empty")
    out = _raw_new("uint8_t[]", length)
    rc = lib.vc_hkdf_sha256(
        _in(secret), _nbytes(secret), _in(salt), _nbytes(salt), _in(info), _nbytes(info), out, length
    )
    if rc:
        _raise(rc)
    return _take_secret(out, length)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from OpenSSL's DRBG."""
    if n < 0:
        raise InvalidParameterError("n must be >= 0")
    if n == 0:
        return b""
    out = _raw_new("uint8_t[]", n)
    rc = lib.vc_random_bytes(out, n)
    if rc:
        _raise(rc)
    return _take_secret(out, n)


def constant_time_eq(a: Buf, b: Buf) -> bool:
    """Compare in time independent of the contents (lengths are not secret)."""
    na, nb = _nbytes(a), _nbytes(b)
    if na != nb:
        return False
    return bool(lib.vc_ct_equal(_in(a), _in(b), na))


# ---- AES-GCM -----------------------------------------------------------------------------

_route: tuple[Any, type[Exception]] | None = None


def _routed() -> tuple[Any, type[Exception]]:
    """cryptography's ``AESGCM`` and ``InvalidTag``, imported on first use (see the module notes)."""
    global _route
    if _route is None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        _route = (AESGCM, InvalidTag)
    return _route


def gcm_seal(key: Buf, nonce: Buf, aad: Buf, plaintext: Buf) -> bytes:
    """AES-GCM encrypt: returns ciphertext || 16-byte tag."""
    kl = _check_key(key)
    _check_nonce(nonce)
    n = _nbytes(plaintext)
    if _GCM_ROUTE_MIN <= n <= _GCM_ROUTE_MAX and _nbytes(aad) <= _GCM_ROUTE_MAX:
        return _routed()[0](key).encrypt(nonce, plaintext, aad)  # type: ignore[no-any-return]
    out = _raw_new("uint8_t[]", n + TAG_SIZE)
    rc = lib.vc_gcm_seal(_in(key), kl, _in(nonce), _in(aad), _nbytes(aad), _in(plaintext), n, out)
    if rc:
        _raise(rc)
    return _buffer(out)[:]


def gcm_seal_into(key: Buf, nonce: Buf, aad: Buf, plaintext: Buf, out: bytearray | memoryview) -> None:
    """AES-GCM encrypt into a caller buffer of ``len(plaintext) + 16`` bytes.

    ``out`` may be the buffer holding ``plaintext`` (encryption in place).
    """
    kl = _check_key(key)
    _check_nonce(nonce)
    n = _nbytes(plaintext)
    if _nbytes(out) != n + TAG_SIZE:
        raise InvalidParameterError("output buffer must be len(plaintext) + 16 bytes")
    dst = _from_buffer(out, require_writable=True)
    rc = lib.vc_gcm_seal(_in(key), kl, _in(nonce), _in(aad), _nbytes(aad), _in(plaintext), n, dst)
    if rc:
        _raise(rc)


def gcm_open(key: Buf, nonce: Buf, aad: Buf, ct_tag: Buf) -> bytes:
    """AES-GCM decrypt and verify; :class:`IntegrityError` if the tag does not verify."""
    kl = _check_key(key)
    _check_nonce(nonce)
    n = _nbytes(ct_tag) - TAG_SIZE
    if n < 0:
        raise IntegrityError()
    if _GCM_ROUTE_MIN <= n <= _GCM_ROUTE_MAX and _nbytes(aad) <= _GCM_ROUTE_MAX:
        aesgcm, invalid_tag = _routed()
        try:
            return aesgcm(key).decrypt(nonce, ct_tag, aad)  # type: ignore[no-any-return]
        except invalid_tag:
            raise IntegrityError() from None
    out = _raw_new("uint8_t[]", n)
    rc = lib.vc_gcm_open(_in(key), kl, _in(nonce), _in(aad), _nbytes(aad), _in(ct_tag), n + 16, out)
    if rc:
        _raise(rc)
    return _take_secret(out, n)


def gcm_open_into(key: Buf, nonce: Buf, aad: Buf, ct_tag: Buf, out: bytearray | memoryview) -> None:
    """AES-GCM decrypt into a caller buffer of ``len(ct_tag) - 16`` bytes.

    On failure ``out`` is zeroed and :class:`IntegrityError` raised.
    """
    kl = _check_key(key)
    _check_nonce(nonce)
    n = _nbytes(ct_tag) - TAG_SIZE
    if n < 0:
        raise IntegrityError()
    if _nbytes(out) != n:
        raise InvalidParameterError("output buffer must be len(ct_tag) - 16 bytes")
    dst = _from_buffer(out, require_writable=True)
    rc = lib.vc_gcm_open(_in(key), kl, _in(nonce), _in(aad), _nbytes(aad), _in(ct_tag), n + 16, dst)
    if rc:
        _raise(rc)


def _check_batch_keys(keys: Sequence[Any], nonces: Sequence[Any], n: int) -> tuple[bytes, int]:
    if len(keys) != n or len(nonces) != n:
        raise InvalidParameterError("batch sequences must have the same length")
    packed_keys, key_lens = _pack(keys, "keys")
    kl = key_lens[0]
    if kl not in _AES_KEY_SIZES or key_lens.count(kl) != n:
        raise InvalidParameterError("batch keys must all be 16, 24 or 32 bytes (one size)")
    packed_nonces, nonce_lens = _pack(nonces, "nonces")
    if nonce_lens.count(NONCE_SIZE) != n:
        raise InvalidParameterError(f"AES-GCM nonces must be {NONCE_SIZE} bytes")
    return packed_keys + packed_nonces, kl


def gcm_seal_batch(
    keys: Sequence[Buf],
    nonces: Sequence[Buf],
    aads: Sequence[Buf],
    plaintexts: Sequence[Buf],
) -> list[bytes]:
    """Seal N records in one call, each with its own key, nonce and AAD."""
    n = len(plaintexts)
    if len(aads) != n:
        raise InvalidParameterError("batch sequences must have the same length")
    if n == 0:
        return []
    kn, kl = _check_batch_keys(keys, nonces, n)
    pts, pt_lens = _pack(plaintexts, "plaintexts")
    aad_buf, aad_lens = _pack(aads, "aads")
    total = len(pts) + n * TAG_SIZE
    out = _raw_new("uint8_t[]", total)
    nonce_ptr = _from_buffer(kn)
    rc = lib.vc_gcm_seal_batch(
        n,
        nonce_ptr,
        kl,
        nonce_ptr + n * kl,
        aad_buf,
        _from_buffer("size_t[]", aad_lens),
        pts,
        _from_buffer("size_t[]", pt_lens),
        out,
        total,
    )
    if rc:
        _raise(rc)
    buf = _buffer(out)
    offs = list(accumulate(pt_lens, lambda acc, x: acc + x + TAG_SIZE, initial=0))
    return [buf[a:b] for a, b in pairwise(offs)]


def gcm_open_batch(
    keys: Sequence[Buf],
    nonces: Sequence[Buf],
    aads: Sequence[Buf],
    ct_tags: Sequence[Buf],
) -> list[bytes | None]:
    """Open N records in one call; ``None`` for each record that fails authentication."""
    n = len(ct_tags)
    if len(aads) != n:
        raise InvalidParameterError("batch sequences must have the same length")
    if n == 0:
        return []
    kn, kl = _check_batch_keys(keys, nonces, n)
    cts, ct_lens = _pack(ct_tags, "ciphertexts")
    aad_buf, aad_lens = _pack(aads, "aads")
    pt_lens = [max(0, x - TAG_SIZE) for x in ct_lens]
    total = sum(pt_lens)
    out = _raw_new("uint8_t[]", total)
    ok = _raw_new("uint8_t[]", n)
    key_ptr = _from_buffer(kn)
    rc = lib.vc_gcm_open_batch(
        n,
        key_ptr,
        kl,
        key_ptr + n * kl,
        aad_buf,
        _from_buffer("size_t[]", aad_lens),
        cts,
        _from_buffer("size_t[]", ct_lens),
        out,
        total,
        ok,
    )
    if rc:
        _raise(rc)
    return _split_secret(out, total, pt_lens, _buffer(ok)[:])


def _split_secret(out: Any, total: int, lens: Sequence[int], ok: bytes) -> list[bytes | None]:
    """Slice a packed plaintext scratch buffer into bytes (None where not ok); wipe it."""
    buf = _buffer(out, total)
    offs = list(accumulate(lens, initial=0))
    res: list[bytes | None] = [buf[a:b] for a, b in pairwise(offs)]
    if total:
        _wipe(out, total)
    if ok.count(0):
        for i, good in enumerate(ok):
            if not good:
                res[i] = None
    return res


# ---- AES key wrap ------------------------------------------------------------------------


def kw_wrap(kek: Buf, key: Buf) -> bytes:
    """RFC 3394 AES key wrap; ``key`` is >= 16 bytes and a multiple of 8."""
    kl = _check_key(kek, "key-encryption key")
    n = _nbytes(key)
    if n < 16 or n % 8:
        raise InvalidParameterError("the key to wrap must be >= 16 bytes and a multiple of 8")
    out = _raw_new("uint8_t[]", n + 8)
    rc = lib.vc_kw_wrap(_in(kek), kl, _in(key), n, out)
    if rc:
        _raise(rc)
    return _buffer(out)[:]


def kw_wrapper(kek: Buf) -> Callable[[bytes], bytes]:
    """:func:`kw_wrap` under one KEK, checked once: the hot path of a vault key's wrapKey,
    where the KEK is fixed and each call should cost little more than the C call."""
    kl = _check_key(kek, "key-encryption key")
    key_bytes = bytes(kek)
    wrap = lib.vc_kw_wrap
    new = _raw_new
    buffer = _buffer

    def kw_wrap_bound(key: bytes) -> bytes:
        if key.__class__ is bytes:
            n, src = len(key), key
        else:
            n, src = _nbytes(key), _in(key)
        if n < 16 or n % 8:
            raise InvalidParameterError("the key to wrap must be >= 16 bytes and a multiple of 8")
        out = new("uint8_t[]", n + 8)
        rc = wrap(key_bytes, kl, src, n, out)
        if rc:
            _raise(rc)
        return buffer(out)[:]

    return kw_wrap_bound


class KeyContexts:
    """The keyed C contexts (:class:`KwKey`) made for one vault's keys: wiped together when
    the keyring changes or records are purged (:meth:`wipe`: each context is made again on
    its next use) and when the vault closes (:meth:`close`: none is made any more)."""

    __slots__ = ("_live", "_lock", "closed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: weakref.WeakSet[KwKey] = weakref.WeakSet()
        self.closed = False

    def add(self, context: KwKey) -> bool:
        """Track *context*; False (and *context* wiped) once closed."""
        with self._lock:
            if not self.closed:
                self._live.add(context)
                return True
        context.wipe()
        return False

    def wipe(self) -> None:
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for context in live:
            context.wipe()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self.wipe()


class KwKey:
    """RFC 3394 under one KEK with its AES key schedules kept in C (``vc_kwkey``: a locked
    page, AES-NI rounds): :func:`kw_wrap` / :func:`kw_unwrap` for a vault key used many
    times, same bytes and errors. The KEK is checked once.

    The C context is wiped by :meth:`wipe` (and by *contexts*, see :class:`KeyContexts`)
    and refused in a forked child; a call that finds it gone makes it again (while
    *contexts* is open) or runs :func:`kw_wrap` on the KEK, which the caller's key
    material holds anyway (this object keeps a reference to it, not a copy).
    """

    __slots__ = ("__weakref__", "_addr", "_contexts", "_flags", "_k", "_kek", "_kl")

    def __init__(self, kek: Buf, contexts: KeyContexts | None = None, *, portable: bool = False) -> None:
        self._kl = _check_key(kek, "key-encryption key")
        self._kek = bytes(kek)
        self._contexts = contexts
        self._flags = lib.VC_KWKEY_PORTABLE if portable else 0
        self._k: Any = None
        self._addr = 0
        self._new()

    def _new(self) -> None:
        """Make the C context (``_k`` keeps it alive as long as this object, ``_addr`` is
        what ``kw_run`` takes)."""
        ptr = ffi.new("vc_kwkey **")
        rc = lib.vc_kwkey_new(self._kek, self._kl, self._flags, ptr)
        if rc:
            _raise(rc)
        self._k, self._addr = ffi.gc(ptr[0], lib.vc_kwkey_free), int(ffi.cast("uintptr_t", ptr[0]))
        if self._contexts is not None:
            self._contexts.add(self)  # (wipes it at once if the owner has closed)

    @property
    def locked(self) -> bool:
        """The C context's page is mlock()ed (else only excluded from core dumps)."""
        return bool(lib.vc_kwkey_info(self._k) & lib.VC_KWKEY_LOCKED)

    @property
    def aesni(self) -> bool:
        """The C context runs AES-NI rounds on kept key schedules (else ``vc_kw_wrap``)."""
        return bool(lib.vc_kwkey_info(self._k) & lib.VC_KWKEY_AESNI)

    @property
    def live(self) -> bool:
        """The C context is usable now: not wiped, not inherited through fork()."""
        return bool(lib.vc_kwkey_info(self._k) & lib.VC_KWKEY_LIVE)

    def wipe(self) -> None:
        """Wipe the C context now (calls in flight finish first)."""
        lib.vc_kwkey_wipe(self._k)

    def _renew(self) -> bool:
        """Key the C context again after a wipe or a fork, unless *contexts* closed (the
        same context: its address, which calls may hold, never changes)."""
        contexts = self._contexts
        if contexts is not None and contexts.closed:
            return False
        rc = lib.vc_kwkey_reset(self._k, self._kek, self._kl)
        if rc:
            _raise(rc)
        if contexts is not None:
            contexts.add(self)  # (wipes it again at once if the owner closed meanwhile)
        return True

    def wrap(self, key: bytes) -> bytes:
        """:func:`kw_wrap` under this KEK."""
        out = _kw_run(self._addr, key, True) if key.__class__ is bytes else _ERR_PARAM
        if out.__class__ is bytes:
            return out  # type: ignore[no-any-return]
        return self._slow(key, True)

    def unwrap(self, wrapped: bytes) -> bytes:
        """:func:`kw_unwrap` under this KEK (:class:`IntegrityError` if the check fails)."""
        out = _kw_run(self._addr, wrapped, False) if wrapped.__class__ is bytes else _ERR_PARAM
        if out.__class__ is bytes:
            return out  # type: ignore[no-any-return]
        return self._slow(wrapped, False)

    def _slow(self, data: Buf, wrap: bool) -> bytes:
        """Input other than bytes, a wiped or inherited context, or a failure."""
        if data.__class__ is not bytes:
            data = bytes(memoryview(data).cast("B"))
        out = _kw_run(self._addr, data, wrap)
        if out == _ERR_GONE and self._renew():
            out = _kw_run(self._addr, data, wrap)
        if out == _ERR_GONE:  # closed (or wiped again at once): the stateless call, on the
            # KEK the caller's key material holds anyway
            return kw_wrap(self._kek, data) if wrap else kw_unwrap(self._kek, data)
        if out.__class__ is not bytes:
            if not wrap and out == _ERR_PARAM:
                raise IntegrityError()
            if wrap and out == _ERR_PARAM:
                raise InvalidParameterError("the key to wrap must be >= 16 bytes and a multiple of 8")
            _raise(out)
        return out  # type: ignore[no-any-return]

    def __reduce__(self) -> Any:
        raise TypeError("KwKey holds key material and cannot be pickled")

    def __repr__(self) -> str:
        return f"<KwKey {self._kl * 8}-bit>"


def kw_unwrap(kek: Buf, wrapped: Buf) -> bytes:
    """RFC 3394 AES key unwrap; :class:`IntegrityError` if the integrity check fails."""
    kl = _check_key(kek, "key-encryption key")
    n = _nbytes(wrapped)
    if n < 24 or n % 8:
        raise IntegrityError()
    out = _raw_new("uint8_t[]", n - 8)
    rc = lib.vc_kw_unwrap(_in(kek), kl, _in(wrapped), n, out)
    if rc:
        _raise(rc)
    return _take_secret(out, n - 8)


def kwp_wrap(kek: Buf, key: Buf) -> bytes:
    """RFC 5649 AES key wrap with padding; ``key`` is 1 .. 2**32-1 bytes."""
    kl = _check_key(kek, "key-encryption key")
    n = _nbytes(key)
    if not 1 <= n <= 0xFFFFFFFF:
        raise InvalidParameterError("the key to wrap must be 1 .. 2**32-1 bytes")
    out = _raw_new("uint8_t[]", (n + 7) // 8 * 8 + 8)
    rc = lib.vc_kwp_wrap(_in(kek), kl, _in(key), n, out)
    if rc:
        _raise(rc)
    return _buffer(out)[:]


def kwp_unwrap(kek: Buf, wrapped: Buf) -> bytes:
    """RFC 5649 AES key unwrap; :class:`IntegrityError` on any check failure."""
    kl = _check_key(kek, "key-encryption key")
    n = _nbytes(wrapped)
    if n < 16 or n % 8:
        raise IntegrityError()
    out = _raw_new("uint8_t[]", n - 8)
    out_len = ffi.new("size_t *")
    rc = lib.vc_kwp_unwrap(_in(kek), kl, _in(wrapped), n, out, out_len)
    if rc:
        _raise(rc)
    res = _buffer(out, out_len[0])[:]
    _wipe(out, n - 8)
    return res


def kw_wrap_batch(kek: Buf, keys: Sequence[Buf]) -> list[bytes]:
    """RFC 3394 wrap of N keys of one size under one KEK, in one call."""
    kl = _check_key(kek, "key-encryption key")
    n = len(keys)
    if n == 0:
        return []
    packed, lens = _pack(keys, "keys")
    size = lens[0]
    if size < 16 or size % 8 or lens.count(size) != n:
        raise InvalidParameterError("batch keys must all have one size, >= 16 bytes and a multiple of 8")
    stride = size + 8
    out = _raw_new("uint8_t[]", n * stride)
    rc = lib.vc_kw_wrap_batch(_in(kek), kl, n, packed, size, out)
    if rc:
        _raise(rc)
    buf = _buffer(out)
    return [buf[i : i + stride] for i in range(0, n * stride, stride)]


def kw_unwrap_batch(kek: Buf, wrapped: Sequence[Buf]) -> list[bytes | None]:
    """RFC 3394 unwrap of N wrapped keys of one size; ``None`` where the check fails."""
    kl = _check_key(kek, "key-encryption key")
    n = len(wrapped)
    if n == 0:
        return []
    packed, lens = _pack(wrapped, "wrapped keys")
    size = lens[0]
    if lens.count(size) != n:
        raise InvalidParameterError("batch wrapped keys must all have one size")
    if size < 24 or size % 8:
        return [None] * n
    plen = size - 8
    out = _raw_new("uint8_t[]", n * plen)
    ok = _raw_new("uint8_t[]", n)
    rc = lib.vc_kw_unwrap_batch(_in(kek), kl, n, packed, size, out, ok)
    if rc:
        _raise(rc)
    return _split_secret(out, n * plen, [plen] * n, _buffer(ok)[:])


def rewrap_dek_batch(old_kek: Buf, new_kek: Buf, wrapped: Buf) -> tuple[bytearray, list[bool]]:
    """Unwrap N contiguous RFC 3394-wrapped 32-byte DEKs (N * 40 bytes) under ``old_kek``
    and wrap them under ``new_kek``; the plaintext DEKs never leave C.

    Returns the N * 40 rewrapped bytes and a per-DEK ok flag (a failed slot is zeros).
    """
    okl = _check_key(old_kek, "old key-encryption key")
    nkl = _check_key(new_kek, "new key-encryption key")
    size = _nbytes(wrapped)
    if size % WRAPPED_DEK_SIZE:
        raise InvalidParameterError(f"wrapped DEKs must be a multiple of {WRAPPED_DEK_SIZE} bytes")
    n = size // WRAPPED_DEK_SIZE
    out = bytearray(size)
    ok = bytearray(n)
    if n == 0:
        return out, []
    rc = lib.vc_kw_rewrap_batch(
        _in(old_kek), okl, _in(new_kek), nkl, n, _in(wrapped), _from_buffer(out), _from_buffer(ok)
    )
    if rc:
        _raise(rc)
    return out, list(map(bool, ok))


# ---- fused envelope records --------------------------------------------------------------


def seal_record(kek: Buf, prefix: Buf, aad: Buf, plaintext: Buf) -> bytes:
    """Seal one record under a fresh DEK drawn (and wrapped under ``kek``) inside C.

    Returns ``prefix || wrapped_dek(40) || nonce(12) || ct || tag(16)``.
    """
    kl = _check_key(kek, "key-encryption key")
    pl = _nbytes(prefix)
    _check_prefix_len(pl)
    n = _nbytes(plaintext)
    out = _raw_new("uint8_t[]", pl + RECORD_OVERHEAD + n)
    rc = lib.vc_seal_record(_in(kek), kl, _in(prefix), pl, _in(aad), _nbytes(aad), _in(plaintext), n, out)
    if rc:
        _raise(rc)
    return _buffer(out)[:]


def open_record(kek: Buf, blob: Buf, prefix_len: int, aad: Buf) -> bytes:
    """Unwrap the record's DEK and decrypt in one call; :class:`IntegrityError` on failure.

    The ``prefix_len`` leading bytes are skipped, not checked.
    """
    # The hot read path: bytes arguments skip the generic helpers.
    if kek.__class__ is bytes and blob.__class__ is bytes and aad.__class__ is bytes:
        kl = len(kek)
        bl = len(blob)
        al = len(aad)
    else:
        kl, bl, al = _nbytes(kek), _nbytes(blob), _nbytes(aad)
        kek, blob, aad = _in(kek), _in(blob), _in(aad)
    if kl not in _AES_KEY_SIZES:
        _check_key(kek, "key-encryption key")
    if not 0 <= prefix_len <= MAX_PREFIX_SIZE:
        _check_prefix_len(prefix_len)
    n = bl - prefix_len - RECORD_OVERHEAD
    if n < 0:
        raise IntegrityError()
    out = _raw_new("uint8_t[]", n)
    rc = lib.vc_open_record(kek, kl, blob, bl, prefix_len, aad, al, out)
    if rc:
        _raise(rc)
    res: bytes = _buffer(out)[:]
    if n:
        _wipe(out, n)
    return res


def seal_records(kek: Buf, prefix: Buf, aads: Sequence[Buf], plaintexts: Sequence[Buf]) -> list[memoryview]:
    """Seal N records (one fresh DEK each) in one call.

    The blobs are written into one contiguous ``bytearray`` and returned as memoryview
    slices of it (``view.obj`` is the whole buffer), in input order.
    """
    kl = _check_key(kek, "key-encryption key")
    pl = _nbytes(prefix)
    _check_prefix_len(pl)
    n = len(plaintexts)
    if len(aads) != n:
        raise InvalidParameterError("aads and plaintexts must have the same length")
    if n == 0:
        return []
    pts, pt_lens = _pack(plaintexts, "plaintexts")
    aad_buf, aad_lens = _pack(aads, "aads")
    rec = pl + RECORD_OVERHEAD
    total = len(pts) + n * rec
    out = bytearray(total)
    rc = lib.vc_seal_records(
        n,
        _in(kek),
        kl,
        _in(prefix),
        pl,
        aad_buf,
        _from_buffer("size_t[]", aad_lens),
        pts,
        _from_buffer("size_t[]", pt_lens),
        _from_buffer(out),
        total,
    )
    if rc:
        _raise(rc)
    mv = memoryview(out)
    offs = list(accumulate(map(rec.__add__, pt_lens), initial=0))
    return [mv[a:b] for a, b in pairwise(offs)]


def seal_records_keyed(
    kek: Buf, prefix: Buf, head: bytes, keys: bytes, key_len: int, plaintexts: Sequence[Buf]
) -> tuple[bytearray, array[int]]:
    """:func:`seal_records` with record i's AAD ``head + keys[i * key_len:][:key_len]``,
    built in C (*keys* holds one fixed-length key per plaintext): the blobs back to back in
    one ``bytearray`` and their byte lengths (a ``size_t`` array)."""
    kl = _check_key(kek, "key-encryption key")
    pl = _nbytes(prefix)
    _check_prefix_len(pl)
    n = len(plaintexts)
    if key_len < 1 or len(keys) != n * key_len or len(head) + key_len > lib.VC_MAX_AAD:
        raise InvalidParameterError("keys must be one key of key_len bytes per plaintext")
    if n == 0:
        return bytearray(), array(_SIZE_T)
    pts, pt_lens = _pack(plaintexts, "plaintexts")
    rec = pl + RECORD_OVERHEAD
    out = bytearray(len(pts) + n * rec)
    rc = lib.vc_seal_records_keyed(
        n,
        _in(kek),
        kl,
        _in(prefix),
        pl,
        head,
        len(head),
        keys,
        key_len,
        pts,
        _from_buffer("size_t[]", pt_lens),
        _from_buffer(out),
        len(out),
    )
    if rc:
        _raise(rc)
    return out, array(_SIZE_T, map(rec.__add__, pt_lens))


def open_records(
    kek: Buf,
    blobs: Sequence[Buf],
    prefix_len: int,
    aads: Sequence[Buf],
) -> list[bytes | None]:
    """Open N records in one call; ``None`` for each record that fails (per-record status)."""
    kl = _check_key(kek, "key-encryption key")
    _check_prefix_len(prefix_len)
    n = len(blobs)
    if len(aads) != n:
        raise InvalidParameterError("aads and blobs must have the same length")
    if n == 0:
        return []
    packed, blob_lens = _pack(blobs, "blobs")
    aad_buf, aad_lens = _pack(aads, "aads")
    ovh = prefix_len + RECORD_OVERHEAD
    pt_lens = list(map((-ovh).__add__, blob_lens))
    if min(pt_lens) < 0:
        pt_lens = [max(0, x) for x in pt_lens]
    total = sum(pt_lens)
    out = _raw_new("uint8_t[]", total)
    ok = _raw_new("uint8_t[]", n)
    rc = lib.vc_open_records(
        n,
        _in(kek),
        kl,
        packed,
        _from_buffer("size_t[]", blob_lens),
        prefix_len,
        aad_buf,
        _from_buffer("size_t[]", aad_lens),
        out,
        total,
        ok,
    )
    if rc:
        _raise(rc)
    return _split_secret(out, total, pt_lens, _buffer(ok)[:])


class DekCache:
    """A bounded cache of unwrapped record DEKs in C memory (``vc_dek_cache``).

    Keyed by (KEK, wrapped DEK): a hit returns exactly what the unwrap would, so results
    never change; DEKs stay in C, in one mlock()ed mapping (``locked`` False: only excluded
    from core dumps, RLIMIT_MEMLOCK too low), zeroed in a forked child. ``wipe()`` on
    keyring rotation and purge, ``close()`` with the vault.
    """

    __slots__ = ("_c",)

    def __init__(self, slots: int = 16384, max_slots: int | None = None) -> None:
        """*slots* to start with; the table doubles up to *max_slots* (default: *slots*, a
        fixed size) while the records read outnumber it, if the larger table can be locked
        as the first one was."""
        max_slots = slots if max_slots is None else max_slots
        if not 0 < slots <= 1 << 20 or not 0 < max_slots <= 1 << 20:
            raise InvalidParameterError("a DEK cache holds 1 to 2**20 slots")
        ptr = ffi.new("vc_dek_cache **")
        rc = lib.vc_dek_cache_new(slots, max_slots, ptr)
        if rc:
            _raise(rc)
        self._c: Any = ffi.gc(ptr[0], lib.vc_dek_cache_free)

    @property
    def locked(self) -> bool:
        return bool(self._c is not None and lib.vc_dek_cache_locked(self._c))

    @property
    def handle(self) -> Any:
        """The C cache for a fused native call (``storage._mdb``), or None once closed."""
        return self._c

    @property
    def slots(self) -> int:
        return int(lib.vc_dek_cache_slots(self._c)) if self._c is not None else 0

    def __len__(self) -> int:
        return int(lib.vc_dek_cache_count(self._c)) if self._c is not None else 0

    def wipe(self) -> None:
        if self._c is not None:
            lib.vc_dek_cache_wipe(self._c)

    def close(self) -> None:
        """Wipe now and stop caching; the memory is unmapped when no call can still use it
        (a thread inside ``open_record`` holds its own reference to the C object)."""
        c, self._c = self._c, None
        if c is not None:
            lib.vc_dek_cache_close(c)

    def open_record(self, kek: bytes, blob: Buf, prefix_len: int, aad: bytes) -> bytes:
        """:func:`open_record` through the cache; *blob* may be any bytes-like buffer."""
        c = self._c
        if c is None:
            return open_record(kek, blob, prefix_len, aad)
        bl = len(blob)
        n = bl - prefix_len - RECORD_OVERHEAD
        if n < 0:
            raise IntegrityError()
        out = _raw_new("uint8_t[]", n)
        rc = lib.vc_open_record_cached(
            c,
            kek,
            len(kek),
            blob if blob.__class__ is bytes else _from_buffer(blob),
            bl,
            prefix_len,
            aad,
            len(aad),
            out,
        )
        if rc:
            _raise(rc)
        res: bytes = _buffer(out)[:]
        if n:
            _wipe(out, n)
        return res


class AuditQueue:
    """The audit log's queue of group-committed events in C memory (``vc_auditq``).

    Bodies (canonical JSON, never a value or key) wait in order; the fused read queues its
    own events through a :meth:`template`. A flush is :meth:`pending`, :meth:`seal` (chain
    and seal the first *n* events, GIL released), the caller's commit, then :meth:`consume`:
    a failed commit consumes nothing.
    """

    __slots__ = ("_q",)

    def __init__(self) -> None:
        ptr = ffi.new("vc_auditq **")
        rc = lib.vc_auditq_new(ptr)
        if rc:
            _raise(rc)
        self._q: Any = ffi.gc(ptr[0], lib.vc_auditq_free)

    @property
    def native(self) -> Any:
        """The ``vc_auditq`` pointer, for a store that commits the queue in one native call
        (``vc_audit_commit``); valid while this object lives."""
        return self._q

    def push(self, body: bytes) -> int:
        """Queue one event body; returns how many events wait now."""
        queued = ffi.new("size_t *")
        rc = lib.vc_auditq_push(self._q, body, len(body), queued)
        if rc:
            _raise(rc)
        return int(queued[0])

    def pending(self) -> tuple[int, int]:
        """(events waiting, their bodies' total bytes)."""
        n, size = ffi.new("size_t *"), ffi.new("size_t *")
        lib.vc_auditq_pending(self._q, n, size)
        return int(n[0]), int(size[0])

    def seal(
        self,
        n: int,
        size: int,
        per_segment: int,
        audit_key: bytes,
        prev_mac: bytes,
        first_seq: int,
        term: int,
        rolled_to: int | None,
        kek: bytes,
        aad_head: bytes,
    ) -> tuple[list[bytes], bytes]:
        """The first *n* events (*size* body bytes, from :meth:`pending`) chained after
        *prev_mac* from *first_seq* and sealed in segments of at most *per_segment* events:
        (sealed segments in order, the last event's MAC). The queue is unchanged."""
        if len(prev_mac) != 32 or not 0 < first_seq < 1 << 63 or per_segment < 1:
            raise InvalidParameterError("audit chain position out of range")
        segments = -(-n // per_segment)
        cap = int(lib.vc_auditq_sealed_size(n, size, per_segment))
        out = _raw_new("uint8_t[]", cap)
        lens = ffi.new("size_t[]", segments)
        last = _raw_new("uint8_t[]", 32)
        rc = lib.vc_auditq_seal(
            self._q, n, per_segment, audit_key, len(audit_key), prev_mac, first_seq, term,
            -1 if rolled_to is None else rolled_to, kek, len(kek), aad_head, len(aad_head), out, cap, lens, last,
        )  # fmt: skip
        if rc:
            _raise(rc)
        blobs, pos = [], 0
        for i in range(segments):
            blobs.append(_buffer(out, pos + lens[i])[pos:])
            pos += lens[i]
        return blobs, _buffer(last, 32)[:]

    def flush_begin(self) -> None:
        """Take the queue's flush lock (GIL released while waiting): one commit at a time,
        whoever makes it (a Python flush, the native flusher loop), from pending to consume."""
        lib.vc_auditq_flush_begin(self._q)

    def flush_end(self) -> None:
        lib.vc_auditq_flush_end(self._q)

    def consume(self, n: int) -> None:
        """Drop the first *n* events (they have committed)."""
        lib.vc_auditq_consume(self._q, n)

    def wait(self, batch: int, max_delay: float) -> bool:
        """The flusher's wait, GIL released: until an event waits, then until *batch* wait
        or *max_delay* seconds pass; True once :meth:`stop` was called."""
        return bool(lib.vc_auditq_wait(self._q, batch, max_delay))

    def stop(self) -> None:
        """End every present and future :meth:`wait` at once."""
        lib.vc_auditq_stop(self._q)

    def template(self, head: bytes, middle: bytes, tail: bytes) -> EventTemplate:
        """A C template of one kind of read event queuing onto this queue: body = *head* ||
        object id || *middle* || request counter || *tail* || time."""
        return EventTemplate(self._q, head, middle, tail)


class EventTemplate:
    """A read event's template in C (``vc_event_tpl``); ``address`` is what the fused read
    takes, valid while this object lives (it holds the queue alive too): a caller keeps the
    object, not only its address, for the length of the call. :data:`NO_EVENT` (address 0)
    stands for "record nothing"."""

    __slots__ = ("_queue", "_t", "address")

    def push(self, object_id: str) -> int | None:
        """Queue one event for *object_id*: the events now waiting, or None if the id is not
        plain printable ASCII (then nothing is queued and the caller records it in Python)."""
        try:
            raw = object_id.encode("ascii")
        except UnicodeEncodeError:
            return None
        queued = ffi.new("size_t *")
        if lib.vc_event_push(self._t, raw, len(raw), queued):
            return None
        return int(queued[0])

    @classmethod
    def none(cls) -> EventTemplate:
        obj = cls.__new__(cls)
        obj._queue = obj._t = None
        obj.address = 0
        return obj

    def __init__(self, queue: Any, head: bytes, middle: bytes, tail: bytes) -> None:
        ptr = ffi.new("vc_event_tpl **")
        rc = lib.vc_event_tpl_new(queue, head, len(head), middle, len(middle), tail, len(tail), ptr)
        if rc:
            _raise(rc)
        self._t: Any = ffi.gc(ptr[0], lib.vc_event_tpl_free)
        self._queue = queue
        self.address = int(ffi.cast("uintptr_t", self._t))


#: ``push_event(template.address, object_id)``: one event of the template's kind for the
#: object id (printable ASCII bytes without ``"`` or ``\\``) queued in C; the events waiting, or
#: -1 if the id was refused (nothing queued). The caller holds the template for the call.
push_event: Callable[[int, bytes], int] = _event_push


class RecordOpener:
    """The fused read's checks and event for a sealed record another store read (a reader
    without a store, ``vc_reader_open``: PostgreSQL's ``get_secret``): the DEK cache, a
    copy of the term's KEK in a locked C page (wiped by :meth:`wipe` and when freed), the
    term and the AAD head."""

    __slots__ = ("_cache", "_r", "address")

    def __init__(self, cache: Any, kek: bytes, term: int, aad_head: bytes) -> None:
        ptr = ffi.new("vc_reader **")
        rc = lib.vc_reader_new(ffi.NULL, 0, cache, kek, len(kek), term, aad_head, len(aad_head), ffi.NULL, 0, ptr)
        if rc:
            _raise(rc)
        self._r: Any = ffi.gc(ptr[0], lib.vc_reader_free)
        self._cache = cache  # the DEK cache lives as long as this opener
        self.address = int(ffi.cast("uintptr_t", self._r))

    @property
    def entry(self) -> tuple[Any, int]:
        """(fast_open, this opener's address): ``entry[0](entry[1], key, blob, name, event,
        cls, make, id_prefix)``; the caller keeps this opener alive for the call."""
        return _fast_open, self.address

    def wipe(self) -> None:
        """Wipe the KEK copy (the vault closed); later opens fail over to the general path."""
        lib.vc_reader_wipe(self._r)


#: The template of "no event" (a fused read whose success is not recorded: audit mode "off").
NO_EVENT = EventTemplate.none()
