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
``akv_server``
    A running Azure Key Vault REST server (:class:`vaultcore.testing.AkvServer`) for a
    fresh vault: ``.url``, ``.ca_path``, ``.credential`` (an Azure ``TokenCredential``),
    ``.vault``, ``.client_kwargs``. Use the official clients unchanged:
    ``SecretClient(akv_server.url, akv_server.credential, **akv_server.client_kwargs)``.
    Skips when the ``server`` extra or ``azure-core`` is not installed.

This module is loaded into every pytest run once vaultcore is installed, so it imports
nothing from vaultcore until a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vaultcore import Vault
    from vaultcore.testing import AkvServer, SoftHsm, VaultFactory

__all__ = ["akv_server", "premium_vault", "vault", "vault_factory", "vaultcore_softhsm"]


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


@pytest.fixture(scope="session")
def akv_server_tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``akv_server`` keeps its local CA and server certificate (one per session)."""
    return tmp_path_factory.mktemp("vaultcore-tls")


@pytest.fixture
def akv_server(
    vault_factory: VaultFactory, akv_server_tls_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AkvServer]:
    """A running Azure Key Vault REST server for a fresh vault (Azure SDK clients work unchanged).

    Full backups (``KeyVaultBackupClient``) go to a fresh temporary ``backup_dir``.
    """
    for module in ("starlette", "uvicorn", "azure.core"):
        pytest.importorskip(module, reason=f"akv_server needs {module}: pip install 'vaultcore[server]' azure-core")
    from vaultcore import KDF_TESTING
    from vaultcore.testing import running_akv_server

    backups = tmp_path_factory.mktemp("akv-backups")
    with running_akv_server(vault_factory(access_kdf=KDF_TESTING), akv_server_tls_dir, backup_dir=backups) as server:
        yield server
