"""Fixtures for these tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``)."""

from vaultfixtures import backend, clock, pass_cred, raw_cred, vault, vault_dir, vault_location

__all__ = ["backend", "clock", "pass_cred", "raw_cred", "vault", "vault_dir", "vault_location"]
