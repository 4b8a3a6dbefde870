"""Azure's key operations: round trips, interop with ``cryptography`` from the public JWK
only, and the errors bad requests must give."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asympadding
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultcore.crypto._keymaterial import (
    EncryptionAlgorithm,
    KeyMaterial,
    KeyWrapAlgorithm,
    PublicKeyMaterial,
    SignatureAlgorithm,
    generate,
    public_from_jwk,
)
from vaultcore.crypto._keyops import (
    EncryptOutput,
    decrypt,
    encrypt,
    hash_for,
    sign,
    sign_data,
    unwrap_key,
    verify,
    verify_data,
    wrap_key,
)
from vaultcore.exceptions import IntegrityError, InvalidParameterError

RSA_SIZES = (2048, 3072, 4096)
RSA_ENCRYPTION = ("RSA1_5", "RSA-OAEP", "RSA-OAEP-256")
RSA_SIGNATURES = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_SIGNATURES = {"ES256": "P-256", "ES256K": "P-256K", "ES384": "P-384", "ES512": "P-521"}
HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
CURVES = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
    "P-256K": (ec.SECP256K1(), 32),
}
AES_SIZES = (128, 192, 256)


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_of(alg: str) -> hashes.HashAlgorithm:
    return HASHES[alg[2:5]]


def digest_for(alg: str, data: bytes = b"message") -> bytes:
    h = hashes.Hash(hash_of(alg))
    h.update(data)
    return h.finalize()


def rebuild_rsa(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    """A public key from the JWK's n and e only, by ``cryptography`` itself."""
    e = int.from_bytes(b64d(jwk["e"]), "big")
    n = int.from_bytes(b64d(jwk["n"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def rebuild_ec(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """A public key from the JWK's crv, x and y only, by ``cryptography`` itself."""
    curve, _ = CURVES[jwk["crv"]]
    point = b"\x04" + b64d(jwk["x"]) + b64d(jwk["y"])
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


def rsa_padding(alg: str) -> asympadding.AsymmetricPadding:
    if alg == "RSA1_5":
        return asympadding.PKCS1v15()
    h: hashes.HashAlgorithm = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()
    return asympadding.OAEP(asympadding.MGF1(h), h, None)


def rsa_sig_padding(alg: str) -> asympadding.AsymmetricPadding:
    h = hash_of(alg)
    if alg.startswith("PS"):
        return asympadding.PSS(asympadding.MGF1(h), salt_length=h.digest_size)
    return asympadding.PKCS1v15()


def flip(data: bytes, index: int = 0) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= 0x01
    return bytes(out)


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, KeyMaterial]:
    """One key per size for the whole module: 4096-bit generation takes about a second."""
    return {bits: generate("RSA", size=bits) for bits in RSA_SIZES}


@pytest.fixture(scope="module")
def rsa2048(rsa_keys: dict[int, KeyMaterial]) -> KeyMaterial:
    return rsa_keys[2048]


@pytest.fixture(scope="module", params=RSA_SIZES)
def rsa_key(request: pytest.FixtureRequest, rsa_keys: dict[int, KeyMaterial]) -> KeyMaterial:
    return rsa_keys[request.param]


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, KeyMaterial]:
    return {name: generate("EC", curve=name) for name in CURVES}


@pytest.fixture(scope="module")
def oct_keys() -> dict[int, KeyMaterial]:
    return {bits: generate("oct", size=bits) for bits in AES_SIZES}


def secret_of(km: KeyMaterial) -> bytes:
    return b64d(km.private_jwk()["k"])


# --------------------------------------------------------------------------- RSA encryption


@pytest.mark.parametrize("alg", RSA_ENCRYPTION)
def test_rsa_encrypt_round_trip(rsa_key: KeyMaterial, alg: str) -> None:
    out = encrypt(rsa_key, alg, b"attack at dawn")
    assert isinstance(out, EncryptOutput)
    assert (out.iv, out.tag, out.aad) == (None, None, None)
    assert len(out.ciphertext) == rsa_key.key_size // 8
    assert decrypt(rsa_key, alg, out.ciphertext) == b"attack at dawn"
    public = public_from_jwk(rsa_key.public_jwk("kid"))
    assert decrypt(rsa_key, alg, encrypt(public, alg, b"x").ciphertext) == b"x"


@pytest.mark.parametrize("alg", RSA_ENCRYPTION)
def test_rsa_decrypts_what_cryptography_encrypts_with_the_public_jwk(rsa_key: KeyMaterial, alg: str) -> None:
    theirs = rebuild_rsa(rsa_key.public_jwk("kid"))
    ciphertext = theirs.encrypt(b"from outside", rsa_padding(alg))
    assert decrypt(rsa_key, EncryptionAlgorithm(alg), ciphertext) == b"from outside"


@pytest.mark.parametrize("alg", RSA_ENCRYPTION)
def test_cryptography_decrypts_what_we_encrypt_with_the_public_jwk(rsa2048: KeyMaterial, alg: str) -> None:
    ours = public_from_jwk(rsa2048.public_jwk())
    ciphertext = encrypt(ours, alg, b"to outside").ciphertext
    private = rsa2048.as_cryptography()
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.decrypt(ciphertext, rsa_padding(alg)) == b"to outside"


@pytest.mark.parametrize(("alg", "overhead"), [("RSA1_5", 11), ("RSA-OAEP", 42), ("RSA-OAEP-256", 66)])
def test_rsa_plaintext_limit(rsa2048: KeyMaterial, alg: str, overhead: int) -> None:
    limit = 256 - overhead
    assert decrypt(rsa2048, alg, encrypt(rsa2048, alg, bytes(limit)).ciphertext) == bytes(limit)
    with pytest.raises(
        InvalidParameterError,
        match=f"{alg} with a 2048-bit key takes at most {limit} bytes; got {limit + 1}",
    ):
        encrypt(rsa2048, alg, bytes(limit + 1))


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
def test_rsa_oaep_tampered_ciphertext_is_integrity_error(rsa2048: KeyMaterial, alg: str) -> None:
    ciphertext = encrypt(rsa2048, alg, b"secret").ciphertext
    for index in (0, 100, -1):
        with pytest.raises(IntegrityError):
            decrypt(rsa2048, alg, flip(ciphertext, index))
    with pytest.raises(IntegrityError):
        decrypt(rsa2048, "RSA-OAEP-256" if alg == "RSA-OAEP" else "RSA-OAEP", ciphertext)


def test_rsa1_5_tampered_ciphertext_uses_implicit_rejection(rsa2048: KeyMaterial) -> None:
    """No error to observe (Marvin defence): the result is pseudo-random, never the value."""
    ciphertext = encrypt(rsa2048, "RSA1_5", b"secret").ciphertext
    tampered = flip(ciphertext, 5)
    try:
        result = decrypt(rsa2048, "RSA1_5", tampered)
    except IntegrityError:  # an OpenSSL without implicit rejection
        return
    assert result != b"secret"
    assert decrypt(rsa2048, "RSA1_5", tampered) == result  # deterministic, not an oracle


def test_rsa_encryption_errors(rsa2048: KeyMaterial, ec_keys: dict[str, KeyMaterial]) -> None:
    ct = encrypt(rsa2048, "RSA-OAEP", b"x").ciphertext
    public = rsa2048.public_key()
    cases: list[tuple[Any, str]] = [
        (lambda: encrypt(rsa2048, "RSA-OAEP", b""), "plaintext must not be empty"),
        (lambda: encrypt(rsa2048, "RSA-OAEP", "text"), "plaintext must be bytes, not str"),  # type: ignore[arg-type]
        (lambda: encrypt(rsa2048, "RSA-OAEP", b"x", iv=bytes(16)), "iv is not used by RSA-OAEP"),
        (lambda: encrypt(rsa2048, "RSA-OAEP", b"x", aad=b"a"), "aad is not used by RSA-OAEP"),
        (lambda: encrypt(rsa2048, "A256GCM", b"x"), "A256GCM needs a 256-bit oct key; this key is RSA"),
        (lambda: encrypt(rsa2048, "A256KW", b"x"), "'A256KW' is not an encryption algorithm"),
        (lambda: encrypt(rsa2048, "rsa-oaep", b"x"), "'rsa-oaep' is not an encryption algorithm"),
        (lambda: encrypt(rsa2048, None, b"x"), "None is not an encryption algorithm"),  # type: ignore[arg-type]
        (lambda: encrypt(ec_keys["P-256"], "RSA-OAEP", b"x"), "RSA-OAEP needs an RSA key; this key is EC"),
        (lambda: encrypt({"kty": "RSA"}, "RSA-OAEP", b"x"), "key must be KeyMaterial or PublicKeyMaterial"),  # type: ignore[arg-type]
        (lambda: decrypt(public, "RSA-OAEP", ct), "RSA-OAEP decryption needs the private key"),  # type: ignore[arg-type]
        (lambda: decrypt(rsa2048, "RSA-OAEP", ct[:-1]), "ciphertext for a 2048-bit key is 256 bytes; got 255"),
        (lambda: decrypt(rsa2048, "RSA-OAEP", b""), "ciphertext must not be empty"),
        (lambda: decrypt(rsa2048, "RSA-OAEP", ct, tag=bytes(16)), "tag is not used by RSA-OAEP"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            call()


def test_encrypt_accepts_bytearray_and_memoryview(rsa2048: KeyMaterial) -> None:
    out = encrypt(rsa2048, EncryptionAlgorithm.rsa_oaep_256, bytearray(b"abc"))
    assert decrypt(rsa2048, "RSA-OAEP-256", memoryview(out.ciphertext)) == b"abc"


# --------------------------------------------------------------------------- AES


@pytest.mark.parametrize("bits", AES_SIZES)
def test_gcm_round_trip_and_interop(oct_keys: dict[int, KeyMaterial], bits: int) -> None:
    km, alg = oct_keys[bits], f"A{bits}GCM"
    for aad in (None, b"header"):
        out = encrypt(km, alg, b"plaintext", aad=aad)
        assert len(out.iv or b"") == 12 and len(out.tag or b"") == 16
        assert out.aad == aad and len(out.ciphertext) == len(b"plaintext")
        assert decrypt(km, alg, out.ciphertext, iv=out.iv, tag=out.tag, aad=aad) == b"plaintext"
        theirs = AESGCM(secret_of(km))
        assert out.iv is not None and out.tag is not None
        assert theirs.decrypt(out.iv, out.ciphertext + out.tag, aad) == b"plaintext"
        nonce = os.urandom(12)
        sealed = theirs.encrypt(nonce, b"their text", aad)
        assert decrypt(km, alg, sealed[:-16], iv=nonce, tag=sealed[-16:], aad=aad) == b"their text"
    first, second = encrypt(km, alg, b"same"), encrypt(km, alg, b"same")
    assert first.iv != second.iv and first.ciphertext != second.ciphertext


def test_gcm_tampering_is_integrity_error(oct_keys: dict[int, KeyMaterial]) -> None:
    km = oct_keys[256]
    out = encrypt(km, "A256GCM", b"plaintext", aad=b"aad")
    assert out.iv is not None and out.tag is not None
    tampered: list[dict[str, Any]] = [
        {"ciphertext": flip(out.ciphertext), "iv": out.iv, "tag": out.tag, "aad": b"aad"},
        {"ciphertext": out.ciphertext, "iv": out.iv, "tag": flip(out.tag, -1), "aad": b"aad"},
        {"ciphertext": out.ciphertext, "iv": flip(out.iv), "tag": out.tag, "aad": b"aad"},
        {"ciphertext": out.ciphertext, "iv": out.iv, "tag": out.tag, "aad": b"aae"},
        {"ciphertext": out.ciphertext, "iv": out.iv, "tag": out.tag, "aad": None},
    ]
    for parts in tampered:
        with pytest.raises(IntegrityError):
            decrypt(km, "A256GCM", parts.pop("ciphertext"), **parts)
    with pytest.raises(IntegrityError):  # same size key, other key
        decrypt(generate("oct"), "A256GCM", out.ciphertext, iv=out.iv, tag=out.tag, aad=b"aad")


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(min_size=1, max_size=200), aad=st.binary(max_size=40), index=st.integers())
def test_gcm_round_trip_with_a_flipped_byte(plaintext: bytes, aad: bytes, index: int) -> None:
    km = KeyMaterial(bytes(range(32)))
    out = encrypt(km, "A256GCM", plaintext, aad=aad)
    assert out.iv is not None and out.tag is not None
    assert decrypt(km, "A256GCM", out.ciphertext, iv=out.iv, tag=out.tag, aad=aad) == plaintext
    blob = out.ciphertext + out.tag
    bad = flip(blob, index)
    with pytest.raises(IntegrityError):
        decrypt(km, "A256GCM", bad[: len(plaintext)], iv=out.iv, tag=bad[len(plaintext) :], aad=aad)


@pytest.mark.parametrize("bits", AES_SIZES)
def test_cbc_round_trip_and_interop(oct_keys: dict[int, KeyMaterial], bits: int) -> None:
    km, iv = oct_keys[bits], os.urandom(16)
    cipher = Cipher(algorithms.AES(secret_of(km)), modes.CBC(iv))
    plain = os.urandom(48)
    out = encrypt(km, f"A{bits}CBC", plain, iv=iv)
    assert (out.iv, out.tag, out.aad) == (iv, None, None)
    assert decrypt(km, f"A{bits}CBC", out.ciphertext, iv=iv) == plain
    dec = cipher.decryptor()
    assert dec.update(out.ciphertext) + dec.finalize() == plain
    enc = cipher.encryptor()
    assert decrypt(km, f"A{bits}CBC", enc.update(plain) + enc.finalize(), iv=iv) == plain


@pytest.mark.parametrize("bits", AES_SIZES)
@pytest.mark.parametrize("length", [1, 15, 16, 17, 100])
def test_cbcpad_round_trip_and_interop(oct_keys: dict[int, KeyMaterial], bits: int, length: int) -> None:
    km, iv, plain = oct_keys[bits], os.urandom(16), os.urandom(length)
    alg = f"A{bits}CBCPAD"
    out = encrypt(km, alg, plain, iv=iv)
    assert len(out.ciphertext) == (length // 16 + 1) * 16
    assert decrypt(km, alg, out.ciphertext, iv=iv) == plain
    padder = sympadding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(secret_of(km)), modes.CBC(iv)).encryptor()
    theirs = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    assert theirs == out.ciphertext


def test_cbcpad_bad_padding_is_integrity_error(oct_keys: dict[int, KeyMaterial]) -> None:
    km, iv = oct_keys[256], bytes(16)
    raw = encrypt(km, "A256CBC", b"A" * 15 + b"\x00", iv=iv).ciphertext  # pad byte 0: invalid
    with pytest.raises(IntegrityError):
        decrypt(km, "A256CBCPAD", raw, iv=iv)


def test_aes_errors(oct_keys: dict[int, KeyMaterial], rsa2048: KeyMaterial) -> None:
    k128, k256 = oct_keys[128], oct_keys[256]
    out = encrypt(k256, "A256GCM", b"x")
    iv, tag = out.iv, out.tag
    cases: list[tuple[Any, str]] = [
        (lambda: encrypt(k256, "A256GCM", b"x", iv=bytes(12)), "A256GCM generates its own random IV"),
        (lambda: encrypt(k128, "A256GCM", b"x"), "A256GCM needs a 256-bit oct key; this key has 128 bits"),
        (
            lambda: encrypt(k256, "A128CBC", bytes(16), iv=bytes(16)),
            "A128CBC needs a 128-bit oct key; this key has 256 bits",
        ),
        (lambda: encrypt(k256, "A256GCM", b""), "plaintext must not be empty"),
        (lambda: encrypt(k256, "A256GCM", b"x", aad="text"), "aad must be bytes, not str"),  # type: ignore[arg-type]
        (lambda: encrypt(k256, "A256CBC", bytes(16)), "A256CBC needs a 16-byte iv; got none"),
        (lambda: encrypt(k256, "A256CBCPAD", b"x"), "A256CBCPAD needs a 16-byte iv; got none"),
        (lambda: encrypt(k256, "A256CBC", bytes(16), iv=bytes(12)), "needs a 16-byte iv; got 12 bytes"),
        (
            lambda: encrypt(k256, "A256CBC", bytes(20), iv=bytes(16)),
            "A256CBC encrypts whole 16-byte blocks; plaintext is 20 bytes (use A256CBCPAD",
        ),
        (lambda: encrypt(k256, "A256CBC", bytes(16), iv=bytes(16), aad=b"a"), "aad is not used by A256CBC"),
        (lambda: decrypt(k256, "A256GCM", out.ciphertext, tag=tag), "A256GCM needs a 12-byte iv; got none"),
        (lambda: decrypt(k256, "A256GCM", out.ciphertext, iv=iv), "A256GCM needs a 16-byte tag; got none"),
        (lambda: decrypt(k256, "A256GCM", out.ciphertext, iv=iv, tag=(tag or b"")[:12]), "16-byte tag; got 12 bytes"),
        (lambda: decrypt(k256, "A256GCM", out.ciphertext, iv=bytes(16), tag=tag), "12-byte iv; got 16 bytes"),
        (
            lambda: decrypt(k256, "A256CBC", bytes(20), iv=bytes(16)),
            "A256CBC ciphertext is whole 16-byte blocks; got 20 bytes",
        ),
        (lambda: decrypt(k256, "A256CBC", bytes(16)), "A256CBC needs a 16-byte iv; got none"),
        (lambda: decrypt(k256, "A256CBC", bytes(16), iv=bytes(16), tag=bytes(16)), "tag is not used by A256CBC"),
        (lambda: encrypt(rsa2048.public_key(), "A256GCM", b"x"), "A256GCM needs a 256-bit oct key; this key is RSA"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            call()


# --------------------------------------------------------------------------- key wrap


@pytest.mark.parametrize("alg", RSA_ENCRYPTION)
def test_rsa_wrap_round_trip_and_interop(rsa_key: KeyMaterial, alg: str) -> None:
    dek = os.urandom(32)
    wrapped = wrap_key(rsa_key, alg, dek)
    assert unwrap_key(rsa_key, KeyWrapAlgorithm(alg), wrapped) == dek
    from_public = wrap_key(public_from_jwk(rsa_key.public_jwk()), alg, dek)
    assert unwrap_key(rsa_key, alg, from_public) == dek
    theirs = rebuild_rsa(rsa_key.public_jwk()).encrypt(dek, rsa_padding(alg))
    assert unwrap_key(rsa_key, alg, theirs) == dek


@pytest.mark.parametrize("bits", AES_SIZES)
@pytest.mark.parametrize("dek_size", [16, 24, 32, 64])
def test_aes_kw_round_trip_matches_rfc3394(oct_keys: dict[int, KeyMaterial], bits: int, dek_size: int) -> None:
    km, alg, dek = oct_keys[bits], f"A{bits}KW", os.urandom(dek_size)
    wrapped = wrap_key(km, alg, dek)
    assert len(wrapped) == dek_size + 8
    assert unwrap_key(km, alg, wrapped) == dek
    assert wrapped == aes_key_wrap(secret_of(km), dek)  # RFC 3394 is deterministic
    assert aes_key_unwrap(secret_of(km), wrapped) == dek
    assert unwrap_key(km, alg, aes_key_wrap(secret_of(km), dek[::-1])) == dek[::-1]


def test_aes_kw_rfc3394_vector() -> None:
    """RFC 3394 §4.6: 256-bit KEK wrapping 256 bits of key data."""
    kek = KeyMaterial(bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"))
    dek = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
    expected = bytes.fromhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
    assert wrap_key(kek, KeyWrapAlgorithm.aes_256, dek) == expected
    assert unwrap_key(kek, "A256KW", expected) == dek


def test_aes_kw_tampering_is_integrity_error(oct_keys: dict[int, KeyMaterial]) -> None:
    km = oct_keys[256]
    wrapped = wrap_key(km, "A256KW", os.urandom(32))
    for index in range(0, len(wrapped), 7):
        with pytest.raises(IntegrityError):
            unwrap_key(km, "A256KW", flip(wrapped, index))
    with pytest.raises(IntegrityError):
        unwrap_key(generate("oct"), "A256KW", wrapped)


def test_wrap_errors(oct_keys: dict[int, KeyMaterial], rsa2048: KeyMaterial, ec_keys: dict[str, KeyMaterial]) -> None:
    k128, k256 = oct_keys[128], oct_keys[256]
    cases: list[tuple[Any, str]] = [
        (
            lambda: wrap_key(k256, "A256KW", bytes(15)),
            "A256KW wraps keys of 16 bytes or more in multiples of 8; got 15 bytes",
        ),
        (lambda: wrap_key(k256, "A256KW", bytes(20)), "multiples of 8; got 20 bytes"),
        (lambda: wrap_key(k256, "A256KW", b""), "key must not be empty"),
        (lambda: wrap_key(k128, "A256KW", bytes(32)), "A256KW needs a 256-bit oct key; this key has 128 bits"),
        (lambda: wrap_key(rsa2048, "A128KW", bytes(32)), "A128KW needs a 128-bit oct key; this key is RSA"),
        (lambda: wrap_key(k256, "RSA-OAEP", bytes(32)), "RSA-OAEP needs an RSA key; this key is oct"),
        (
            lambda: wrap_key(ec_keys["P-256"], "RSA-OAEP-256", bytes(32)),
            "RSA-OAEP-256 needs an RSA key; this key is EC",
        ),
        (lambda: wrap_key(k256, "A256GCM", bytes(32)), "'A256GCM' is not a key wrap algorithm; use A128KW"),
        (
            lambda: unwrap_key(k256, "A256KW", bytes(16)),
            "A256KW wrapped keys are 24 bytes or more in multiples of 8; got 16",
        ),
        (lambda: unwrap_key(k256, "A256KW", bytes(30)), "got 30 bytes"),
        (lambda: unwrap_key(rsa2048.public_key(), "RSA-OAEP", bytes(256)), "RSA-OAEP decryption needs the private key"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            call()


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("alg", RSA_SIGNATURES)
def test_rsa_sign_round_trip(rsa_key: KeyMaterial, alg: str) -> None:
    digest = digest_for(alg)
    signature = sign(rsa_key, alg, digest)
    assert len(signature) == rsa_key.key_size // 8
    assert verify(rsa_key, alg, digest, signature)
    assert verify(public_from_jwk(rsa_key.public_jwk()), SignatureAlgorithm(alg), digest, signature)
    assert not verify(rsa_key, alg, flip(digest), signature)
    assert not verify(rsa_key, alg, digest, flip(signature, -1))


@pytest.mark.parametrize("alg", RSA_SIGNATURES)
def test_cryptography_verifies_our_rsa_signature_with_the_public_jwk(rsa_key: KeyMaterial, alg: str) -> None:
    theirs = rebuild_rsa(rsa_key.public_jwk("kid"))
    signature = sign(rsa_key, alg, digest_for(alg, b"payload"))
    theirs.verify(signature, b"payload", rsa_sig_padding(alg), hash_of(alg))  # raises if bad


@pytest.mark.parametrize("alg", RSA_SIGNATURES)
def test_we_verify_cryptography_rsa_signatures_from_the_public_jwk(rsa2048: KeyMaterial, alg: str) -> None:
    private = rsa2048.as_cryptography()
    assert isinstance(private, rsa.RSAPrivateKey)
    signature = private.sign(b"payload", rsa_sig_padding(alg), hash_of(alg))
    public = public_from_jwk(rsa2048.public_jwk())
    assert verify(public, alg, digest_for(alg, b"payload"), signature)
    assert verify_data(public, alg, b"payload", signature)
    assert not verify_data(public, alg, b"payloaD", signature)


def test_rsa_exponent_3_signs_and_decrypts() -> None:
    km = generate("RSA", public_exponent=3)
    digest = digest_for("PS256")
    assert verify(public_from_jwk(km.public_jwk()), "PS256", digest, sign(km, "PS256", digest))
    assert decrypt(km, "RSA-OAEP", encrypt(km, "RSA-OAEP", b"e3").ciphertext) == b"e3"


@pytest.mark.parametrize(("alg", "curve"), EC_SIGNATURES.items())
def test_ec_sign_round_trip_and_interop(ec_keys: dict[str, KeyMaterial], alg: str, curve: str) -> None:
    km, width = ec_keys[curve], CURVES[curve][1]
    digest = digest_for(alg)
    signature = sign(km, alg, digest)
    assert len(signature) == 2 * width  # raw r || s, not DER
    assert verify(km, alg, digest, signature)
    public = public_from_jwk(km.public_jwk())
    assert verify(public, alg, digest, signature)
    assert not verify(public, alg, flip(digest), signature)
    assert not verify(public, alg, digest, flip(signature, 3))
    # cryptography, from the JWK's x and y only, accepts our r || s as DER
    r = int.from_bytes(signature[:width], "big")
    s = int.from_bytes(signature[width:], "big")
    theirs = rebuild_ec(km.public_jwk("kid"))
    theirs.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hash_of(alg))))
    # and we accept cryptography's signature converted to r || s
    private = km.as_cryptography()
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(b"payload", ec.ECDSA(hash_of(alg)))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")
    assert verify(public, alg, digest_for(alg, b"payload"), raw)
    assert verify_data(public, alg, b"payload", raw)
    assert not verify(public, alg, digest_for(alg, b"payload"), der)  # DER is not accepted


@pytest.mark.parametrize(("alg", "curve"), EC_SIGNATURES.items())
def test_ec_signature_edge_values_are_false(ec_keys: dict[str, KeyMaterial], alg: str, curve: str) -> None:
    km, width = ec_keys[curve], CURVES[curve][1]
    digest = digest_for(alg)
    signature = sign(km, alg, digest)
    for bad in (b"", signature[:-1], signature + b"\x00", bytes(2 * width), b"\xff" * 2 * width):
        assert verify(km, alg, digest, bad) is False


@settings(max_examples=30, deadline=None)
@given(digest=st.binary(min_size=32, max_size=32), index=st.integers())
def test_es256_with_a_flipped_byte(digest: bytes, index: int) -> None:
    km = _hypothesis_ec_key()
    signature = sign(km, "ES256", digest)
    assert verify(km, "ES256", digest, signature)
    assert not verify(km, "ES256", digest, flip(signature, index))
    assert not verify(km, "ES256", flip(digest, index), signature)


_EC_CACHE: list[KeyMaterial] = []


def _hypothesis_ec_key() -> KeyMaterial:
    if not _EC_CACHE:
        _EC_CACHE.append(generate("EC"))
    return _EC_CACHE[0]


def test_sign_data_hashes_with_the_algorithm_hash(rsa2048: KeyMaterial, ec_keys: dict[str, KeyMaterial]) -> None:
    for alg in ("RS384", "PS512", "ES384", "ES256K"):
        km = ec_keys[EC_SIGNATURES[alg]] if alg.startswith("ES") else rsa2048
        signature = sign_data(km, alg, b"data")
        assert verify(km, alg, digest_for(alg, b"data"), signature)
        assert verify_data(km, alg, b"data", signature)
        assert not verify_data(km, alg, b"Data", signature)
    empty = sign_data(rsa2048, "RS256", b"")
    assert verify(rsa2048, "RS256", hashlib.sha256(b"").digest(), empty)


def test_rs256_is_deterministic_pkcs1(rsa2048: KeyMaterial) -> None:
    digest = digest_for("RS256")
    assert sign(rsa2048, "RS256", digest) == sign(rsa2048, "RS256", digest)
    assert sign(rsa2048, "PS256", digest) != sign(rsa2048, "PS256", digest)  # salted


def test_hash_for() -> None:
    assert isinstance(hash_for("ES256K"), hashes.SHA256)
    assert isinstance(hash_for(SignatureAlgorithm.ps384), hashes.SHA384)
    assert hash_for("RS512").digest_size == 64
    with pytest.raises(InvalidParameterError, match="'HS256' is not a signature algorithm; use PS256"):
        hash_for("HS256")


def test_signature_errors(
    rsa2048: KeyMaterial, ec_keys: dict[str, KeyMaterial], oct_keys: dict[int, KeyMaterial]
) -> None:
    p256, p384, k1 = ec_keys["P-256"], ec_keys["P-384"], ec_keys["P-256K"]
    d32, d48 = bytes(32), bytes(48)
    cases: list[tuple[Any, str]] = [
        (lambda: sign(p256, "ES256", b""), "digest must not be empty"),
        (lambda: sign(p256, "ES256", d48), "ES256 signs a 32-byte SHA256 digest; got 48 bytes"),
        (lambda: sign(rsa2048, "RS384", d32), "RS384 signs a 48-byte SHA384 digest; got 32 bytes"),
        (lambda: sign(rsa2048, "PS512", d48), "PS512 signs a 64-byte SHA512 digest; got 48 bytes"),
        (lambda: sign(p384, "ES256", d32), "ES256 needs an EC P-256 key; this key is on P-384"),
        (lambda: sign(k1, "ES256", d32), "ES256 needs an EC P-256 key; this key is on P-256K"),
        (lambda: sign(p256, "ES256K", d32), "ES256K needs an EC P-256K key; this key is on P-256"),
        (lambda: sign(rsa2048, "ES256", d32), "ES256 needs an EC P-256 key; this key is RSA"),
        (lambda: sign(p256, "PS256", d32), "PS256 needs an RSA key; this key is EC"),
        (lambda: sign(oct_keys[256], "RS256", d32), "RS256 needs an RSA key; this key is oct"),
        (lambda: sign(rsa2048.public_key(), "RS256", d32), "RS256 signing needs the private key"),  # type: ignore[arg-type]
        (lambda: sign(p256.public_key(), "ES256", d32), "ES256 signing needs the private key"),  # type: ignore[arg-type]
        (lambda: sign(p256, "EdDSA", d32), "'EdDSA' is not a signature algorithm"),
        (lambda: sign(p256, "ES256", "digest"), "digest must be bytes, not str"),  # type: ignore[arg-type]
        (lambda: verify(p256, "ES256", d48, bytes(64)), "ES256 signs a 32-byte SHA256 digest; got 48 bytes"),
        (lambda: verify(p256, "ES256", b"", bytes(64)), "digest must not be empty"),
        (lambda: verify(p256, "ES256", d32, "sig"), "signature must be bytes, not str"),  # type: ignore[arg-type]
        (lambda: verify(p384, "ES512", bytes(64), bytes(132)), "ES512 needs an EC P-521 key; this key is on P-384"),
        (lambda: verify(oct_keys[128], "PS256", d32, bytes(256)), "PS256 needs an RSA key; this key is oct"),
        (lambda: sign_data(p256, "ES256", "text"), "data must be bytes, not str"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            call()


def test_rsa_signature_wrong_length_is_false(rsa2048: KeyMaterial) -> None:
    digest = digest_for("RS256")
    signature = sign(rsa2048, "RS256", digest)
    for bad in (b"", signature[:-1], signature + b"\x00", bytes(256)):
        assert verify(rsa2048, "RS256", digest, bad) is False


def test_errors_never_contain_key_material(rsa2048: KeyMaterial, oct_keys: dict[int, KeyMaterial]) -> None:
    secrets = [v for k, v in rsa2048.private_jwk().items() if k in ("d", "p", "q")]
    secrets.append(oct_keys[256].private_jwk()["k"])
    secrets.append(secret_of(oct_keys[256]).hex())
    calls: list[Any] = [
        lambda: decrypt(rsa2048, "RSA-OAEP", bytes(256)),
        lambda: decrypt(oct_keys[256], "A256GCM", b"x", iv=bytes(12), tag=bytes(16)),
        lambda: encrypt(oct_keys[256], "A128GCM", b"x"),
        lambda: unwrap_key(oct_keys[256], "A256KW", bytes(40)),
    ]
    for call in calls:
        with pytest.raises((IntegrityError, InvalidParameterError)) as info:
            call()
        text = str(info.value) + repr(info.value)
        assert not any(secret in text for secret in secrets)
        assert info.value.__cause__ is None


def test_public_key_material_is_enough_for_public_operations(rsa2048: KeyMaterial) -> None:
    public: PublicKeyMaterial = public_from_jwk(dict(rsa2048.public_jwk(), kty="RSA-HSM"))
    digest = digest_for("PS384")
    assert verify(public, "PS384", digest, sign(rsa2048, "PS384", digest))
    assert unwrap_key(rsa2048, "RSA-OAEP-256", wrap_key(public, "RSA-OAEP-256", bytes(32))) == bytes(32)


def test_algorithm_members_of_either_enum_are_accepted(rsa2048: KeyMaterial) -> None:
    wrapped = wrap_key(rsa2048, EncryptionAlgorithm.rsa_oaep, bytes(32))
    assert unwrap_key(rsa2048, KeyWrapAlgorithm.rsa_oaep, wrapped) == bytes(32)
    out = encrypt(rsa2048, KeyWrapAlgorithm.rsa_oaep_256, b"x")
    assert decrypt(rsa2048, EncryptionAlgorithm.rsa_oaep_256, out.ciphertext) == b"x"


def test_encrypt_output_is_frozen(oct_keys: dict[int, KeyMaterial]) -> None:
    out = encrypt(oct_keys[128], "A128GCM", b"x")
    with pytest.raises(AttributeError):
        out.iv = bytes(12)  # type: ignore[misc]
