"""Fixtures for these tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``).

The lifecycle tests run on both storage backends (``backend`` is parametrized here)."""

from vaultfixtures import (
    backend_on_both,
    both_backends,
    clock,
    pass_cred,
    pg_base,
    raw_cred,
    vault,
    vault_dir,
    vault_location,
)

__all__ = [
    "backend_on_both",
    "both_backends",
    "clock",
    "pass_cred",
    "pg_base",
    "raw_cred",
    "vault",
    "vault_dir",
    "vault_location",
]
