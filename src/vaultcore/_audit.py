"""The tamper-evident audit log.

Every operation, allowed or denied, reads included, appends one event: time, principal,
operation (Azure's names: SecretGet, KeySign, ...), object id with version, result, request
id and caller information. Never a value, key material or credential.

Chain: event *i* carries ``mac_i = HMAC-SHA256(audit_key(term_i), mac_{i-1} || seq_i ||
canonical_json(event_i))`` where ``term_i`` is the keyring term active when it was written.
The chain head (last sequence number and MAC) lives in ``meta``. ``verify()`` walks the
chain and reports the first event that was edited, removed or moved, and a truncated tail.
Retired keyring terms keep their audit key, so rotation keeps old chains verifiable.
Events are sealed by the envelope like every record (object names are hidden at rest).

Durability: a mutation's event commits in the same write transaction as the mutation.
Reads are *group-committed*: queued in memory and appended by a background flusher after
at most ``max_delay`` seconds or ``max_batch`` events, and on ``close()``; ``mode="sync"``
commits each read's event before the read returns; ``mode="off"`` records reads nowhere
(mutations are always audited).
"""

from __future__ import annotations

import atexit
import contextlib
import hmac
import json
import os
import struct
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import IO, TYPE_CHECKING, Any

from ._envelope import RecordType
from ._records import decode, encode
from ._storage import WriteTxn
from .exceptions import IntegrityError, InvalidParameterError

if TYPE_CHECKING:
    from ._context import VaultContext

__all__ = ["AuditEvent", "AuditLog", "AuditVerification"]

AUDIT = b"audit"
META = b"meta"
HEAD_KEY = b"audit_head"
_SEQ = struct.Struct(">Q")
_HEAD = struct.Struct(">Q32s")  # last seq, its chain MAC
_ZERO_MAC = bytes(32)
AUDIT_MODES = ("group", "sync", "off")


@dataclass(frozen=True)
class AuditEvent:
    """One audited operation."""

    seq: int
    time: datetime
    principal: str
    operation: str
    object_id: str | None
    result: str
    request_id: str
    caller: dict[str, Any] = field(default_factory=dict)
    term: int = 0
    mac: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "principal": self.principal,
            "operation": self.operation,
            "object_id": self.object_id,
            "result": self.result,
            "request_id": self.request_id,
            "caller": self.caller,
            "term": self.term,
            "mac": self.mac,
        }


@dataclass(frozen=True)
class AuditVerification:
    """Result of :meth:`AuditLog.verify`."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class PendingEvent:
    """An event being built around one operation."""

    __slots__ = ("caller", "object_id", "operation", "principal", "request_id", "result", "time", "written")

    def __init__(
        self,
        principal: str,
        operation: str,
        object_id: str | None,
        request_id: str,
        caller: dict[str, Any],
        time: float,
    ) -> None:
        self.principal = principal
        self.operation = operation
        self.object_id = object_id
        self.request_id = request_id
        self.caller = caller
        self.time = time
        self.result = "success"
        self.written = False

    def body(self) -> dict[str, Any]:
        return {
            "t": self.time,
            "p": self.principal,
            "o": self.operation,
            "id": self.object_id,
            "r": self.result,
            "q": self.request_id,
            "c": self.caller,
        }


_open_logs: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for log in list(_open_logs):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            log.flush()


class AuditLog:
    """``vault.audit``: appends, group-commits, verifies, filters and exports events."""

    def __init__(
        self, ctx: VaultContext, *, mode: str = "group", max_delay: float = 0.05, max_batch: int = 512
    ) -> None:
        if mode not in AUDIT_MODES:
            raise InvalidParameterError(f"audit mode must be one of {', '.join(AUDIT_MODES)}")
        self._ctx = ctx
        self.mode = mode
        self._max_delay = max_delay
        self._max_batch = max_batch
        self._queue: list[PendingEvent] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._local = threading.local()
        self._pid = os.getpid()
        _open_logs.add(self)

    # -- the operation in progress (set by the operation decorator) --------------------

    @property
    def pending(self) -> PendingEvent | None:
        return getattr(self._local, "event", None)

    @pending.setter
    def pending(self, event: PendingEvent | None) -> None:
        self._local.event = event

    def commit_pending_in(self, txn: WriteTxn, result: object = None) -> Callable[[], None] | None:
        """Called by every write transaction: the operation's event commits with it.

        When the transaction produced a stored version, the event names it (``/secrets/x/<version>``).
        The store may run a write function more than once (it retries after growing the map),
        so nothing here changes the event: the caller runs the returned function once the
        transaction has committed, which marks the event written under the committed name.
        """
        event = self.pending
        if event is None or event.written:
            return None
        object_id = event.object_id
        rec = result[-1] if isinstance(result, tuple) and result else result
        if isinstance(rec, list) and len(rec) == 1:
            rec = rec[0]
        version = getattr(rec, "version", None)
        if isinstance(version, str) and object_id and object_id.count("/") == 2:
            object_id = f"{object_id}/{version}"
        self._append_in(txn, [event], object_id)

        def committed() -> None:
            event.object_id = object_id
            event.written = True

        return committed

    # -- appending ---------------------------------------------------------------------

    def _append_in(self, txn: WriteTxn, events: list[PendingEvent], object_id: str | None = None) -> None:
        """Append *events* in *txn* (*object_id*, if given, replaces a single event's)."""
        ring = self._ctx.keyring
        term = ring.active_term
        key = ring.audit_key(term)
        seq, mac = _chain_end(txn)
        keys: list[bytes] = []
        plains: list[bytes] = []
        for event in events:
            seq += 1
            body = event.body()
            if object_id is not None:
                body["id"] = object_id
            mac = _chain(key, mac, seq, body)
            keys.append(_SEQ.pack(seq))
            plains.append(encode({"s": seq, "e": body, "k": term, "m": mac.hex()}))
        for k, blob in zip(keys, self._ctx.envelope.seal_many(RecordType.AUDIT, keys, plains)):
            txn.put(AUDIT, k, blob)
        txn.put(META, HEAD_KEY, _SEQ.pack(seq) + mac)

    def append_in(self, txn: WriteTxn, events: list[PendingEvent]) -> None:
        """Append *events* inside the caller's write transaction (they commit with it)."""
        self._append_in(txn, events)
        for event in events:
            event.written = True

    def record(self, event: PendingEvent, *, durable: bool = False) -> None:
        """An event that did not commit with a mutation (a read, a denial, a failure).

        *durable*: the event of a mutation made outside an operation's write transaction; it
        commits before this returns, in every mode (``"off"`` drops only successful reads).
        """
        if event.written:
            return
        if not durable and self.mode == "off" and event.result == "success":
            return
        if durable or self.mode == "sync" or self._ctx.closed:
            if not self._ctx.closed:
                self._ctx.write(lambda txn: self._append_in(txn, [event]))
            event.written = True
            return
        with self._cond:
            if os.getpid() != self._pid:
                self._reset_after_fork()
            self._queue.append(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vaultcore-audit", daemon=True)
                self._thread.start()
            if len(self._queue) >= self._max_batch:
                self._cond.notify()

    def _reset_after_fork(self) -> None:
        self._queue = []
        self._thread = None
        self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._queue:
                    return
                if len(self._queue) < self._max_batch and not self._stopping:
                    self._cond.wait(self._max_delay)
            self.flush()

    def flush(self) -> None:
        """Commit queued read events now (called on close and at interpreter exit)."""
        with self._cond:
            batch, self._queue = self._queue, []
        if batch and not self._ctx.closed:
            self._ctx.write(lambda txn: self._append_in(txn, batch))

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        _open_logs.discard(self)

    # -- reading -----------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, bytes, bytes]]:
        with self._ctx.read() as txn:
            rows = list(txn.scan(AUDIT))
        for key, blob in rows:
            yield _SEQ.unpack(key)[0], key, blob

    def _decode(self, key: bytes, blob: bytes) -> dict[str, Any]:
        head, _ = decode(self._ctx.envelope.open(RecordType.AUDIT, key, blob))
        return head

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        principal: str | None = None,
        operation: str | None = None,
    ) -> Iterator[AuditEvent]:
        """Events in order, filtered by time window, principal and operation name."""
        self.flush()
        lo = since.timestamp() if since else None
        hi = until.timestamp() if until else None
        out = []
        for _, key, blob in self._records():
            rec = self._decode(key, blob)
            body = rec["e"]
            if lo is not None and body["t"] < lo:
                continue
            if hi is not None and body["t"] > hi:
                continue
            if principal is not None and body["p"] != principal:
                continue
            if operation is not None and body["o"] != operation:
                continue
            out.append(_to_event(rec))
        return iter(out)

    def verify(self) -> AuditVerification:
        """Walk the chain; report the first edited, missing or reordered event.

        Event 1 is always the vault's creation (it commits with the vault), so an emptied or
        replaced log is reported at seq 1. The chain head must match the last event, so a
        truncated tail is reported at the first missing seq.
        """
        self.flush()
        ring = self._ctx.keyring
        mac = _ZERO_MAC
        expected = 1
        count = 0
        with self._ctx.read() as txn:  # events and head from one snapshot: writers may be busy
            rows = list(txn.scan(AUDIT))
            head = txn.get(META, HEAD_KEY)
        if not rows:
            return AuditVerification(False, 0, 1, "the log is empty: every event was removed")
        for key, blob in rows:
            seq = _SEQ.unpack(key)[0]
            if seq != expected:
                return AuditVerification(False, count, expected, f"event {expected} is missing (next stored is {seq})")
            try:
                rec = self._decode(key, blob)
                body = rec["e"]
                term = int(rec["k"])
                stored_mac = bytes.fromhex(rec["m"])
                if int(rec["s"]) != seq:
                    return AuditVerification(False, count, seq, f"event {seq} was moved (it claims to be {rec['s']})")
                want = _chain(ring.audit_key(term), mac, seq, body)
                genesis = seq != 1 or body["o"] == "VaultCreate"
            except (IntegrityError, KeyError, TypeError, ValueError):
                return AuditVerification(False, count, seq, f"event {seq} was edited or moved (authentication failed)")
            if not hmac.compare_digest(want, stored_mac):
                return AuditVerification(
                    False, count, seq, f"event {seq} was edited, or an earlier event was removed or reordered"
                )
            if not genesis:
                return AuditVerification(False, count, 1, "event 1 is not the vault's creation: the log was replaced")
            mac = stored_mac
            expected += 1
            count += 1
        if head is not None and len(head) == _HEAD.size:
            last, head_mac = _HEAD.unpack(head)
            if last > count:
                return AuditVerification(
                    False, count, count + 1, f"events {count + 1}..{last} are missing (log truncated)"
                )
            if last < count:
                return AuditVerification(False, count, last + 1, f"the chain head was rolled back to event {last}")
            if not hmac.compare_digest(head_mac, mac):
                return AuditVerification(False, count, last, "the chain head does not match the last event")
        else:
            return AuditVerification(
                False, count, count + 1, f"the chain head is missing or damaged: events after {count} may be missing"
            )
        return AuditVerification(True, count)

    def export(self, fp: IO[str], **filters: Any) -> int:
        """Write events as JSON lines (same filters as :meth:`events`); returns the count."""
        n = 0
        for event in self.events(**filters):
            fp.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
            n += 1
        return n


def _chain_end(txn: WriteTxn) -> tuple[int, bytes]:
    """Where the next event chains on: (last seq, its MAC) from the head.

    If the head is missing, damaged or older than the newest stored event, the store was
    edited: continue after the newest event (never overwrite one) on a chain that starts
    afresh, which verify() reports as broken at that point.
    """
    head = txn.get(META, HEAD_KEY)
    last = txn.last_with_prefix(AUDIT, b"")
    stored = _SEQ.unpack(last[0])[0] if last is not None and len(last[0]) == _SEQ.size else 0
    if head is not None and len(head) == _HEAD.size:
        seq, mac = _HEAD.unpack(head)
        if seq >= stored:  # (greater: tail events were removed; verify() reports the gap)
            return int(seq), bytes(mac)
    return stored, _ZERO_MAC


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _chain(key: bytes, prev: bytes, seq: int, body: dict[str, Any]) -> bytes:
    return hmac.new(key, prev + _SEQ.pack(seq) + _canonical(body), sha256).digest()


def _to_event(rec: dict[str, Any]) -> AuditEvent:
    body = rec["e"]
    return AuditEvent(
        seq=int(rec["s"]),
        time=datetime.fromtimestamp(body["t"], UTC),
        principal=body["p"],
        operation=body["o"],
        object_id=body["id"],
        result=body["r"],
        request_id=body["q"],
        caller=dict(body["c"]),
        term=int(rec["k"]),
        mac=rec["m"],
    )
