"""Fixtures for the access-control and audit tests (issue 7 §5); helpers are in ``accesshelpers.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from accesshelpers import grant, new_vault, vault_path_on_both

from vaultcore import RawKeyCredential, Vault
from vaultfixtures import pg_base

__all__ = ["pg_base", "vault_path_on_both"]


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def vault_and_cred(vault_path: Path) -> Iterator[tuple[Vault, RawKeyCredential]]:
    vault, cred = new_vault(vault_path, allow_software_oct_keys=True)
    try:
        yield vault, cred
    finally:
        vault.close()


@pytest.fixture
def vault(vault_and_cred: tuple[Vault, RawKeyCredential]) -> Vault:
    return vault_and_cred[0]


@pytest.fixture
def principal(vault: Vault) -> Callable[..., Vault]:
    """``principal(role, scope="/", client_id=None)``: a checked view holding *role*."""

    def make(role: str | None, scope: str = "/", client_id: str | None = None) -> Vault:
        return grant(vault, role, scope, client_id)

    return make
