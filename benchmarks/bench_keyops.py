"""Overhead of :mod:`vaultcore.crypto._keyops` against direct ``cryptography`` calls on the same key.

Each case pairs our call with the equivalent ``cryptography`` call (same key, same digest)
and reports ``ours / reference`` from an interleaved measurement in one run, since absolute
times on a shared machine drift by 10-40% (see ../shared/notes/PERF.md).

Run with pytest-benchmark (groups our call and the reference side by side)::

    .venv/bin/python -m pytest benchmarks/bench_keyops.py --benchmark-only -s

or as a script for the ratio table alone::

    .venv/bin/python benchmarks/bench_keyops.py

The helpers (:class:`Case`, :func:`measure_ratio`, :func:`report`) are meant for reuse by a
through-the-vault variant: build a ``Case`` whose ``ours`` goes through ``vault.keys``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from vaultcore.crypto import _keyops
from vaultcore.crypto._keymaterial import KeyMaterial, generate


@dataclass(frozen=True)
class Case:
    """One operation measured two ways: through vaultcore (``ours``) and directly."""

    name: str
    ours: Callable[[], object]
    reference: Callable[[], object]
    #: Run after each sample of ``ours``, inside its timing: the background work the calls
    #: queued (the vault's audit events) is paid in our own sample, never in the reference's.
    settle: Callable[[], object] | None = None


@dataclass(frozen=True)
class Ratio:
    """Median seconds per call of both sides and ``ours / reference``."""

    name: str
    ours: float
    reference: float

    @property
    def ratio(self) -> float:
        return self.ours / self.reference


def _per_call(fn: Callable[[], object], inner: int, settle: Callable[[], object] | None = None) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    if settle is not None:
        settle()
    return (time.perf_counter() - start) / inner


def measure_ratio(case: Case, *, rounds: int = 31, sample_seconds: float = 0.004) -> Ratio:
    """Interleave ``rounds`` samples of each side (alternating which goes first) and
    compare medians, so machine noise hits both sides alike."""
    case.ours()
    case.reference()
    inner = max(1, int(sample_seconds / max(_per_call(case.reference, 3), 1e-9)))
    ours: list[float] = []
    reference: list[float] = []
    for i in range(rounds):
        if i % 2:
            ours.append(_per_call(case.ours, inner, case.settle))
            reference.append(_per_call(case.reference, inner))
        else:
            reference.append(_per_call(case.reference, inner))
            ours.append(_per_call(case.ours, inner, case.settle))
    return Ratio(case.name, statistics.median(ours), statistics.median(reference))


def report(ratios: list[Ratio]) -> str:
    """A small table: case, our median, the reference median, the overhead ratio."""
    lines = [f"{'case':<28} {'ours µs':>10} {'reference µs':>13} {'ratio':>7}"]
    for r in ratios:
        lines.append(f"{r.name:<28} {r.ours * 1e6:>10.2f} {r.reference * 1e6:>13.2f} {r.ratio:>6.2f}x")
    return "\n".join(lines)


def keyops_cases() -> list[Case]:
    """RSA-2048 PS256/RS256 sign, P-256 ES256 sign/verify, A256KW wrap/unwrap (against
    ``cryptography``, and against the native core alone to isolate the Python layer)."""
    cases: list[Case] = []
    sha256 = hashes.SHA256()
    digest = os.urandom(32)

    rsa_km = generate("RSA", size=2048)
    rsa_key = rsa_km.as_cryptography()
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    pss = padding.PSS(padding.MGF1(sha256), salt_length=32)
    cases.append(
        Case(
            "RSA-2048 sign PS256",
            lambda: _keyops.sign(rsa_km, "PS256", digest),
            lambda: rsa_key.sign(digest, pss, Prehashed(sha256)),
        )
    )
    cases.append(
        Case(
            "RSA-2048 sign RS256",
            lambda: _keyops.sign(rsa_km, "RS256", digest),
            lambda: rsa_key.sign(digest, padding.PKCS1v15(), Prehashed(sha256)),
        )
    )

    ec_km = generate("EC", curve="P-256")
    ec_key = ec_km.as_cryptography()
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    ec_public = ec_key.public_key()
    ecdsa = ec.ECDSA(Prehashed(sha256))
    raw_signature = _keyops.sign(ec_km, "ES256", digest)
    der_signature = ec_key.sign(digest, ecdsa)
    ec_verify_key = ec_km.public_key()
    cases.append(
        Case(
            "P-256 sign ES256",
            lambda: _keyops.sign(ec_km, "ES256", digest),
            lambda: ec_key.sign(digest, ecdsa),
        )
    )
    cases.append(
        Case(
            "P-256 verify ES256",
            lambda: _keyops.verify(ec_verify_key, "ES256", digest, raw_signature),
            lambda: ec_public.verify(der_signature, digest, ecdsa),
        )
    )

    kek_bytes = os.urandom(32)
    kek = KeyMaterial(kek_bytes)
    dek = os.urandom(32)
    wrapped = aes_key_wrap(kek_bytes, dek)
    cases.append(
        Case(
            "A256KW wrap 32 B",
            lambda: _keyops.wrap_key(kek, "A256KW", dek),
            lambda: aes_key_wrap(kek_bytes, dek),
        )
    )
    cases.append(
        Case(
            "A256KW unwrap 32 B",
            lambda: _keyops.unwrap_key(kek, "A256KW", wrapped),
            lambda: aes_key_unwrap(kek_bytes, wrapped),
        )
    )
    # The same two calls against the native core alone: what the Python layer adds.
    from vaultcore.crypto import _bindings

    cases.append(
        Case(
            "A256KW wrap vs _bindings",
            lambda: _keyops.wrap_key(kek, "A256KW", dek),
            lambda: _bindings.kw_wrap(kek_bytes, dek),
        )
    )
    cases.append(
        Case(
            "A256KW unwrap vs _bindings",
            lambda: _keyops.unwrap_key(kek, "A256KW", wrapped),
            lambda: _bindings.kw_unwrap(kek_bytes, wrapped),
        )
    )
    return cases


# --------------------------------------------------------------------------- pytest-benchmark

_CASES: list[Case] = []
_RATIOS: list[Ratio] = []


def _cases() -> list[Case]:
    if not _CASES:
        _CASES.extend(keyops_cases())
    return _CASES


_NAMES = ["RSA-2048 sign PS256", "RSA-2048 sign RS256", "P-256 sign ES256", "P-256 verify ES256"]
_NAMES += ["A256KW wrap 32 B", "A256KW unwrap 32 B", "A256KW wrap vs _bindings", "A256KW unwrap vs _bindings"]


def _case(name: str) -> Case:
    return next(c for c in _cases() if c.name == name)


@pytest.fixture(scope="module", autouse=True)
def _print_ratios() -> Iterator[None]:
    yield
    if _RATIOS:
        print("\n\nvaultcore._keyops vs the reference (cryptography unless named; interleaved medians)")
        print(report(_RATIOS))


@pytest.mark.parametrize("name", _NAMES)
def test_keyops(benchmark: Any, name: str) -> None:
    case = _case(name)
    benchmark.group = name
    benchmark.name = f"{name}: vaultcore.crypto._keyops"
    benchmark(case.ours)
    if not benchmark.disabled:
        ratio = measure_ratio(case)
        benchmark.extra_info["ratio_vs_reference"] = round(ratio.ratio, 3)
        _RATIOS.append(ratio)


@pytest.mark.parametrize("name", _NAMES)
def test_reference(benchmark: Any, name: str) -> None:
    case = _case(name)
    benchmark.group = name
    benchmark.name = f"{name}: reference"
    benchmark(case.reference)


if __name__ == "__main__":
    print(report([measure_ratio(case) for case in keyops_cases()]))
