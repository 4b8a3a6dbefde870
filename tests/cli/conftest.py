"""Fixtures for the CLI, testing-module and pytest-plugin tests (issue 8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clihelpers import Cli

# The plugin's fixtures, also when vaultcore is not installed (no pytest11 entry point).
from vaultcore.pytest_plugin import premium_vault, vault_factory, vaultcore_softhsm  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No VAULTCORE_* from the developer's shell; the default vault lives under tmp_path."""
    for name in [n for n in os.environ if n.startswith("VAULTCORE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    runtime = tmp_path / "xdg-run"  # session sockets and the completion name cache
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "vault.key"


@pytest.fixture
def cli(vault_dir: Path, key_file: Path) -> Cli:
    """A CliRunner-backed ``vaultcore`` with an initialised key-file vault."""
    runner = Cli({"VAULTCORE_VAULT": str(vault_dir), "VAULTCORE_KEY_FILE": str(key_file)})
    runner.ok("init", "--retention-days", "7")
    return runner
