"""Certificates: ``vault.certificates`` (CertificateClient), policies, X.509 work, lifetime actions.

Each certificate version is three objects with one version id: the certificate, its backing
key and its backing secret. May import ``keys`` (the backing key's rules and material, the
only seam to another object kind), ``access``, ``engine``, ``crypto`` and ``exceptions``.
Used by the ``Vault`` facade, the CLI and the server's certificate routes.
"""
