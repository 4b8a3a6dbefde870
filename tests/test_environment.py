"""Vault.from_env reads the same VAULTCORE_* settings as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultcore import KDF_TESTING, KeyFileCredential, PassphraseCredential, UnauthorizedError, Vault
from vaultcore._environment import default_vault_path


def test_from_env_with_a_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULTCORE_PASSPHRASE", "VAULTCORE_PKCS11_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    key = KeyFileCredential.generate(tmp_path / "v.key")
    with Vault.create(tmp_path / "v", key) as vault:
        vault.secrets.set_secret("x", "1")
    monkeypatch.setenv("VAULTCORE_VAULT", str(tmp_path / "v"))
    monkeypatch.setenv("VAULTCORE_KEY_FILE", str(tmp_path / "v.key"))
    monkeypatch.setenv("VAULTCORE_PASSPHRASE", "ignored: the key file comes first, as in the CLI")
    with Vault.from_env() as vault:
        assert vault.secrets.get_secret("x").value == "1"


def test_from_env_with_a_passphrase_and_the_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULTCORE_VAULT", "VAULTCORE_KEY_FILE", "VAULTCORE_PKCS11_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_vault_path()
    assert path == str(tmp_path / "data" / "vaultcore" / "default")
    Vault.create(path, PassphraseCredential("pw", kdf=KDF_TESTING)).close()
    monkeypatch.setenv("VAULTCORE_PASSPHRASE", "wrong")
    with pytest.raises(UnauthorizedError):
        Vault.from_env()
    monkeypatch.delenv("VAULTCORE_PASSPHRASE")
    with pytest.raises(UnauthorizedError, match="VAULTCORE_KEY_FILE or VAULTCORE_PASSPHRASE"):
        Vault.from_env()
