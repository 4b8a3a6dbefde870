"""Native core vs ``cryptography`` (and ``openssl speed``), ratios measured in the same run.

Run: ``.venv/bin/python -m pytest benchmarks/bench_native.py --benchmark-only -s``

The reference side does the same job the way a Python envelope implementation on
``cryptography`` would: fresh keys from ``os.urandom``, an ``AESGCM`` object per data key,
nonce generation included, ``keywrap`` for the data keys.

1. fused ``open_record`` of a 100-byte record vs keywrap unwrap + AESGCM decrypt (goal >= 2x)
2. ``seal_records`` of 10,000 x 64 B vs a Python loop over cryptography (goal >= 4x)
3. ``rewrap_dek_batch`` of 100,000 DEKs vs a loop of unwrap + wrap (goal >= 10x)
4. one AES-256-GCM seal of 16 MiB into a caller buffer vs ``openssl speed -evp aes-256-gcm
   -bytes 16384`` of the same (linked) OpenSSL (goal >= 0.9x), cryptography beside it

plus informational rows (single seal_record, batch open_records, two-thread scaling).
The summary table is printed at the end of the run (benchmarks/conftest.py).
"""

from __future__ import annotations

import gc
import os
import platform
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.backends.openssl.backend import backend as crypto_backend
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vaultcore.crypto import _bindings

MiB = 1 << 20
KEK = os.urandom(32)
NEW_KEK = os.urandom(32)
PREFIX = b"\x01\x00\x00\x00\x01"  # format byte + term id, as the vault writes it
AAD = b"vault-id-0123456789abcdef|secret|name-of-the-secret|0123456789abcdef0123456789abcdef"

# name -> median seconds for one call of the benchmarked function
RESULTS: dict[str, float] = {}
EXTRA: dict[str, float] = {}
OPENSSL_CLI: list[str] = []
# pair name -> (median per-round ratio reference/native, min, max), interleaved timing
PAIRED: dict[str, tuple[float, float, float]] = {}


def paired_ratio(name: str, native: Callable[[], Any], reference: Callable[[], Any], rounds: int, inner: int) -> None:
    """Alternate native and reference rounds and keep the median of per-round ratios.

    On a shared, noisy machine the load changes between two pytest-benchmark groups run
    one after the other; adjacent rounds see (nearly) the same load, so their ratio is the
    robust figure. Rounds are timed in this thread's CPU time (``time.thread_time``, user +
    system), so time spent descheduled by other tenants does not count, as in
    ``openssl speed``'s default. GC is paused during the timed loops (both sides alike).
    """
    ratios = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            t0 = time.thread_time()
            for _ in range(inner):
                native()
            t1 = time.thread_time()
            for _ in range(inner):
                reference()
            t2 = time.thread_time()
            ratios.append((t2 - t1) / (t1 - t0))
    finally:
        if enabled:
            gc.enable()
    PAIRED[name] = (statistics.median(ratios), min(ratios), max(ratios))


def _median(benchmark: Any) -> float:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable
        return float("nan")
    return float(stats.stats.median)


def _run(benchmark: Any, name: str, fn: Callable[[], Any], *, rounds: int | None = None) -> Any:
    if rounds is not None:  # slow calls: a fixed number of rounds after one warm-up
        return _record(benchmark, name, benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1))
    return _record(benchmark, name, benchmark(fn))


def _record(benchmark: Any, name: str, result: Any) -> Any:
    RESULTS[name] = _median(benchmark)
    return result


# ---- 1. open_record of 100 B --------------------------------------------------------------

PT100 = os.urandom(100)
BLOB100 = _bindings.seal_record(KEK, PREFIX, AAD, PT100)


@pytest.mark.benchmark(group="1 open_record 100 B")
def test_open_record_native(benchmark: Any) -> None:
    out = _run(benchmark, "open_native", lambda: _bindings.open_record(KEK, BLOB100, 5, AAD))
    assert out == PT100


@pytest.mark.benchmark(group="1 open_record 100 B")
def test_open_record_cryptography(benchmark: Any) -> None:
    blob = BLOB100

    def ref() -> bytes:
        dek = keywrap.aes_key_unwrap(KEK, blob[5:45])
        return AESGCM(dek).decrypt(blob[45:57], blob[57:], AAD)

    assert _run(benchmark, "open_crypto", ref) == PT100
    paired_ratio("open", lambda: _bindings.open_record(KEK, blob, 5, AAD), ref, rounds=41, inner=2000)


# ---- 2. seal_records of 10,000 x 64 B ------------------------------------------------------

N_SEAL = 10_000
PTS64 = [os.urandom(64) for _ in range(N_SEAL)]
AADS = [AAD + b"%08d" % i for i in range(N_SEAL)]


@pytest.mark.benchmark(group="2 seal 10,000 x 64 B")
def test_seal_records_native(benchmark: Any) -> None:
    views = _run(benchmark, "seal_batch_native", lambda: _bindings.seal_records(KEK, PREFIX, AADS, PTS64))
    assert len(views) == N_SEAL
    assert _bindings.open_record(KEK, views[-1], 5, AADS[-1]) == PTS64[-1]


@pytest.mark.benchmark(group="2 seal 10,000 x 64 B")
def test_seal_records_cryptography_loop(benchmark: Any) -> None:
    urandom, wrap = os.urandom, keywrap.aes_key_wrap

    def ref() -> list[bytes]:
        out = []
        for aad, pt in zip(AADS, PTS64):
            dek, nonce = urandom(32), urandom(12)
            out.append(PREFIX + wrap(KEK, dek) + nonce + AESGCM(dek).encrypt(nonce, pt, aad))
        return out

    blobs = _run(benchmark, "seal_batch_crypto", ref, rounds=7)
    assert _bindings.open_record(KEK, blobs[0], 5, AADS[0]) == PTS64[0]
    paired_ratio(
        "seal_batch",
        lambda: _bindings.seal_records(KEK, PREFIX, AADS, PTS64),
        ref,
        rounds=21,
        inner=1,
    )


@pytest.mark.benchmark(group="2b open 10,000 x 64 B (info)")
def test_open_records_native(benchmark: Any) -> None:
    blobs = [bytes(v) for v in _bindings.seal_records(KEK, PREFIX, AADS, PTS64)]
    out = _run(benchmark, "open_batch_native", lambda: _bindings.open_records(KEK, blobs, 5, AADS))
    assert out == PTS64


@pytest.mark.benchmark(group="2b open 10,000 x 64 B (info)")
def test_open_records_cryptography_loop(benchmark: Any) -> None:
    blobs = [bytes(v) for v in _bindings.seal_records(KEK, PREFIX, AADS, PTS64)]
    unwrap = keywrap.aes_key_unwrap

    def ref() -> list[bytes]:
        return [AESGCM(unwrap(KEK, b[5:45])).decrypt(b[45:57], b[57:], a) for b, a in zip(blobs, AADS)]

    assert _run(benchmark, "open_batch_crypto", ref, rounds=7) == PTS64
    paired_ratio(
        "open_batch",
        lambda: _bindings.open_records(KEK, blobs, 5, AADS),
        ref,
        rounds=21,
        inner=1,
    )


@pytest.mark.benchmark(group="2c seal_record 100 B single (info)")
def test_seal_record_native(benchmark: Any) -> None:
    _run(benchmark, "seal_one_native", lambda: _bindings.seal_record(KEK, PREFIX, AAD, PT100))


@pytest.mark.benchmark(group="2c seal_record 100 B single (info)")
def test_seal_record_cryptography(benchmark: Any) -> None:
    def ref() -> bytes:
        dek, nonce = os.urandom(32), os.urandom(12)
        return PREFIX + keywrap.aes_key_wrap(KEK, dek) + nonce + AESGCM(dek).encrypt(nonce, PT100, AAD)

    _run(benchmark, "seal_one_crypto", ref)
    paired_ratio(
        "seal_one",
        lambda: _bindings.seal_record(KEK, PREFIX, AAD, PT100),
        ref,
        rounds=41,
        inner=2000,
    )


# ---- 3. rewrap of 100,000 DEKs ---------------------------------------------------------------

N_REWRAP = 100_000
WRAPPED = b"".join(_bindings.kw_wrap_batch(KEK, [os.urandom(32) for _ in range(N_REWRAP)]))


@pytest.mark.benchmark(group="3 rewrap 100,000 DEKs")
def test_rewrap_native(benchmark: Any) -> None:
    out, ok = _run(benchmark, "rewrap_native", lambda: _bindings.rewrap_dek_batch(KEK, NEW_KEK, WRAPPED))
    assert all(ok)
    assert len(out) == len(WRAPPED)


@pytest.mark.benchmark(group="3 rewrap 100,000 DEKs")
def test_rewrap_cryptography_loop(benchmark: Any) -> None:
    wrap, unwrap, w = keywrap.aes_key_wrap, keywrap.aes_key_unwrap, WRAPPED

    def ref() -> bytes:
        return b"".join(wrap(NEW_KEK, unwrap(KEK, w[i : i + 40])) for i in range(0, len(w), 40))

    out = _run(benchmark, "rewrap_crypto", ref, rounds=3)
    assert len(out) == len(WRAPPED)
    paired_ratio(
        "rewrap",
        lambda: _bindings.rewrap_dek_batch(KEK, NEW_KEK, WRAPPED),
        ref,
        rounds=7,
        inner=1,
    )


# ---- 4. one 16 MiB AES-256-GCM seal ------------------------------------------------------------

BIG = os.urandom(16 * MiB)
BIG_KEY = os.urandom(32)
BIG_NONCE = os.urandom(12)


_SPEED_ARGS = ("-evp", "aes-256-gcm", "-bytes", "16384", "-seconds")


def _openssl_speed(seconds: int = 3, *, elapsed: bool = False) -> tuple[float, str]:
    """Bytes/s of ``openssl speed -evp aes-256-gcm -bytes 16384`` (0 if unavailable).

    By default openssl divides by its user CPU time; ``elapsed`` uses wall-clock time.
    """
    exe = shutil.which("openssl")
    if exe is None:
        return 0.0, "openssl CLI not found"
    version = subprocess.run([exe, "version"], capture_output=True, text=True).stdout.strip()
    proc = subprocess.run(
        [exe, "speed", *(["-elapsed"] if elapsed else []), *_SPEED_ARGS, str(seconds), "-mr"],
        capture_output=True,
        text=True,
        check=False,
    )
    # machine-readable line: +F:<n>:AES-256-GCM:<bytes per second>
    m = re.search(r"^\+F:\d+:[^:]+:([0-9.]+)", proc.stdout, re.M)
    return (float(m.group(1)) if m else 0.0), version


@pytest.mark.benchmark(group="4 AES-256-GCM seal 16 MiB")
def test_gcm_16mib_native_into(benchmark: Any) -> None:
    out = bytearray(len(BIG) + 16)
    _run(
        benchmark,
        "gcm16_native",
        lambda: _bindings.gcm_seal_into(BIG_KEY, BIG_NONCE, b"", BIG, out),
        rounds=30,
    )
    assert bytes(out[-16:]) == AESGCM(BIG_KEY).encrypt(BIG_NONCE, BIG, b"")[-16:]
    # openssl speed right after, in the same run, wall clock like the medians above ...
    speed, version = _openssl_speed(elapsed=True)
    EXTRA["openssl_speed_Bps"] = speed
    OPENSSL_CLI.append(version)
    # ... and interleaved, in CPU time on both sides (openssl speed's default measure):
    # 5 x (native 16 MiB seals for ~1 s of this thread's CPU time, then openssl speed 1 s)
    if speed:
        ratios = []
        for _ in range(5):
            t0, n = time.thread_time(), 0
            while time.thread_time() - t0 < 1.0:
                _bindings.gcm_seal_into(BIG_KEY, BIG_NONCE, b"", BIG, out)
                n += 1
            native_bps = n * len(BIG) / (time.thread_time() - t0)
            ratios.append(native_bps / _openssl_speed(1)[0])
        PAIRED["gcm16_vs_openssl"] = (statistics.median(ratios), min(ratios), max(ratios))


@pytest.mark.benchmark(group="4 AES-256-GCM seal 16 MiB")
def test_gcm_16mib_native_fresh_output(benchmark: Any) -> None:
    """Native, allocating a fresh output each call (pays the page faults)."""
    _run(
        benchmark,
        "gcm16_native_alloc",
        lambda: _bindings.gcm_seal_into(BIG_KEY, BIG_NONCE, b"", BIG, bytearray(len(BIG) + 16)),
        rounds=20,
    )


@pytest.mark.benchmark(group="4 AES-256-GCM seal 16 MiB")
def test_gcm_16mib_cryptography(benchmark: Any) -> None:
    _run(
        benchmark,
        "gcm16_crypto",
        lambda: AESGCM(BIG_KEY).encrypt(BIG_NONCE, BIG, b""),
        rounds=30,
    )


@pytest.mark.benchmark(group="4 AES-256-GCM seal 16 MiB")
def test_gcm_16mib_cryptography_into(benchmark: Any) -> None:
    out = bytearray(len(BIG) + 16)
    _run(
        benchmark,
        "gcm16_crypto_into",
        lambda: AESGCM(BIG_KEY).encrypt_into(BIG_NONCE, BIG, b"", out),
        rounds=30,
    )
    native_out = bytearray(len(BIG) + 16)

    def native() -> None:
        _bindings.gcm_seal_into(BIG_KEY, BIG_NONCE, b"", BIG, native_out)

    # cryptography's figures beside the native one, interleaved in CPU time
    paired_ratio(
        "gcm16_crypto_into",
        native,
        lambda: AESGCM(BIG_KEY).encrypt_into(BIG_NONCE, BIG, b"", out),
        rounds=15,
        inner=5,
    )
    paired_ratio(
        "gcm16_crypto",
        native,
        lambda: AESGCM(BIG_KEY).encrypt(BIG_NONCE, BIG, b""),
        rounds=15,
        inner=5,
    )


@pytest.mark.benchmark(group="4 AES-256-GCM seal 16 MiB")
def test_gcm_16mib_bindings_routed(benchmark: Any) -> None:
    """``_bindings.gcm_seal`` (what hazmat.AESGCM uses): routed to cryptography at this size."""
    _run(
        benchmark,
        "gcm16_routed",
        lambda: _bindings.gcm_seal(BIG_KEY, BIG_NONCE, b"", BIG),
        rounds=30,
    )


# ---- 5. two threads (GIL released around native calls) -------------------------------------


@pytest.mark.benchmark(group="5 seal 32 x 1 MiB: 1 vs 2 threads (info)")
@pytest.mark.parametrize("threads", [1, 2])
def test_thread_scaling(benchmark: Any, threads: int) -> None:
    key, nonce = os.urandom(32), os.urandom(12)
    bufs = [os.urandom(MiB) for _ in range(threads)]
    outs = [bytearray(MiB + 16) for _ in range(threads)]
    per_thread = 32 // threads

    def work(i: int) -> None:
        for _ in range(per_thread):
            _bindings.gcm_seal_into(key, nonce, b"", bufs[i], outs[i])

    def run() -> None:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    _run(benchmark, f"threads_{threads}", run, rounds=15)


# ---- the report -------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ratio(a: str, b: str) -> float | None:
    if a in RESULTS and b in RESULTS and RESULTS[b] > 0:
        return RESULTS[a] / RESULTS[b]
    return None


def _us(name: str, per: int = 1) -> str:
    return f"{RESULTS[name] / per * 1e6:.3f} µs" if name in RESULTS else "-"


def report_lines() -> list[str]:
    """The summary table (Markdown), printed by benchmarks/conftest.py."""
    if not RESULTS:
        return []
    rows: list[tuple[str, str, str, float | None, str, str]] = [
        (
            "open_record 100 B (fused unwrap+decrypt)",
            _us("open_native"),
            _us("open_crypto"),
            _ratio("open_crypto", "open_native"),
            "open",
            ">= 2x",
        ),
        (
            "seal_records 10,000 x 64 B, per record",
            _us("seal_batch_native", N_SEAL),
            _us("seal_batch_crypto", N_SEAL),
            _ratio("seal_batch_crypto", "seal_batch_native"),
            "seal_batch",
            ">= 4x",
        ),
        (
            "rewrap_dek_batch 100,000 DEKs, per DEK",
            _us("rewrap_native", N_REWRAP),
            _us("rewrap_crypto", N_REWRAP),
            _ratio("rewrap_crypto", "rewrap_native"),
            "rewrap",
            ">= 10x",
        ),
        (
            "(info) open_records 10,000 x 64 B, per record",
            _us("open_batch_native", N_SEAL),
            _us("open_batch_crypto", N_SEAL),
            _ratio("open_batch_crypto", "open_batch_native"),
            "open_batch",
            "",
        ),
        (
            "(info) seal_record 100 B, single",
            _us("seal_one_native"),
            _us("seal_one_crypto"),
            _ratio("seal_one_crypto", "seal_one_native"),
            "seal_one",
            "",
        ),
    ]
    lines = [
        f"CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"native core linked against: {_bindings.openssl_version()}",
        f"cryptography bundles: {crypto_backend.openssl_version_text()}",
        f"openssl CLI: {OPENSSL_CLI[0] if OPENSSL_CLI else 'not run'}",
        "",
        "speed-up = cryptography time / native time. 'interleaved' alternates native and",
        "reference rounds timed in thread CPU time (median of per-round ratios, [min-max]);",
        "'medians' divides the two wall-clock pytest-benchmark medians (groups run one after",
        "the other).",
        "",
        "| benchmark | vaultcore native | cryptography | speed-up, interleaved | speed-up, medians | goal |",
        "|---|---|---|---|---|---|",
    ]
    for label, native, ref, ratio, pair, goal in rows:
        if native == "-" and ref == "-":
            continue
        r = f"{ratio:.2f}x" if ratio is not None else "-"
        p = PAIRED.get(pair)
        pr = f"**{p[0]:.2f}x** [{p[1]:.2f}-{p[2]:.2f}]" if p else "-"
        lines.append(f"| {label} | {native} | {ref} | {pr} | {r} | {goal} |")

    if "gcm16_native" in RESULTS:
        size = len(BIG)

        def gbps(name: str) -> str:
            return f"{size / RESULTS[name] / 1e9:.2f} GB/s" if name in RESULTS else "-"

        speed = EXTRA.get("openssl_speed_Bps", 0.0)
        lines += [
            "",
            "| AES-256-GCM seal of 16 MiB | throughput | vs openssl speed |",
            "|---|---|---|",
            f"| openssl speed -elapsed, 16 KiB blocks | {speed / 1e9:.2f} GB/s | 1.00x |"
            if speed
            else "| openssl speed | not available | - |",
        ]
        for label, name in (
            ("vaultcore native, into a reused caller buffer (goal >= 0.9x)", "gcm16_native"),
            ("vaultcore native, fresh output buffer per call", "gcm16_native_alloc"),
            ("cryptography AESGCM.encrypt (bundled OpenSSL)", "gcm16_crypto"),
            ("cryptography AESGCM.encrypt_into (bundled OpenSSL)", "gcm16_crypto_into"),
            ("vaultcore _bindings.gcm_seal (routed to cryptography)", "gcm16_routed"),
        ):
            if name in RESULTS:
                vs = f"{size / RESULTS[name] / speed:.2f}x" if speed else "-"
                lines.append(f"| {label} | {gbps(name)} | {vs} |")
        p16 = PAIRED.get("gcm16_vs_openssl")
        if p16:
            lines.append(
                "native into vs openssl speed, interleaved, CPU time both sides (5 x 1 s): "
                f"**{p16[0]:.2f}x** [{p16[1]:.2f}-{p16[2]:.2f}] (goal >= 0.9x)"
            )
        for pair, label in (
            ("gcm16_crypto_into", "AESGCM.encrypt_into"),
            ("gcm16_crypto", "AESGCM.encrypt (fresh output)"),
        ):
            p = PAIRED.get(pair)
            if p:
                lines.append(
                    f"cryptography {label} vs native into, interleaved, CPU time: "
                    f"native time / cryptography time = **{1 / p[0]:.2f}x** "
                    f"[{1 / p[2]:.2f}-{1 / p[1]:.2f}]"
                )
    if "threads_1" in RESULTS and "threads_2" in RESULTS:
        lines.append("")
        lines.append(
            "two threads sealing 1 MiB buffers (32 in total) vs one thread: "
            f"{RESULTS['threads_1'] / RESULTS['threads_2']:.2f}x throughput"
        )
    return lines
