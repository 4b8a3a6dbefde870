"""The outbox: change events stored in the write transaction of the change that causes them.

Store layout::

    outbox   last seq(8)              -> sealed segment: the events one transaction wrote, JSON
                                         [first seq, [id, type, time, object type, name,
                                         version, nbf, exp], ...]
    evsubs   subscription id(16)      -> sealed subscription (URL, types, schema, HMAC secret, ...)
    evstate  b"seq"                   -> next seq(8) (never reused, even after pruning)
             b"c" | sub id(16)        -> delivery cursor JSON {seq, attempts, next, error}
             b"d" | sub id(16) | seq(8) -> dead letter JSON {attempts, error, time}
             b"x" | objkey(17) | vid(16) | condition(1) -> b"" (expiry event already emitted)
             b"L" | job name          -> job lease: owner(16) | until(8, Unix ms)

Events and subscriptions are sealed like every record (object names and webhook secrets stay
hidden at rest); ``evstate`` holds only numbers, opaque keys and delivery errors.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _esc
from typing import TYPE_CHECKING, Any

from vaultcore.crypto._envelope import RecordType
from vaultcore.events._schema import PREFIX, Event
from vaultcore.exceptions import IntegrityError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["EVSTATE", "EVSUBS", "OUTBOX", "Outbox"]

OUTBOX, EVSUBS, EVSTATE = b"outbox", b"evsubs", b"evstate"
_SEQ = struct.Struct(">Q")
_NEXT = b"seq"
#: Pruning always keeps this many of the newest events.
KEEP_EVENTS = 10_000


#: One event to emit: (event, object_type, name, version, nbf, exp).
EventItem = tuple[str, str, str, str | None, int | None, int | None]


#: A UUIDv4's version nibble and RFC 4122 variant bits, set on random bytes by ``translate``.
_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
#: (hex digit of the 32, its place in the 36-character text form 8-4-4-4-12)
_UUID_TEXT = [(k, k + (k >= 8) + (k >= 12) + (k >= 16) + (k >= 20)) for k in range(32)]


def _uuid4_strs(count: int) -> list[str]:
    """*count* random UUIDv4s in their 8-4-4-4-12 text form, from one random draw: the
    digits of every id are laid out with 32 strided copies, not formatted one id at a time
    (a bulk write makes one event per secret)."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    if count < 32:  # (the layout's fixed cost is that of ~30 ids formatted one by one)
        h = raw.hex()
        return [
            f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
            for i in range(0, 32 * count, 32)
        ]
    digits = raw.hex().encode()
    out = bytearray(b"-" * (36 * count))
    for digit, place in _UUID_TEXT:
        out[place::36] = digits[digit::32]
    text = out.decode()
    return [text[i : i + 36] for i in range(0, 36 * count, 36)]


def _opt(value: str | None) -> str:
    return "null" if value is None else _esc(value)


def _num(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class Outbox:
    """Writes and reads the outbox, subscriptions and delivery state of one vault."""

    def __init__(self, ctx: VaultContext) -> None:
        self._ctx = ctx
        #: Called after every committed write of this process (in-process subscribers).
        self.on_commit: Any = None
        self.local: Any = None  # the in-process subscriber hub (events._delivery.LocalHub)
        self._emitted = threading.local()  # .pending: this thread wrote events since its last commit

    # -- writing events ----------------------------------------------------------------

    def emit_in(
        self,
        txn: WriteTxn,
        event: str,
        object_type: str,
        name: str,
        version: str | None,
        nbf: int | None,
        exp: int | None,
    ) -> int:
        """Append one event to the outbox inside *txn*; returns its seq."""
        return self.emit_many_in(txn, [(event, object_type, name, version, nbf, exp)])

    def emit_many_in(self, txn: WriteTxn, items: Sequence[EventItem]) -> int:
        """Append events ``(event, object_type, name, version, nbf, exp)`` as one sealed
        segment (a bulk write seals and stores once); returns the seq of the last."""
        now = repr(self._ctx.timestamp())
        ids = _uuid4_strs(len(items))
        return self._append(
            txn,
            [
                f'["{ident}","{PREFIX}{event}",{now},"{object_type}",{_esc(name)},{_opt(version)},{_num(nbf)},{_num(exp)}]'
                for ident, (event, object_type, name, version, nbf, exp) in zip(ids, items, strict=True)
            ],
        )

    def emit_same_in(
        self,
        txn: WriteTxn,
        event: str,
        object_type: str,
        names: Sequence[str],
        versions: Sequence[str],
        nbf: int | None,
        exp: int | None,
    ) -> int:
        """:meth:`emit_many_in` of one *event* per (name, version) pair, all with the same
        object type and dates (a bulk write: no tuple per event); returns the seq of the last.
        The names are checked object names and the versions hex ids: nothing to escape."""
        now = repr(self._ctx.timestamp())
        head = f'","{PREFIX}{event}",{now},"{object_type}","'
        tail = f'",{_num(nbf)},{_num(exp)}]'
        ids = _uuid4_strs(len(names))
        return self._append(
            txn,
            [
                f'["{ident}{head}{name}","{version}{tail}'
                for ident, name, version in zip(ids, names, versions, strict=True)
            ],
        )

    def _append(self, txn: WriteTxn, rows: list[str]) -> int:
        """Store events as one segment: each of *rows* is an event's JSON array
        (``[id, type, time, object type, name, version, nbf, exp]``), written by hand."""
        self._emitted.pending = True
        raw = txn.get(EVSTATE, _NEXT)
        first = _SEQ.unpack(raw)[0] if raw else 1
        last = first + len(rows) - 1
        txn.put(EVSTATE, _NEXT, _SEQ.pack(last + 1))
        key = _SEQ.pack(last)
        txn.put(OUTBOX, key, self._ctx.envelope.seal(RecordType.EVENT, key, f"[{first},{','.join(rows)}]".encode()))
        return last

    @property
    def audit(self) -> Any:
        """The vault's audit log (in-process callbacks run outside the current operation's event)."""
        return self._ctx.audit

    def after_commit(self) -> None:
        """After a commit of this process: in-process subscribers, if this thread wrote events."""
        if getattr(self._emitted, "pending", False):
            self._emitted.pending = False
            hook = self.on_commit
            if hook is not None:
                hook()

    # -- reading events ----------------------------------------------------------------

    def head(self) -> int:
        """The seq of the last event written (0 when none yet)."""
        with self._ctx.read() as txn:
            return self.head_in(txn)

    @staticmethod
    def head_in(txn: ReadTxn) -> int:
        raw = txn.get(EVSTATE, _NEXT)
        return _SEQ.unpack(raw)[0] - 1 if raw else 0

    def _segment(self, key: bytes, blob: bytes) -> list[Event]:
        """The events of one stored segment (``[first seq, event, ...]``), in order."""
        first, *rows = json.loads(self._ctx.envelope.open(RecordType.EVENT, key, blob))
        if first + len(rows) - 1 != _SEQ.unpack(key)[0]:
            raise IntegrityError("an outbox segment does not match its key")
        settings = self._ctx.settings
        return [
            Event(
                seq=first + i,
                id=ident,
                type=etype,
                time=datetime.fromtimestamp(when, UTC),
                vault_name=settings.name,
                vault_url=settings.url,
                object_type=object_type,
                object_name=name,
                version=version,
                nbf=nbf,
                exp=exp,
            )
            for i, (ident, etype, when, object_type, name, version, nbf, exp) in enumerate(rows)
        ]

    def events_in(self, txn: ReadTxn, after: int = 0) -> Iterator[Event]:
        """Events with seq > *after*, in order (a segment is stored under its last seq)."""
        for key, blob in txn.scan_from(OUTBOX, _SEQ.pack(after + 1)):
            for event in self._segment(key, blob):
                if event.seq > after:
                    yield event

    def read(self, after: int = 0, types: frozenset[str] | None = None, limit: int | None = None) -> list[Event]:
        """Events with seq > *after*, in order, of *types* (full names) if given."""
        out: list[Event] = []
        with self._ctx.read() as txn:
            for ev in self.events_in(txn, after):
                if types is None or ev.type in types:
                    out.append(ev)
                    if limit is not None and len(out) >= limit:
                        break
        return out

    def get(self, seq: int) -> Event | None:
        with self._ctx.read() as txn:
            for event in self.events_in(txn, seq - 1):
                return event if event.seq == seq else None
        return None

    def prune_in(self, txn: WriteTxn, before: float, keep_after: int) -> int:
        """Drop whole segments whose events are all older than *before* (Unix time) and at
        or below *keep_after*; returns how many events went."""
        count = 0
        for key, blob in list(txn.scan(OUTBOX)):
            events = self._segment(key, blob)
            if events[-1].seq > keep_after or events[-1].time.timestamp() >= before:
                break
            txn.delete(OUTBOX, key)
            count += len(events)
        return count

    def prune(self, retention: float, keep: int = KEEP_EVENTS) -> int:
        """Drop events older than *retention* seconds that every webhook subscription is past,
        always keeping the newest *keep* events."""

        def run(txn: WriteTxn) -> int:
            subs = self.subscriptions_in(txn)
            positions = [int(self.cursor_in(txn, doc["id"])["seq"]) for doc in subs]
            head = self.head_in(txn)
            keep_after = min([*positions, head - keep])
            if keep_after <= 0:
                return 0
            return self.prune_in(txn, self._ctx.timestamp() - retention, keep_after)

        return self._ctx.write(run)

    # -- subscriptions -----------------------------------------------------------------

    def put_subscription_in(self, txn: WriteTxn, doc: dict[str, Any]) -> None:
        key = bytes.fromhex(doc["id"])
        txn.put(EVSUBS, key, self._ctx.envelope.seal(RecordType.SUBSCRIPTION, key, _dumps(doc)))

    def subscriptions_in(self, txn: ReadTxn) -> list[dict[str, Any]]:
        return [
            json.loads(self._ctx.envelope.open(RecordType.SUBSCRIPTION, key, blob)) for key, blob in txn.scan(EVSUBS)
        ]

    def subscription_in(self, txn: ReadTxn, sub_id: str) -> dict[str, Any] | None:
        key = _sub_key(sub_id)
        blob = None if key is None else txn.get(EVSUBS, key)
        if key is None or blob is None:
            return None
        doc: dict[str, Any] = json.loads(self._ctx.envelope.open(RecordType.SUBSCRIPTION, key, blob))
        return doc

    def delete_subscription_in(self, txn: WriteTxn, sub_id: str) -> bool:
        key = _sub_key(sub_id)
        if key is None or not txn.delete(EVSUBS, key):
            return False
        txn.delete(EVSTATE, b"c" + key)
        txn.delete_prefix(EVSTATE, b"d" + key)
        return True

    # -- delivery state ----------------------------------------------------------------

    @staticmethod
    def cursor_in(txn: ReadTxn, sub_id: str) -> dict[str, Any]:
        raw = txn.get(EVSTATE, b"c" + bytes.fromhex(sub_id))
        doc: dict[str, Any] = json.loads(raw) if raw else {"seq": 0, "attempts": 0, "next": 0.0, "error": None}
        return doc

    @staticmethod
    def set_cursor_in(txn: WriteTxn, sub_id: str, cursor: dict[str, Any]) -> None:
        txn.put(EVSTATE, b"c" + bytes.fromhex(sub_id), _dumps(cursor))

    @staticmethod
    def dead_letter_in(txn: WriteTxn, sub_id: str, seq: int, doc: dict[str, Any]) -> None:
        txn.put(EVSTATE, b"d" + bytes.fromhex(sub_id) + _SEQ.pack(seq), _dumps(doc))

    @staticmethod
    def dead_letters_in(txn: ReadTxn, sub_id: str | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        prefix = b"d" + (bytes.fromhex(sub_id) if sub_id else b"")
        out = []
        for key, raw in txn.scan(EVSTATE, prefix):
            out.append((key[1:17].hex(), _SEQ.unpack(key[17:25])[0], json.loads(raw)))
        return out

    @staticmethod
    def drop_dead_letter_in(txn: WriteTxn, sub_id: str, seq: int) -> bool:
        return txn.delete(EVSTATE, b"d" + bytes.fromhex(sub_id) + _SEQ.pack(seq))

    # -- expiry markers ----------------------------------------------------------------

    @staticmethod
    def mark_once_in(txn: WriteTxn, marker: bytes) -> bool:
        """True the first time *marker* (objkey|vid|condition) is set; False afterwards."""
        return txn.put_new(EVSTATE, b"x" + marker, b"")


def _sub_key(sub_id: str) -> bytes | None:
    try:
        key = bytes.fromhex(sub_id)
    except (ValueError, TypeError):
        return None
    return key if len(key) == 16 else None
