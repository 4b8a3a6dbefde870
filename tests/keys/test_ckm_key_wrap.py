"""Managed HSM's PKCS#11-named key wraps on software oct keys: CKM_AES_KEY_WRAP (RFC 3394) and
CKM_AES_KEY_WRAP_PAD (RFC 5649), checked against cryptography's independent implementations."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap,
    aes_key_wrap_with_padding,
)

from vaultcore import IntegrityError, InvalidParameterError, KeyWrapAlgorithm, Vault


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_ckm_aes_key_wrap_is_rfc3394_with_any_aes_size(vault: Vault, bits: int) -> None:
    secret = os.urandom(bits // 8)
    vault.keys.import_key(f"kek-{bits}", {"kty": "oct", "k": secret})
    client = vault.keys.get_cryptography_client(f"kek-{bits}")
    cek = os.urandom(32)
    wrapped = client.wrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap, cek)
    assert wrapped.algorithm == "CKM_AES_KEY_WRAP"
    assert aes_key_unwrap(secret, wrapped.encrypted_key) == cek
    assert client.unwrap_key("CKM_AES_KEY_WRAP", aes_key_wrap(secret, cek)).key == cek


@pytest.mark.parametrize("size", [1, 7, 8, 20, 32, 45])
def test_ckm_aes_key_wrap_pad_is_rfc5649(vault: Vault, size: int) -> None:
    secret = os.urandom(32)
    vault.keys.import_key("kek", {"kty": "oct", "k": secret})
    client = vault.keys.get_cryptography_client("kek")
    data = os.urandom(size)
    wrapped = client.wrap_key("CKM_AES_KEY_WRAP_PAD", data).encrypted_key
    assert aes_key_unwrap_with_padding(secret, wrapped) == data
    assert client.unwrap_key("CKM_AES_KEY_WRAP_PAD", aes_key_wrap_with_padding(secret, data)).key == data


def test_ckm_wraps_check_their_input(vault: Vault) -> None:
    vault.keys.import_key("kek", {"kty": "oct", "k": os.urandom(32)})
    client = vault.keys.get_cryptography_client("kek")
    wrapped = client.wrap_key("CKM_AES_KEY_WRAP_PAD", b"k" * 20).encrypted_key
    tampered = bytes([wrapped[0] ^ 1]) + wrapped[1:]
    with pytest.raises(IntegrityError):
        client.unwrap_key("CKM_AES_KEY_WRAP_PAD", tampered)
    # an RFC 3394 blob is not an RFC 5649 one (different integrity value)
    with pytest.raises(IntegrityError):
        client.unwrap_key("CKM_AES_KEY_WRAP_PAD", client.wrap_key("CKM_AES_KEY_WRAP", b"k" * 24).encrypted_key)
    with pytest.raises(InvalidParameterError, match="must not be empty"):
        client.wrap_key("CKM_AES_KEY_WRAP_PAD", b"")
    with pytest.raises(InvalidParameterError, match="multiples of 8"):
        client.wrap_key("CKM_AES_KEY_WRAP", b"k" * 20)
    vault.keys.create_rsa_key("rsa", size=2048)
    with pytest.raises(InvalidParameterError, match="oct"):
        vault.keys.get_cryptography_client("rsa").wrap_key("CKM_AES_KEY_WRAP", b"k" * 32)
