"""Vault fixtures shared by the crypto, engine, storage and secrets tests (imported by their conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import pghelpers
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


@pytest.fixture(scope="session")
def pg_base() -> Iterator[tuple[str, str]]:
    """(server URL, this run's schema) on the test PostgreSQL server (tests/pghelpers.py)."""
    base = pghelpers.server_url()
    schema = pghelpers.new_schema(base)
    try:
        yield base, schema
    finally:
        pghelpers.drop_schema(base, schema)


@pytest.fixture
def backend() -> str:
    """The storage backend of ``vault``/``vault_location``: LMDB unless a folder's conftest
    takes ``both_backends`` (then each test runs on LMDB and on PostgreSQL)."""
    return "lmdb"


@pytest.fixture(params=["lmdb", "postgres"])
def both_backends(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="backend")
def backend_on_both(both_backends: str) -> str:
    """``backend`` for folders whose tests run on both stores: import this into their conftest."""
    return both_backends


@pytest.fixture
def vault_location(backend: str, vault_dir: Path, request: pytest.FixtureRequest) -> str:
    """Where the test's vault lives: a directory (LMDB) or a fresh ``postgresql://`` URL."""
    if backend == "lmdb":
        return str(vault_dir)
    base, schema = request.getfixturevalue("pg_base")
    return pghelpers.vault_url(base, schema)


@pytest.fixture
def vault(vault_location: str, raw_cred: RawKeyCredential, clock: FakeClock) -> Iterator[Vault]:
    v = Vault.create(vault_location, raw_cred, clock=clock)
    try:
        yield v
    finally:
        v.close()
