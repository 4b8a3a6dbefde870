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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vaultcore.events._outbox import Outbox
from vaultcore.events._schema import Event
from vaultcore.events._webhook import DeliveryError, Target, deliver
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["RETRY_SCHEDULE", "DeliveryReport", "deliver_pending", "redeliver"]

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
