"""Fixtures for the server tests: one running server per module, real Azure SDK clients.

``srv`` serves a vault (software ``oct`` keys allowed, cheap principal hashing) with two
application principals: ``ci`` (Key Vault Administrator) and ``reader`` (Key Vault Secrets
User). Tests use unique object names, so they share the server. Helpers (raw HTTPS calls
and the client factory) live in ``serverhelpers.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverhelpers import Server

from vaultcore import KDF_TESTING, RawKeyCredential, Vault

# The plugin's fixtures, also when vaultcore is not installed (no pytest11 entry point).
from vaultcore.pytest_plugin import akv_server, akv_server_tls_dir, vault, vault_factory  # noqa: F401
from vaultcore.server import BackgroundServer, ensure_local_tls


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-tls")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, tls_dir: Path) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("server-vault") / "vault"
    served = Vault.create(
        path, RawKeyCredential(os.urandom(32)), access_kdf=KDF_TESTING, allow_software_oct_keys=True, name="srv"
    )
    admin = served.access.create_application("ci")
    served.access.assign_role(admin.principal.id, "Key Vault Administrator")
    reader = served.access.create_application("reader")
    served.access.assign_role(reader.principal.id, "Key Vault Secrets User")
    server = BackgroundServer(served, ensure_local_tls(tls_dir)).start()
    try:
        yield Server(server, served, {"ci": admin.client_secret, "reader": reader.client_secret})
    finally:
        server.stop()
        served.close()
