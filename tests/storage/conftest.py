"""Fixtures for these tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``).

Tests that take ``vault_location`` (or ``vault``) run on both storage backends here."""

from bothbackends import *  # noqa: F403 - the shared fixtures, on LMDB and PostgreSQL
