"""The native DEK cache (``vc_dek_cache``): a memo of AES-KW unwraps in locked C memory.

A hit must give exactly what the unwrap would (so nothing a caller sees changes), a DEK is
only remembered after it opened a record, a different KEK never reuses a cached DEK, the
table is bounded, and wipe / close / fork leave nothing behind.
"""

from __future__ import annotations

import os
import threading

import pytest

from corehelpers import run_in_child
from vaultcore.crypto import _bindings as b
from vaultcore.exceptions import IntegrityError, InvalidParameterError

PREFIX = b"\x01\x00\x00\x00\x01"


def _record(kek: bytes, aad: bytes, plaintext: bytes) -> bytes:
    return b.seal_record(kek, PREFIX, aad, plaintext)


def test_cached_open_equals_open_record_and_remembers_only_good_deks() -> None:
    cache = b.DekCache(64)
    kek = os.urandom(32)
    blob = _record(kek, b"aad", b"value")
    assert len(cache) == 0
    assert cache.open_record(kek, blob, 5, b"aad") == b.open_record(kek, blob, 5, b"aad") == b"value"
    assert len(cache) == 1
    assert cache.open_record(kek, memoryview(blob), 5, b"aad") == b"value"  # the hit, from a buffer
    assert len(cache) == 1
    other = _record(kek, b"aad", b"other")
    with pytest.raises(IntegrityError):
        cache.open_record(kek, other, 5, b"wrong aad")  # unwrapped fine, GCM failed: not remembered
    assert len(cache) == 1
    assert not b.error_queue_pending()


@pytest.mark.parametrize("where", [10, 50, -1])  # wrapped DEK, nonce/ciphertext, tag
def test_tampered_records_fail_with_and_without_a_cached_dek(where: int) -> None:
    cache = b.DekCache(64)
    kek = os.urandom(32)
    blob = bytearray(_record(kek, b"aad", b"secret value"))
    assert cache.open_record(kek, bytes(blob), 5, b"aad") == b"secret value"  # now cached
    blob[where] ^= 1
    for c in (cache, b.DekCache(64)):
        with pytest.raises(IntegrityError):
            c.open_record(kek, bytes(blob), 5, b"aad")
    assert not b.error_queue_pending()


def test_a_cached_dek_is_never_used_under_another_kek() -> None:
    cache = b.DekCache(64)
    kek, other_kek = os.urandom(32), os.urandom(32)
    blob = _record(kek, b"aad", b"value")
    assert cache.open_record(kek, blob, 5, b"aad") == b"value"
    with pytest.raises(IntegrityError):
        cache.open_record(other_kek, blob, 5, b"aad")


def test_the_table_is_bounded_and_keeps_working_past_its_size() -> None:
    cache = b.DekCache(8)
    assert cache.slots == 8
    kek = os.urandom(32)
    blobs = [_record(kek, b"a%d" % i, b"v%d" % i) for i in range(100)]
    for _ in range(2):
        for i, blob in enumerate(blobs):
            assert cache.open_record(kek, blob, 5, b"a%d" % i) == b"v%d" % i
    assert 0 < len(cache) <= 8


def test_more_keks_than_remembered_wipe_the_table_and_stay_correct() -> None:
    cache = b.DekCache(64)
    keks = [os.urandom(32) for _ in range(6)]
    blobs = [_record(k, b"aad", b"v%d" % i) for i, k in enumerate(keks)]
    for _ in range(2):
        for i, (kek, blob) in enumerate(zip(keks, blobs, strict=True)):
            assert cache.open_record(kek, blob, 5, b"aad") == b"v%d" % i
    assert 0 < len(cache) <= 4


def test_wipe_and_close() -> None:
    cache = b.DekCache(64)
    kek = os.urandom(32)
    blob = _record(kek, b"aad", b"value")
    cache.open_record(kek, blob, 5, b"aad")
    cache.wipe()
    assert len(cache) == 0
    assert cache.open_record(kek, blob, 5, b"aad") == b"value"
    cache.close()
    assert len(cache) == 0 and cache.slots == 0
    assert cache.open_record(kek, blob, 5, b"aad") == b"value"  # closed: plain open_record
    cache.close()  # idempotent


def test_memory_is_locked_or_at_least_reported() -> None:
    assert isinstance(b.DekCache(16).locked, bool)


def test_bad_sizes_are_refused() -> None:
    for slots in (0, -1, (1 << 20) + 1):
        with pytest.raises(InvalidParameterError):
            b.DekCache(slots)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_starts_with_an_empty_cache() -> None:
    cache = b.DekCache(64)
    kek = os.urandom(32)
    blob = _record(kek, b"aad", b"value")
    cache.open_record(kek, blob, 5, b"aad")
    assert len(cache) == 1
    in_child = run_in_child(
        lambda: len(cache) == 0 and cache.open_record(kek, blob, 5, b"aad") == b"value" and len(cache) == 1
    )
    assert in_child is True
    assert len(cache) == 1  # the parent keeps its entries


def test_close_while_other_threads_open_records_is_safe_and_final() -> None:
    cache = b.DekCache(64)
    kek = os.urandom(32)
    blobs = [_record(kek, b"aad", b"v%d" % i) for i in range(32)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                for i, blob in enumerate(blobs):
                    assert cache.open_record(kek, blob, 5, b"aad") == b"v%d" % i
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    cache.close()
    stop.set()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(cache) == 0
    assert cache.open_record(kek, blobs[0], 5, b"aad") == b"v0"
    assert len(cache) == 0  # closed: nothing is cached any more


def test_the_table_grows_to_its_maximum_when_reads_outnumber_it_and_stays_correct() -> None:
    cache = b.DekCache(16, max_slots=64)
    assert cache.slots == 16
    kek = os.urandom(32)
    blobs = [_record(kek, b"a%d" % i, b"v%d" % i) for i in range(200)]
    for _ in range(3):
        for i, blob in enumerate(blobs):
            assert cache.open_record(kek, blob, 5, b"a%d" % i) == b"v%d" % i
    assert cache.slots == 64 and 0 < len(cache) <= 64  # doubled twice, no further
    hits_before = len(cache)
    assert cache.open_record(kek, blobs[-1], 5, b"a199") == b"v199"  # the newest entry moved with it
    assert len(cache) == hits_before
    other = os.urandom(32)  # a DEK cached under one KEK is still never used under another
    with pytest.raises(IntegrityError):
        cache.open_record(other, blobs[0], 5, b"a0")
    cache.wipe()
    assert len(cache) == 0 and cache.slots == 64
    assert not b.error_queue_pending()


def test_a_small_working_set_does_not_grow_the_table() -> None:
    """Eight records in 1,024 slots: even one colliding pair (a ~3% chance) replaces each
    other only 100 times in these 50 rounds, under the 128 that double the table."""
    cache = b.DekCache(1024, max_slots=4096)
    kek = os.urandom(32)
    blobs = [_record(kek, b"a%d" % i, b"v%d" % i) for i in range(8)]
    for _ in range(50):
        for i, blob in enumerate(blobs):
            cache.open_record(kek, blob, 5, b"a%d" % i)
    assert cache.slots == 1024
