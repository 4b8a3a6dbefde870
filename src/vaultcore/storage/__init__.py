"""Storage: the narrow ``Store`` interface and its backends (LMDB today).

Backends hold only sealed bytes under opaque keys; they never see a name, a value or a key.
May import ``vaultcore.exceptions`` and the backend's own driver (``lmdb`` only here), and
translates every driver error into the ``VaultError`` tree. Used by the engine, access and
the facade through :class:`~vaultcore.storage._lmdb.Store`.
"""
