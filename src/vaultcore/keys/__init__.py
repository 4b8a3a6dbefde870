"""Keys: ``vault.keys`` (KeyClient), the CryptographyClient, key handles, rules and rotation policy.

Software key material comes from ``crypto``; ``-HSM`` keys are handles into ``vaultcore.hsm``.
May import ``access``, ``engine``, ``crypto``, ``hsm`` and ``exceptions``; independent of
secrets and certificates. Used by the facade and by certificates (a certificate's backing key).
"""
