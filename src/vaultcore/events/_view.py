"""``vault.events``: read the outbox, subscribe in process, manage webhook subscriptions.

Subscriptions are vault objects: stored sealed in the vault (so ``backup_to`` copies them),
every call audited, and role-protected by vaultcore's data actions ``events/read`` (read the
event stream, in-process subscribers), ``eventSubscriptions/read`` and
``eventSubscriptions/write`` (see docs/access.md).
"""

from __future__ import annotations

import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, operation
from vaultcore.access._roles import DataAction as A
from vaultcore.crypto import _bindings
from vaultcore.events._delivery import DeliveryReport, deliver_pending, redeliver
from vaultcore.events._local import LocalHub, LocalSubscription, attach
from vaultcore.events._schema import Event, full_type
from vaultcore.events._webhook import DeliveryError, Target, check_url, handshake
from vaultcore.exceptions import ConflictError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["DeadLetter", "EventsView", "NewSubscription", "SubscriptionInfo", "attach"]

SCHEMAS = ("eventgrid", "cloudevents")
_MAX_SUBSCRIPTIONS = 100


@dataclass(frozen=True)
class SubscriptionInfo:
    """A webhook subscription as listed (never its HMAC secret)."""

    id: str
    url: str
    types: tuple[str, ...]
    schema: str
    created_on: datetime
    max_attempts: int
    verify_tls: bool
    ca_file: str | None
    position: int = 0
    attempts: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "types": list(self.types),
            "schema": self.schema,
            "created_on": self.created_on.isoformat(),
            "max_attempts": self.max_attempts,
            "verify_tls": self.verify_tls,
            "ca_file": self.ca_file,
            "position": self.position,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class NewSubscription:
    """A created subscription and its HMAC secret (hex), returned this once only."""

    info: SubscriptionInfo
    secret: str = field(repr=False)

    @property
    def id(self) -> str:
        return self.info.id


@dataclass(frozen=True)
class DeadLetter:
    """An event a subscription gave up on after ``attempts`` failed deliveries."""

    subscription_id: str
    seq: int
    event_id: str
    attempts: int
    error: str
    time: datetime
    event: Event | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "seq": self.seq,
            "event_id": self.event_id,
            "attempts": self.attempts,
            "error": self.error,
            "time": self.time.isoformat(),
            "event": self.event.to_event_grid() if self.event else None,
        }


def _types(types: Iterable[str] | str | None) -> frozenset[str] | None:
    if types is None:
        return None
    if isinstance(types, str):
        types = [t for t in types.split(",") if t.strip()]
    found = frozenset(full_type(t.strip()) for t in types)
    return found or None


class EventsView:
    """``vault.events`` (per principal view; the outbox and in-process hub are per vault)."""

    def __init__(self, ctx: VaultContext, session: Session) -> None:
        self._ctx = ctx
        self._session = session
        self._outbox = attach(ctx)

    @property
    def _hub(self) -> LocalHub:
        hub: LocalHub = self._outbox.local
        return hub

    # -- the event stream --------------------------------------------------------------

    @operation("EventRead", A.EVENTS_READ)
    def read(
        self, after: int = 0, *, types: Iterable[str] | str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events with ``seq > after``, oldest first (of *types*: ``SecretExpired`` or full names)."""
        return self._outbox.read(int(after), _types(types), limit)

    def __iter__(self) -> Iterator[Event]:
        """Every event the outbox holds, oldest first (``list(vault.events)``)."""
        return iter(self.read())

    @operation("EventRead", A.EVENTS_READ)
    def head(self) -> int:
        """The seq of the newest event (start a :meth:`listen` or :meth:`read` from here)."""
        return self._outbox.head()

    @operation("EventListen", A.EVENTS_READ)
    def listen(
        self,
        types: Iterable[str] | str | None = None,
        *,
        after: int | None = None,
        follow: bool = True,
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> Iterator[Event]:
        """An iterator over events after *after* (default: from now on).

        With *follow* it waits for new events (polling the store every *poll* seconds, so
        events of other processes arrive too) until *timeout* seconds pass without one;
        without, it ends when it has caught up. For tests: ``next(it)`` after a change.
        """
        wanted = _types(types)
        start = self._outbox.head() if after is None else int(after)
        return self._iterate(start, wanted, follow, timeout, poll)

    def _iterate(
        self, position: int, wanted: frozenset[str] | None, follow: bool, timeout: float | None, poll: float
    ) -> Iterator[Event]:
        idle_since = time.monotonic()
        while True:
            batch = self._outbox.read(position, limit=500)
            for ev in batch:
                position = ev.seq
                if wanted is None or ev.type in wanted:
                    yield ev
            if batch:
                idle_since = time.monotonic()
                continue
            if not follow or (timeout is not None and time.monotonic() - idle_since >= timeout):
                return
            time.sleep(poll)

    @operation("EventSubscribe", A.EVENTS_READ)
    def subscribe(
        self, callback: Callable[[Event], object], types: Iterable[str] | str | None = None
    ) -> LocalSubscription:
        """Call *callback(event)* for every new event (of *types*) in this process.

        Events committed by this process are delivered right after the commit, in the
        committing thread; events of other processes when the scheduler (or :meth:`pump`)
        runs. ``close()`` the returned subscription to stop.
        """
        if not callable(callback):
            raise InvalidParameterError("callback must be callable")
        return self._hub.add(callback, _types(types))

    def pump(self) -> int:
        """Deliver pending events to in-process subscribers now; returns callbacks run."""
        return self._hub.pump()

    # -- webhook subscriptions ---------------------------------------------------------

    @operation("EventSubscriptionCreate", A.EVENT_SUBSCRIPTIONS_WRITE)
    def create_subscription(
        self,
        url: str,
        types: Iterable[str] | str | None = None,
        *,
        schema: str = "eventgrid",
        ca_file: str | None = None,
        verify_tls: bool = True,
        max_attempts: int = 30,
        validate: bool = True,
    ) -> NewSubscription:
        """Deliver events (of *types*, default all) to the HTTPS webhook *url*.

        *schema* is ``eventgrid`` or ``cloudevents``; *ca_file* the CA bundle to verify
        the receiver with (default: the system's); *verify_tls* False is for tests only.
        Unless *validate* is False the endpoint must pass the validation handshake first.
        Delivery starts with the events after this call. Returns the subscription and its
        HMAC secret (shown once: the receiver checks ``X-Vaultcore-Signature`` with it).
        """
        url = check_url(url)
        if schema not in SCHEMAS:
            raise InvalidParameterError(f"schema must be one of {', '.join(SCHEMAS)}")
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or not 1 <= max_attempts <= 100:
            raise InvalidParameterError("max_attempts must be an integer from 1 to 100")
        if ca_file is not None and not isinstance(ca_file, str):
            raise InvalidParameterError("ca_file must be a path")
        wanted = sorted(_types(types) or ())
        secret = _secrets.token_hex(32)
        sub_id = _bindings.random_bytes(16).hex()
        doc = {
            "id": sub_id,
            "url": url,
            "types": wanted,
            "schema": schema,
            "secret": secret,
            "ca_file": ca_file,
            "verify_tls": bool(verify_tls),
            "max_attempts": max_attempts,
            "created": self._ctx.now(),
        }
        if validate:
            handshake(Target.from_doc(doc), self._ctx.settings.name)
        outbox = self._outbox

        def run(txn: WriteTxn) -> int:
            if len(outbox.subscriptions_in(txn)) >= _MAX_SUBSCRIPTIONS:
                raise ConflictError(f"a vault holds at most {_MAX_SUBSCRIPTIONS} event subscriptions")
            outbox.put_subscription_in(txn, doc)
            position = outbox.head_in(txn)
            outbox.set_cursor_in(txn, sub_id, {"seq": position, "attempts": 0, "next": 0.0, "error": None})
            return position

        position = self._ctx.write(run)
        return NewSubscription(_info(doc, {"seq": position, "attempts": 0}), secret)

    @operation("EventSubscriptionList", A.EVENT_SUBSCRIPTIONS_READ)
    def list_subscriptions(self) -> list[SubscriptionInfo]:
        with self._ctx.read() as txn:
            return [_info(doc, self._outbox.cursor_in(txn, doc["id"])) for doc in self._outbox.subscriptions_in(txn)]

    @operation("EventSubscriptionDelete", A.EVENT_SUBSCRIPTIONS_WRITE)
    def delete_subscription(self, subscription_id: str) -> None:
        def run(txn: WriteTxn) -> None:
            if not self._outbox.delete_subscription_in(txn, subscription_id):
                raise NotFoundError(f"event subscription {subscription_id} was not found")

        self._ctx.write(run)

    @operation("EventDeadLetterList", A.EVENT_SUBSCRIPTIONS_READ)
    def dead_letters(self, subscription_id: str | None = None) -> list[DeadLetter]:
        """Events that failed every delivery attempt, per subscription, oldest first."""
        with self._ctx.read() as txn:
            rows = self._outbox.dead_letters_in(txn, subscription_id)
        return [
            DeadLetter(
                sub,
                seq,
                str(doc.get("id", "")),
                int(doc["attempts"]),
                str(doc["error"]),
                datetime.fromtimestamp(doc["time"], UTC),
                self._outbox.get(seq),
            )
            for sub, seq, doc in rows
        ]

    @operation("EventRedeliver", A.EVENT_SUBSCRIPTIONS_WRITE)
    def redeliver(self, subscription_id: str, seq: int) -> None:
        """Deliver a dead-lettered event again now (it leaves the list when the receiver takes it)."""
        with self._ctx.read() as txn:
            known = any(s == subscription_id and q == seq for s, q, _ in self._outbox.dead_letters_in(txn))
        if not known:
            raise NotFoundError(f"no dead-lettered event {seq} for subscription {subscription_id}")
        try:
            redeliver(self._ctx, self._outbox, subscription_id, seq)
        except DeliveryError as exc:
            raise ConflictError(f"redelivery failed: {exc}") from None

    @operation("EventDeliver", A.EVENT_SUBSCRIPTIONS_WRITE)
    def deliver(self) -> DeliveryReport:
        """Run one webhook delivery pass now (the scheduler does this on every tick)."""
        return deliver_pending(self._ctx, self._outbox)


def _info(doc: dict[str, Any], cursor: dict[str, Any]) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=doc["id"],
        url=doc["url"],
        types=tuple(doc["types"]),
        schema=doc["schema"],
        created_on=datetime.fromtimestamp(doc["created"], UTC),
        max_attempts=int(doc["max_attempts"]),
        verify_tls=bool(doc.get("verify_tls", True)),
        ca_file=doc.get("ca_file"),
        position=int(cursor.get("seq", 0)),
        attempts=int(cursor.get("attempts", 0)),
        last_error=cursor.get("error"),
    )
