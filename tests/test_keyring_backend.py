"""The ``keyring`` backend, through the keyring package's own API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultcore import KeyFileCredential, Vault
from vaultcore.keyring_backend import VaultcoreKeyring, decode_name, encode_name


@pytest.fixture
def env_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    key = tmp_path / "vault.key"
    KeyFileCredential.generate(key)
    path = tmp_path / "v"
    Vault.create(path, KeyFileCredential(key)).close()
    for name in list(os.environ):
        if name.startswith("VAULTCORE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAULTCORE_VAULT", str(path))
    monkeypatch.setenv("VAULTCORE_KEY_FILE", str(key))
    previous = keyring.get_keyring()
    yield path
    current = keyring.get_keyring()
    if isinstance(current, VaultcoreKeyring):
        current.close()
    keyring.set_keyring(previous)


def test_the_entry_point_makes_it_the_chosen_backend(env_vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    points = entry_points(group="keyring.backends")
    assert [p.value for p in points if p.name == "vaultcore"] == ["vaultcore.keyring_backend"]
    monkeypatch.setenv("VAULTCORE_KEYRING_PRIORITY", "42")
    assert VaultcoreKeyring.priority == 42
    keyring.backend.get_all_keyring.reset()  # keyring caches the viable backends once per process
    names = [type(b).__name__ for b in keyring.backend.get_all_keyring()]
    assert "VaultcoreKeyring" in names  # found through the keyring.backends entry point
    keyring.core.init_backend()
    assert isinstance(keyring.get_keyring(), VaultcoreKeyring)
    keyring.backend.get_all_keyring.reset()


def test_set_get_delete_password(env_vault: Path) -> None:
    keyring.set_keyring(VaultcoreKeyring())
    keyring.set_password("github.com", "Alice", "pw-1")
    assert keyring.get_password("github.com", "Alice") == "pw-1"
    keyring.set_password("github.com", "Alice", "pw-2")
    assert keyring.get_password("github.com", "Alice") == "pw-2"
    assert keyring.get_password("github.com", "alice") is None  # user names keep their case
    cred = keyring.get_credential("github.com", "Alice")
    assert cred is not None and cred.password == "pw-2"
    keyring.delete_password("github.com", "Alice")
    assert keyring.get_password("github.com", "Alice") is None
    with pytest.raises(keyring.errors.PasswordDeleteError):
        keyring.delete_password("github.com", "Alice")
    keyring.set_password("github.com", "Alice", "pw-3")  # the name is free again (purged)
    assert keyring.get_password("github.com", "Alice") == "pw-3"
    keyring.get_keyring().close()  # type: ignore[attr-defined]
    with Vault.open(env_vault, KeyFileCredential(os.environ["VAULTCORE_KEY_FILE"])) as vault:
        secret = vault.secrets.get_secret(encode_name("github.com", "Alice"))
        assert secret.value == "pw-3" and secret.properties.tags == {
            "keyring-service": "github.com",
            "keyring-username": "Alice",
        }
        assert len(list(vault.secrets.list_properties_of_secret_versions(secret.name))) == 1


def test_with_purge_protection_a_deleted_password_is_recovered_on_set(tmp_path: Path) -> None:
    key = tmp_path / "k"
    KeyFileCredential.generate(key)
    with Vault.create(tmp_path / "v", KeyFileCredential(key), purge_protection=True) as vault:
        backend = VaultcoreKeyring(vault)
        backend.set_password("svc", "u", "one")
        backend.delete_password("svc", "u")
        assert backend.get_password("svc", "u") is None
        backend.set_password("svc", "u", "two")
        assert backend.get_password("svc", "u") == "two"


def test_not_viable_without_a_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTCORE_VAULT", str(tmp_path / "nothing"))
    assert not VaultcoreKeyring.viable
    (tmp_path / "nothing").mkdir()
    for name in ("VAULTCORE_KEY_FILE", "VAULTCORE_PASSPHRASE", "VAULTCORE_PKCS11_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert not VaultcoreKeyring.viable


def test_name_mapping_examples() -> None:
    assert encode_name("github.com", "alice") == "kr-github-2ecom-xalice"
    assert encode_name("My-App", "") == "kr--4dy-2d-41pp-x"
    assert decode_name("kr-github-2ecom-xalice") == ("github.com", "alice")
    assert decode_name("KR-GITHUB-2ECOM-XALICE") == ("github.com", "alice")  # names are case-insensitive
    long = encode_name("s" * 100, "u" * 100)
    assert long.startswith("krh-") and len(long) == 44 and decode_name(long) is None
    assert decode_name("db-password") is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_name_mapping_is_reversible_and_valid(service: str, username: str) -> None:
    name = encode_name(service, username)
    assert 1 <= len(name) <= 127 and all(c.isascii() and (c.isalnum() or c == "-") for c in name)
    if name.startswith("kr-"):
        assert decode_name(name) == (service, username)
