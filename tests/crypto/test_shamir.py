"""Shamir's secret sharing over GF(2^8): any quorum recovers, fewer reveal nothing.

Two kinds of evidence that M-1 shares say nothing about the secret: an exact count (with
the random coefficients enumerated, every secret byte gives every M-1-share value equally
often, so the shares' distribution is the same whatever the secret) and a statistical one
(with real randomness, the distribution of a share byte for secret 0x00 and for 0xFF are
both uniform by a chi-square test with a generous bound).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultcore.crypto._shamir import combine, gf_div, gf_mul, split
from vaultcore.exceptions import InvalidParameterError


def _reference_mul(a: int, b: int) -> int:
    """Carry-less multiplication then reduction by x^8+x^4+x^3+x+1 (written differently)."""
    product = 0
    for bit in range(8):
        if (b >> bit) & 1:
            product ^= a << bit
    for bit in range(14, 7, -1):
        if (product >> bit) & 1:
            product ^= 0x11B << (bit - 8)
    return product


def test_field_multiplication_matches_a_reference_and_every_element_has_an_inverse() -> None:
    for a in range(256):
        for b in range(256):
            assert gf_mul(a, b) == _reference_mul(a, b)
    assert gf_mul(0x57, 0x83) == 0xC1  # FIPS-197's worked example
    for a in range(1, 256):
        assert gf_mul(a, gf_div(1, a)) == 1
    with pytest.raises(ZeroDivisionError):
        gf_div(1, 0)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=48),
    count=st.integers(min_value=2, max_value=10),
    data=st.data(),
)
def test_any_quorum_of_shares_recovers_the_secret(secret: bytes, count: int, data: st.DataObject) -> None:
    quorum = data.draw(st.integers(min_value=1, max_value=count))
    shares = split(secret, quorum, count)
    assert len(shares) == count and len({x for x, _ in shares}) == count
    chosen = data.draw(st.permutations(shares))[: data.draw(st.integers(min_value=quorum, max_value=count))]
    assert combine(chosen) == secret
    for subset in itertools.islice(itertools.combinations(shares, quorum), 20):
        assert combine(list(subset)) == secret


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=4, max_size=32), quorum=st.integers(min_value=2, max_value=6), data=st.data())
def test_fewer_than_the_quorum_give_a_wrong_secret(secret: bytes, quorum: int, data: st.DataObject) -> None:
    shares = split(secret, quorum, quorum + 2)
    # Fewer shares interpolate a lower-degree polynomial: the result is unrelated to the secret
    # (equal only by chance, 2^-32 for 4 bytes or more).
    subset = data.draw(st.permutations(shares))[: quorum - 1]
    assert combine(subset) != secret


def _enumerated(coefficients: Iterator[bytes]) -> object:
    def random(n: int) -> bytes:
        value = next(coefficients)
        assert len(value) == n
        return value

    return random


@pytest.mark.parametrize(("quorum", "xs"), [(2, (1,)), (2, (7,)), (3, (1, 2))])
def test_quorum_minus_one_shares_are_exactly_uniform_for_every_secret_byte(quorum: int, xs: tuple[int, ...]) -> None:
    """All coefficient choices enumerated: the M-1 shares' joint distribution is uniform
    and identical for every secret byte, so they carry no information about it."""
    count = max(*xs, quorum)
    for secret in (0x00, 0x01, 0x5A, 0xFF) if quorum == 2 else (0x00, 0xA7):
        seen: Counter[tuple[int, ...]] = Counter()
        for coefficients in itertools.product(range(256), repeat=quorum - 1):
            supply = iter(bytes([c]) for c in coefficients)
            shares = dict(split(bytes([secret]), quorum, count, random=_enumerated(supply)))  # type: ignore[arg-type]
            seen[tuple(shares[x][0] for x in xs)] += 1
        assert len(seen) == 256 ** (quorum - 1)  # every joint value occurs ...
        assert set(seen.values()) == {1}  # ... exactly once, whatever the secret


@pytest.mark.parametrize("secret", [0x00, 0xFF])
def test_one_share_of_a_two_quorum_is_uniform_with_real_randomness(secret: int) -> None:
    samples = 256 * 40
    counts = Counter(split(bytes([secret]), 2, 3)[1][1][0] for _ in range(samples))
    expected = samples / 256
    chi2 = sum((counts.get(v, 0) - expected) ** 2 / expected for v in range(256))
    # 255 degrees of freedom: mean 255, sd ~22.6; 400 is beyond 6 sd (a broken split, e.g.
    # a share equal to the secret, gives chi2 ~ 2.6 million).
    assert chi2 < 400


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        split(b"", 2, 3)
    with pytest.raises(InvalidParameterError):
        split(b"x", 4, 3)
    with pytest.raises(InvalidParameterError):
        split(b"x", 0, 3)
    with pytest.raises(InvalidParameterError):
        combine([])
    with pytest.raises(InvalidParameterError):
        combine([(1, b"a"), (1, b"b")])
    with pytest.raises(InvalidParameterError):
        combine([(1, b"a"), (2, b"bc")])
