"""The keyed RFC 3394 context (``_bindings.KwKey`` over ``vc_kwkey``): the same bytes as
``cryptography`` and the stateless core on every vector, both implementations (AES-NI
rounds on kept key schedules, and the portable path), and the lifecycle: wiped contexts
refuse, are made again while their owner is open, fall back once it is closed, and a forked
child never uses the parent's."""

from __future__ import annotations

import os
import threading

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from _vectors import WycheproofCase, load_wycheproof
from corehelpers import run_in_child
from vaultcore.crypto import _bindings as b
from vaultcore.exceptions import IntegrityError, InvalidParameterError

KW = load_wycheproof("aes_wrap_test.json")
PORTABLE = [False, True]

#: RFC 3394 section 4: (KEK, key data, ciphertext).
RFC3394 = [
    (
        "000102030405060708090A0B0C0D0E0F",
        "00112233445566778899AABBCCDDEEFF",
        "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
    ),
    (
        "000102030405060708090A0B0C0D0E0F1011121314151617",
        "00112233445566778899AABBCCDDEEFF",
        "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
    ),
    (
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF",
        "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
    ),
    (
        "000102030405060708090A0B0C0D0E0F1011121314151617",
        "00112233445566778899AABBCCDDEEFF0001020304050607",
        "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2",
    ),
    (
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF0001020304050607",
        "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1",
    ),
    (
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
    ),
]


@pytest.mark.parametrize("portable", PORTABLE)
@pytest.mark.parametrize(("kek", "data", "ct"), RFC3394)
def test_rfc3394_vectors(portable: bool, kek: str, data: str, ct: str) -> None:
    kw = b.KwKey(bytes.fromhex(kek), portable=portable)
    assert kw.wrap(bytes.fromhex(data)) == bytes.fromhex(ct)
    assert kw.unwrap(bytes.fromhex(ct)) == bytes.fromhex(data)


@pytest.mark.parametrize("portable", PORTABLE)
def test_wycheproof_vectors(portable: bool) -> None:
    """Every vector of the file: valid ones give the ciphertext and the key back, invalid
    ones fail to unwrap, the ``acceptable`` 8-byte keys are refused as ``kw_wrap`` does."""
    contexts: dict[bytes, b.KwKey] = {}
    checked = 0
    for case in KW:
        kw = contexts.get(case.key) or contexts.setdefault(case.key, b.KwKey(case.key, portable=portable))
        _check_case(kw, case)
        checked += 1
    assert checked == len(KW) > 100


def _check_case(kw: b.KwKey, case: WycheproofCase) -> None:
    if case.result == "valid":
        assert kw.wrap(case.msg) == case.ct == b.kw_wrap(case.key, case.msg)
        assert kw.unwrap(case.ct) == case.msg
        return
    with pytest.raises(IntegrityError):
        kw.unwrap(case.ct)
    if case.result == "acceptable":
        with pytest.raises(InvalidParameterError):
            kw.wrap(case.msg)


@pytest.mark.parametrize("portable", PORTABLE)
@pytest.mark.parametrize("kek_size", [16, 24, 32])
@pytest.mark.parametrize("size", [16, 24, 32, 40, 64, 264, 4104, 8192])
def test_the_same_bytes_as_cryptography(portable: bool, kek_size: int, size: int) -> None:
    kek, key = os.urandom(kek_size), os.urandom(size)
    kw = b.KwKey(kek, portable=portable)
    wrapped = kw.wrap(key)
    assert wrapped == aes_key_wrap(kek, key)
    assert kw.unwrap(wrapped) == key == aes_key_unwrap(kek, wrapped)
    assert kw.wrap(bytearray(key)) == wrapped and kw.unwrap(memoryview(wrapped)) == key


@pytest.mark.parametrize("portable", PORTABLE)
def test_every_flipped_bit_fails_to_unwrap(portable: bool) -> None:
    kek, key = os.urandom(32), os.urandom(32)
    kw = b.KwKey(kek, portable=portable)
    wrapped = kw.wrap(key)
    for bit in range(len(wrapped) * 8):
        bad = bytearray(wrapped)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(IntegrityError):
            kw.unwrap(bytes(bad))
    with pytest.raises(IntegrityError):
        b.KwKey(os.urandom(32), portable=portable).unwrap(wrapped)  # another KEK


def test_sizes_are_checked() -> None:
    with pytest.raises(InvalidParameterError):
        b.KwKey(os.urandom(20))
    kw = b.KwKey(os.urandom(32))
    for size in (0, 8, 17, 31):
        with pytest.raises(InvalidParameterError):
            kw.wrap(bytes(size))
    for size in (0, 8, 16, 25, 33):
        with pytest.raises(IntegrityError):
            kw.unwrap(bytes(size))


def test_aes_ni_and_portable_are_what_they_say() -> None:
    """The AES-NI rounds serve 128- and 256-bit KEKs where the CPU has AES-NI (this
    project's CI machine has); a 192-bit KEK and ``portable`` take ``vc_kw_wrap``."""
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
        has_aes = any(line.startswith("flags") and " aes " in f"{line} " for line in info)
    assert b.KwKey(os.urandom(32)).aesni is has_aes
    assert b.KwKey(os.urandom(16)).aesni is has_aes
    assert b.KwKey(os.urandom(24)).aesni is False
    assert b.KwKey(os.urandom(32), portable=True).aesni is False


def test_a_wiped_context_refuses_and_is_made_again_while_its_owner_is_open() -> None:
    contexts = b.KeyContexts()
    kek, key = os.urandom(32), os.urandom(32)
    kw = b.KwKey(kek, contexts)
    expected = aes_key_wrap(kek, key)
    assert kw.live and kw.wrap(key) == expected
    address = kw._addr
    contexts.wipe()  # a keyring rotation or a purge
    assert not kw.live
    assert kw.wrap(key) == expected  # keyed again on use
    assert kw.live and kw._addr == address  # the same context: a caller may hold its address
    kw.wipe()
    assert not kw.live
    assert kw.unwrap(expected) == key and kw.live


def test_after_close_nothing_is_made_again() -> None:
    contexts = b.KeyContexts()
    kek, key = os.urandom(32), os.urandom(32)
    kw = b.KwKey(kek, contexts)
    contexts.close()  # the vault closed
    assert not kw.live
    # (the vault refuses before this; the call still gives the right bytes, statelessly)
    assert kw.wrap(key) == aes_key_wrap(kek, key)
    assert not kw.live
    late = b.KwKey(kek, contexts)  # made after close: wiped at once
    assert not late.live
    assert late.unwrap(aes_key_wrap(kek, key)) == key and not late.live


def test_contexts_are_tracked_weakly() -> None:
    contexts = b.KeyContexts()
    kw = b.KwKey(os.urandom(32), contexts)
    assert kw in contexts._live
    del kw
    assert not list(contexts._live)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_never_uses_the_parents_context() -> None:
    kek, key = os.urandom(32), os.urandom(32)
    contexts = b.KeyContexts()
    kw = b.KwKey(kek, contexts)
    expected = kw.wrap(key)
    # inherited: refused, then keyed again in the child
    assert run_in_child(lambda: not kw.live and kw.wrap(key) == expected and kw.live) is True
    assert kw.live and kw.wrap(key) == expected  # the parent's is untouched


def test_wipe_while_other_threads_wrap_is_safe() -> None:
    contexts = b.KeyContexts()
    kek = os.urandom(32)
    kw = b.KwKey(kek, contexts)
    keys = [os.urandom(32) for _ in range(16)]
    expected = [aes_key_wrap(kek, k) for k in keys]
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while not stop.is_set():
                for key, wrapped in zip(keys, expected, strict=True):
                    assert kw.wrap(key) == wrapped
                    assert kw.unwrap(wrapped) == key
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(200):
        contexts.wipe()
    contexts.close()
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert not kw.live


def test_key_material_stays_out_of_repr_and_pickle() -> None:
    import pickle

    kek = bytes(range(32))
    kw = b.KwKey(kek)
    assert kek.hex() not in repr(kw) and "256" in repr(kw)
    with pytest.raises(TypeError):
        pickle.dumps(kw)
