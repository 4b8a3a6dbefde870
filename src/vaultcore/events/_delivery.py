"""Delivering the outbox: webhooks (durable cursors, retries, dead letters) and in-process callbacks.

At least once: a webhook subscription's cursor (the seq of the last event it is done with)
moves only in a transaction committed *after* the receiver answered 2xx, so a crash between
the commit of an event and its delivery, or between a delivery and the cursor update,
delivers it (again) on the next pass; receivers de-duplicate by event ``id``. Events of one
subscription go out in order; a failure blocks that subscription until its next attempt
(backoff by the vault clock: ``RETRY_SCHEDULE`` seconds, the last repeated), and after the
subscription's ``max_attempts`` failures the event moves to the dead-letter list and the
cursor moves past it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vaultcore.events._outbox import Outbox
from vaultcore.events._schema import Event
from vaultcore.events._webhook import DeliveryError, Target, deliver
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["RETRY_SCHEDULE", "DeliveryReport", "LocalHub", "LocalSubscription", "deliver_pending", "redeliver"]

_log = logging.getLogger("vaultcore.events")
#: Seconds before retry n (Event Grid's schedule up to an hour; the last value repeats).
RETRY_SCHEDULE = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)
_BATCH = 500


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0


def backoff(attempts: int) -> float:
    return RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]


def _next_matching(
    outbox: Outbox, ctx: VaultContext, after: int, types: frozenset[str] | None
) -> tuple[Event | None, int]:
    """The first event after *after* of *types*, and the last seq looked at."""
    last = after
    with ctx.read() as txn:
        for i, ev in enumerate(outbox.events_in(txn, after)):
            if types is None or ev.type in types:
                return ev, last
            last = ev.seq
            if i >= _BATCH:
                break
    return None, last


def deliver_pending(ctx: VaultContext, outbox: Outbox, *, limit: int = 10_000) -> DeliveryReport:
    """One pass over every webhook subscription: deliver what is due, in order."""
    delivered = failed = dead = 0
    with ctx.read() as txn:
        subs = outbox.subscriptions_in(txn)
    for doc in subs:
        sub_id = doc["id"]
        target = Target.from_doc(doc)
        types = frozenset(doc["types"]) or None
        max_attempts = int(doc.get("max_attempts", 30))
        while delivered + failed < limit:
            with ctx.read() as txn:
                cursor = outbox.cursor_in(txn, sub_id)
            event, last = _next_matching(outbox, ctx, int(cursor["seq"]), types)
            if event is None:
                if last > cursor["seq"]:
                    _move(ctx, outbox, sub_id, {"seq": last, "attempts": 0, "next": 0.0, "error": None})
                    continue
                break
            attempts = int(cursor["attempts"])
            if attempts and ctx.timestamp() < float(cursor["next"]):
                break
            try:
                deliver(target, event, attempts)
            except DeliveryError as exc:
                failed += 1
                attempts += 1
                if attempts >= max_attempts:
                    dead += 1
                    letter = {"attempts": attempts, "error": str(exc), "time": ctx.timestamp(), "id": event.id}
                    state = {"seq": event.seq, "attempts": 0, "next": 0.0, "error": None}
                    _move(ctx, outbox, sub_id, state, dead_letter=(event.seq, letter))
                    continue
                state = {"seq": cursor["seq"], "attempts": attempts, "next": ctx.timestamp() + backoff(attempts)}
                _move(ctx, outbox, sub_id, {**state, "error": str(exc)})
                break
            delivered += 1
            _move(ctx, outbox, sub_id, {"seq": event.seq, "attempts": 0, "next": 0.0, "error": None})
    return DeliveryReport(delivered, failed, dead)


def _move(
    ctx: VaultContext,
    outbox: Outbox,
    sub_id: str,
    cursor: dict[str, Any],
    *,
    dead_letter: tuple[int, dict[str, Any]] | None = None,
) -> None:
    def run(txn: WriteTxn) -> None:
        if outbox.subscription_in(txn, sub_id) is None:
            return  # deleted meanwhile
        current = outbox.cursor_in(txn, sub_id)
        if int(current["seq"]) > int(cursor["seq"]):
            return  # another process moved on already
        outbox.set_cursor_in(txn, sub_id, cursor)
        if dead_letter is not None:
            outbox.dead_letter_in(txn, sub_id, *dead_letter)

    ctx.write(run)


def redeliver(ctx: VaultContext, outbox: Outbox, sub_id: str, seq: int) -> None:
    """Deliver one dead-lettered event again now; on success it leaves the dead-letter list."""
    with ctx.read() as txn:
        doc = outbox.subscription_in(txn, sub_id)
    event = outbox.get(seq)
    if doc is None or event is None:
        raise DeliveryError("the subscription or the event no longer exists")
    deliver(Target.from_doc(doc), event, 0)
    ctx.write(lambda txn: outbox.drop_dead_letter_in(txn, sub_id, seq))


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
                                _log.exception("in-process event subscriber failed; event %s skipped", ev.id)
                        sub.failures = 0
                        sub.position = ev.seq
        finally:
            if audit_local is not None:
                audit_local.event = outer
            self._pumping.release()
