"""Fixtures for folders whose tests run on both storage backends (LMDB and PostgreSQL).

Their ``conftest.py`` star-imports this module; ``backend_on_both`` registers as the
``backend`` fixture, so ``vault`` and ``vault_location`` are parametrized over both stores.
"""

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
