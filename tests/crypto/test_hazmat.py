"""The public expert API, vaultcore.hazmat: argument checks, errors, key hygiene."""

from __future__ import annotations

import ast
import copy
import pickle
from array import array
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as RefAESGCM

from vaultcore import hazmat
from vaultcore.exceptions import IntegrityError, InvalidParameterError, VaultError

KEY = bytes(range(32))
NONCE = bytes(range(12))
SRC = Path(hazmat.__file__).resolve().parent


def test_docstring_warns_and_points_to_vault() -> None:
    doc = hazmat.__doc__ or ""
    assert "hazardous" in doc.lower()
    assert "experts" in doc
    assert "vaultcore.Vault" in doc


def test_only_one_module_imports_native() -> None:
    importers = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            if any(n.endswith("_native") or "._native" in n for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["_ffi.py"]  # which hands the crypto and LMDB halves on


def test_exception_classes() -> None:
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(IntegrityError, VaultError)


# ---- AESGCM ------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aesgcm_round_trip(bits: int) -> None:
    key = hazmat.AESGCM.generate_key(bits)
    assert len(key) == bits // 8
    aead = hazmat.AESGCM(key)
    for aad in (None, b"", b"header"):
        ct = aead.encrypt(NONCE, b"attack at dawn", aad)
        assert ct == RefAESGCM(key).encrypt(NONCE, b"attack at dawn", aad)
        assert aead.decrypt(NONCE, ct, aad) == b"attack at dawn"
    with pytest.raises(IntegrityError):
        aead.decrypt(NONCE, ct, b"other")


def test_aesgcm_accepts_bytes_like() -> None:
    aead = hazmat.AESGCM(bytearray(KEY))
    ct = aead.encrypt(memoryview(NONCE), bytearray(b"x" * 100), memoryview(b"a"))
    assert aead.decrypt(bytearray(NONCE), memoryview(ct), bytearray(b"a")) == b"x" * 100


@pytest.mark.parametrize("size", [0, 1, 8, 15, 17, 31, 33, 64])
def test_aesgcm_bad_key_size(size: int) -> None:
    with pytest.raises(InvalidParameterError):
        hazmat.AESGCM(bytes(size))


@pytest.mark.parametrize("size", [0, 8, 11, 13, 16])
def test_aesgcm_bad_nonce_size(size: int) -> None:
    aead = hazmat.AESGCM(KEY)
    with pytest.raises(InvalidParameterError):
        aead.encrypt(bytes(size), b"data", None)
    with pytest.raises(InvalidParameterError):
        aead.decrypt(bytes(size), bytes(32), None)


def test_aesgcm_type_errors() -> None:
    with pytest.raises(TypeError):
        hazmat.AESGCM("k" * 32)  # type: ignore[arg-type]
    aead = hazmat.AESGCM(KEY)
    with pytest.raises(TypeError):
        aead.encrypt(NONCE, "text", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        aead.encrypt(NONCE, b"data", "aad")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        hazmat.AESGCM.generate_key(512)


def test_aesgcm_short_ciphertext_is_integrity_error() -> None:
    aead = hazmat.AESGCM(KEY)
    for n in range(16):
        with pytest.raises(IntegrityError):
            aead.decrypt(NONCE, bytes(n), None)


def test_aesgcm_into() -> None:
    aead = hazmat.AESGCM(KEY)
    pt = b"p" * 5000
    buf = bytearray(len(pt) + 16)
    assert aead.encrypt_into(NONCE, pt, b"a", buf) == len(buf)
    assert bytes(buf) == aead.encrypt(NONCE, pt, b"a")
    out = bytearray(len(pt))
    assert aead.decrypt_into(NONCE, bytes(buf), b"a", out) == len(pt)
    assert out == pt
    buf[0] ^= 1
    with pytest.raises(IntegrityError):
        aead.decrypt_into(NONCE, bytes(buf), b"a", out)
    assert out == bytes(len(pt)), "a failed decrypt_into zeroes the output"
    with pytest.raises(InvalidParameterError):
        aead.encrypt_into(NONCE, pt, b"a", bytearray(len(pt)))
    with pytest.raises(TypeError):
        aead.encrypt_into(NONCE, pt, b"a", bytes(len(pt) + 16))  # type: ignore[arg-type]


def test_aesgcm_keeps_key_private() -> None:
    aead = hazmat.AESGCM(KEY)
    text = repr(aead) + str(aead)
    assert KEY.hex() not in text
    assert repr(KEY) not in text
    assert "hidden" in text
    with pytest.raises(TypeError):
        pickle.dumps(aead)
    with pytest.raises(TypeError):
        copy.copy(aead)
    with pytest.raises(TypeError):
        copy.deepcopy(aead)
    with pytest.raises(AttributeError):
        aead.__dict__  # noqa: B018 - slots only, no attribute bag


# ---- key wrap ----------------------------------------------------------------------------


def test_key_wrap_functions_match_cryptography() -> None:
    kek = bytes(range(16))
    key = bytes(range(100, 132))
    assert hazmat.aes_key_wrap(kek, key) == keywrap.aes_key_wrap(kek, key)
    assert hazmat.aes_key_unwrap(kek, keywrap.aes_key_wrap(kek, key)) == key
    assert hazmat.aes_key_wrap_with_padding(kek, key[:5]) == keywrap.aes_key_wrap_with_padding(kek, key[:5])
    assert hazmat.aes_key_unwrap_with_padding(kek, hazmat.aes_key_wrap_with_padding(kek, b"k")) == b"k"


def test_key_wrap_errors() -> None:
    with pytest.raises(InvalidParameterError):
        hazmat.aes_key_wrap(KEY, bytes(8))
    with pytest.raises(InvalidParameterError):
        hazmat.aes_key_wrap(bytes(20), bytes(16))
    with pytest.raises(InvalidParameterError):
        hazmat.aes_key_wrap_with_padding(KEY, b"")
    with pytest.raises(IntegrityError):
        hazmat.aes_key_unwrap(KEY, bytes(24))
    with pytest.raises(IntegrityError):
        hazmat.aes_key_unwrap(KEY, bytes(23))
    with pytest.raises(IntegrityError):
        hazmat.aes_key_unwrap_with_padding(KEY, bytes(16))
    with pytest.raises(TypeError):
        hazmat.aes_key_wrap(KEY, "k" * 16)  # type: ignore[arg-type]


def test_key_wrap_batches() -> None:
    keys = [bytes([i]) * 32 for i in range(10)]
    wrapped = hazmat.aes_key_wrap_batch(KEY, keys)
    assert wrapped == [hazmat.aes_key_wrap(KEY, k) for k in keys]
    wrapped[3] = bytes(40)
    opened = hazmat.aes_key_unwrap_batch(KEY, wrapped)
    assert opened == [None if i == 3 else k for i, k in enumerate(keys)]
    with pytest.raises(InvalidParameterError):
        hazmat.aes_key_wrap_batch(KEY, [bytes(16), bytes(24)])
    with pytest.raises(InvalidParameterError):
        hazmat.aes_key_unwrap_batch(KEY, [bytes(24), bytes(32)])
    assert hazmat.aes_key_unwrap_batch(KEY, [bytes(16)]) == [None]
    assert hazmat.aes_key_wrap_batch(KEY, []) == []
    with pytest.raises(TypeError):
        hazmat.aes_key_wrap_batch(KEY, b"not a sequence of keys")  # type: ignore[arg-type]


def test_rewrap_batch() -> None:
    new = bytes(range(1, 33))
    keys = [bytes([i]) * 32 for i in range(5)]
    wrapped = b"".join(hazmat.aes_key_wrap_batch(KEY, keys))
    out, ok = hazmat.aes_key_rewrap_batch(KEY, new, wrapped)
    assert ok == [True] * 5
    assert hazmat.aes_key_unwrap_batch(new, [bytes(out[i : i + 40]) for i in range(0, 200, 40)]) == keys


# ---- AES-GCM batches ---------------------------------------------------------------------


def test_gcm_batches() -> None:
    keys = [bytes([i]) * 16 for i in range(4)]
    nonces = [bytes([i]) * 12 for i in range(4)]
    data = [b"m" * i for i in range(4)]
    aads = [b"a"] * 4
    cts = hazmat.aes_gcm_encrypt_batch(keys, nonces, data, aads)
    assert cts == [RefAESGCM(k).encrypt(n, d, b"a") for k, n, d in zip(keys, nonces, data)]
    cts[2] = cts[2][:-1] + bytes([cts[2][-1] ^ 1])
    assert hazmat.aes_gcm_decrypt_batch(keys, nonces, cts, aads) == [b"", b"m", None, b"mmm"]
    with pytest.raises(InvalidParameterError):
        hazmat.aes_gcm_encrypt_batch(keys[:3], nonces, data, aads)
    with pytest.raises(InvalidParameterError):
        hazmat.aes_gcm_encrypt_batch([bytes(16), bytes(32)], nonces[:2], data[:2], aads[:2])
    with pytest.raises(InvalidParameterError):
        hazmat.aes_gcm_encrypt_batch(keys[:1], [bytes(8)], data[:1], aads[:1])


def test_batches_accept_wide_memoryviews() -> None:
    """A memoryview whose items are not bytes is measured in bytes, not items."""
    wide = memoryview(array("I", [1, 2, 3, 4, 5, 6, 7, 8]))  # 32 bytes, len() == 8
    assert hazmat.aes_key_wrap_batch(KEY, [wide]) == [hazmat.aes_key_wrap(KEY, bytes(wide))]
    sealed = hazmat.seal_records(KEY, b"", [b""], [wide])
    assert hazmat.open_records(KEY, sealed, 0, [b""]) == [bytes(wide)]


# ---- records -----------------------------------------------------------------------------


def test_records() -> None:
    blob = hazmat.seal_record(KEY, b"\x01term", b"aad", b"value")
    assert blob.startswith(b"\x01term")
    assert len(blob) == 5 + hazmat.RECORD_OVERHEAD + 5
    assert hazmat.open_record(KEY, blob, 5, b"aad") == b"value"
    with pytest.raises(IntegrityError):
        hazmat.open_record(KEY, blob, 5, b"other")
    with pytest.raises(IntegrityError):
        hazmat.open_record(KEY, blob[:40], 5, b"aad")
    with pytest.raises(InvalidParameterError):
        hazmat.open_record(KEY, blob, -1, b"aad")
    with pytest.raises(TypeError):
        hazmat.open_record(KEY, blob, 5.0, b"aad")  # type: ignore[arg-type]
    views = hazmat.seal_records(KEY, b"\x02", [b"a", b"b"], [b"x", b"y"])
    assert hazmat.open_records(KEY, views, 1, [b"a", b"wrong"]) == [b"x", None]


# ---- utilities ---------------------------------------------------------------------------


def test_random_bytes() -> None:
    assert hazmat.random_bytes(0) == b""
    values = {hazmat.random_bytes(16) for _ in range(50)}
    assert len(values) == 50
    assert len(hazmat.random_bytes(100_000)) == 100_000
    with pytest.raises(InvalidParameterError):
        hazmat.random_bytes(-1)
    with pytest.raises(TypeError):
        hazmat.random_bytes(1.5)  # type: ignore[arg-type]


def test_constant_time_compare() -> None:
    assert hazmat.constant_time_compare(b"abc", b"abc")
    assert hazmat.constant_time_compare(b"", b"")
    assert not hazmat.constant_time_compare(b"abc", b"abd")
    assert not hazmat.constant_time_compare(b"abc", b"abcd")
    assert hazmat.constant_time_compare(bytearray(b"x"), memoryview(b"x"))


def test_openssl_version() -> None:
    assert hazmat.openssl_version().startswith("OpenSSL 3.")
