"""Cryptography: the native bindings, root-key credentials, keyring, envelope, key material, JWK.

Everything that turns keys and plaintext into ciphertext and back lives here; nothing here
knows about objects, roles or audit. May import ``vaultcore.exceptions``, ``cryptography``,
the compiled ``_native`` (only through ``_bindings``) and ``vaultcore.hsm`` (the PKCS#11
root key). Used by the engine, access, the object kinds, ``hazmat`` and the facade.
"""
