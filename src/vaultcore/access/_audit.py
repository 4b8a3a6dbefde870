"""The tamper-evident audit log.

Every operation, allowed or denied, reads included, appends one event: time, principal,
operation (Azure's names: SecretGet, KeySign, ...), object id with version, result, request
id and caller information. Never a value, key material or credential.

Record layout. Events are stored in *segments*: the events one transaction appended (one
for a mutation, up to ``SEGMENT_EVENTS`` for a group commit of reads). A segment is stored under
the seq of its last event (8 bytes, big-endian), sealed by the envelope like every record
(object names stay hidden at rest), and its plaintext has the ``engine._records`` layout::

    u32 length || {"k": term, "n": count, "s": first seq} || event_1 || ... || event_n
    event_i = mac_i (32 bytes) || u32 length || body_i

``body_i`` is the event as canonical JSON (sorted keys, ASCII, no spaces)::

    {"c": caller, "id": object id, "o": operation, "p": principal, "q": request id,
     "r": result, "t": unix time}

``t`` is seconds since the epoch as a JSON number with microseconds (``1796533133.244761``;
events written before this format used Python's shortest float ``repr``: both read the same).

Chain: ``mac_i = HMAC-SHA256(audit_key(term_i), mac_{i-1} || seq_i || body_i)`` with
``mac_0`` 32 zero bytes and ``term_i`` the keyring term active when the event was written.
The MAC covers the stored body bytes exactly (``verify`` never re-serialises). The chain
head, ``seq || mac`` of the last event, lives in ``meta``. ``verify()`` walks the chain and
reports the first event that was edited, removed or moved, a truncated tail and a wiped log
(event 1 is always the vault's creation). Without the keys, the unit an attacker can remove,
move or damage is a sealed segment, and ``verify()`` names its first event; an edit by a key
holder is caught by the chain at the exact event. Retired keyring terms keep their audit key,
so rotation keeps old chains verifiable. (One seal and one store write per segment instead
of per event is what keeps auditing every read cheap; the segment's MACs are computed in
one native call, ``vc_audit_chain``, while ``verify`` recomputes them in Python.)

Durability: a mutation's event commits in the same write transaction as the mutation.
Reads are *group-committed*: queued in C memory (``vc_auditq``: bodies in order; the fused
``get_secret`` queues its own event there, built in C from a template, with no Python step)
and appended by a background flusher at most ``max_delay`` seconds after the first queued
event, at once when ``flush_batch`` events wait (``max_batch``, or one segment's worth on LMDB),
and on ``close()``; a crash loses at most the reads of that window. A flush chains and seals
the queued events in C with the GIL released; on LMDB the flusher thread waits and commits in
C (``vc_audit_flusher``: read the chain's end, seal, put, commit, flush, with no Python step)
and returns to Python only for what the general commit must handle (another keyring
generation, a chain to restart, a full map, a resize, fork or close under way), so it never
takes the GIL from readers. A failed flush leaves the events queued, in order; a reader that finds ``16 x
max_batch`` events waiting (the flusher lags) flushes them itself, so the queue never drops
an event and never grows without bound. ``mode="sync"`` commits
each read's event before the read returns; ``mode="off"`` does not record successful reads
(mutations, denials and failures are always recorded).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from typing import IO, TYPE_CHECKING, Any

from vaultcore.access._audit_read import AUDIT, HEAD, HEAD_KEY, META, SEQ, ZERO_MAC, open_segment, to_event, walk_chain
from vaultcore.crypto import _bindings
from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._context import generation_record
from vaultcore.exceptions import InvalidParameterError
from vaultcore.storage._interface import AuditCommit, WriteTxn

if TYPE_CHECKING:
    from vaultcore.access._audit_records import AuditEvent, AuditVerification
    from vaultcore.engine._context import VaultContext

__all__ = ["AUDIT", "HEAD_KEY", "META", "AuditLog", "PendingEvent", "caller_json"]

#: The flusher may lag this many batches behind before a queuing thread flushes itself.
_BACKLOG = 16
#: Events per sealed segment of a group commit (a commit of more writes several segments).
SEGMENT_EVENTS = 512
#: Request ids of events the fused read queues: its own prefix, a counter in C.
_NATIVE_REQ_PREFIX = os.urandom(4).hex()
AUDIT_MODES = ("group", "sync", "off")


def caller_json(caller: dict[str, Any]) -> str:
    """The canonical JSON of caller information (values that are not JSON become strings)."""
    return json.dumps(caller, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


class _Mac:
    """HMAC-SHA256 (RFC 2104) under one key, with the keyed pad states hashed once.

    ``hmac.digest`` re-keys (and fetches the digest from OpenSSL) on every call; the audit
    chain MACs every event under the same key, and this is ~3x cheaper per event.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = sha256(bytes(b ^ 0x36 for b in key))
        self._outer = sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_esc = encode_basestring_ascii

#: The constant pieces of a body around its object id and request id, per (caller JSON,
#: operation, principal, result): events of one session and operation share them, so a body
#: is two escapes, one time format and one join (bounded; cleared when full).
_pieces: dict[tuple[str, str, str, str], tuple[str, str, str]] = {}


def _pieces_of(cj: str, operation: str, principal: str, result: str) -> tuple[str, str, str]:
    key = (cj, operation, principal, result)
    found = _pieces.get(key)
    if found is None:
        if len(_pieces) > 1024:
            _pieces.clear()
        found = _pieces[key] = (
            '{"c":%s,"id":' % cj,  # noqa: UP031
            ',"o":%s,"p":%s,"q":' % (_esc(operation), _esc(principal)),  # noqa: UP031
            ',"r":%s,"t":' % _esc(result),  # noqa: UP031
        )
    return found


#: A body with its time as a JSON number of seconds with microseconds, formatted from
#: integers (``repr`` of a float costs ~0.8 us, a third of an event's serialisation);
#: ``_BODY_REPR`` for a time before 1970.
_BODY_US = '{"c":%s,"id":%s,"o":%s,"p":%s,"q":%s,"r":%s,"t":%d.%06d}'
_BODY_REPR = '{"c":%s,"id":%s,"o":%s,"p":%s,"q":%s,"r":%s,"t":%r}'


def _js(value: object) -> str:
    return "null" if value is None else _esc(str(value))


class PendingEvent:
    """An event being built around one operation.

    *caller_json* is :func:`caller_json` of *caller*, when the caller has it already (a
    session computes it once), so that serialising the event costs no JSON encoding.
    """

    __slots__ = (
        "caller",
        "caller_json",
        "object_id",
        "operation",
        "principal",
        "request_id",
        "result",
        "time",
        "written",
    )

    def __init__(
        self,
        principal: str,
        operation: str,
        object_id: str | None,
        request_id: str,
        caller: dict[str, Any],
        time: float,
        caller_json: str | None = None,
    ) -> None:
        self.principal = principal
        self.operation = operation
        self.object_id = object_id
        self.request_id = request_id
        self.caller = caller
        self.caller_json = caller_json
        self.time = time
        self.result = "success"
        self.written = False

    def canonical(self, object_id: str | None = None) -> bytes:
        """The event's body as canonical JSON (see the module docstring); *object_id* overrides."""
        oid = self.object_id if object_id is None else object_id
        cj = self.caller_json if self.caller_json is not None else caller_json(self.caller)
        when = float(self.time)
        micros = round(when * 1_000_000)
        try:  # every field is a str in practice
            if micros >= 0:
                head, middle, tail = _pieces_of(cj, self.operation, self.principal, self.result)
                seconds, fraction = divmod(micros, 1_000_000)
                oid_json = "null" if oid is None else _esc(oid)
                return f"{head}{oid_json}{middle}{_esc(self.request_id)}{tail}{seconds}.{fraction:06d}}}".encode()
            fields = (
                "null" if oid is None else _esc(oid),
                _esc(self.operation),
                _esc(self.principal),
                _esc(self.request_id),
                _esc(self.result),
            )
        except TypeError:
            fields = (_js(oid), _js(self.operation), _js(self.principal), _js(self.request_id), _js(self.result))
            if micros >= 0:
                return (_BODY_US % (cj, *fields, *divmod(micros, 1_000_000))).encode()
        return (_BODY_REPR % (cj, *fields, when)).encode()


_open_logs: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for log in list(_open_logs):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            log.flush()


def _reset_all_after_fork() -> None:
    for log in list(_open_logs):
        log._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class AuditLog:
    """``vault.audit``: appends, group-commits, verifies, filters and exports events."""

    def __init__(
        self, ctx: VaultContext, *, mode: str = "group", max_delay: float = 0.05, max_batch: int = 4096
    ) -> None:
        if mode not in AUDIT_MODES:
            raise InvalidParameterError(f"audit mode must be one of {', '.join(AUDIT_MODES)}")
        self._ctx = ctx
        self.mode = mode
        self._max_delay = max_delay
        self._max_batch = max_batch
        self._local = threading.local()
        self._macs: dict[bytes, _Mac] = {}
        self._reset_after_fork()
        _open_logs.add(self)

    def _reset_after_fork(self) -> None:
        """Fresh queue and flusher state (also in a forked child: the parent's thread is gone)."""
        # The queue lives in C (the fused read queues its events there without Python); a
        # forked child starts a new one and leaves the inherited one, which the parent flushes.
        self._queue = _bindings.AuditQueue()
        self._templates: dict[tuple[Any, str], _bindings.EventTemplate] = {}  # (session, operation)
        self._flush_lock = threading.Lock()  # batches commit one at a time, in queue order
        self._start_lock = threading.Lock()  # makes each read template once
        self._flusher_lock = threading.Lock()  # starts the flusher thread once
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- the operation in progress (set by the operation decorator) --------------------

    @property
    def pending(self) -> PendingEvent | None:
        return self._local.__dict__.get("event")  # (getattr raises and catches when unset)

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
        self._append_in(txn, [event.canonical(object_id)])

        def committed() -> None:
            event.object_id = object_id
            event.written = True

        return committed

    # -- appending ---------------------------------------------------------------------

    def _append_in(self, txn: WriteTxn, bodies: list[bytes]) -> None:
        """Chain event *bodies* (canonical JSON) and store them as segments in *txn*."""
        queue = _bindings.AuditQueue()
        for body in bodies:
            queue.push(body)
        self._seal_in(txn, queue, *queue.pending())

    def _seal_in(self, txn: WriteTxn, queue: _bindings.AuditQueue, n: int, size: int) -> None:
        """Chain the first *n* events of *queue* (*size* body bytes) onto the log's end and
        store them in *txn* as segments of at most ``SEGMENT_EVENTS`` (or ``max_batch``, if
        fewer) events, with the new head.

        The MACs and seals are one native call (GIL released); ``verify`` recomputes the
        chain in Python. The queue is unchanged: the caller consumes after the commit.
        """
        term, kek, aad_head = self._ctx.envelope.seal_params(RecordType.AUDIT)
        audit_key = self._ctx.keyring.audit_key(term)
        seq, mac, rolled_to = _chain_end(txn)
        step = min(self._max_batch, SEGMENT_EVENTS)
        # (rolled_to: the restart keeps where the rolled-back head pointed, in its first segment)
        blobs, mac = queue.seal(n, size, step, audit_key, mac, seq + 1, term, rolled_to, kek, aad_head)
        for blob in blobs:
            seq += min(step, n)
            n -= step
            txn.put(AUDIT, SEQ.pack(seq), blob)
        txn.put(META, HEAD_KEY, HEAD.pack(seq, mac))

    def _mac(self, key: bytes) -> _Mac:
        mac = self._macs.get(key)
        if mac is None:
            if len(self._macs) > 8:  # a few keyring terms at most
                self._macs.clear()
            mac = self._macs[key] = _Mac(key)
        return mac

    def append_in(self, txn: WriteTxn, events: list[PendingEvent]) -> None:
        """Append *events* inside the caller's write transaction (they commit with it)."""
        self._append_in(txn, [event.canonical() for event in events])
        for event in events:
            event.written = True

    def _write(self, events: list[PendingEvent]) -> None:
        bodies = [event.canonical() for event in events]
        self._ctx.write(lambda txn: self._append_in(txn, bodies), with_event=False)

    def record(self, event: PendingEvent, *, durable: bool = False) -> None:
        """An event that did not commit with a mutation (a read, a denial, a failure).

        *durable*: the event of a mutation made outside an operation's write transaction; it
        commits before this returns, in every mode (``"off"`` drops only successful reads).
        """
        if event.written:
            return
        if durable or self.mode == "sync":
            if not self._ctx.closed:
                self._write([event])
            event.written = True
            return
        if self.mode == "off" and event.result == "success":
            return
        if self._ctx.closed:
            return
        event.written = True  # queued: the flusher owns it now
        waiting = self._queue.push(event.canonical())
        if self._thread is None:
            self._start_flusher()
        if waiting >= self.backlog:
            self.flush()

    @property
    def backlog(self) -> int:
        """Events waiting beyond which a queuing thread flushes them itself (the flusher
        lags): back-pressure, so the queue never drops an event nor grows without bound."""
        return _BACKLOG * self._max_batch

    def read_template(self, session: Any, operation: str, id_prefix: str) -> _bindings.EventTemplate | None:
        """The C template of a successful event of *operation* by *session* whose object id
        starts with *id_prefix* (the fused read's ``/secrets/``, then the record's
        ``NAME/VERSION``; ``""`` for :meth:`EventTemplate.push`), to queue it without Python;
        ``NO_EVENT`` when successful reads are not recorded (mode ``"off"``); None when every
        event must go through :meth:`record` (mode ``"sync"``: it commits before the read
        returns). Made once per (session, operation) and kept as long as this log (or
        until a fork): a template is never replaced while a reader may hold it."""
        if self.mode != "group":
            return _bindings.NO_EVENT if self.mode == "off" else None
        key = (session, operation)
        template = self._templates.get(key)
        if template is None:
            with self._start_lock:
                template = self._templates.get(key)
                if template is None:
                    head, middle, tail = _pieces_of(session.caller_json, operation, session.principal, "success")
                    template = self._templates[key] = self._queue.template(
                        f'{head}"{id_prefix}'.encode(),
                        f'{middle}"{_NATIVE_REQ_PREFIX}-'.encode(),
                        f'"{tail}'.encode(),
                    )
            if self._thread is None:
                self._start_flusher()
        return template

    @property
    def flush_batch(self) -> int:
        """Events waiting that wake the flusher before ``max_delay``. A store that commits in
        one native call (LMDB) lets it commit a segment's worth at a time beside the readers;
        otherwise each commit's many calls into C hand the GIL back and forth with them, and
        fewer, larger batches (``max_batch``) cost the readers less."""
        if getattr(self._ctx.store, "commit_audit", None) is not None:
            return min(self._max_batch, SEGMENT_EVENTS)
        return self._max_batch

    def _start_flusher(self) -> None:
        with self._flusher_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="vaultcore-audit", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        """The flusher: waits in C (GIL released) for the first event of a round, then for a
        full batch or ``max_delay``, and commits; a push wakes it, so readers never do. On a
        store with a native loop (LMDB) it waits and commits in C and comes back here only
        to stop or for a commit that :meth:`flush` must make (it never takes the GIL from
        the readers meanwhile)."""
        queue = self._queue
        batch = self.flush_batch
        native: Callable[..., bool] | None = getattr(self._ctx.store, "run_audit_flusher", None)
        # The first wait before any other Python step: a thread that starts beside a first
        # read (a cold start) does not take the GIL from it.
        stopped = queue.wait(batch, self._max_delay)
        while True:
            try:
                self.flush()
            except Exception:  # the events stay queued, in order: retry after a delay
                if self._stopping:
                    return
                time.sleep(max(self._max_delay, 0.01))
            if stopped or self._ctx.closed:
                return
            try:
                args = None if native is None else self._native_args(queue)
                if native is None or args is None:
                    stopped = queue.wait(batch, self._max_delay)
                else:
                    stopped = native(args, batch, self._max_delay)
            except Exception:  # (the vault closed under it: the wait here, the checks above end the loop)
                stopped = queue.wait(batch, self._max_delay)

    def flush(self) -> None:
        """Commit queued read events now (called on close, before reading the log, at exit)."""
        with self._flush_lock:
            queue = self._queue
            if not queue.pending()[0] or self._ctx.closed:
                return
            queue.flush_begin()
            try:
                n, size = queue.pending()  # (the native flusher may have committed some meanwhile)
                if not n:
                    return
                commit: Callable[..., int | None] | None = getattr(self._ctx.store, "commit_audit", None)
                args = None if commit is None else self._native_args(queue)
                if commit is not None and args is not None and commit(args) is not None:
                    return
                # A failed write consumes nothing: the events stay queued, in order, for the next flush.
                self._ctx.write(lambda txn: self._seal_in(txn, queue, n, size), with_event=False)
                queue.consume(n)
            finally:
                queue.flush_end()

    def _native_args(self, queue: _bindings.AuditQueue) -> AuditCommit | None:
        """The arguments of a store's native commit of *queue* (``commit_audit``, and
        ``run_audit_flusher`` before its batch and delay): databases, queue, events per
        segment, the keyring generation it must find, the head's key, and the keys (audit
        key, term, KEK, AAD head). None if another thread adopted a new keyring meanwhile."""
        ctx = self._ctx
        ring = ctx.keyring
        term, kek, aad_head = ctx.envelope.seal_params(RecordType.AUDIT)
        if ctx.keyring is not ring:
            return None
        keys = (ring.audit_key(term), term, kek, aad_head)
        step = min(self._max_batch, SEGMENT_EVENTS)
        return AuditCommit((META, AUDIT), queue.native, step, generation_record(ring), HEAD_KEY, keys)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._stopping = True
            self._queue.stop()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
            _open_logs.discard(self)

    # -- reading -----------------------------------------------------------------------

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        principal: str | None = None,
        operation: str | None = None,
    ) -> Iterator[AuditEvent]:
        """Events in order, filtered by time window (inclusive), principal and operation name."""
        self.flush()
        lo = since.timestamp() if since else None
        hi = until.timestamp() if until else None
        with self._ctx.read() as txn:
            rows = list(txn.scan(AUDIT))
        out = []
        for key, blob in rows:
            _, term, first, events = open_segment(self._ctx, key, blob)
            for i, (mac, raw) in enumerate(events):
                body = json.loads(raw)
                if lo is not None and body["t"] < lo:
                    continue
                if hi is not None and body["t"] > hi:
                    continue
                if principal is not None and body["p"] != principal:
                    continue
                if operation is not None and body["o"] != operation:
                    continue
                out.append(to_event(first + i, term, mac, body))
        return iter(out)

    def verify(self) -> AuditVerification:
        """Walk the chain; report the first edited, missing or reordered event.

        Event 1 is always the vault's creation (it commits with the vault), so an emptied or
        replaced log is reported at seq 1. The chain head must match the last event, so a
        truncated tail is reported at the first missing seq.
        """
        self.flush()
        ring = self._ctx.keyring
        with self._ctx.read() as txn:  # events and head from one snapshot: writers may be busy
            rows = list(txn.scan(AUDIT))
            head = txn.get(META, HEAD_KEY)
        return walk_chain(
            rows,
            head,
            lambda key, blob: open_segment(self._ctx, key, blob),
            lambda term: self._mac(ring.audit_key(term)),
        )

    def export(self, fp: IO[str], **filters: Any) -> int:
        """Write events as JSON lines (same filters as :meth:`events`); returns the count."""
        n = 0
        for event in self.events(**filters):
            fp.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
            n += 1
        return n


def _chain_end(txn: WriteTxn) -> tuple[int, bytes, int | None]:
    """Where the next event chains on: (last seq, its MAC, None) from the head.

    If the head is missing, damaged or older than the newest stored event, the store was
    edited: continue after the newest event (never overwrite one) on a chain that starts
    afresh, which verify() reports as broken at that point. The third value is then the
    seq an older head pointed at (kept in the restart's segment so verify() can name the
    first event that head no longer covered).
    """
    head = txn.get(META, HEAD_KEY)
    last_key = getattr(txn, "last_key", None)  # a store that can skip the segment's value (PostgreSQL)
    if last_key is not None:
        key: bytes | None = last_key(AUDIT)
    else:
        last = txn.last_with_prefix(AUDIT, b"")
        key = None if last is None else last[0]
    stored = SEQ.unpack(key)[0] if key is not None and len(key) == SEQ.size else 0
    if head is not None and len(head) == HEAD.size:
        seq, mac = HEAD.unpack(head)
        if seq >= stored:  # (greater: tail events were removed; verify() reports the gap)
            return int(seq), bytes(mac), None
        return stored, ZERO_MAC, int(seq)
    return stored, ZERO_MAC, None
