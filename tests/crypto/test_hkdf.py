"""HKDF-SHA256 in the native core (``_bindings.hkdf_sha256``): RFC 5869's SHA-256 test
cases, agreement with ``cryptography``'s HKDF (which the credentials and the keyring used
before), and clean errors for what HKDF cannot do."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultcore.crypto import _bindings
from vaultcore.exceptions import InvalidParameterError

# RFC 5869 appendix A, test cases 1-3 (SHA-256): (IKM, salt, info, L, OKM).
RFC5869 = [
    (
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x00, 0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
        "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes.fromhex("0b" * 22),
        b"",
        b"",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), RFC5869, ids=["case1", "case2", "case3"])
def test_rfc5869_sha256_cases(ikm: bytes, salt: bytes, info: bytes, length: int, okm: str) -> None:
    assert _bindings.hkdf_sha256(ikm, salt, info, length).hex() == okm


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=80),
    salt=st.binary(max_size=80),
    info=st.binary(max_size=80),
    length=st.integers(min_value=1, max_value=200),
)
def test_agrees_with_cryptography(secret: bytes, salt: bytes, info: bytes, length: int) -> None:
    theirs = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(secret)
    assert _bindings.hkdf_sha256(secret, salt, info, length) == theirs
    # any bytes-like input, as elsewhere in the bindings
    assert _bindings.hkdf_sha256(bytearray(secret), memoryview(salt), bytearray(info), length) == theirs


def test_longest_output_and_default_length() -> None:
    assert len(_bindings.hkdf_sha256(b"k", b"s", b"i", 255 * 32)) == 255 * 32
    assert _bindings.hkdf_sha256(b"k", b"s", b"i") == _bindings.hkdf_sha256(b"k", b"s", b"i", 32)


@pytest.mark.parametrize(
    ("secret", "length", "message"),
    [(b"", 32, "secret"), (b"k", 0, "length"), (b"k", 255 * 32 + 1, "length"), (b"k", -1, "length")],
)
def test_what_hkdf_cannot_do_is_a_clean_error(secret: bytes, length: int, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        _bindings.hkdf_sha256(secret, b"salt", b"info", length)
    assert not _bindings.error_queue_pending()
