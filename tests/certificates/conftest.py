"""Fixtures for the certificate client tests; helpers are in ``certhelpers.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from certhelpers import FakeClock, TestCA

from vaultcore import RawKeyCredential, Vault


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cred() -> RawKeyCredential:
    return RawKeyCredential(os.urandom(32))


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault(vault_dir: Path, cred: RawKeyCredential, clock: FakeClock) -> Iterator[Vault]:
    v = Vault.create(vault_dir, cred, clock=clock)
    try:
        yield v
    finally:
        v.close()


@pytest.fixture(scope="session")
def ca() -> TestCA:
    return TestCA()
