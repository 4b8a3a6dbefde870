"""Every algorithm through ``vault.keys.get_cryptography_client``, and interop with
``cryptography`` both ways using only what ``get_key`` returns (the public JWK).

The keys live in one vault per module (``crypto_vault``): RSA 2048/3072/4096, EC on all
four curves, oct 128/192/256 (see ``vaultkeyhelpers.KEY_SPECS``).
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asympadding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from vaultkeyhelpers import (
    EC_KEYS,
    OCT_KEYS,
    PRIVATE_MEMBERS,
    RSA_ENCRYPTION,
    RSA_KEYS,
    RSA_SIGNATURES,
    RSA_WRAP,
    oct_algorithms,
    private_jwk,
)

from vaultcore import (
    EncryptionAlgorithm,
    IntegrityError,
    JsonWebKey,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
    Vault,
)

HASHES: dict[str, hashes.HashAlgorithm] = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1(), "P-256K": ec.SECP256K1()}
MESSAGE = b"the quick brown fox jumps over the lazy dog"


def _hash_of(alg: str) -> hashes.HashAlgorithm:
    return HASHES["256" if alg == "ES256K" else alg[-3:]]


def _digest(alg: str, data: bytes = MESSAGE) -> bytes:
    return hashlib.new(_hash_of(alg).name, data).digest()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_key(jwk: JsonWebKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """Rebuild the public key from the JWK's JSON form with ``cryptography`` alone."""
    doc = jwk.to_dict()
    assert not set(PRIVATE_MEMBERS) & set(doc)
    if doc["kty"] == "RSA":
        n, e = (int.from_bytes(_unb64u(doc[m]), "big") for m in ("n", "e"))
        return rsa.RSAPublicNumbers(e, n).public_key()
    x, y = (int.from_bytes(_unb64u(doc[m]), "big") for m in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, CURVES[doc["crv"]]).public_key()


def _rsa_padding(alg: str, h: hashes.HashAlgorithm) -> asympadding.AsymmetricPadding:
    if alg.startswith("PS"):
        return asympadding.PSS(asympadding.MGF1(h), salt_length=h.digest_size)
    return asympadding.PKCS1v15()


def _rsa_cipher_padding(alg: str) -> asympadding.AsymmetricPadding:
    if alg == "RSA1_5":
        return asympadding.PKCS1v15()
    h = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()
    return asympadding.OAEP(asympadding.MGF1(h), h, None)


def _versioned_kid(vault: Vault, name: str) -> str:
    kid = vault.keys.get_key(name).id
    assert kid.rsplit("/", 1)[1] == vault.keys.get_key(name).properties.version
    return kid


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RSA_KEYS)
@pytest.mark.parametrize("alg", RSA_ENCRYPTION)
def test_rsa_encrypt_decrypt(crypto_vault: Vault, name: str, alg: EncryptionAlgorithm) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    enc = client.encrypt(alg, b"attack at dawn")
    assert (enc.key_id, enc.algorithm) == (kid, alg)
    assert enc.iv is None and enc.authentication_tag is None
    assert len(enc.ciphertext) == int(name.split("-")[1]) // 8
    dec = client.decrypt(alg, enc.ciphertext)
    assert (dec.key_id, dec.algorithm, dec.plaintext) == (kid, alg, b"attack at dawn")


@pytest.mark.parametrize("name", RSA_KEYS)
@pytest.mark.parametrize("alg", RSA_WRAP)
def test_rsa_wrap_unwrap(crypto_vault: Vault, name: str, alg: KeyWrapAlgorithm) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    cek = os.urandom(32)
    wrapped = client.wrap_key(alg, cek)
    assert (wrapped.key_id, wrapped.algorithm) == (kid, alg)
    unwrapped = client.unwrap_key(alg, wrapped.encrypted_key)
    assert (unwrapped.key_id, unwrapped.algorithm, unwrapped.key) == (kid, alg, cek)


@pytest.mark.parametrize("name", RSA_KEYS)
@pytest.mark.parametrize("alg", RSA_SIGNATURES)
def test_rsa_sign_verify(crypto_vault: Vault, name: str, alg: SignatureAlgorithm) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    digest = _digest(alg)
    signed = client.sign(alg, digest)
    assert (signed.key_id, signed.algorithm) == (kid, alg)
    assert len(signed.signature) == int(name.split("-")[1]) // 8
    verified = client.verify(alg, digest, signed.signature)
    assert (verified.key_id, verified.algorithm, verified.is_valid) == (kid, alg, True)
    assert not client.verify(alg, _digest(alg, b"other"), signed.signature).is_valid
    # sign_data hashes first: its signature verifies against the digest and vice versa
    data_sig = client.sign_data(alg, MESSAGE)
    assert (data_sig.key_id, data_sig.algorithm) == (kid, alg)
    assert client.verify(alg, digest, data_sig.signature).is_valid
    assert client.verify_data(alg, MESSAGE, signed.signature).is_valid
    assert not client.verify_data(alg, MESSAGE + b"!", data_sig.signature).is_valid


@pytest.mark.parametrize(("name", "alg"), EC_KEYS.items())
def test_ec_sign_verify(crypto_vault: Vault, name: str, alg: str) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    digest = _digest(alg)
    signed = client.sign(alg, digest)
    assert (signed.key_id, signed.algorithm) == (kid, SignatureAlgorithm(alg))
    width = {"ES256": 32, "ES256K": 32, "ES384": 48, "ES512": 66}[alg]
    assert len(signed.signature) == 2 * width  # raw r || s (JWS), not DER
    verified = client.verify(alg, digest, signed.signature)
    assert (verified.key_id, verified.algorithm, verified.is_valid) == (kid, SignatureAlgorithm(alg), True)
    assert not client.verify(alg, _digest(alg, b"other"), signed.signature).is_valid
    data_sig = client.sign_data(alg, MESSAGE)
    assert client.verify_data(alg, MESSAGE, data_sig.signature).is_valid
    assert client.verify(alg, digest, data_sig.signature).is_valid
    assert not client.verify_data(alg, MESSAGE, bytes(len(data_sig.signature))).is_valid


@pytest.mark.parametrize(("name", "bits"), OCT_KEYS.items())
def test_oct_gcm(crypto_vault: Vault, name: str, bits: int) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    alg = oct_algorithms(bits)["gcm"]
    for aad in (None, b"header"):
        enc = client.encrypt(alg, b"attack at dawn", additional_authenticated_data=aad)
        assert (enc.key_id, enc.algorithm) == (kid, EncryptionAlgorithm(alg))
        assert enc.iv is not None and len(enc.iv) == 12
        assert enc.authentication_tag is not None and len(enc.authentication_tag) == 16
        assert enc.additional_authenticated_data == aad
        dec = client.decrypt(
            alg,
            enc.ciphertext,
            iv=enc.iv,
            authentication_tag=enc.authentication_tag,
            additional_authenticated_data=aad,
        )
        assert (dec.key_id, dec.algorithm, dec.plaintext) == (kid, EncryptionAlgorithm(alg), b"attack at dawn")
        with pytest.raises(IntegrityError):
            client.decrypt(
                alg,
                enc.ciphertext,
                iv=enc.iv,
                authentication_tag=bytes(16),
                additional_authenticated_data=aad,
            )
    # the vault chooses a fresh IV for every call
    assert client.encrypt(alg, b"x").iv != client.encrypt(alg, b"x").iv


@pytest.mark.parametrize(("name", "bits"), OCT_KEYS.items())
@pytest.mark.parametrize("mode", ["cbc", "cbcpad"])
def test_oct_cbc(crypto_vault: Vault, name: str, bits: int, mode: str) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    alg = oct_algorithms(bits)[mode]
    iv = os.urandom(16)
    plaintext = os.urandom(48) if mode == "cbc" else b"not a whole block"
    enc = client.encrypt(alg, plaintext, iv=iv)
    assert (enc.key_id, enc.algorithm, enc.iv) == (kid, EncryptionAlgorithm(alg), iv)
    assert len(enc.ciphertext) == (48 if mode == "cbc" else 32)
    dec = client.decrypt(alg, enc.ciphertext, iv=iv)
    assert (dec.key_id, dec.algorithm, dec.plaintext) == (kid, EncryptionAlgorithm(alg), plaintext)


@pytest.mark.parametrize(("name", "bits"), OCT_KEYS.items())
def test_oct_key_wrap(crypto_vault: Vault, name: str, bits: int) -> None:
    client = crypto_vault.keys.get_cryptography_client(name)
    kid = _versioned_kid(crypto_vault, name)
    alg = oct_algorithms(bits)["kw"]
    for size in (16, 24, 32, 64):
        cek = os.urandom(size)
        wrapped = client.wrap_key(alg, cek)
        assert (wrapped.key_id, wrapped.algorithm) == (kid, KeyWrapAlgorithm(alg))
        assert len(wrapped.encrypted_key) == size + 8
        unwrapped = client.unwrap_key(alg, wrapped.encrypted_key)
        assert (unwrapped.key_id, unwrapped.algorithm, unwrapped.key) == (kid, KeyWrapAlgorithm(alg), cek)
    with pytest.raises(IntegrityError):
        client.unwrap_key(alg, bytes(40))


def test_results_of_a_pinned_version_name_that_version(crypto_vault: Vault) -> None:
    version = crypto_vault.keys.get_key("ec-p-256").properties.version
    client = crypto_vault.keys.get_cryptography_client("ec-p-256", version)
    assert client.key_id.endswith(f"/keys/ec-p-256/{version}")
    assert client.sign("ES256", _digest("ES256")).key_id == client.key_id


# -- interop with cryptography, from the public JWK only ------------------------------------


@pytest.mark.parametrize("name", RSA_KEYS)
def test_cryptography_verifies_our_rsa_signatures(crypto_vault: Vault, name: str) -> None:
    public = _public_key(crypto_vault.keys.get_key(name).key)
    assert isinstance(public, rsa.RSAPublicKey)
    client = crypto_vault.keys.get_cryptography_client(name)
    for alg in RSA_SIGNATURES:
        h = _hash_of(alg)
        signature = client.sign(alg, _digest(alg)).signature
        public.verify(signature, MESSAGE, _rsa_padding(alg, h), h)
        public.verify(client.sign_data(alg, MESSAGE).signature, MESSAGE, _rsa_padding(alg, h), h)
        with pytest.raises(InvalidSignature):
            public.verify(signature, MESSAGE + b"!", _rsa_padding(alg, h), h)


@pytest.mark.parametrize(("name", "alg"), EC_KEYS.items())
def test_cryptography_verifies_our_ec_signatures(crypto_vault: Vault, name: str, alg: str) -> None:
    public = _public_key(crypto_vault.keys.get_key(name).key)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    client = crypto_vault.keys.get_cryptography_client(name)
    h = _hash_of(alg)
    for raw in (client.sign(alg, _digest(alg)).signature, client.sign_data(alg, MESSAGE).signature):
        half = len(raw) // 2
        der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        public.verify(der, MESSAGE, ec.ECDSA(h))
        with pytest.raises(InvalidSignature):
            public.verify(der, MESSAGE + b"!", ec.ECDSA(h))


@pytest.mark.parametrize("name", RSA_KEYS)
def test_we_decrypt_and_unwrap_what_cryptography_encrypted(crypto_vault: Vault, name: str) -> None:
    public = _public_key(crypto_vault.keys.get_key(name).key)
    assert isinstance(public, rsa.RSAPublicKey)
    client = crypto_vault.keys.get_cryptography_client(name)
    for alg in RSA_ENCRYPTION:
        ciphertext = public.encrypt(b"from cryptography", _rsa_cipher_padding(alg))
        assert client.decrypt(alg, ciphertext).plaintext == b"from cryptography"
    for wrap_alg in RSA_WRAP:
        cek = os.urandom(32)
        assert client.unwrap_key(wrap_alg, public.encrypt(cek, _rsa_cipher_padding(wrap_alg))).key == cek


@pytest.mark.parametrize("name", RSA_KEYS)
def test_public_jwk_describes_the_vault_key(crypto_vault: Vault, name: str) -> None:
    jwk = crypto_vault.keys.get_key(name).key
    public = _public_key(jwk)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == int(name.split("-")[1])
    assert public.public_numbers().e == 65537
    assert jwk.kid == _versioned_kid(crypto_vault, name)
    assert jwk.key_ops == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]


def test_we_verify_signatures_cryptography_made_with_an_imported_key(vault: Vault) -> None:
    rsa_private = rsa.generate_private_key(65537, 2048)
    ec_private = ec.generate_private_key(ec.SECP384R1())
    for name, private in (("imported-rsa", rsa_private), ("imported-ec", ec_private)):
        vault.keys.import_key(name, private_jwk(private))
    client = vault.keys.get_cryptography_client("imported-rsa")
    sha = hashes.SHA256()
    for alg in ("PS256", "RS256"):
        signature = rsa_private.sign(MESSAGE, _rsa_padding(alg, sha), sha)
        assert client.verify_data(alg, MESSAGE, signature).is_valid
        assert client.verify(alg, _digest(alg), signature).is_valid
    r, s = decode_dss_signature(ec_private.sign(MESSAGE, ec.ECDSA(hashes.SHA384())))
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    ec_client = vault.keys.get_cryptography_client("imported-ec")
    assert ec_client.verify_data("ES384", MESSAGE, raw).is_valid
    # and cryptography's own public key agrees with the JWK the vault returns
    rebuilt = _public_key(vault.keys.get_key("imported-ec").key)
    assert rebuilt.public_numbers() == ec_private.public_key().public_numbers()


def test_oct_interop_with_an_imported_aes_key(vault: Vault) -> None:
    secret = os.urandom(32)
    vault.keys.import_key("imported-aes", {"kty": "oct", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()})
    client = vault.keys.get_cryptography_client("imported-aes")
    # their GCM -> our decrypt, our GCM -> their decrypt
    nonce = os.urandom(12)
    sealed = AESGCM(secret).encrypt(nonce, b"theirs", b"aad")
    plain = client.decrypt(
        "A256GCM", sealed[:-16], iv=nonce, authentication_tag=sealed[-16:], additional_authenticated_data=b"aad"
    )
    assert plain.plaintext == b"theirs"
    ours = client.encrypt("A256GCM", b"ours", additional_authenticated_data=b"aad")
    assert ours.iv is not None and ours.authentication_tag is not None
    assert AESGCM(secret).decrypt(ours.iv, ours.ciphertext + ours.authentication_tag, b"aad") == b"ours"
    # CBCPAD both ways
    iv = os.urandom(16)
    padder = sympadding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    theirs = encryptor.update(padder.update(b"cbc theirs") + padder.finalize()) + encryptor.finalize()
    assert client.decrypt("A256CBCPAD", theirs, iv=iv).plaintext == b"cbc theirs"
    # key wrap both ways
    cek = os.urandom(32)
    assert client.unwrap_key("A256KW", aes_key_wrap(secret, cek)).key == cek
    assert aes_key_unwrap(secret, client.wrap_key("A256KW", cek).encrypted_key) == cek


def test_cryptography_prehashed_verify_accepts_our_digest_signature(crypto_vault: Vault) -> None:
    """``sign`` takes a digest, like cryptography's ``Prehashed`` signing."""
    public = _public_key(crypto_vault.keys.get_key("rsa-2048").key)
    assert isinstance(public, rsa.RSAPublicKey)
    digest = _digest("RS512")
    signature = crypto_vault.keys.get_cryptography_client("rsa-2048").sign("RS512", digest).signature
    public.verify(signature, digest, asympadding.PKCS1v15(), Prehashed(hashes.SHA512()))
