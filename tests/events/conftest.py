"""Fixtures for the event tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``).

The outbox is a sub-database like any other, so the event tests run on both storage backends."""

import pytest

from vaultfixtures import both_backends, clock, pass_cred, pg_base, raw_cred, vault, vault_dir, vault_location


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


__all__ = [
    "backend",
    "both_backends",
    "clock",
    "pass_cred",
    "pg_base",
    "raw_cred",
    "vault",
    "vault_dir",
    "vault_location",
]
