"""Events: Azure Key Vault's Event Grid events, the store outbox, subscribers, the scheduler.

May import access, engine, crypto, storage and exceptions (never an object kind: the facade
hands the scheduler its jobs). Used by the ``Vault`` facade (``vault.events``,
``vault.start_scheduler()``), the CLI (``vaultcore events``, ``serve``) and webhook receivers
(:func:`verify_signature`).
"""

from vaultcore.events._schema import EVENT_TYPES, Event, verify_signature

__all__ = ["EVENT_TYPES", "Event", "verify_signature"]
