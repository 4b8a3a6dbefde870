"""Every Wycheproof vector for AES-GCM, AES-KW (RFC 3394) and AES-KWP (RFC 5649) against
the native core.

Outcomes:

* ``valid``: encryption/wrap gives exactly the expected bytes and decryption/unwrap gives
  the message back.
* ``invalid``: decryption/unwrap raises ``IntegrityError``.
* ``acceptable`` (KW wrapping of an 8-byte key, which RFC 3394 allows and NIST SP 800-38F
  does not): we reject it, as ``cryptography`` does: wrap raises
  ``InvalidParameterError``, unwrap raises ``IntegrityError``.
* unsupported sizes: AES-GCM nonces other than 12 bytes raise ``InvalidParameterError``
  on both encrypt and decrypt, valid or not.

``test_vector_counts`` pins the number of vectors in each class and prints the table.
"""

from __future__ import annotations

from collections import Counter

import pytest

from _vectors import WycheproofCase, load_wycheproof
from vaultcore.crypto import _bindings
from vaultcore.exceptions import IntegrityError, InvalidParameterError

GCM = load_wycheproof("aes_gcm_test.json")
KW = load_wycheproof("aes_wrap_test.json")
KWP = load_wycheproof("aes_kwp_test.json")


def _ids(cases: list[WycheproofCase]) -> list[str]:
    return [c.id for c in cases]


def _gcm_supported(c: WycheproofCase) -> bool:
    return len(c.iv) == _bindings.NONCE_SIZE and len(c.tag) == _bindings.TAG_SIZE


# ---- AES-GCM -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", GCM, ids=_ids(GCM))
def test_aes_gcm(case: WycheproofCase) -> None:
    ct_tag = case.ct + case.tag
    if not _gcm_supported(case):
        with pytest.raises(InvalidParameterError):
            _bindings.gcm_seal(case.key, case.iv, case.aad, case.msg)
        with pytest.raises(InvalidParameterError):
            _bindings.gcm_open(case.key, case.iv, case.aad, ct_tag)
        return
    if case.result == "valid":
        assert _bindings.gcm_seal(case.key, case.iv, case.aad, case.msg) == ct_tag
        assert _bindings.gcm_open(case.key, case.iv, case.aad, ct_tag) == case.msg
        # The caller-buffer forms always take the native path (no routing).
        out = bytearray(len(ct_tag))
        _bindings.gcm_seal_into(case.key, case.iv, case.aad, case.msg, out)
        assert out == ct_tag
        pt = bytearray(len(case.msg))
        _bindings.gcm_open_into(case.key, case.iv, case.aad, ct_tag, pt)
        assert pt == case.msg
    else:
        assert case.result == "invalid"
        with pytest.raises(IntegrityError):
            _bindings.gcm_open(case.key, case.iv, case.aad, ct_tag)
        pt = bytearray(b"\xaa" * len(case.msg))
        with pytest.raises(IntegrityError):
            _bindings.gcm_open_into(case.key, case.iv, case.aad, ct_tag, pt)
        assert pt == bytes(len(pt)), "a failed open must zero the output buffer"


@pytest.mark.parametrize("key_bits", [128, 192, 256])
def test_aes_gcm_vectors_as_one_batch(key_bits: int) -> None:
    """All supported vectors of one key size through the batch calls at once."""
    cases = [c for c in GCM if _gcm_supported(c) and len(c.key) * 8 == key_bits]
    valid = [c for c in cases if c.result == "valid"]
    sealed = _bindings.gcm_seal_batch(
        [c.key for c in valid], [c.iv for c in valid], [c.aad for c in valid], [c.msg for c in valid]
    )
    assert sealed == [c.ct + c.tag for c in valid]
    opened = _bindings.gcm_open_batch(
        [c.key for c in cases],
        [c.iv for c in cases],
        [c.aad for c in cases],
        [c.ct + c.tag for c in cases],
    )
    assert opened == [c.msg if c.result == "valid" else None for c in cases]


# ---- AES-KW (RFC 3394) -------------------------------------------------------------------


def _kw_wrappable(msg: bytes) -> bool:
    return len(msg) >= 16 and len(msg) % 8 == 0


@pytest.mark.parametrize("case", KW, ids=_ids(KW))
def test_aes_kw(case: WycheproofCase) -> None:
    if case.result == "valid":
        assert _bindings.kw_wrap(case.key, case.msg) == case.ct
        assert _bindings.kw_unwrap(case.key, case.ct) == case.msg
        return
    # invalid, and the "acceptable" 8-byte keys that we reject
    with pytest.raises(IntegrityError):
        _bindings.kw_unwrap(case.key, case.ct)
    if not _kw_wrappable(case.msg):
        with pytest.raises(InvalidParameterError):
            _bindings.kw_wrap(case.key, case.msg)


def test_aes_kw_vectors_as_one_batch() -> None:
    """Valid vectors grouped by (key, size) through the batch calls; corrupt ones -> None."""
    groups: dict[tuple[bytes, int], list[WycheproofCase]] = {}
    for c in KW:
        if len(c.ct) >= 24 and len(c.ct) % 8 == 0:
            groups.setdefault((c.key, len(c.ct)), []).append(c)
    batches = 0
    for (key, _), cases in groups.items():
        valid = [c for c in cases if c.result == "valid"]
        if valid:
            assert _bindings.kw_wrap_batch(key, [c.msg for c in valid]) == [c.ct for c in valid]
        opened = _bindings.kw_unwrap_batch(key, [c.ct for c in cases])
        assert opened == [c.msg if c.result == "valid" else None for c in cases]
        batches += 1
    assert batches > 3


# ---- AES-KWP (RFC 5649) ------------------------------------------------------------------


@pytest.mark.parametrize("case", KWP, ids=_ids(KWP))
def test_aes_kwp(case: WycheproofCase) -> None:
    if case.result == "valid":
        assert _bindings.kwp_wrap(case.key, case.msg) == case.ct
        assert _bindings.kwp_unwrap(case.key, case.ct) == case.msg
        return
    assert case.result == "invalid"
    with pytest.raises(IntegrityError):
        _bindings.kwp_unwrap(case.key, case.ct)


# ---- counts ------------------------------------------------------------------------------


def _classify() -> dict[str, Counter[str]]:
    gcm: Counter[str] = Counter()
    for c in GCM:
        gcm[c.result if _gcm_supported(c) else "unsupported"] += 1
    return {
        "aes_gcm_test.json": gcm,
        "aes_wrap_test.json": Counter("acceptable (rejected)" if c.result == "acceptable" else c.result for c in KW),
        "aes_kwp_test.json": Counter(c.result for c in KWP),
    }


def test_vector_counts(capsys: pytest.CaptureFixture[str]) -> None:
    counts = _classify()
    assert counts == {
        "aes_gcm_test.json": Counter(valid=116, invalid=81, unsupported=119),
        "aes_wrap_test.json": Counter({"valid": 36, "invalid": 126, "acceptable (rejected)": 3}),
        "aes_kwp_test.json": Counter(valid=77, invalid=177),
    }
    with capsys.disabled():
        print()
        for name, c in counts.items():
            detail = ", ".join(f"{k}={v}" for k, v in sorted(c.items()))
            print(f"wycheproof {name}: {sum(c.values())} vectors: {detail}")
