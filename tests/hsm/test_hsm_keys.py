"""HSM-backed keys (RSA-HSM, EC-HSM, oct-HSM): every algorithm, checked against cryptography."""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from vaultcore.exceptions import (
    ConflictError,
    IntegrityError,
    InvalidParameterError,
    NotFoundError,
    UnsupportedError,
)
from vaultcore.hsm._pkcs11 import HsmKeyRef, HsmToken

pytestmark = pytest.mark.hsm

_HASHES: dict[str, hashes.HashAlgorithm] = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def _new_id() -> bytes:
    return os.urandom(16)


@pytest.fixture(scope="module")
def rsa_ref(hsm_token: HsmToken) -> HsmKeyRef:
    return hsm_token.generate_hsm_key("RSA-HSM", key_id=_new_id(), size=2048)


@pytest.fixture(scope="module")
def ec_refs(hsm_token: HsmToken) -> dict[str, HsmKeyRef]:
    return {
        curve: hsm_token.generate_hsm_key("EC-HSM", key_id=_new_id(), curve=curve)
        for curve in ("P-256", "P-384", "P-521", "P-256K")
    }


@pytest.fixture(scope="module")
def oct_refs(hsm_token: HsmToken) -> dict[int, HsmKeyRef]:
    return {size: hsm_token.generate_hsm_key("oct-HSM", key_id=_new_id(), size=size) for size in (128, 192, 256)}


# --------------------------------------------------------------------------- RSA-HSM


def test_rsa_public_key_export(hsm_token: HsmToken, rsa_ref: HsmKeyRef) -> None:
    public = hsm_token.public_key(rsa_ref)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert public.public_numbers().e == 65537


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_sign_verifies_with_cryptography(hsm_token: HsmToken, rsa_ref: HsmKeyRef, alg: str) -> None:
    message = b"message for " + alg.encode()
    algorithm = _HASHES[alg[2:]]
    digest = hashlib.new(algorithm.name, message).digest()
    signature = hsm_token.sign(rsa_ref, alg, digest)
    public = hsm_token.public_key(rsa_ref)
    assert isinstance(public, rsa.RSAPublicKey)
    if alg.startswith("RS"):
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    else:
        pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
    public.verify(signature, message, pad, algorithm)
    with pytest.raises(InvalidParameterError):
        hsm_token.sign(rsa_ref, alg, digest[:-1])


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP"])
def test_rsa_decrypt_and_unwrap_cryptography_ciphertext(hsm_token: HsmToken, rsa_ref: HsmKeyRef, alg: str) -> None:
    public = hsm_token.public_key(rsa_ref)
    assert isinstance(public, rsa.RSAPublicKey)
    pad: padding.AsymmetricPadding
    if alg == "RSA1_5":
        pad = padding.PKCS1v15()
    else:
        pad = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    cek = os.urandom(32)
    ciphertext = public.encrypt(cek, pad)
    assert hsm_token.decrypt(rsa_ref, alg, ciphertext) == cek
    assert hsm_token.unwrap_key(rsa_ref, alg, ciphertext) == cek
    # encrypt/wrap run in the token with the public key object; round trip through decrypt
    assert hsm_token.decrypt(rsa_ref, alg, hsm_token.encrypt(rsa_ref, alg, b"hello").ciphertext) == b"hello"
    assert hsm_token.unwrap_key(rsa_ref, alg, hsm_token.wrap_key(rsa_ref, alg, cek)) == cek
    tampered = bytearray(ciphertext)
    tampered[-1] ^= 1
    with pytest.raises(IntegrityError):
        hsm_token.decrypt(rsa_ref, alg, bytes(tampered))
    with pytest.raises(IntegrityError):
        hsm_token.decrypt(rsa_ref, alg, ciphertext[:100])


def test_rsa_oaep_256_is_refused_never_emulated(hsm_token: HsmToken, rsa_ref: HsmKeyRef) -> None:
    expected = "RSA-OAEP-256 is not supported by this HSM (SoftHSM 2.6.1 supports OAEP with SHA-1 only)"
    public = hsm_token.public_key(rsa_ref)
    assert isinstance(public, rsa.RSAPublicKey)
    ciphertext = public.encrypt(b"k" * 32, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    for call in (
        lambda: hsm_token.decrypt(rsa_ref, "RSA-OAEP-256", ciphertext),
        lambda: hsm_token.unwrap_key(rsa_ref, "RSA-OAEP-256", ciphertext),
        lambda: hsm_token.encrypt(rsa_ref, "RSA-OAEP-256", b"x"),
        lambda: hsm_token.wrap_key(rsa_ref, "RSA-OAEP-256", b"k" * 32),
    ):
        with pytest.raises(UnsupportedError) as info:
            call()
        assert str(info.value) == expected


def test_rsa_private_key_is_not_extractable(hsm_token: HsmToken, rsa_ref: HsmKeyRef) -> None:
    protection = hsm_token.key_protection(rsa_ref)
    assert protection["sensitive"] and protection["never_extractable"]
    assert not protection["extractable"] and not protection["value_readable"]


# --------------------------------------------------------------------------- EC-HSM


@pytest.mark.parametrize(
    ("alg", "curve", "curve_cls"),
    [
        ("ES256", "P-256", ec.SECP256R1),
        ("ES384", "P-384", ec.SECP384R1),
        ("ES512", "P-521", ec.SECP521R1),
        ("ES256K", "P-256K", ec.SECP256K1),
    ],
)
def test_ecdsa_sign_verifies_with_cryptography(
    hsm_token: HsmToken, ec_refs: dict[str, HsmKeyRef], alg: str, curve: str, curve_cls: type[ec.EllipticCurve]
) -> None:
    ref = ec_refs[curve]
    public = hsm_token.public_key(ref)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, curve_cls)
    algorithm = _HASHES[alg[2:5]]
    digest = hashlib.new(algorithm.name, b"ecdsa message").digest()
    signature = hsm_token.sign(ref, alg, digest)
    half = (public.curve.key_size + 7) // 8
    assert len(signature) == 2 * half  # JWS raw r || s
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    public.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(algorithm)))
    assert not hsm_token.key_protection(ref)["value_readable"]


def test_ecdsa_algorithm_must_match_curve(hsm_token: HsmToken, ec_refs: dict[str, HsmKeyRef]) -> None:
    with pytest.raises(InvalidParameterError, match="P-384"):
        hsm_token.sign(ec_refs["P-256"], "ES384", bytes(48))
    with pytest.raises(InvalidParameterError):
        hsm_token.sign(ec_refs["P-256"], "RS256", bytes(32))
    with pytest.raises(InvalidParameterError):
        hsm_token.decrypt(ec_refs["P-256"], "RSA-OAEP", bytes(32))


# --------------------------------------------------------------------------- oct-HSM


@pytest.mark.parametrize("size", [128, 192, 256])
def test_aes_gcm_round_trip_and_tamper(hsm_token: HsmToken, oct_refs: dict[int, HsmKeyRef], size: int) -> None:
    ref, alg = oct_refs[size], f"A{size}GCM"
    out = hsm_token.encrypt(ref, alg, b"attack at dawn", aad=b"header")
    assert out.iv is not None and out.tag is not None
    assert len(out.iv) == 12 and len(out.tag) == 16 and len(out.ciphertext) == 14
    assert hsm_token.decrypt(ref, alg, out.ciphertext, iv=out.iv, tag=out.tag, aad=b"header") == b"attack at dawn"
    bad_tag = bytes([out.tag[0] ^ 1]) + out.tag[1:]
    for kwargs in (
        {"iv": out.iv, "tag": bad_tag, "aad": b"header"},
        {"iv": out.iv, "tag": out.tag, "aad": b"other"},
        {"iv": bytes(12), "tag": out.tag, "aad": b"header"},
        {"iv": out.iv[:8], "tag": out.tag, "aad": b"header"},
    ):
        with pytest.raises(IntegrityError):
            hsm_token.decrypt(ref, alg, out.ciphertext, **kwargs)
    wrong = "A256GCM" if size != 256 else "A128GCM"
    with pytest.raises(InvalidParameterError):
        hsm_token.encrypt(ref, wrong, b"x")


@pytest.mark.parametrize("size", [128, 192, 256])
def test_aes_key_wrap_matches_rfc3394(hsm_token: HsmToken, oct_refs: dict[int, HsmKeyRef], size: int) -> None:
    ref, alg = oct_refs[size], f"A{size}KW"
    for cek in (os.urandom(16), os.urandom(32), os.urandom(64)):
        wrapped = hsm_token.wrap_key(ref, alg, cek)
        assert len(wrapped) == len(cek) + 8
        assert hsm_token.unwrap_key(ref, alg, wrapped) == cek
        tampered = bytearray(wrapped)
        tampered[3] ^= 1
        with pytest.raises(IntegrityError):
            hsm_token.unwrap_key(ref, alg, bytes(tampered))
    for bad in (b"", b"x" * 8, b"x" * 20):
        with pytest.raises(InvalidParameterError):
            hsm_token.wrap_key(ref, alg, bad)
    with pytest.raises(IntegrityError):
        hsm_token.unwrap_key(ref, alg, b"y" * 20)


def test_oct_key_is_not_extractable_and_has_no_public_part(hsm_token: HsmToken, oct_refs: dict[int, HsmKeyRef]) -> None:
    assert not hsm_token.key_protection(oct_refs[256])["value_readable"]
    with pytest.raises(InvalidParameterError):
        hsm_token.public_key(oct_refs[256])
    with pytest.raises(InvalidParameterError):
        hsm_token.sign(oct_refs[256], "ES256", bytes(32))
    for alg in ("A256CBC", "A256CBCPAD"):
        with pytest.raises(UnsupportedError):
            hsm_token.encrypt(oct_refs[256], alg, b"x" * 16)


# --------------------------------------------------------------------------- lifecycle


def test_generate_validates_parameters(hsm_token: HsmToken) -> None:
    for kty, kwargs in (
        ("RSA-HSM", {"size": 1024}),
        ("EC-HSM", {"curve": "P-192"}),
        ("oct-HSM", {"size": 512}),
        ("RSA", {"size": 2048}),
        ("oct-HSM", {"curve": "P-256"}),
    ):
        with pytest.raises(InvalidParameterError):
            hsm_token.generate_hsm_key(kty, key_id=_new_id(), **kwargs)
    with pytest.raises(InvalidParameterError):
        hsm_token.generate_hsm_key("oct-HSM", key_id=b"")


def test_duplicate_key_id_conflicts_and_delete_removes_every_part(hsm_token: HsmToken) -> None:
    key_id = _new_id()
    ref = hsm_token.generate_hsm_key("EC-HSM", key_id=key_id, curve="P-256")
    with pytest.raises(ConflictError):
        hsm_token.generate_hsm_key("oct-HSM", key_id=key_id, size=256)
    hsm_token.sign(ref, "ES256", bytes(32))
    hsm_token.delete_hsm_key(ref)
    with pytest.raises(NotFoundError):
        hsm_token.sign(ref, "ES256", bytes(32))  # cached handle is stale: looked up again
    with pytest.raises(NotFoundError):
        hsm_token.public_key(ref)
    with pytest.raises(NotFoundError):
        hsm_token.delete_hsm_key(ref)


def test_backup_of_hsm_keys_is_refused_with_the_reason(hsm_token: HsmToken, rsa_ref: HsmKeyRef) -> None:
    with pytest.raises(UnsupportedError, match="CKA_TRUSTED"):
        hsm_token.export_wrapped(rsa_ref, "domain")
    with pytest.raises(UnsupportedError, match=re.escape("docs/hsm.md")):
        hsm_token.import_wrapped(b"blob", "domain", key_id=_new_id())
