"""``vc_audit_chain`` (issue 12) computes exactly the chain ``verify()`` recomputes in Python."""

from __future__ import annotations

import os
import struct

import pytest

from vaultcore.access._audit import _Mac
from vaultcore.crypto import _bindings
from vaultcore.exceptions import InvalidParameterError


def _python_chain(key: bytes, prev: bytes, first: int, bodies: list[bytes]) -> tuple[bytes, bytes]:
    mac, parts, chain = prev, [], _Mac(key)
    for i, body in enumerate(bodies):
        mac = chain(mac + struct.pack(">Q", first + i) + body)
        parts += [mac, struct.pack(">I", len(body)), body]
    return b"".join(parts), mac


@pytest.mark.parametrize("key_len", [0, 16, 32, 64, 65, 200])
def test_native_chain_equals_the_python_chain(key_len: int) -> None:
    key = os.urandom(key_len)
    prev = os.urandom(32)
    bodies = [os.urandom((i * 37) % 700) for i in range(64)] + [b"", b'{"o":"SecretGet"}']
    for first in (1, 2**40, 2**64 - len(bodies)):
        assert _bindings.audit_chain(key, prev, first, bodies) == _python_chain(key, prev, first, bodies)
    assert not _bindings.error_queue_pending()


def test_an_empty_segment_keeps_the_previous_mac() -> None:
    prev = os.urandom(32)
    assert _bindings.audit_chain(b"k" * 32, prev, 7, []) == (b"", prev)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        _bindings.audit_chain(b"k" * 32, b"short", 1, [b"x"])
    with pytest.raises(InvalidParameterError):
        _bindings.audit_chain(b"k" * 32, bytes(32), 2**64, [b"x"])
    with pytest.raises(InvalidParameterError):
        _bindings.audit_chain(b"k" * 32, bytes(32), -1, [b"x"])
