"""The engine: vault context, the one lifecycle engine, records, validation, backup, rotation.

Versioning, attributes, soft-delete / recover / purge and backup are written once here for
every object kind; only payloads differ. May import ``crypto``, ``storage`` and
``exceptions``; never an object kind, ``access``, the CLI or the server. Used by ``access``,
the object kinds and the ``Vault`` facade.
"""
