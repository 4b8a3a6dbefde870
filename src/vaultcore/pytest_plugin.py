"""pytest plugin (entry point ``pytest11``): vaultcore fixtures for any project's tests.

Fixtures:

``vault_factory``
    A :class:`vaultcore.testing.VaultFactory` in a temporary directory: call it to create
    vaults (``vault_factory(retention_days=7, clock=FakeClock())``); every vault it made is
    closed at teardown.
``vault``
    A fresh temporary standard vault (random raw-key credential) from ``vault_factory``.

This module is loaded into every pytest run once vaultcore is installed, so it imports
nothing from vaultcore until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vaultcore import Vault
    from vaultcore.testing import VaultFactory

__all__ = ["vault", "vault_factory"]


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
