"""Keys and cryptography through azure-keyvault-keys (KeyClient, CryptographyClient)."""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import (
    JsonWebKey,
    KeyClient,
    KeyCurveName,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyType,
)
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from serverhelpers import POLL, Server, unique


def _crypto(srv: Server, key: object) -> CryptographyClient:
    return CryptographyClient(key, srv.credential(), **srv.server.client_kwargs)  # type: ignore[arg-type]


def test_rsa_key_lifecycle_and_operations(srv: Server) -> None:
    name = unique("rsa")
    with srv.client(KeyClient) as client:
        key = client.create_rsa_key(name, size=2048, tags={"t": "1"})
        assert key.id.startswith(f"{srv.url}/keys/{name}/")
        assert key.key_type == KeyType.rsa and key.key.n and key.key.e
        assert key.key.d is None  # never private material on the wire
        assert key.properties.tags == {"t": "1"} and key.properties.exportable is False
        assert client.get_key(name).id == key.id
        assert client.get_key(name, key.properties.version).key.n == key.key.n

        with _crypto(srv, key) as crypto:
            # encrypt runs locally in the SDK with the public key; decrypt is remote
            encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"attack at dawn")
            assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, encrypted.ciphertext).plaintext == b"attack at dawn"
            wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, b"k" * 32)
            assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key).key == b"k" * 32
            digest = hashlib.sha256(b"message").digest()
            signed = crypto.sign(SignatureAlgorithm.ps256, digest)
            assert signed.key_id == key.id
            assert crypto.verify(SignatureAlgorithm.ps256, digest, signed.signature).is_valid
            other = hashlib.sha256(b"other").digest()
            assert not crypto.verify(SignatureAlgorithm.ps256, other, signed.signature).is_valid
        public = rsa.RSAPublicNumbers(int.from_bytes(key.key.e, "big"), int.from_bytes(key.key.n, "big")).public_key()
        public.verify(
            signed.signature,
            b"message",
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )

        updated = client.update_key_properties(name, key.properties.version, key_operations=["verify"], tags={})
        assert updated.key_operations == ["verify"]
        with _crypto(srv, client.get_key(name)) as crypto, pytest.raises(HttpResponseError) as forbidden:
            crypto.sign(SignatureAlgorithm.rs256, digest)
        assert forbidden.value.status_code == 403

        rotated = client.rotate_key(name)
        assert rotated.properties.version != key.properties.version and rotated.key.n != key.key.n
        assert len(list(client.list_properties_of_key_versions(name))) == 2

        backup = client.backup_key(name)
        deleted = client.begin_delete_key(name, **POLL).result()
        assert deleted.recovery_id == f"{srv.url}/deletedkeys/{name}" and deleted.key.n == rotated.key.n
        assert name in {k.name for k in client.list_deleted_keys()}
        recovered = client.begin_recover_deleted_key(name, **POLL).result()
        assert recovered.id == rotated.id
        client.begin_delete_key(name, **POLL).wait()
        client.purge_deleted_key(name)
        with pytest.raises(ResourceNotFoundError):
            client.get_key(name)
        assert client.restore_key_backup(backup).name == name
        assert len(list(client.list_properties_of_key_versions(name))) == 2


def test_ec_signatures_are_raw_and_verifiable(srv: Server) -> None:
    name = unique("ec")
    with srv.client(KeyClient) as client:
        key = client.create_ec_key(name, curve=KeyCurveName.p_256)
        assert key.key.crv == "P-256" and len(key.key.x) == 32 and len(key.key.y) == 32
        digest = hashlib.sha256(b"ec message").digest()
        with _crypto(srv, key) as crypto:
            signature = crypto.sign(SignatureAlgorithm.es256, digest).signature
            assert len(signature) == 64  # r || s as in JWS, not DER
            assert crypto.verify(SignatureAlgorithm.es256, digest, signature).is_valid
    point = ec.EllipticCurvePublicNumbers(
        int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), ec.SECP256R1()
    )
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    point.public_key().verify(der, b"ec message", ec.ECDSA(hashes.SHA256()))


def test_symmetric_key_operations_run_on_the_server(srv: Server) -> None:
    name = unique("oct")
    with srv.client(KeyClient) as client:
        key = client.create_oct_key(name, size=256)
        assert key.key.k is None
        with _crypto(srv, key) as crypto:
            result = crypto.encrypt(EncryptionAlgorithm.a256_gcm, b"secret data", additional_authenticated_data=b"ctx")
            assert result.iv and result.tag and result.ciphertext != b"secret data"
            plain = crypto.decrypt(
                EncryptionAlgorithm.a256_gcm,
                result.ciphertext,
                iv=result.iv,
                authentication_tag=result.tag,
                additional_authenticated_data=b"ctx",
            )
            assert plain.plaintext == b"secret data"
            with pytest.raises(HttpResponseError) as bad_tag:
                crypto.decrypt(
                    EncryptionAlgorithm.a256_gcm,
                    result.ciphertext,
                    iv=result.iv,
                    authentication_tag=bytes(16),
                    additional_authenticated_data=b"ctx",
                )
            assert bad_tag.value.status_code == 400
            wrapped = crypto.wrap_key(KeyWrapAlgorithm.aes_256, b"w" * 32)
            assert crypto.unwrap_key(KeyWrapAlgorithm.aes_256, wrapped.encrypted_key).key == b"w" * 32


def test_import_rotation_policy_and_random(srv: Server) -> None:
    name = unique("imp")
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty="EC",
        crv="P-256",
        x=numbers.public_numbers.x.to_bytes(32, "big"),
        y=numbers.public_numbers.y.to_bytes(32, "big"),
        d=numbers.private_value.to_bytes(32, "big"),
        key_ops=["sign", "verify"],
    )
    with srv.client(KeyClient) as client:
        imported = client.import_key(name, jwk)
        assert imported.key.x == jwk.x and imported.key.d is None
        assert imported.key_operations == ["sign", "verify"]

        default = client.get_key_rotation_policy(name)
        assert [a.action for a in default.lifetime_actions] == [KeyRotationPolicyAction.notify]
        policy = client.update_key_rotation_policy(
            name,
            KeyRotationPolicy(),
            lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")],
            expires_in="P1Y",
        )
        assert policy.expires_in == "P1Y" and policy.id == f"{srv.url}/keys/{name}/rotationpolicy"
        again = client.get_key_rotation_policy(name)
        assert [(a.action, a.time_after_create) for a in again.lifetime_actions] == [
            (KeyRotationPolicyAction.rotate, "P90D")
        ]
        with pytest.raises(HttpResponseError) as bad:
            client.update_key_rotation_policy(
                name, KeyRotationPolicy(), lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate)]
            )
        assert bad.value.status_code == 400

        random = client.get_random_bytes(32)
        assert len(random) == 32 and random != client.get_random_bytes(32)


def test_operations_on_the_latest_version_use_an_empty_segment(srv: Server) -> None:
    name = unique("latest")
    key = srv.vault.keys.create_rsa_key(name)
    digest = hashlib.sha256(b"x").digest()
    from vaultcore.server._wire import b64u, unb64u

    signed = srv.request("POST", f"/keys/{name}//sign", {"alg": "RS256", "value": b64u(digest)})
    assert signed.status == 200
    assert signed.body["kid"] == f"{srv.url}/keys/{name}/{key.properties.version}"
    verified = srv.request(
        "POST", f"/keys/{name}//verify", {"alg": "RS256", "digest": b64u(digest), "value": signed.body["value"]}
    )
    assert verified.body == {"value": True}
    assert len(unb64u(signed.body["value"], "sig")) == 256
    got = srv.request("GET", f"/keys/{name}/")
    assert got.status == 200 and set(got.body["key"]) == {"kid", "kty", "key_ops", "n", "e"}
    missing_alg = srv.request("POST", f"/keys/{name}//sign", {"value": b64u(digest)})
    assert missing_alg.status == 400 and missing_alg.body["error"]["code"] == "BadParameter"
    bad_b64 = srv.request("POST", f"/keys/{name}//sign", {"alg": "RS256", "value": "!!"})
    assert bad_b64.status == 400
    assert srv.request("POST", f"/keys/{name}//sign", raw=os.urandom(8)).status == 400  # not JSON
