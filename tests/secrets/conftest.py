"""Fixtures for these tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``).

The lifecycle tests run on both storage backends (``backend`` is parametrized here)."""

from bothbackends import *  # noqa: F403 - the shared fixtures, on LMDB and PostgreSQL
