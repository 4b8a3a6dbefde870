"""``vault.keys`` through the vault: Azure's rules for key_ops, enabled, nbf and exp; type
rules; import/export and the public JWK; backup/restore; soft-delete; tampering; bad inputs
that must leave the vault unchanged.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from vaultkeyhelpers import (
    BODY,
    DEK,
    FORMAT,
    NONCE,
    PRIVATE_MEMBERS,
    TAG_SIZE,
    TERM,
    flip_version_byte,
    private_jwk,
    sealed_size,
    shared_rsa_key,
    snapshot,
)

from vaultcore import (
    KDF_TESTING,
    ConflictError,
    CryptographyClient,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    JsonWebKey,
    KeyOperation,
    KeyVaultKey,
    NotFoundError,
    RawKeyCredential,
    Vault,
)
from vaultcore.testing import FakeClock

DIGEST = bytes(range(32))
ALL_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _run(client: CryptographyClient, op: str, material: dict[str, bytes]) -> object:
    """Perform *op* with an RSA key; *material* holds a ciphertext/wrapped key/signature."""
    if op == "encrypt":
        return client.encrypt("RSA-OAEP-256", b"plain")
    if op == "decrypt":
        return client.decrypt("RSA-OAEP-256", material["ciphertext"])
    if op == "wrapKey":
        return client.wrap_key("RSA-OAEP", bytes(32))
    if op == "unwrapKey":
        return client.unwrap_key("RSA-OAEP", material["wrapped"])
    if op == "sign":
        return client.sign("PS256", DIGEST)
    if op == "sign_data":
        return client.sign_data("RS256", b"data")
    if op == "verify":
        return client.verify("PS256", DIGEST, material["signature"])
    if op == "verify_data":
        return client.verify_data("RS256", b"data", material["data_signature"])
    raise AssertionError(op)


def _material(client: CryptographyClient) -> dict[str, bytes]:
    return {
        "ciphertext": client.encrypt("RSA-OAEP-256", b"plain").ciphertext,
        "wrapped": client.wrap_key("RSA-OAEP", bytes(32)).encrypted_key,
        "signature": client.sign("PS256", DIGEST).signature,
        "data_signature": client.sign_data("RS256", b"data").signature,
    }


def _assert_no_private_members(key: KeyVaultKey | JsonWebKey) -> None:
    jwk = key.key if isinstance(key, KeyVaultKey) else key
    for member in PRIVATE_MEMBERS:
        assert getattr(jwk, member) is None, member
    assert not set(PRIVATE_MEMBERS) & set(jwk.to_dict())


# -- key_operations ------------------------------------------------------------------------------


def test_each_operation_needs_its_key_op(vault: Vault) -> None:
    key = vault.keys.create_rsa_key("ops")
    assert key.key_operations == ALL_OPS
    client = vault.keys.get_cryptography_client("ops")
    material = _material(client)
    checks = {
        "encrypt": ["encrypt"],
        "decrypt": ["decrypt"],
        "wrapKey": ["wrapKey"],
        "unwrapKey": ["unwrapKey"],
        "sign": ["sign", "sign_data"],
        "verify": ["verify", "verify_data"],
    }
    for missing, calls in checks.items():
        remaining = [op for op in ALL_OPS if op != missing]
        updated = vault.keys.update_key_properties("ops", key_operations=remaining)
        assert updated.key_operations == remaining
        assert vault.keys.get_key("ops").key.key_ops == remaining
        for call in calls:
            with pytest.raises(ForbiddenError, match=missing) as info:
                _run(client, call, material)
            assert info.value.inner_code == "KeyOperationForbidden"
        for other in remaining:  # every other operation still works
            _run(client, other, material)
    # giving the operations back makes them work again, without a new version
    vault.keys.update_key_properties("ops", key_operations=ALL_OPS)
    for op in ALL_OPS:
        _run(client, op, material)
    assert len(list(vault.keys.list_properties_of_key_versions("ops"))) == 1


def test_key_operations_at_creation_and_the_denial_is_audited(vault: Vault) -> None:
    vault.keys.create_rsa_key("signer", key_operations=["sign", KeyOperation.verify])
    client = vault.keys.get_cryptography_client("signer")
    signature = client.sign("RS256", DIGEST).signature
    assert client.verify("RS256", DIGEST, signature).is_valid
    with pytest.raises(ForbiddenError) as info:
        client.encrypt("RSA-OAEP", b"x")
    assert info.value.inner_code == "KeyOperationForbidden"
    events = [e for e in vault.audit.events(operation="KeyEncrypt")]
    assert [e.result for e in events] == ["Forbidden"]
    assert events[0].object_id == "/keys/signer"


def test_ec_and_oct_default_key_ops(vault: Vault) -> None:
    assert vault.keys.create_ec_key("ec").key_operations == ["sign", "verify"]
    assert vault.keys.create_oct_key("aes").key_operations == ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
    with pytest.raises(ForbiddenError) as info:
        vault.keys.get_cryptography_client("aes").sign("ES256", DIGEST)
    assert info.value.inner_code == "KeyOperationForbidden"


def test_update_key_operations_is_validated(vault: Vault) -> None:
    vault.keys.create_ec_key("ec")
    before = snapshot(vault)
    with pytest.raises(InvalidParameterError, match="unknown key operation"):
        vault.keys.update_key_properties("ec", key_operations=["sign", "teleport"])
    with pytest.raises(InvalidParameterError, match="list of operation names"):
        vault.keys.update_key_properties("ec", key_operations="sign")
    assert snapshot(vault) == before


# -- enabled, nbf, exp -----------------------------------------------------------------------------


def test_disabled_key_is_forbidden_for_every_operation_and_get(vault: Vault) -> None:
    vault.keys.create_rsa_key("k")
    client = vault.keys.get_cryptography_client("k")
    material = _material(client)
    vault.keys.update_key_properties("k", enabled=False)
    for op in [*ALL_OPS, "sign_data", "verify_data"]:
        with pytest.raises(ForbiddenError, match="disabled") as info:
            _run(client, op, material)
        assert info.value.inner_code == "KeyDisabled"
    with pytest.raises(ForbiddenError) as got:
        vault.keys.get_key("k")
    assert got.value.inner_code == "KeyDisabled"
    with pytest.raises(ForbiddenError):
        vault.keys.export_key("k")
    # listing still shows it; enabling it again restores everything
    assert [p.enabled for p in vault.keys.list_properties_of_key_versions("k")] == [False]
    vault.keys.update_key_properties("k", enabled=True)
    for op in ALL_OPS:
        _run(client, op, material)


def test_disabling_an_old_version_leaves_the_latest_usable(vault: Vault) -> None:
    old = vault.keys.create_ec_key("k").properties.version
    vault.keys.rotate_key("k")
    vault.keys.update_key_properties("k", old, enabled=False)
    with pytest.raises(ForbiddenError):
        vault.keys.get_cryptography_client("k", old).sign("ES256", DIGEST)
    with pytest.raises(ForbiddenError):
        vault.keys.get_key("k", old)
    assert vault.keys.get_cryptography_client("k").sign("ES256", DIGEST).signature


def test_not_before_in_the_future_is_forbidden(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_rsa_key("k", not_before=clock() + timedelta(days=1))
    client = vault.keys.get_cryptography_client("k")
    for op in ALL_OPS:
        with pytest.raises(ForbiddenError, match="not yet valid") as info:
            _run(client, op, {"ciphertext": bytes(256), "wrapped": bytes(256), "signature": bytes(256)})
        assert info.value.inner_code == "KeyNotYetValid"
    clock.advance(days=1)
    material = _material(client)
    for op in ALL_OPS:
        _run(client, op, material)


def test_expired_key_still_decrypts_unwraps_and_verifies(vault: Vault, clock: FakeClock) -> None:
    """Azure's rule: exp stops encrypt, wrapKey and sign; data protected before expiry stays readable."""
    vault.keys.create_rsa_key("k", expires_on=clock() + timedelta(days=30))
    client = vault.keys.get_cryptography_client("k")
    material = _material(client)
    clock.advance(days=30)  # exp is the first instant the key is expired
    for op in ("encrypt", "wrapKey", "sign", "sign_data"):
        with pytest.raises(ForbiddenError, match="expired") as info:
            _run(client, op, material)
        assert info.value.inner_code == "KeyExpired"
    assert client.decrypt("RSA-OAEP-256", material["ciphertext"]).plaintext == b"plain"
    assert client.unwrap_key("RSA-OAEP", material["wrapped"]).key == bytes(32)
    assert client.verify("PS256", DIGEST, material["signature"]).is_valid
    assert client.verify_data("RS256", b"data", material["data_signature"]).is_valid
    # the public key of an expired key can still be fetched
    assert vault.keys.get_key("k").properties.expires_on == clock()
    # extending exp makes it usable again
    vault.keys.update_key_properties("k", expires_on=clock() + timedelta(days=1))
    client.sign("PS256", DIGEST)
    vault.keys.update_key_properties("k", expires_on=None)
    clock.advance(days=365)
    client.encrypt("RSA-OAEP", b"x")


def test_expired_oct_key_decrypts_but_does_not_encrypt(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_oct_key("aes", size=128, expires_on=clock() + timedelta(hours=1))
    client = vault.keys.get_cryptography_client("aes")
    enc = client.encrypt("A128GCM", b"secret")
    wrapped = client.wrap_key("A128KW", bytes(16)).encrypted_key
    clock.advance(hours=2)
    with pytest.raises(ForbiddenError):
        client.encrypt("A128GCM", b"secret")
    with pytest.raises(ForbiddenError):
        client.wrap_key("A128KW", bytes(16))
    assert client.decrypt("A128GCM", enc.ciphertext, iv=enc.iv, authentication_tag=enc.authentication_tag).plaintext
    assert client.unwrap_key("A128KW", wrapped).key == bytes(16)


def test_operations_see_every_change_of_the_stored_version(vault: Vault) -> None:
    """The client re-reads the version on every call (unchanged records are not re-opened)."""
    vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    first = client.sign("ES256", DIGEST).key_id
    assert vault.rotate_keyring() > 0  # every record re-sealed under a new term
    assert client.sign("ES256", DIGEST).key_id == first
    vault.keys.update_key_properties("k", tags={"a": "b"})
    assert client.sign("ES256", DIGEST).key_id == first
    vault.keys.update_key_properties("k", key_operations=["verify"])
    with pytest.raises(ForbiddenError):
        client.sign("ES256", DIGEST)
    vault.keys.update_key_properties("k", key_operations=["sign"])
    second = vault.keys.rotate_key("k").id
    assert client.sign("ES256", DIGEST).key_id == second != first
    vault.keys.delete_key("k")
    with pytest.raises(NotFoundError):
        client.sign("ES256", DIGEST)
    vault.keys.purge_deleted_key("k")
    vault.keys.create_ec_key("k")
    third = client.sign("ES256", DIGEST).key_id
    assert third not in (first, second)


# -- Azure's type rules ----------------------------------------------------------------------------


def test_oct_keys_need_the_relaxed_setting(strict_vault: Vault) -> None:
    strict_vault.keys.create_ec_key("existing")
    before = snapshot(strict_vault)
    attempts: list[Callable[[], object]] = [
        lambda: strict_vault.keys.create_oct_key("aes"),
        lambda: strict_vault.keys.create_key("aes", "oct", size=128),
        lambda: strict_vault.keys.import_key("aes", {"kty": "oct", "k": _b64u(os.urandom(32))}),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidParameterError, match="allow_software_oct_keys=True") as info:
            attempt()
        assert "managed HSM" in str(info.value)
    assert snapshot(strict_vault) == before


def test_oct_setting_survives_reopen(vault: Vault, credential: RawKeyCredential, clock: FakeClock) -> None:
    path = vault.path
    vault.close()
    with Vault.open(path, credential, clock=clock) as reopened:
        assert reopened.keys.create_oct_key("aes").key_type == "oct"


@pytest.mark.parametrize("kty", ["RSA-HSM", "EC-HSM", "oct-HSM"])
def test_hsm_key_types_are_refused_in_a_standard_vault(vault: Vault, kty: str) -> None:
    before = snapshot(vault)
    with pytest.raises(InvalidParameterError, match=f"{kty} needs a premium vault or a managed HSM"):
        vault.keys.create_key("hsm", kty)
    assert snapshot(vault) == before


def test_hardware_protected_is_refused_in_a_standard_vault(vault: Vault) -> None:
    with pytest.raises(InvalidParameterError, match="RSA-HSM needs a premium vault"):
        vault.keys.create_rsa_key("hsm", hardware_protected=True)
    with pytest.raises(InvalidParameterError, match="EC-HSM needs a premium vault"):
        vault.keys.create_ec_key("hsm", hardware_protected=True)
    with pytest.raises(InvalidParameterError):  # no BYOK into an HSM at all
        vault.keys.import_key("hsm", private_jwk(ec.generate_private_key(ec.SECP256R1())), hardware_protected=True)
    assert list(vault.keys.list_properties_of_keys()) == []


def test_get_random_bytes_bounds(vault: Vault) -> None:
    assert len(vault.keys.get_random_bytes(1)) == 1
    assert len(vault.keys.get_random_bytes(128)) == 128
    assert vault.keys.get_random_bytes(32) != vault.keys.get_random_bytes(32)
    for bad in (0, -1, 129, 1 << 40, True, 1.5, "16", None):
        with pytest.raises(InvalidParameterError, match="from 1 to 128"):
            vault.keys.get_random_bytes(bad)  # type: ignore[arg-type]


# -- import, export, the public JWK ----------------------------------------------------------------


def test_import_rsa_with_private_members_and_export(vault: Vault) -> None:
    private = rsa.generate_private_key(65537, 2048)
    jwk = private_jwk(private)
    imported = vault.keys.import_key("rsa", jwk, exportable=True)
    assert imported.key_type == "RSA"
    assert imported.properties.exportable is True
    assert imported.key_operations == ALL_OPS  # Azure's defaults when the JWK names none
    _assert_no_private_members(imported)
    _assert_no_private_members(vault.keys.get_key("rsa"))
    exported = vault.keys.export_key("rsa").key.to_dict()
    for member in ("n", "e", "d", "p", "q", "dp", "dq", "qi"):
        assert exported[member] == jwk[member], member
    assert exported["kid"] == imported.id
    # the private members stay out of repr
    export = vault.keys.export_key("rsa")
    assert export.key.d is not None and export.key.p is not None
    for text in (repr(export), repr(export.key)):
        assert repr(export.key.d) not in text and repr(export.key.p) not in text
        assert ", d=" not in text and ", p=" not in text
    signature = vault.keys.get_cryptography_client("rsa").sign("RS256", DIGEST).signature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    private.public_key().verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def test_import_rsa_without_crt_members(vault: Vault) -> None:
    private = rsa.generate_private_key(65537, 2048)
    jwk = {m: v for m, v in private_jwk(private).items() if m in ("kty", "n", "e", "d")}
    vault.keys.import_key("rsa", jwk, exportable=True)
    assert vault.keys.export_key("rsa").key.to_dict()["p"] in (private_jwk(private)["p"], private_jwk(private)["q"])


@pytest.mark.parametrize("crv", ["P-256", "P-384", "P-521", "P-256K"])
def test_import_ec_with_private_members_and_export(vault: Vault, crv: str) -> None:
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1(), "P-256K": ec.SECP256K1()}
    jwk = {**private_jwk(ec.generate_private_key(curve[crv])), "key_ops": ["sign", "verify"]}
    imported = vault.keys.import_key("ec", jwk, exportable=True)
    assert (imported.key_type, imported.key.crv, imported.key_operations) == ("EC", crv, ["sign", "verify"])
    _assert_no_private_members(vault.keys.get_key("ec"))
    exported = vault.keys.export_key("ec").key
    assert exported.to_dict()["d"] == jwk["d"]
    assert (exported.x, exported.y) == (imported.key.x, imported.key.y)


def test_import_oct_and_export_as_json_web_key(vault: Vault) -> None:
    secret = os.urandom(24)
    imported = vault.keys.import_key("aes", JsonWebKey(kty="oct", k=secret, key_ops=["wrapKey", "unwrapKey"]))
    assert imported.key_operations == ["wrapKey", "unwrapKey"]
    _assert_no_private_members(imported)
    assert set(vault.keys.get_key("aes").key.to_dict()) == {"kid", "kty", "key_ops"}
    with pytest.raises(ForbiddenError) as info:
        vault.keys.export_key("aes")
    assert info.value.inner_code == "KeyNotExportable"
    vault.keys.import_key("aes", {"kty": "oct", "k": _b64u(secret)}, exportable=True)
    assert vault.keys.export_key("aes").key.k == secret
    # the first version stays non-exportable
    first = next(iter(vault.keys.list_properties_of_key_versions("aes"))).version
    with pytest.raises(ForbiddenError):
        vault.keys.export_key("aes", first)


def test_export_only_when_exportable(vault: Vault) -> None:
    vault.keys.create_ec_key("plain")
    with pytest.raises(ForbiddenError, match="not exportable") as info:
        vault.keys.export_key("plain")
    assert info.value.inner_code == "KeyNotExportable"
    created = vault.keys.create_ec_key("open", exportable=True)
    exported = vault.keys.export_key("open")
    assert exported.key.d is not None and exported.properties.exportable
    assert exported.key.x == created.key.x
    # the exported JWK re-imports elsewhere as the same key
    with Vault.create(Path(vault.path).parent / "other", RawKeyCredential(os.urandom(32))) as other:
        again = other.keys.import_key("copy", exported.key)
        assert (again.key.x, again.key.y) == (created.key.x, created.key.y)


def test_no_read_returns_private_members(vault: Vault) -> None:
    vault.keys.create_rsa_key("rsa", exportable=True)
    vault.keys.create_ec_key("ec", exportable=True)
    vault.keys.create_oct_key("oct", exportable=True)
    for name in ("rsa", "ec", "oct"):
        _assert_no_private_members(vault.keys.get_key(name))
        vault.keys.export_key(name)  # exporting does not make later reads private
        _assert_no_private_members(vault.keys.get_key(name))
        _assert_no_private_members(vault.keys.rotate_key(name))
        _assert_no_private_members(vault.keys.update_key_properties(name, tags={"a": "b"}))
        _assert_no_private_members(vault.keys.delete_key(name).key)
        _assert_no_private_members(vault.keys.get_deleted_key(name).key)
        _assert_no_private_members(vault.keys.recover_deleted_key(name))
    for deleted in (vault.keys.delete_key("rsa"), *vault.keys.list_deleted_keys()):
        _assert_no_private_members(deleted.key)


# -- backup / restore ------------------------------------------------------------------------------


def test_backup_restore_after_delete_and_purge(vault: Vault) -> None:
    first = vault.keys.create_rsa_key("k", tags={"team": "a"})
    second = vault.keys.rotate_key("k")
    vault.keys.update_key_rotation_policy("k", lifetime_actions=[{"action": "Rotate", "time_after_create": "P90D"}])
    client = vault.keys.get_cryptography_client("k", first.properties.version)
    ciphertext = client.encrypt("RSA-OAEP-256", b"kept").ciphertext
    blob = vault.keys.backup_key("k")
    with pytest.raises(ConflictError):
        vault.keys.restore_key_backup(blob)  # the key still exists
    vault.keys.delete_key("k")
    with pytest.raises(ConflictError):
        vault.keys.restore_key_backup(blob)  # deleted but recoverable
    vault.keys.purge_deleted_key("k")
    restored = vault.keys.restore_key_backup(blob)
    assert restored.id == second.id
    assert restored.key.n == second.key.n
    versions = [p.version for p in vault.keys.list_properties_of_key_versions("k")]
    assert versions == [first.properties.version, second.properties.version]
    assert vault.keys.get_key("k", first.properties.version).properties.tags == {"team": "a"}
    assert client.decrypt("RSA-OAEP-256", ciphertext).plaintext == b"kept"
    policy = vault.keys.get_key_rotation_policy("k")
    assert [(a.action, a.time_after_create) for a in policy.lifetime_actions] == [("Rotate", "P90D")]


def test_backup_restores_into_a_vault_of_the_same_security_domain_only(vault: Vault, tmp_path: Path) -> None:
    created = vault.keys.create_ec_key("k", curve="P-384")
    signature = vault.keys.get_cryptography_client("k").sign("ES384", bytes(48)).signature
    blob = vault.keys.backup_key("k")
    domain = vault.export_security_domain("domain passphrase", kdf=KDF_TESTING)
    with Vault.create(
        tmp_path / "sibling", RawKeyCredential(os.urandom(32)), security_domain=(domain, "domain passphrase")
    ) as sibling:
        restored = sibling.keys.restore_key_backup(blob)
        assert (restored.key.x, restored.key.y) == (created.key.x, created.key.y)
        assert restored.properties.version == created.properties.version
        assert sibling.keys.get_cryptography_client("k").verify("ES384", bytes(48), signature).is_valid
    with Vault.create(tmp_path / "stranger", RawKeyCredential(os.urandom(32))) as stranger:
        with pytest.raises(ForbiddenError, match="another security domain"):
            stranger.keys.restore_key_backup(blob)
        assert list(stranger.keys.list_properties_of_keys()) == []


def test_tampered_backup_is_refused(vault: Vault) -> None:
    vault.keys.create_ec_key("k")
    blob = vault.keys.backup_key("k")
    vault.keys.delete_key("k")
    vault.keys.purge_deleted_key("k")
    for i in (len(blob) // 2, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 1
        with pytest.raises(IntegrityError):
            vault.keys.restore_key_backup(bytes(bad))
    assert list(vault.keys.list_properties_of_keys()) == []


# -- delete / recover / purge ----------------------------------------------------------------------


def test_delete_get_deleted_list_recover_purge(vault: Vault, clock: FakeClock) -> None:
    key = vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    signature = client.sign("ES256", DIGEST).signature
    deleted = vault.keys.delete_key("k")
    assert deleted.id == key.id and deleted.name == "k"
    assert deleted.recovery_id.endswith("/deletedkeys/k")
    assert deleted.deleted_date == clock()
    assert deleted.scheduled_purge_date == clock() + timedelta(days=90)
    for call in (lambda: vault.keys.get_key("k"), lambda: client.verify("ES256", DIGEST, signature)):
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.inner_code == "KeyNotFound"
    assert vault.keys.get_deleted_key("k").key.x == key.key.x
    assert [d.name for d in vault.keys.list_deleted_keys()] == ["k"]
    assert list(vault.keys.list_properties_of_keys()) == []
    with pytest.raises(ConflictError) as conflict:
        vault.keys.create_ec_key("k")
    assert conflict.value.inner_code == "ObjectIsDeletedButRecoverable"

    recovered = vault.keys.recover_deleted_key("k")
    assert recovered.id == key.id
    assert client.verify("ES256", DIGEST, signature).is_valid
    with pytest.raises(NotFoundError):
        vault.keys.get_deleted_key("k")

    vault.keys.delete_key("k")
    vault.keys.purge_deleted_key("k")
    for gone in (lambda: vault.keys.get_deleted_key("k"), lambda: vault.keys.purge_deleted_key("k")):
        with pytest.raises(NotFoundError):
            gone()
    assert list(vault.keys.list_deleted_keys()) == []
    assert vault.keys.create_ec_key("k").id != key.id  # the name is free again


def test_purge_drops_cached_key_material(vault: Vault, clock: FakeClock) -> None:
    """Purge is crypto-erase: the process keeps no parsed private key of a purged key either
    (white-box: looks at the client's caches)."""
    for name in ("a", "b"):
        vault.keys.create_ec_key(name)
        vault.keys.get_cryptography_client(name).sign("ES256", DIGEST)
    assert {n for n, _ in vault.keys._cache} == {"a", "b"}
    vault.keys.delete_key("a")
    vault.keys.purge_deleted_key("a")
    assert {n for n, _ in vault.keys._cache} == {"b"}
    vault.keys.delete_key("b")
    clock.advance(days=91)
    assert vault.run_maintenance().purged == 1  # the sweep purges too
    assert not vault.keys._cache and not vault.keys._records


def test_maintenance_purges_deleted_keys_after_retention(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_ec_key("k")
    vault.keys.delete_key("k")
    clock.advance(days=89)
    assert vault.run_maintenance().purged == 0
    clock.advance(days=1)
    assert vault.run_maintenance().purged == 1
    assert list(vault.keys.list_deleted_keys()) == []


# -- tampering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["format", "term", "wrapped-dek", "nonce", "body-start", "body-middle", "private-key", "tag"]
)
def test_tampered_stored_private_key_is_an_integrity_error(
    tmp_path: Path, credential: RawKeyCredential, clock: FakeClock, where: str
) -> None:
    path = tmp_path / "vault"
    with Vault.create(path, credential, clock=clock) as vault:
        version = vault.keys.import_key("victim", private_jwk(shared_rsa_key())).properties.version
        vault.keys.create_ec_key("bystander")
    size = sealed_size(path, version)
    offsets = {
        "format": FORMAT,
        "term": TERM,
        "wrapped-dek": DEK + 3,
        "nonce": NONCE,
        "body-start": BODY,
        "body-middle": (BODY + size - TAG_SIZE) // 2,
        "private-key": size - TAG_SIZE - 40,  # the PKCS#8 DER ends the record
        "tag": size - 1,
    }
    flip_version_byte(path, version, offsets[where])
    with Vault.open(path, credential, clock=clock) as vault:
        with pytest.raises(IntegrityError):
            vault.keys.get_key("victim")
        with pytest.raises(IntegrityError):
            vault.keys.get_cryptography_client("victim").sign("RS256", DIGEST)
        with pytest.raises(IntegrityError):
            vault.keys.get_cryptography_client("victim", version).verify("RS256", DIGEST, bytes(256))
        # other keys are unaffected
        assert vault.keys.get_cryptography_client("bystander").sign("ES256", DIGEST).signature


# -- bad inputs leave the vault unchanged ----------------------------------------------------------


@pytest.fixture
def populated(vault: Vault) -> Vault:
    vault.keys.import_key("rsa", private_jwk(shared_rsa_key()))
    vault.keys.create_ec_key("ec")
    vault.keys.create_oct_key("aes")
    vault.keys.create_ec_key("gone")
    vault.keys.delete_key("gone")
    return vault


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda k: k.create_ec_key("ec", curve="P-192"), r"EC curve 'P-192' is not supported; use P-256, P-384"),
        (lambda k: k.create_key("new", "EC", curve="curve25519"), r"EC curve 'curve25519' is not supported"),
        (lambda k: k.create_rsa_key("rsa", size=1024), r"RSA key size 1024 is not supported; use 2048, 3072 or 4096"),
        (lambda k: k.create_oct_key("aes", size=512), r"oct key size 512 is not supported; use 128, 192 or 256"),
        (lambda k: k.create_key("rsa", "DSA"), r"key type 'DSA' is not supported; use EC, EC-HSM, RSA"),
        (lambda k: k.create_key("new", "OKP"), r"key type 'OKP' is not supported"),
        (lambda k: k.create_ec_key("ec", size=256), r"size does not apply to EC keys"),
        (lambda k: k.create_rsa_key("rsa", public_exponent=5), r"public exponent 5 is not supported"),
        (lambda k: k.create_rsa_key("rsa", key_operations=["sign", "fly"]), r"unknown key operation"),
        (lambda k: k.create_rsa_key("rsa", tags={"t": 1}), r"tag"),
        (lambda k: k.create_rsa_key("bad name!"), r"name"),
        (lambda k: k.create_ec_key("gone"), r"deleted but recoverable"),
        (lambda k: k.import_key("rsa", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}), r"RSA key size"),
        (lambda k: k.import_key("ec", {"kty": "EC", "crv": "P-256"}), r"must contain the private key \(member 'd'\)"),
        (lambda k: k.import_key("ec", "not a jwk"), r"JsonWebKey or a JWK mapping"),
        (lambda k: k.update_key_properties("rsa", key_operations=["fly"]), r"unknown key operation"),
        (lambda k: k.get_random_bytes(0), r"from 1 to 128"),
    ],
)
def test_bad_key_parameters_leave_the_vault_unchanged(populated: Vault, call: Any, message: str) -> None:
    before = snapshot(populated)
    with pytest.raises((InvalidParameterError, ConflictError), match=message):
        call(populated.keys)
    assert snapshot(populated) == before


@pytest.mark.parametrize(
    ("name", "call", "message"),
    [
        ("rsa", lambda c: c.sign("RS256", b""), r"digest must not be empty"),
        ("ec", lambda c: c.sign("ES256", b""), r"digest must not be empty"),
        ("rsa", lambda c: c.sign("RS256", bytes(31)), r"RS256 signs a 32-byte SHA256 digest; got 31 bytes"),
        ("rsa", lambda c: c.sign("PS512", bytes(32)), r"PS512 signs a 64-byte SHA512 digest; got 32 bytes"),
        ("ec", lambda c: c.sign("ES256", bytes(48)), r"ES256 signs a 32-byte SHA256 digest; got 48 bytes"),
        ("rsa", lambda c: c.verify("RS256", bytes(20), bytes(256)), r"RS256 signs a 32-byte"),
        ("rsa", lambda c: c.sign("ES256", bytes(32)), r"ES256 needs an EC P-256 key; this key is RSA"),
        ("ec", lambda c: c.sign("RS256", bytes(32)), r"RS256 needs an RSA key; this key is EC"),
        ("ec", lambda c: c.sign("ES384", bytes(48)), r"ES384 needs an EC P-384 key; this key is on P-256"),
        ("ec", lambda c: c.sign("HS256", bytes(32)), r"algorithm 'HS256' is not supported"),
        ("rsa", lambda c: c.encrypt("A256GCM", b"x"), r"A256GCM needs a 256-bit oct key; this key is RSA"),
        ("rsa", lambda c: c.wrap_key("A256KW", bytes(32)), r"A256KW needs a 256-bit oct key; this key is RSA"),
        ("aes", lambda c: c.encrypt("RSA-OAEP", b"x"), r"RSA-OAEP needs an RSA key; this key is oct"),
        ("aes", lambda c: c.wrap_key("A128KW", bytes(32)), r"A128KW needs a 128-bit oct key; this key has 256"),
        ("aes", lambda c: c.encrypt("A256GCM", b""), r"plaintext must not be empty"),
        ("aes", lambda c: c.encrypt("A256GCM", b"x", iv=bytes(12)), r"generates its own random IV"),
        ("aes", lambda c: c.encrypt("A256CBC", b"x" * 16), r"needs a 16-byte iv; got none"),
        ("aes", lambda c: c.encrypt("A256CBC", b"x" * 15, iv=bytes(16)), r"whole 16-byte blocks"),
        ("aes", lambda c: c.decrypt("A256GCM", b"x", iv=bytes(12)), r"needs a 16-byte tag; got none"),
        ("aes", lambda c: c.wrap_key("A256KW", bytes(12)), r"16 bytes or more"),
        ("aes", lambda c: c.encrypt("ROT13", b"x"), r"algorithm 'ROT13' is not supported"),
        ("rsa", lambda c: c.encrypt("RSA1_5", bytes(300)), r"RSA1_5 with a 2048-bit key takes at most 245 bytes"),
        ("rsa", lambda c: c.decrypt("RSA-OAEP", bytes(100)), r"ciphertext for a 2048-bit key is 256 bytes"),
    ],
)
def test_bad_operation_parameters(populated: Vault, name: str, call: Any, message: str) -> None:
    before = snapshot(populated)
    client = populated.keys.get_cryptography_client(name)
    with pytest.raises(InvalidParameterError, match=message):
        call(client)
    assert snapshot(populated) == before


def test_a_refused_create_adds_no_version_to_an_existing_key(vault: Vault) -> None:
    vault.keys.create_ec_key("k")
    versions = [p.version for p in vault.keys.list_properties_of_key_versions("k")]
    for bad in ({"curve": "P-999"}, {"size": 1024}, {"key_operations": ["nope"]}, {"not_before": "tomorrow"}):
        with pytest.raises(InvalidParameterError):
            vault.keys.create_ec_key("k", **bad)
    assert [p.version for p in vault.keys.list_properties_of_key_versions("k")] == versions


def test_exported_private_jwk_refuses_pickling() -> None:
    import pickle

    from vaultcore import JsonWebKey

    public = JsonWebKey(kty="RSA", n=b"\x01", e=b"\x01\x00\x01")
    assert pickle.loads(pickle.dumps(public)) == public
    with pytest.raises(TypeError, match="private key material"):
        pickle.dumps(JsonWebKey(kty="oct", k=b"k" * 32))
