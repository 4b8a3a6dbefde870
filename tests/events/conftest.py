"""Fixtures for the event tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``).

The outbox is a sub-database like any other, so the event tests run on both storage backends."""

from bothbackends import *  # noqa: F403 - the shared fixtures, on LMDB and PostgreSQL
