"""The audit queue's flush (``vc_auditq_seal``) chains exactly as ``verify()`` recomputes in
Python, in segments sealed like every ``AUDIT`` record, and leaves the queue unchanged. The
chain's MACs are also checked against the standard library's ``hmac`` (independent of the
keyed pad states that both ``_Mac`` and the C core precompute)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultcore.access._audit import _Mac
from vaultcore.crypto import _bindings
from vaultcore.exceptions import IntegrityError, InvalidParameterError

KEK = b"\x11" * 32
AAD_HEAD = b"vaultcore/1" + b"\x22" * 16 + b"a"


def _python_chain(key: bytes, prev: bytes, first: int, bodies: list[bytes]) -> tuple[bytes, bytes]:
    mac, parts, chain = prev, [], _Mac(key)
    for i, body in enumerate(bodies):
        mac = chain(mac + struct.pack(">Q", first + i) + body)
        parts += [mac, struct.pack(">I", len(body)), body]
    return b"".join(parts), mac


def _queue(bodies: list[bytes]) -> _bindings.AuditQueue:
    queue = _bindings.AuditQueue()
    for body in bodies:
        queue.push(body)
    return queue


@pytest.mark.parametrize("key_len", [0, 16, 32, 64, 65, 200])
@pytest.mark.parametrize("per_segment", [1, 7, 512])
def test_sealed_segments_hold_the_python_chain(key_len: int, per_segment: int) -> None:
    key = os.urandom(key_len)
    prev = os.urandom(32)
    bodies = [os.urandom((i * 37) % 700) for i in range(64)] + [b"", b'{"o":"SecretGet"}']
    for first, rolled in ((1, None), (2**40, 5), (2**62, None)):
        queue = _queue(bodies)
        n, size = queue.pending()
        blobs, last = queue.seal(n, size, per_segment, key, prev, first, 3, rolled, KEK, AAD_HEAD)
        area, mac = _python_chain(key, prev, first, bodies)
        assert last == mac
        assert queue.pending() == (n, size)  # consumed only after the caller's commit
        got, seq = b"", first - 1
        for i, blob in enumerate(blobs):
            count = min(per_segment, n - i * per_segment)
            seq += count
            assert blob[:5] == b"\x01" + struct.pack(">I", 3)  # format byte, keyring term
            plain = _bindings.open_record(KEK, blob, 5, AAD_HEAD + struct.pack(">Q", seq))
            (size_head,) = struct.unpack_from(">I", plain)
            head = json.loads(plain[4 : 4 + size_head])
            assert (head["k"], head["n"], head["s"]) == (3, count, seq - count + 1)
            assert head.get("r") == (rolled if i == 0 else None)
            got += plain[4 + size_head :]
        assert got == area and seq == first + n - 1
        with pytest.raises(IntegrityError):  # bound to its place: another sequence number fails
            _bindings.open_record(KEK, blobs[0], 5, AAD_HEAD + struct.pack(">Q", seq + 1))
    assert not _bindings.error_queue_pending()


def _hmac_chain(key: bytes, prev: bytes, first: int, bodies: list[bytes]) -> tuple[bytes, bytes]:
    mac, parts = prev, []
    for i, body in enumerate(bodies):
        mac = hmac.new(key, mac + struct.pack(">Q", first + i) + body, hashlib.sha256).digest()
        parts += [mac, struct.pack(">I", len(body)), body]
    return b"".join(parts), mac


def _event_area(blob: bytes, last_seq: int) -> bytes:
    """The events of one sealed segment (mac || be32(len) || body each), after its header."""
    plain = _bindings.open_record(KEK, blob, 5, AAD_HEAD + struct.pack(">Q", last_seq))
    (size_head,) = struct.unpack_from(">I", plain)
    return plain[4 + size_head :]


# A key of 0, 1, a block less one, a block (64: used as is) and longer (hashed first); bodies
# whose inner message (32-byte MAC, 8-byte sequence number, body) ends on either side of
# SHA-256's padding boundaries (55/56 and 63/64 bytes into a block after the keyed block).
@pytest.mark.parametrize("key_len", [0, 1, 63, 64, 65, 131])
def test_chain_matches_stdlib_hmac_at_block_boundaries(key_len: int) -> None:
    key, prev = os.urandom(key_len), os.urandom(32)
    bodies = [os.urandom(n) for n in (0, 15, 16, 23, 24, 79, 80, 87, 88, 220, 0, 0, 1, 1000)]
    queue = _queue(bodies)
    n, size = queue.pending()
    blobs, last = queue.seal(n, size, n, key, prev, 7, 3, None, KEK, AAD_HEAD)
    area, mac = _hmac_chain(key, prev, 7, bodies)
    assert last == mac
    (blob,) = blobs
    assert _event_area(blob, 7 + n - 1) == area
    assert not _bindings.error_queue_pending()


@settings(max_examples=150, deadline=None)
@given(
    key=st.binary(max_size=200),
    prev=st.binary(min_size=32, max_size=32),
    first=st.integers(1, 2**63 - 300),
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=40),
)
def test_chain_matches_stdlib_hmac(key: bytes, prev: bytes, first: int, bodies: list[bytes]) -> None:
    queue = _queue(bodies)
    n, size = queue.pending()
    blobs, last = queue.seal(n, size, n, key, prev, first, 3, None, KEK, AAD_HEAD)
    area, mac = _hmac_chain(key, prev, first, bodies)
    assert last == mac
    (blob,) = blobs
    assert _event_area(blob, first + n - 1) == area


def test_consume_drops_exactly_the_committed_events() -> None:
    queue = _queue([b"a", b"bb", b"ccc"])
    queue.consume(2)
    assert queue.pending() == (1, 3)
    queue.push(b"dddd")
    assert queue.pending() == (2, 7)


def test_bad_arguments_are_refused_and_change_nothing() -> None:
    queue = _queue([b"x"])
    for args in (
        (1, 1, 512, b"k", b"short", 1),  # previous MAC not 32 bytes
        (1, 1, 512, b"k", bytes(32), 0),  # sequence numbers start at 1
        (1, 1, 0, b"k", bytes(32), 1),  # no segment size
        (2, 2, 512, b"k", bytes(32), 1),  # more events than wait
    ):
        n, size, step, key, prev, first = args
        with pytest.raises(InvalidParameterError):
            queue.seal(n, size, step, key, prev, first, 1, None, KEK, AAD_HEAD)
    assert queue.pending() == (1, 1)
