"""Premium vaults: a root key in the PKCS#11 token, rollback detection, credential and HSM errors.

Everything goes through the public API (``Vault``, ``Pkcs11Credential``); the PKCS#11 layer
(``HsmRootKey``, ``HsmToken``) is used only to look at what the token holds.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hsmhelpers import AUX_LABEL, MAIN_LABEL, PIN, SoftHsmEnv, run_python

from vaultcore import (
    HSMConfigurationError,
    HSMError,
    HSMUnavailableError,
    IntegrityError,
    InvalidParameterError,
    KeyFileCredential,
    NotFoundError,
    PassphraseCredential,
    Pkcs11Credential,
    RawKeyCredential,
    RollbackError,
    UnauthorizedError,
    UnsupportedError,
    Vault,
)
from vaultcore.crypto._credentials import KDF_TESTING
from vaultcore.engine._context import HEADER_KEY, KEYRING_KEY, META, keyring_aad
from vaultcore.hsm._pkcs11 import HsmKeyRef, HsmRootKey, HsmToken

pytestmark = pytest.mark.hsm


def _snapshot(path: Path) -> dict[str, str]:
    """Digests of the vault's data file(s); LMDB's reader table (lock.mdb) may change on any open."""
    return {
        name: hashlib.sha256((path / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(path))
        if name != "lock.mdb"
    }


def _stored(vault: Vault) -> tuple[bytes, bytes]:
    """The header and the wrapped keyring exactly as stored."""
    with vault._ctx.store.read() as txn:
        header, blob = txn.get(META, HEADER_KEY), txn.get(META, KEYRING_KEY)
    assert header is not None and blob is not None
    return bytes(header), bytes(blob)


def _make_vault(path: Path, credential: Pkcs11Credential) -> None:
    with Vault.create(path, credential) as vault:
        vault.secrets.set_secret("db-password", "s3cr3t")


# --------------------------------------------------------------------------- create / open


def test_create_generates_a_sensitive_never_extractable_root_key_in_the_token(
    premium_credential: Pkcs11Credential, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "v", premium_credential) as vault:
        assert (vault.tier, vault.kind) == ("premium", "vault")
        vault.secrets.set_secret("db-password", "s3cr3t")
        header_raw, blob = _stored(vault)
        header = vault._ctx.header["root"]
    root = HsmRootKey(premium_credential.config, create=False)
    assert root.protection() == {
        "sensitive": True,
        "extractable": False,
        "always_sensitive": True,
        "never_extractable": True,
        "value_readable": False,  # the token refuses to hand out CKA_VALUE
    }
    assert header == {
        "type": "pkcs11",
        "module": premium_credential.config.module,
        "token_label": MAIN_LABEL,
        "key_label": premium_credential.config.key_label,
        "key_id": root.key_id.hex(),
    }
    # The stored keyring is the token's AES-GCM blob (version 1 || nonce || ct || tag) and
    # opens with the token key; neither the keyring nor the PIN is in the vault files.
    assert blob[0] == 1
    keyring = root.unwrap(blob, keyring_aad(header_raw))
    data = b"".join(p.read_bytes() for p in (tmp_path / "v").iterdir())
    assert keyring not in data
    assert PIN.encode() not in data
    with Vault.open(tmp_path / "v", premium_credential) as again:
        assert again.secrets.get_secret("db-password").value == "s3cr3t"


def test_open_unwraps_the_keyring_inside_the_token(
    premium_credential: Pkcs11Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_vault(tmp_path / "v", premium_credential)
    calls: list[int] = []
    real = HsmRootKey.unwrap

    def spy(self: HsmRootKey, blob: bytes, aad: bytes) -> bytes:
        calls.append(len(blob))
        return real(self, blob, aad)

    monkeypatch.setattr(HsmRootKey, "unwrap", spy)
    with Vault.open(tmp_path / "v", premium_credential) as vault:
        assert len(calls) == 1  # one unwrap at unlock ...
        for _ in range(20):
            assert vault.secrets.get_secret("db-password").value == "s3cr3t"
        assert len(calls) == 1  # ... and the token is not on the read path


def test_create_adopts_an_existing_root_key_by_label(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    existing = HsmRootKey(credential.config, create=True)  # made beforehand, e.g. by an HSM admin
    _make_vault(tmp_path / "a", credential)
    _make_vault(tmp_path / "b", credential)  # a second vault may share the root key
    for name in ("a", "b"):
        with Vault.open(tmp_path / name, credential) as vault:
            assert vault._ctx.header["root"]["key_id"] == existing.key_id.hex()
            assert vault.secrets.get_secret("db-password").value == "s3cr3t"


def test_wrong_pin_is_unauthorized_and_leaves_the_vault_files_unchanged(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    path = tmp_path / "v"
    _make_vault(path, credential)
    before = _snapshot(path)
    wrong = softhsm.credential(credential.config.key_label, pin="not-the-pin")
    with pytest.raises(UnauthorizedError, match=f"wrong PIN for PKCS#11 token '{MAIN_LABEL}'") as info:
        Vault.open(path, wrong)
    assert "not-the-pin" not in str(info.value) and PIN not in str(info.value)
    assert _snapshot(path) == before
    with pytest.raises(UnauthorizedError):  # nothing is created either
        Vault.create(tmp_path / "new", wrong)
    assert not (tmp_path / "new").exists()
    with Vault.open(path, credential) as vault:  # the right PIN still opens it
        assert vault.secrets.get_secret("db-password").value == "s3cr3t"


def test_wrong_pin_in_a_fresh_process_goes_through_c_login(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    """In this process the token is already logged in; a new process really calls C_Login."""
    credential = softhsm.credential()
    path = tmp_path / "v"
    _make_vault(path, credential)
    before = _snapshot(path)
    code = (
        "import sys\n"
        "from vaultcore import Pkcs11Credential, UnauthorizedError, Vault\n"
        f"cred = Pkcs11Credential(token_label={MAIN_LABEL!r}, pin='0000-wrong', "
        f"key_label={credential.config.key_label!r})\n"
        "try:\n"
        f"    Vault.open({str(path)!r}, cred)\n"
        "except UnauthorizedError as exc:\n"
        "    print('refused:', exc)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"refused: wrong PIN for PKCS#11 token '{MAIN_LABEL}'"
    assert _snapshot(path) == before


def test_a_different_key_with_the_same_label_is_refused(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    path = tmp_path / "v"
    _make_vault(path, credential)
    root = HsmRootKey(credential.config, create=False)
    # Someone deletes the root key and makes a new one under the same label.
    HsmToken(credential.config).delete_hsm_key(HsmKeyRef("oct-HSM", root.key_id))
    with pytest.raises(UnauthorizedError, match=f"token '{MAIN_LABEL}' has no key '{credential.config.key_label}'"):
        Vault.open(path, credential)
    impostor = HsmRootKey(credential.config, create=True)
    assert impostor.key_id != root.key_id
    with pytest.raises(UnauthorizedError) as info:
        Vault.open(path, credential)
    message = str(info.value)
    assert f"key '{credential.config.key_label}' in token '{MAIN_LABEL}' is not this vault's root key" in message


def test_another_token_is_refused(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    path = tmp_path / "v"
    _make_vault(path, credential)
    before = _snapshot(path)
    key_label = credential.config.key_label
    other = softhsm.credential(key_label, label=AUX_LABEL)
    with pytest.raises(UnauthorizedError) as info:  # the other token has no such key
        Vault.open(path, other)
    assert str(info.value) == (
        f"PKCS#11 token '{AUX_LABEL}' has no key '{key_label}'; "
        f"this vault's root key is '{key_label}' in token '{MAIN_LABEL}'"
    )
    HsmRootKey(other.config, create=True)  # now it has one, with the same label: still not ours
    with pytest.raises(UnauthorizedError, match=f"key '{key_label}' in token '{AUX_LABEL}' is not this vault's"):
        Vault.open(path, other)
    assert _snapshot(path) == before


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: PassphraseCredential("correct horse", kdf=KDF_TESTING),
        lambda tmp: RawKeyCredential(bytes(32)),
        lambda tmp: KeyFileCredential.generate(tmp / "root.key"),
    ],
    ids=["passphrase", "raw-key", "key-file"],
)
def test_a_software_credential_does_not_open_a_premium_vault(
    premium_credential: Pkcs11Credential, tmp_path: Path, make: Callable[[Path], object]
) -> None:
    _make_vault(tmp_path / "v", premium_credential)
    credential = make(tmp_path)
    with pytest.raises(UnauthorizedError, match="unlocked by a pkcs11 credential"):
        Vault.open(tmp_path / "v", credential)  # type: ignore[arg-type]


def test_a_token_does_not_open_a_standard_vault(premium_credential: Pkcs11Credential, tmp_path: Path) -> None:
    Vault.create(tmp_path / "v", RawKeyCredential(bytes(32))).close()
    with pytest.raises(UnauthorizedError, match="not a PKCS#11 token"):
        Vault.open(tmp_path / "v", premium_credential)


def test_credential_keeps_the_pin_out_of_repr_and_pickles(premium_credential: Pkcs11Credential) -> None:
    assert PIN not in repr(premium_credential)
    assert MAIN_LABEL in repr(premium_credential)
    with pytest.raises(TypeError):
        pickle.dumps(premium_credential)


# --------------------------------------------------------------------------- rollback


def _rotate(vault: Vault) -> None:
    vault.rotate_keyring()


def _purge_protect(vault: Vault) -> None:
    vault.enable_purge_protection()


@pytest.mark.parametrize("change", [_rotate, _purge_protect], ids=["rotate_keyring", "enable_purge_protection"])
def test_an_older_copy_of_the_vault_directory_is_refused(
    premium_credential: Pkcs11Credential, tmp_path: Path, change: Callable[[Vault], None]
) -> None:
    path, saved = tmp_path / "v", tmp_path / "saved"
    _make_vault(path, premium_credential)
    shutil.copytree(path, saved)  # the attacker keeps a copy ...
    with Vault.open(path, premium_credential) as vault:
        old = vault.keyring_generation
        change(vault)
        new = vault.keyring_generation
        vault.secrets.set_secret("db-password", "rotated")
    assert new > old
    shutil.rmtree(path)
    shutil.copytree(saved, path)  # ... and puts it back later
    before = _snapshot(path)
    with pytest.raises(RollbackError) as info:
        Vault.open(path, premium_credential)
    assert isinstance(info.value, IntegrityError)
    assert str(info.value) == (
        f"this vault's keyring is generation {old}, but the HSM token recorded generation {new}: "
        "the vault directory was replaced by an older copy (rollback refused)"
    )
    assert _snapshot(path) == before  # refused before anything was written


def test_the_current_copy_still_opens_after_a_refused_rollback(
    premium_credential: Pkcs11Credential, tmp_path: Path
) -> None:
    path, saved, current = tmp_path / "v", tmp_path / "saved", tmp_path / "current"
    _make_vault(path, premium_credential)
    shutil.copytree(path, saved)
    with Vault.open(path, premium_credential) as vault:
        vault.rotate_keyring()
    shutil.move(path, current)
    shutil.copytree(saved, path)
    with pytest.raises(RollbackError):
        Vault.open(path, premium_credential)
    shutil.rmtree(path)
    shutil.move(current, path)
    with Vault.open(path, premium_credential) as vault:
        assert vault.secrets.get_secret("db-password").value == "s3cr3t"


def test_an_unchanged_copy_opens(premium_credential: Pkcs11Credential, tmp_path: Path) -> None:
    """Rollback detection is about the keyring generation: a copy of the same generation opens."""
    path, saved = tmp_path / "v", tmp_path / "saved"
    _make_vault(path, premium_credential)
    shutil.copytree(path, saved)
    with Vault.open(path, premium_credential) as vault:
        vault.secrets.set_secret("other", "x")  # no keyring change
    with Vault.open(saved, premium_credential) as vault:
        assert vault.secrets.get_secret("db-password").value == "s3cr3t"


# --------------------------------------------------------------------------- backup


def test_backup_of_hsm_keys_is_a_documented_refusal(premium_credential: Pkcs11Credential, tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", premium_credential) as vault:
        vault.keys.create_key("signing", "EC-HSM")
        vault.keys.create_key("mixed", "EC")
        vault.keys.create_key("mixed", "EC-HSM")  # one HSM version is enough to refuse
        vault.keys.create_key("soft", "EC")
        for name in ("signing", "mixed"):
            with pytest.raises(UnsupportedError) as info:
                vault.keys.backup_key(name)
            assert "Backup of HSM-backed keys is refused" in str(info.value)
            assert "docs/hsm.md" in str(info.value)
        assert vault.keys.backup_key("soft")  # software keys still back up
    docs = (Path(__file__).resolve().parents[2] / "docs" / "hsm.md").read_text()
    assert "## Backup of HSM keys: refused on SoftHSM 2.6.1" in docs
    assert "backup_key" in docs  # the vault-level refusal is documented too


# --------------------------------------------------------------------------- HSM errors


def test_missing_token_label_is_named(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    _make_vault(tmp_path / "v", credential)
    missing = Pkcs11Credential(token_label="no-such-token", pin=PIN, key_label=credential.config.key_label)
    with pytest.raises(HSMUnavailableError) as info:
        Vault.open(tmp_path / "v", missing)
    assert "PKCS#11 token 'no-such-token' not found in module" in str(info.value)
    assert isinstance(info.value, HSMError)
    with pytest.raises(HSMUnavailableError, match="no-such-token"):
        Vault.create(tmp_path / "new", missing)
    assert not (tmp_path / "new").exists()


def test_missing_module_path_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere" / "libpkcs11.so")
    with pytest.raises(HSMConfigurationError, match=re.escape(f"PKCS#11 module '{path}' does not exist")):
        Pkcs11Credential(path, token_label=MAIN_LABEL, pin=PIN)  # refused when made, not when first used


def test_a_file_that_is_not_a_pkcs11_module_is_named(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    credential = softhsm.credential()
    _make_vault(tmp_path / "v", credential)
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not a shared object")
    with pytest.raises(HSMConfigurationError, match=re.escape(f"cannot load PKCS#11 module '{bogus}'")):
        Vault.open(tmp_path / "v", Pkcs11Credential(str(bogus), token_label=MAIN_LABEL, pin=PIN))


def test_bad_softhsm2_conf_is_named(softhsm: SoftHsmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credential = softhsm.credential()
    _make_vault(tmp_path / "v", credential)
    missing_conf = tmp_path / "missing.conf"
    monkeypatch.setenv("SOFTHSM2_CONF", str(missing_conf))
    with pytest.raises(HSMConfigurationError, match=re.escape(f"SoftHSM2 configuration '{missing_conf}'")):
        Vault.open(tmp_path / "v", credential)
    no_dir = tmp_path / "nodir.conf"
    no_dir.write_text(f"directories.tokendir = {tmp_path}/gone\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(no_dir))
    with pytest.raises(HSMConfigurationError) as info:
        Vault.open(tmp_path / "v", credential)
    assert str(no_dir) in str(info.value) and f"{tmp_path}/gone" in str(info.value)
    monkeypatch.setenv("SOFTHSM2_CONF", softhsm.conf_path)
    with Vault.open(tmp_path / "v", credential) as vault:  # the good configuration works again
        assert vault.secrets.get_secret("db-password").value == "s3cr3t"


def test_a_keyring_change_by_another_handle_during_open_is_not_a_rollback(
    premium_credential: Pkcs11Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process rotates the keyring (and records it in the token) between this open's
    read of the keyring and its rollback check: the open must read again, not cry rollback."""
    path = tmp_path / "v"
    _make_vault(path, premium_credential)
    other = Vault.open(path, premium_credential)  # stands for another process
    real = Pkcs11Credential._open_root
    rotations: list[int] = []

    def open_root_then_rotate(self: Pkcs11Credential, header: dict[str, object], vault_id: bytes) -> object:
        root = real(self, header, vault_id)
        if not rotations:
            rotations.append(other.rotate_keyring())
        return root

    monkeypatch.setattr(Pkcs11Credential, "_open_root", open_root_then_rotate)
    try:
        with Vault.open(path, premium_credential) as vault:
            assert rotations
            assert vault.keyring_generation == other.keyring_generation
            assert vault.secrets.get_secret("db-password").value == "s3cr3t"
    finally:
        other.close()


def test_a_newer_generation_recorded_by_another_process_meanwhile_is_not_an_error(
    premium_credential: Pkcs11Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes change the keyring back to back; the later one records its generation in
    the token between the first one's read and write of the counter."""
    path = tmp_path / "v"
    _make_vault(path, premium_credential)
    first, other = Vault.open(path, premium_credential), Vault.open(path, premium_credential)
    real = HsmToken.read_generation
    interleaved: list[int] = []

    def read_then_other_process_records(self: HsmToken, label: str) -> int:
        value = real(self, label)
        if not interleaved:
            interleaved.append(value)
            other.rotate_keyring()
        return value

    try:
        monkeypatch.setattr(HsmToken, "read_generation", read_then_other_process_records)
        first.enable_purge_protection()  # committed; recording an older generation is a no-op
        monkeypatch.setattr(HsmToken, "read_generation", real)
        assert interleaved
        assert first.purge_protection
    finally:
        first.close()
        other.close()
    with Vault.open(path, premium_credential) as vault:
        assert vault.purge_protection and vault.keyring_generation == other.keyring_generation


# --------------------------------------------------------------------------- changing the credential


def test_root_key_rotation_within_the_token_keeps_hsm_keys(softhsm: SoftHsmEnv, tmp_path: Path) -> None:
    old, new = softhsm.credential(), softhsm.credential()
    with Vault.create(tmp_path / "v", old) as vault:
        vault.keys.create_key("k", "EC-HSM")
        vault.change_credential(new)  # a new root key in the same token
        assert vault.keys.get_cryptography_client("k").sign("ES256", bytes(32)).signature
    with pytest.raises(UnauthorizedError):
        Vault.open(tmp_path / "v", old)
    with Vault.open(tmp_path / "v", new) as vault:
        assert vault.tier == "premium"
        assert vault.keys.get_cryptography_client("k").sign("ES256", bytes(32)).signature


@pytest.mark.parametrize("target", ["passphrase", "other-token"])
def test_a_premium_vault_cannot_leave_its_token(softhsm: SoftHsmEnv, tmp_path: Path, target: str) -> None:
    """Its HSM-backed keys (non-extractable) and rollback counter live in that token."""
    credential = softhsm.credential()
    new = PassphraseCredential("pw", kdf=KDF_TESTING) if target == "passphrase" else softhsm.credential(label=AUX_LABEL)
    with Vault.create(tmp_path / "v", credential) as vault:
        vault.keys.create_key("k", "EC-HSM")
        generation = vault.keyring_generation
        with pytest.raises(InvalidParameterError, match=f"PKCS#11 token '{MAIN_LABEL}'"):
            vault.change_credential(new)
        assert vault.keyring_generation == generation
        assert vault.keys.get_cryptography_client("k").sign("ES256", bytes(32)).signature
    with Vault.open(tmp_path / "v", credential) as vault:
        assert vault.tier == "premium"


def test_a_whole_vault_hot_copy_shares_the_token(premium_credential: Pkcs11Credential, tmp_path: Path) -> None:
    """``backup_to`` copies references to the HSM keys, not the keys: both copies use the same
    token objects, and the copy is an older generation once the original's keyring moves on."""
    original = Vault.create(tmp_path / "v", premium_credential)
    try:
        original.keys.create_key("k", "EC-HSM")
        original.backup_to(tmp_path / "copy")
        with Vault.open(tmp_path / "copy", premium_credential) as copy:
            assert copy.keys.get_cryptography_client("k").sign("ES256", bytes(32)).signature
        original.keys.delete_key("k")
        original.keys.purge_deleted_key("k")  # destroys the token objects the copy refers to
        with Vault.open(tmp_path / "copy", premium_credential) as copy:
            with pytest.raises(NotFoundError, match="not found in PKCS#11 token"):
                copy.keys.get_cryptography_client("k").sign("ES256", bytes(32))
            # The orphaned reference can still be deleted and purged (nothing left to destroy).
            deleted = copy.keys.delete_key("k")
            assert deleted.key.kty == "EC-HSM" and deleted.key.x is None
            assert [d.name for d in copy.keys.list_deleted_keys()] == ["k"]
            copy.keys.purge_deleted_key("k")
            with pytest.raises(NotFoundError):
                copy.keys.get_deleted_key("k")
        original.rotate_keyring()
        with pytest.raises(RollbackError):
            Vault.open(tmp_path / "copy", premium_credential)
    finally:
        original.close()
