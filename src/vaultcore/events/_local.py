"""In-process subscribers of the outbox, and attaching the outbox to an open vault.

Split out of ``_delivery`` so that the outbox (made when a vault emits its first event: events
commit with their changes) loads neither webhooks nor HTTP. Used by
``_view`` (``vault.events.subscribe``) and the ``Vault`` facade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from vaultcore.events._outbox import Outbox
from vaultcore.events._schema import Event

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["LocalHub", "LocalSubscription", "attach", "new_outbox"]

_BATCH = 500


def attach(ctx: VaultContext) -> Outbox:
    """The vault's outbox, created on first use and shared by every view of the vault."""
    outbox: Outbox | None = ctx.events  # made by ctx.events_factory (new_outbox) if it is set
    if outbox is None:
        outbox = new_outbox(ctx)
        ctx.events = outbox
    return outbox


def new_outbox(ctx: VaultContext) -> Outbox:
    """A new outbox for *ctx* with its in-process hub (the ``events_factory`` the Vault sets)."""
    outbox = Outbox(ctx)
    hub = LocalHub(outbox)
    outbox.local = hub
    outbox.on_commit = lambda: hub.pump() if hub.active else 0
    return outbox


class LocalSubscription:
    """An in-process subscriber (``vault.events.subscribe``); ``close()`` ends it."""

    def __init__(self, hub: LocalHub, callback: Callable[[Event], object], types: frozenset[str] | None, after: int):
        self._hub = hub
        self.callback = callback
        self.types = types
        self.position = after
        self.failures = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self._hub.remove(self)

    def __enter__(self) -> LocalSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalHub:
    """Feeds in-process subscribers from the outbox (so they see other processes' events too).

    Pumped after every commit of this process and by the scheduler. A callback that raises
    gets the event again on the next pump, up to ``MAX_FAILURES`` times (then it is skipped
    and logged). Callbacks run in the pumping thread; one pump at a time.
    """

    MAX_FAILURES = 5

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._subs: list[LocalSubscription] = []
        self._lock = threading.Lock()
        self._pumping = threading.Lock()

    def add(self, callback: Callable[[Event], object], types: frozenset[str] | None) -> LocalSubscription:
        sub = LocalSubscription(self, callback, types, self._outbox.head())
        with self._lock:
            self._subs.append(sub)
        return sub

    def remove(self, sub: LocalSubscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def pump(self) -> int:
        """Deliver new events to every subscriber; returns how many callbacks ran."""
        if not self._subs or not self._pumping.acquire(blocking=False):
            return 0
        calls = 0
        blocked: set[int] = set()  # subscribers whose callback failed in this pump
        # Callbacks run after the commit but maybe inside the committing operation's wrapper:
        # hide its audit event so that what a callback does is audited as its own operation.
        audit_local = getattr(self._outbox.audit, "_local", None)
        outer = getattr(audit_local, "event", None)
        if audit_local is not None:
            audit_local.event = None
        try:
            while True:
                with self._lock:
                    subs = [s for s in self._subs if id(s) not in blocked]
                if not subs:
                    return calls
                events = self._outbox.read(min(s.position for s in subs), limit=_BATCH)
                if not events:
                    return calls
                for ev in events:
                    for sub in subs:
                        if sub.closed or id(sub) in blocked or ev.seq <= sub.position:
                            continue
                        if sub.types is None or ev.type in sub.types:
                            try:
                                calls += 1
                                sub.callback(ev)
                            except Exception:
                                sub.failures += 1
                                if sub.failures < self.MAX_FAILURES:
                                    blocked.add(id(sub))  # position stays: retried on the next pump
                                    continue
                                import logging  # only when a subscriber keeps failing

                                logging.getLogger("vaultcore.events").exception(
                                    "in-process event subscriber failed; event %s skipped", ev.id
                                )
                        sub.failures = 0
                        sub.position = ev.seq
        finally:
            if audit_local is not None:
                audit_local.event = outer
            self._pumping.release()
