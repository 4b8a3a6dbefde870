"""Fixtures for the event tests: a fake clock, credentials and a vault (see ``tests/vaultfixtures.py``)."""

from vaultfixtures import clock, pass_cred, raw_cred, vault, vault_dir

__all__ = ["clock", "pass_cred", "raw_cred", "vault", "vault_dir"]
