"""Vault fixtures shared by the crypto, engine, storage and secrets tests (imported by their conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corehelpers import FakeClock
from vaultcore import KDF_TESTING, PassphraseCredential, RawKeyCredential, Vault


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def raw_cred() -> RawKeyCredential:
    return RawKeyCredential(b"\x11" * 32)


@pytest.fixture
def pass_cred() -> PassphraseCredential:
    return PassphraseCredential("correct horse battery staple", kdf=KDF_TESTING)


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault(vault_dir: Path, raw_cred: RawKeyCredential, clock: FakeClock) -> Iterator[Vault]:
    v = Vault.create(vault_dir, raw_cred, clock=clock)
    try:
        yield v
    finally:
        v.close()
