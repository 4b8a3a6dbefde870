"""Storage: the ``Store`` interface (``_interface``) and its backends, LMDB and PostgreSQL.

Backends hold only sealed bytes under opaque keys; they never see a name, a value or a key.
May import ``vaultcore.exceptions`` and each backend its own driver (the C core's LMDB half
in ``_mdb``, ``psycopg`` in ``_postgres``), and translates every driver error into the
``VaultError`` tree. Used by the engine, access and
the facade through :class:`~vaultcore.storage._interface.Store`.
"""
