"""pytest plugin (entry point ``pytest11``): vaultcore fixtures for any project's tests.

Fixtures:

``vault_factory``
    A :class:`vaultcore.testing.VaultFactory` in a temporary directory: call it to create
    vaults (``vault_factory(retention_days=7, clock=FakeClock())``); every vault it made is
    closed at teardown.
``vault``
    A fresh temporary standard vault (random raw-key credential) from ``vault_factory``.
``premium_vault``
    A fresh premium vault whose root key lives in a SoftHSM2 token (one token per session,
    one root key per vault; ``-HSM`` keys work). Skips with the reason when SoftHSM2 is
    not installed, except under ``CI=true``, where it fails.
``vaultcore_softhsm``
    The session's :class:`vaultcore.testing.SoftHsm` (``SOFTHSM2_CONF`` points at it).

This module is loaded into every pytest run once vaultcore is installed, so it imports
nothing from vaultcore until a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vaultcore import Vault
    from vaultcore.testing import SoftHsm, VaultFactory

__all__ = ["premium_vault", "vault", "vault_factory", "vaultcore_softhsm"]


@pytest.fixture
def vault_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultFactory]:
    """Creates temporary vaults; closes them all at teardown."""
    from vaultcore.testing import VaultFactory

    factory = VaultFactory(tmp_path_factory.mktemp("vaultcore"))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def vault(vault_factory: VaultFactory) -> Vault:
    """A fresh temporary standard vault, closed at teardown."""
    return vault_factory()


@pytest.fixture(scope="session")
def vaultcore_softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A SoftHSM2 token for the session, with ``SOFTHSM2_CONF`` pointing at it."""
    from vaultcore.testing import SoftHsm, softhsm_missing

    missing = softhsm_missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: premium vault tests must run, but {missing}", pytrace=False)
        pytest.skip(missing)
    token = SoftHsm(tmp_path_factory.mktemp("vaultcore-softhsm"))
    with token.activated():
        yield token


@pytest.fixture
def premium_vault(vault_factory: VaultFactory, vaultcore_softhsm: SoftHsm) -> Vault:
    """A fresh premium vault (root key in the session's SoftHSM2 token), closed at teardown."""
    return vault_factory(credential=vaultcore_softhsm.credential())
