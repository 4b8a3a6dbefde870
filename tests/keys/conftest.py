"""Fixtures for the key tests through the vault (issue 4 §6); helpers in ``vaultkeyhelpers.py``.

``vault`` allows software oct keys (``allow_software_oct_keys=True``); ``strict_vault`` keeps
Azure's default rules. Both run on a :class:`FakeClock` (aware UTC datetimes) so nbf/exp,
rotation policies and soft-delete are tested without sleeping. ``crypto_vault`` is one
vault per module holding a key of every type and size, since RSA-4096 generation is slow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from vaultkeyhelpers import KEY_SPECS

from vaultcore import RawKeyCredential, Vault
from vaultcore.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential() -> RawKeyCredential:
    return RawKeyCredential(os.urandom(32))


@pytest.fixture
def vault(tmp_path: Path, credential: RawKeyCredential, clock: FakeClock) -> Iterator[Vault]:
    v = Vault.create(tmp_path / "vault", credential, clock=clock, allow_software_oct_keys=True)
    try:
        yield v
    finally:
        v.close()


@pytest.fixture
def strict_vault(tmp_path: Path, clock: FakeClock) -> Iterator[Vault]:
    v = Vault.create(tmp_path / "strict", RawKeyCredential(os.urandom(32)), clock=clock)
    try:
        yield v
    finally:
        v.close()


@pytest.fixture(scope="module")
def crypto_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """One key per entry of ``KEY_SPECS`` (named after it), in a vault shared by a module."""
    path = tmp_path_factory.mktemp("crypto") / "vault"
    v = Vault.create(path, RawKeyCredential(os.urandom(32)), clock=FakeClock(), allow_software_oct_keys=True)
    try:
        for name, (kty, params) in KEY_SPECS.items():
            v.keys.create_key(name, kty, **params)
        yield v
    finally:
        v.close()
