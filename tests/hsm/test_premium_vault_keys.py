"""HSM-backed keys through ``vault.keys`` in a premium vault and a managed HSM.

Signatures are verified and ciphertexts made with ``cryptography`` from the exported JWK
only; the token itself is inspected with the PKCS#11 layer (``HsmToken``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from hsmhelpers import SoftHsmEnv, hsm_ref, public_key_from_jwk, raw_to_der

from vaultcore import (
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    NotFoundError,
    RawKeyCredential,
    UnsupportedError,
    Vault,
)
from vaultcore.hsm._pkcs11 import HsmToken

pytestmark = pytest.mark.hsm

_HASHES: dict[str, hashes.HashAlgorithm] = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "P-256K": "ES256K"}
_OAEP_SHA1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)


@pytest.fixture(scope="module")
def premium(softhsm: SoftHsmEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """One premium vault for the module, with an RSA-HSM key (key generation takes ~0.5 s)."""
    vault = Vault.create(tmp_path_factory.mktemp("premium") / "v", softhsm.credential())
    vault.keys.create_key("rsa", "RSA-HSM", size=2048)
    try:
        yield vault
    finally:
        vault.close()


@pytest.fixture(scope="module")
def token(softhsm: SoftHsmEnv) -> HsmToken:
    return HsmToken(softhsm.config())


def _digest(alg: str, data: bytes) -> bytes:
    h = hashes.Hash(_HASHES[alg[2:5]])
    h.update(data)
    return h.finalize()


# --------------------------------------------------------------------------- create / get


def test_rsa_hsm_key_lives_in_the_token_and_exports_only_public_members(premium: Vault, token: HsmToken) -> None:
    key = premium.keys.get_key("rsa")
    assert key.key.kty == "RSA-HSM" and key.key_type == "RSA-HSM"
    assert key.key.n is not None and len(key.key.n) == 256 and key.key.e == b"\x01\x00\x01"
    assert (key.key.d, key.key.p, key.key.q, key.key.dp, key.key.dq, key.key.qi) == (None,) * 6
    assert key.key.key_ops == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    assert key.properties.hsm_platform == "0" and key.properties.exportable is False
    ref = hsm_ref(premium, "rsa")
    assert (ref.kty, ref.size) == ("RSA-HSM", 2048)
    assert token.key_protection(ref) == {
        "sensitive": True,
        "extractable": False,
        "always_sensitive": True,
        "never_extractable": True,
        "value_readable": False,
    }
    public = token.public_key(ref)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers().n == int.from_bytes(key.key.n, "big")
    with pytest.raises(UnsupportedError, match="never leaves the HSM"):
        premium.keys.material(premium.keys._resolve("rsa", None))
    with pytest.raises(InvalidParameterError, match="never exportable"):
        premium.keys.create_key("rsa-export", "RSA-HSM", exportable=True)


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521", "P-256K"])
def test_ec_hsm_sign_on_every_curve_verifies_with_cryptography(premium: Vault, token: HsmToken, curve: str) -> None:
    name = f"ec-{curve.lower()}"
    key = premium.keys.create_ec_key(name, curve=curve, hardware_protected=True)
    assert (key.key.kty, key.key.crv) == ("EC-HSM", curve)
    assert key.key.key_ops == ["sign", "verify"]
    assert token.key_protection(hsm_ref(premium, name))["value_readable"] is False
    public = public_key_from_jwk(premium.keys.get_key(name).key)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    alg = _EC_ALGS[curve]
    client = premium.keys.get_cryptography_client(name)
    data = b"message signed on " + curve.encode()
    digest = _digest(alg, data)
    for signature in (client.sign(alg, digest).signature, client.sign_data(alg, data).signature):
        public.verify(raw_to_der(signature), digest, ec.ECDSA(utils.Prehashed(_HASHES[alg[2:5]])))
        assert client.verify(alg, digest, signature).is_valid
        assert client.verify_data(alg, data, signature).is_valid
        assert not client.verify(alg, _digest(alg, b"other"), signature).is_valid
    wrong = "ES384" if alg != "ES384" else "ES256"
    with pytest.raises(InvalidParameterError):
        client.sign(wrong, _digest(wrong, data))


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_hsm_sign_verifies_with_cryptography(premium: Vault, alg: str) -> None:
    public = public_key_from_jwk(premium.keys.get_key("rsa").key)
    assert isinstance(public, rsa.RSAPublicKey)
    client = premium.keys.get_cryptography_client("rsa")
    data = b"release-1.2.3.tar.gz"
    digest = _digest(alg, data)
    h = _HASHES[alg[2:]]
    pad = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(padding.MGF1(h), h.digest_size)
    for signature in (client.sign(alg, digest).signature, client.sign_data(alg, data).signature):
        public.verify(signature, digest, pad, utils.Prehashed(h))
        assert client.verify(alg, digest, signature).is_valid
        assert not client.verify(alg, digest, bytes(len(signature))).is_valid


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP"])
def test_rsa_hsm_decrypts_and_unwraps_what_cryptography_encrypted(premium: Vault, alg: str) -> None:
    public = public_key_from_jwk(premium.keys.get_key("rsa").key)
    assert isinstance(public, rsa.RSAPublicKey)
    pad = padding.PKCS1v15() if alg == "RSA1_5" else _OAEP_SHA1
    client = premium.keys.get_cryptography_client("rsa")
    message, cek = b"attack at dawn", os.urandom(32)
    assert client.decrypt(alg, public.encrypt(message, pad)).plaintext == message
    assert client.unwrap_key(alg, public.encrypt(cek, pad)).key == cek
    # and the vault's own public-key operations round-trip through the token
    assert client.decrypt(alg, client.encrypt(alg, message).ciphertext).plaintext == message
    assert client.unwrap_key(alg, client.wrap_key(alg, cek).encrypted_key).key == cek
    if alg == "RSA-OAEP":  # a damaged ciphertext is an IntegrityError, never wrong data
        bad = bytearray(public.encrypt(message, pad))
        bad[5] ^= 1
        with pytest.raises(IntegrityError):
            client.decrypt(alg, bytes(bad))


def test_rsa_oaep_256_is_refused_not_emulated(premium: Vault) -> None:
    public = public_key_from_jwk(premium.keys.get_key("rsa").key)
    assert isinstance(public, rsa.RSAPublicKey)
    oaep256 = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    ciphertext = public.encrypt(b"x", oaep256)
    client = premium.keys.get_cryptography_client("rsa")
    message = "RSA-OAEP-256 is not supported by this HSM (SoftHSM 2.6.1 supports OAEP with SHA-1 only)"
    with pytest.raises(UnsupportedError) as info:
        client.decrypt("RSA-OAEP-256", ciphertext)
    assert str(info.value) == message
    with pytest.raises(UnsupportedError, match="RSA-OAEP-256 is not supported by this HSM"):
        client.unwrap_key("RSA-OAEP-256", ciphertext)
    # Encrypting with the public key alone would make data that this key can never decrypt.
    with pytest.raises(UnsupportedError, match="RSA-OAEP-256 is not supported by this HSM"):
        client.encrypt("RSA-OAEP-256", b"x")
    with pytest.raises(UnsupportedError, match="RSA-OAEP-256 is not supported by this HSM"):
        client.wrap_key("RSA-OAEP-256", os.urandom(32))


@pytest.mark.parametrize("size", [128, 192, 256])
def test_oct_hsm_gcm_and_key_wrap_round_trip(premium: Vault, token: HsmToken, size: int) -> None:
    name = f"oct-{size}"
    key = premium.keys.create_oct_key(name, size=size, hardware_protected=True)
    assert key.key.kty == "oct-HSM" and key.key.k is None
    assert key.key.key_ops == ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
    assert token.key_protection(hsm_ref(premium, name))["value_readable"] is False
    client = premium.keys.get_cryptography_client(name)
    gcm, kw = f"A{size}GCM", f"A{size}KW"
    aad = b"header"
    out = client.encrypt(gcm, b"hello, token", additional_authenticated_data=aad)
    assert out.iv is not None and len(out.iv) == 12 and out.authentication_tag is not None
    assert b"hello" not in out.ciphertext
    plain = client.decrypt(
        gcm, out.ciphertext, iv=out.iv, authentication_tag=out.authentication_tag, additional_authenticated_data=aad
    )
    assert plain.plaintext == b"hello, token"
    for bad_aad, bad_tag in ((b"other", out.authentication_tag), (aad, bytes(16))):
        with pytest.raises(IntegrityError):
            client.decrypt(
                gcm, out.ciphertext, iv=out.iv, authentication_tag=bad_tag, additional_authenticated_data=bad_aad
            )
    cek = os.urandom(32)
    wrapped = client.wrap_key(kw, cek).encrypted_key
    assert len(wrapped) == 40
    assert client.unwrap_key(kw, wrapped).key == cek
    with pytest.raises(IntegrityError):
        client.unwrap_key(kw, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    other = 256 if size != 256 else 128
    with pytest.raises(InvalidParameterError):
        client.encrypt(f"A{other}GCM", b"x")


# --------------------------------------------------------------------------- rotate / delete / purge


def test_rotate_makes_a_new_token_key_and_purge_destroys_every_version(premium: Vault, token: HsmToken) -> None:
    first = premium.keys.create_key("rotating", "EC-HSM", curve="P-256")
    first_ref = hsm_ref(premium, "rotating")
    second = premium.keys.rotate_key("rotating")
    second_ref = hsm_ref(premium, "rotating")
    assert second.properties.version != first.properties.version
    assert second_ref.key_id != first_ref.key_id
    assert (second.key.kty, second.key.crv) == ("EC-HSM", "P-256")
    assert (second.key.x, second.key.y) != (first.key.x, first.key.y)
    assert token.key_protection(first_ref)["value_readable"] is False  # old versions stay usable
    assert token.key_protection(second_ref)["value_readable"] is False
    old = premium.keys.get_cryptography_client("rotating", first.properties.version)
    digest = hashlib.sha256(b"old").digest()
    public = public_key_from_jwk(first.key)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(raw_to_der(old.sign("ES256", digest).signature), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    premium.keys.delete_key("rotating")  # soft delete: the token keeps the keys (recoverable)
    for ref in (first_ref, second_ref):
        assert token.public_key(ref) is not None
    premium.keys.recover_deleted_key("rotating")
    assert premium.keys.get_cryptography_client("rotating").sign("ES256", digest).signature

    premium.keys.delete_key("rotating")
    premium.keys.purge_deleted_key("rotating")  # crypto-erase: the token objects are destroyed
    for ref in (first_ref, second_ref):
        with pytest.raises(NotFoundError):
            token.public_key(ref)
        with pytest.raises(NotFoundError):
            token.key_protection(ref)
    with pytest.raises(NotFoundError):
        premium.keys.get_key("rotating")


def test_purge_of_oct_and_rsa_hsm_keys_destroys_their_objects(premium: Vault, token: HsmToken) -> None:
    premium.keys.create_key("short-lived", "oct-HSM", size=128)
    ref = hsm_ref(premium, "short-lived")
    premium.keys.delete_key("short-lived")
    premium.keys.purge_deleted_key("short-lived")
    with pytest.raises(NotFoundError):
        token.key_protection(ref)


# --------------------------------------------------------------------------- vault kinds


@pytest.mark.parametrize("kty", ["RSA-HSM", "EC-HSM", "oct-HSM"])
def test_a_standard_vault_refuses_hsm_keys_with_azures_wording(tmp_path: Path, kty: str) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(os.urandom(32))) as vault:
        with pytest.raises(InvalidParameterError) as info:
            vault.keys.create_key("k", kty)
        assert str(info.value).startswith("Hardware key operation not allowed on standard vault")
        assert kty in str(info.value)
        assert info.value.code == "BadParameter" or info.value.inner_code == "BadParameter"
        with pytest.raises(InvalidParameterError, match="Hardware key operation not allowed on standard vault"):
            vault.keys.create_rsa_key("k", hardware_protected=True)
        assert list(vault.keys.list_properties_of_keys()) == []


@pytest.fixture(scope="module")
def managed_hsm(softhsm: SoftHsmEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    vault = Vault.create(tmp_path_factory.mktemp("mhsm") / "m", softhsm.credential(), kind="managed_hsm")
    try:
        yield vault
    finally:
        vault.close()


def test_managed_hsm_refuses_secrets(managed_hsm: Vault) -> None:
    assert (managed_hsm.kind, managed_hsm.tier) == ("managed_hsm", "premium")
    assert ".managedhsm." in managed_hsm.vault_url
    for call in (
        lambda: managed_hsm.secrets.set_secret("s", "v"),
        lambda: managed_hsm.secrets.get_secret("s"),
    ):
        with pytest.raises(ForbiddenError, match="Secrets are not supported by a managed HSM"):
            call()


@pytest.mark.parametrize("kty", ["RSA", "EC", "oct"])
def test_managed_hsm_refuses_software_keys(managed_hsm: Vault, kty: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"managed HSM holds HSM-backed keys only; use kty '{kty}-HSM'"):
        managed_hsm.keys.create_key(f"soft-{kty.lower()}", kty)


def test_managed_hsm_holds_hsm_keys(managed_hsm: Vault) -> None:
    key = managed_hsm.keys.create_key("wrapping", "oct-HSM", size=256)
    assert key.key.kty == "oct-HSM" and key.id.startswith(managed_hsm.vault_url)
    client = managed_hsm.keys.get_cryptography_client("wrapping")
    cek = os.urandom(32)
    assert client.unwrap_key("A256KW", client.wrap_key("A256KW", cek).encrypted_key).key == cek


def test_managed_hsm_random_bytes_come_from_the_token(managed_hsm: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = HsmToken.random_bytes

    def spy(self: HsmToken, n: int) -> bytes:
        calls.append(n)
        return real(self, n)

    monkeypatch.setattr(HsmToken, "random_bytes", spy)
    values = {managed_hsm.keys.get_random_bytes(32) for _ in range(5)}
    assert len(values) == 5 and all(len(v) == 32 for v in values)
    assert calls == [32] * 5
    assert len(managed_hsm.keys.get_random_bytes(128)) == 128
    with pytest.raises(InvalidParameterError):
        managed_hsm.keys.get_random_bytes(129)


def test_managed_hsm_refuses_certificates(managed_hsm: Vault) -> None:
    from vaultcore import CertificatePolicy

    with pytest.raises(ForbiddenError, match="Certificates are not supported by a managed HSM"):
        managed_hsm.certificates.create_certificate("c", CertificatePolicy.get_default())


def test_managed_hsm_needs_a_pkcs11_credential(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="a managed HSM needs a PKCS#11 credential"):
        Vault.create(tmp_path / "m", RawKeyCredential(os.urandom(32)), kind="managed_hsm")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("size", [128, 256])
def test_managed_hsm_ckm_wraps_in_the_token_match_rfc3394_and_rfc5649(managed_hsm: Vault, size: int) -> None:
    managed_hsm.keys.create_key(f"ckm-{size}", "oct-HSM", size=size)
    client = managed_hsm.keys.get_cryptography_client(f"ckm-{size}")
    cek = os.urandom(32)
    plain = client.wrap_key("CKM_AES_KEY_WRAP", cek).encrypted_key
    assert client.unwrap_key("CKM_AES_KEY_WRAP", plain).key == cek
    for length in (1, 5, 8, 17, 21, 24, 33):  # the token's own unwrap checks RFC 5649's length field
        data = os.urandom(length)
        blob = client.wrap_key("CKM_AES_KEY_WRAP_PAD", data).encrypted_key
        assert len(blob) == 8 + max(8, -(-length // 8) * 8)
        assert client.unwrap_key("CKM_AES_KEY_WRAP_PAD", blob).key == data
    padded = client.wrap_key("CKM_AES_KEY_WRAP_PAD", os.urandom(21)).encrypted_key
    # RFC 5649, not PKCS#7 + RFC 3394: 8 bytes wrap to one 16-byte block (the latter gives 24),
    # and a padded blob fails RFC 3394's integrity check (its initial value differs).
    assert len(client.wrap_key("CKM_AES_KEY_WRAP_PAD", b"8 bytes!").encrypted_key) == 16
    with pytest.raises(IntegrityError):
        client.unwrap_key("CKM_AES_KEY_WRAP", padded)
