"""StretchedPassphrase: a passphrase's Argon2id result for one vault (unlock-once sessions)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from vaultcore import KDF_TESTING, InvalidParameterError, PassphraseCredential, UnauthorizedError, Vault
from vaultcore.crypto._credentials import StretchedPassphrase


def test_opens_its_vault_only_and_hides_itself(tmp_path: Path) -> None:
    for name in ("a", "b"):
        Vault.create(tmp_path / name, PassphraseCredential("same passphrase", kdf=KDF_TESTING)).close()
    credential = PassphraseCredential("same passphrase")
    with pytest.raises(InvalidParameterError):
        credential.stretched()  # nothing opened yet
    Vault.open(tmp_path / "a", credential).close()
    stretched = credential.stretched()
    assert "same passphrase" not in repr(stretched) and stretched.secret.hex() not in repr(stretched)
    with Vault.open(tmp_path / "a", StretchedPassphrase(stretched.salt, stretched.secret)) as vault:
        vault.secrets.set_secret("x", "1")
    with pytest.raises(UnauthorizedError):  # same passphrase, another salt: no
        Vault.open(tmp_path / "b", stretched)
    with pytest.raises(UnauthorizedError):
        Vault.open(tmp_path / "a", StretchedPassphrase(stretched.salt, bytes(32)))
    with pytest.raises(InvalidParameterError):
        Vault.create(tmp_path / "c", stretched)
    with pytest.raises(Exception):  # noqa: B017 - credentials refuse pickling, whatever the error
        pickle.dumps(stretched)
