"""Secrets: ``vault.secrets``, Azure Key Vault's SecretClient over the lifecycle engine.

A secret is the simplest object kind: its payload is the value. May import ``access``,
``engine``, ``crypto`` and ``exceptions``; independent of keys and certificates. Used by the
``Vault`` facade.
"""
