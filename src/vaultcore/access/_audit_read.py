"""Reading the audit log back: where it is stored, a sealed segment opened and split into its
events, and the chain walked as ``AuditLog.verify`` reports it.

The layout and the chain are described in ``access._audit``; this module holds the reading
half so that the writing half (queue, flusher, commits) stays one readable module.
"""

from __future__ import annotations

import hmac
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vaultcore.crypto._envelope import RecordType
from vaultcore.engine._records import decode
from vaultcore.exceptions import IntegrityError

if TYPE_CHECKING:
    from vaultcore.access._audit_records import AuditEvent, AuditVerification
    from vaultcore.engine._context import VaultContext

__all__ = ["AUDIT", "HEAD", "HEAD_KEY", "META", "SEQ", "ZERO_MAC", "open_segment", "to_event", "walk_chain"]

AUDIT = b"audit"
META = b"meta"
HEAD_KEY = b"audit_head"
SEQ = struct.Struct(">Q")
HEAD = struct.Struct(">Q32s")  # last seq, its chain MAC
ZERO_MAC = bytes(32)
_LEN = struct.Struct(">I")

#: ``(header, term, first seq, [(mac, body bytes)])`` of one stored segment.
Segment = tuple[dict[str, Any], int, int, list[tuple[bytes, bytes]]]


def open_segment(ctx: VaultContext, key: bytes, blob: bytes) -> Segment:
    """The segment stored at *key*, opened and bounds-checked (its header's ``"r"``: a
    restart after a rolled-back chain head)."""
    head, payload = decode(ctx.envelope.open(RecordType.AUDIT, key, blob))
    term, first, count = int(head["k"]), int(head["s"]), int(head["n"])
    events: list[tuple[bytes, bytes]] = []
    view = memoryview(payload)
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < 36:
            raise ValueError("truncated event")
        size = _LEN.unpack_from(view, pos + 32)[0]
        if end - pos - 36 < size:
            raise ValueError("truncated event")
        events.append((bytes(view[pos : pos + 32]), bytes(view[pos + 36 : pos + 36 + size])))
        pos += 36 + size
    if count != len(events) or count < 1 or SEQ.pack(first + count - 1) != key:
        raise ValueError("segment header does not match its events")
    return head, term, first, events


def walk_chain(
    rows: list[tuple[bytes, bytes]],
    head: bytes | None,
    segment: Callable[[bytes, bytes], Segment],
    chain_for: Callable[[int], Callable[[bytes], bytes]],
) -> AuditVerification:
    """Walk the stored segments *rows* (key order) and the chain *head*; report the first
    edited, missing or reordered event (``AuditLog.verify``). *segment* opens a row,
    *chain_for(term)* is the HMAC of that term's audit key."""
    from vaultcore.access._audit_records import AuditVerification

    mac = ZERO_MAC
    expected = 1
    count = 0
    if not rows:
        return AuditVerification(False, 0, 1, "the log is empty: every event was removed")
    for key, blob in rows:
        if SEQ.unpack(key)[0] < expected:
            return AuditVerification(False, count, expected, f"a segment ending at event {expected} is misplaced")
        try:
            header, term, first, events = segment(key, blob)
            chain = chain_for(term)
        except (IntegrityError, KeyError, TypeError, ValueError):
            return AuditVerification(
                False, count, expected, f"event {expected} was edited, removed or moved (authentication failed)"
            )
        if first > expected:
            return AuditVerification(False, count, expected, f"event {expected} is missing (next stored is {first})")
        if first < expected:
            return AuditVerification(False, count, expected, f"event {expected} was moved")
        rolled = header.get("r")
        if isinstance(rolled, int) and 0 <= rolled < expected - 1:
            return AuditVerification(
                False,
                count,
                rolled + 1,
                f"the chain head was rolled back to event {rolled}: events {rolled + 1}..{expected - 1} "
                "are no longer covered by it",
            )
        for stored_mac, body_bytes in events:
            seq = expected
            if not hmac.compare_digest(chain(mac + SEQ.pack(seq) + body_bytes), stored_mac):
                return AuditVerification(
                    False, count, seq, f"event {seq} was edited, or an earlier event was removed or reordered"
                )
            if seq == 1 and _operation_of(body_bytes) != "VaultCreate":
                return AuditVerification(False, count, 1, "event 1 is not the vault's creation: the log was replaced")
            mac = stored_mac
            expected += 1
            count += 1
    if head is None or len(head) != HEAD.size:
        return AuditVerification(
            False, count, count + 1, f"the chain head is missing or damaged: events after {count} may be missing"
        )
    last, head_mac = HEAD.unpack(head)
    if last > count:
        return AuditVerification(False, count, count + 1, f"events {count + 1}..{last} are missing (log truncated)")
    if last < count:
        return AuditVerification(False, count, last + 1, f"the chain head was rolled back to event {last}")
    if not hmac.compare_digest(head_mac, mac):
        return AuditVerification(False, count, last, "the chain head does not match the last event")
    return AuditVerification(True, count)


def _operation_of(body: bytes) -> object:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("o") if isinstance(doc, dict) else None


def to_event(seq: int, term: int, mac: bytes, body: dict[str, Any]) -> AuditEvent:
    """The public event of a stored body."""
    from vaultcore.access._audit_records import AuditEvent

    return AuditEvent(
        seq=seq,
        time=datetime.fromtimestamp(body["t"], UTC),
        principal=body["p"],
        operation=body["o"],
        object_id=body["id"],
        result=body["r"],
        request_id=body["q"],
        caller=dict(body["c"]),
        term=term,
        mac=mac.hex(),
    )
