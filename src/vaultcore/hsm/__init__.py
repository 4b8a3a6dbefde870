"""HSM: the PKCS#11 layer (root key, rollback counter, ``-HSM`` keys inside a token).

``_pkcs11`` is the only importer of ``pkcs11`` (python-pkcs11) and maps its errors into the
``HSMError`` family; ``_config``, ``_types`` and ``_softhsm`` need no binding. May import only
``exceptions``. Used by the root-key credentials (``crypto``), key handles (``keys``) and
``testing``.
"""
