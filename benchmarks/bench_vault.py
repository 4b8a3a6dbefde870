"""vaultcore against the stores a Python user would otherwise pick (issue 3 §8).

Run: ``.venv/bin/python -m pytest benchmarks/bench_vault.py --benchmark-only -s``
(``BENCH_FULL=1`` adds 100k secrets; pykeepass runs at 1k only).

Every peer is built in the same run on the same disk (see ``_peers.py``): a do-it-yourself
sqlite3 + AESGCM store, SQLCipher 4 (``sqlcipher3``) and pykeepass, when installed. The
numbers that matter are the ratios printed at the end, not the absolute times: this
machine is shared and noisy (see ../shared/notes/PERF.md).

Metrics, at 1k / 10k (/ 100k) secrets of 100 bytes:

- ``get``: one value read (median of 1,000 random names per round);
- ``bulk insert``: N new secrets in one call (``set_secrets`` / ``executemany`` in one
  transaction / pykeepass ``add_entry`` + ``save``), per secret;
- ``durable set``: one new value of an existing name, committed durably (vaultcore: a new
  version; sqlite: ``INSERT OR REPLACE`` in WAL with ``synchronous=FULL``);
- ``cold open + 1 read``: a fresh interpreter opens the store with a key file (no KDF, except
  pykeepass, whose file format always runs its Argon2d) and reads one value; timed inside the
  child, so interpreter start-up and imports are excluded;
- ``rotation``: vaultcore's keyring rotation (every DEK re-wrapped under a new term), per
  record, against ``cryptography``'s ``aes_key_unwrap`` + ``aes_key_wrap`` of the same number
  of DEKs with no storage at all.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from _peers import (
    KeePassStore,
    Store,
    VaultNoAuditStore,
    VaultStore,
    available,
    cold_open_seconds,
    describe,
    make,
    write_key_file,
)

FULL = os.environ.get("BENCH_FULL") == "1"
SIZES = [1_000, 10_000] + ([100_000] if FULL else [])
READS = 1_000
STORES = available()
IDS = [k.name.replace(" ", "-").replace("+", "-").replace("=", "-") for k in STORES]

#: (metric, size) -> store name -> seconds per operation
RESULTS: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
EXTRA: dict[tuple[str, int], str] = {}


def _values(n: int) -> dict[str, str]:
    rng = random.Random(n)
    return {f"secret-{i:06d}": rng.randbytes(50).hex() for i in range(n)}


def _median(benchmark: object) -> float:
    return float(benchmark.stats.stats.median)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "bench.key"
    write_key_file(path)
    return path


@pytest.fixture(scope="module")
def populated(
    tmp_path_factory: pytest.TempPathFactory, key_file: Path
) -> Iterator[Callable[[type[Store], int], tuple[Store, Path]]]:
    """Stores filled with N secrets, built once per (store, size) and shared by the tests."""
    cache: dict[tuple[type[Store], int], tuple[Store, Path]] = {}

    def get(kind: type[Store], size: int) -> tuple[Store, Path]:
        if (kind, size) not in cache:
            path = tmp_path_factory.mktemp(f"pop-{size}")
            store = make(kind, path, key_file, create=True)
            values = _values(size)
            names = list(values)
            for start in range(0, size, 20_000):
                store.put_many({n: values[n] for n in names[start : start + 20_000]})
            cache[(kind, size)] = (store, path)
        return cache[(kind, size)]

    yield get
    for store, _ in cache.values():
        store.close()


@pytest.fixture(scope="module", autouse=True)
def ratio_table() -> Iterator[None]:
    yield
    _print_table()


# -- benchmarks ----------------------------------------------------------------------------
#
# Each test measures every store of one size in *interleaved* rounds (the order rotates every
# round), so that the load of a shared machine drifts over all of them alike. The
# pytest-benchmark statistics are those of whole rounds; the table uses each store's own
# median, taken inside the round.


def _kinds(size: int, *, exclude: tuple[type[Store], ...] = ()) -> list[type[Store]]:
    # pykeepass only at 1k: its add_entry is quadratic (10k entries ran for over 20 minutes
    # here) and every save rewrites, recompresses and re-encrypts the whole file
    return [k for k in STORES if k not in exclude and not (k is KeePassStore and size > 1_000)]


def _interleaved(
    benchmark: object, metric: str, size: int, steps: dict[str, Callable[[int], float | None]], rounds: int
) -> None:
    """Run ``steps[name](round)`` for every store each round; each returns its own seconds."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    counter = iter(range(1 << 30))

    def one_round() -> None:
        r = next(counter)
        shift = r % len(order)
        for name in order[shift:] + order[:shift]:
            seconds = steps[name](r)
            if seconds is not None and r > 0:  # round 0 warms every store up
                samples[name].append(seconds)

    benchmark.pedantic(one_round, rounds=rounds + 1)  # type: ignore[attr-defined]
    for name, values in samples.items():
        if values:
            RESULTS[(metric, size)][name] = statistics.median(values)


@pytest.mark.parametrize("size", SIZES)
def test_get(benchmark: object, populated: Callable[..., tuple[Store, Path]], size: int) -> None:
    expected = _values(size)
    names = random.Random(size).sample(list(expected), READS)
    steps = {}
    for kind in _kinds(size):
        store, _ = populated(kind, size)
        assert store.get(names[0]) == expected[names[0]]

        def step(_r: int, store: Store = store) -> float:
            t0 = time.perf_counter()
            for name in names:
                store.get(name)
            return (time.perf_counter() - t0) / READS

        steps[kind.name] = step
    _interleaved(benchmark, "get", size, steps, rounds=15)


@pytest.mark.parametrize("size", SIZES)
def test_bulk_insert(benchmark: object, tmp_path_factory: pytest.TempPathFactory, key_file: Path, size: int) -> None:
    values = _values(size)
    steps = {}
    for kind in _kinds(size):

        def step(r: int, kind: type[Store] = kind) -> float | None:
            if kind is KeePassStore and r > 1:
                return None  # seconds per round: two rounds are enough
            store = make(kind, tmp_path_factory.mktemp(f"bulk-{size}"), key_file, create=True)
            try:
                t0 = time.perf_counter()
                store.put_many(values)
                return (time.perf_counter() - t0) / size
            finally:
                store.close()

        steps[kind.name] = step
    _interleaved(benchmark, "bulk insert", size, steps, rounds=1 if size >= 100_000 else 3)


@pytest.mark.parametrize("size", SIZES)
def test_durable_set(benchmark: object, populated: Callable[..., tuple[Store, Path]], size: int) -> None:
    steps = {}
    for kind in _kinds(size):
        store, _ = populated(kind, size)

        def step(r: int, store: Store = store, kind: type[Store] = kind) -> float | None:
            if kind is KeePassStore and r > 3:
                return None  # every pykeepass save rewrites the file: a few rounds suffice
            value = f"{r:0100d}"
            t0 = time.perf_counter()
            store.put("secret-000007", value)
            return time.perf_counter() - t0

        steps[kind.name] = step
    _interleaved(benchmark, "durable set", size, steps, rounds=150)


@pytest.mark.parametrize("size", SIZES)
def test_cold_open(benchmark: object, populated: Callable[..., tuple[Store, Path]], key_file: Path, size: int) -> None:
    steps = {}
    for kind in _kinds(size, exclude=(VaultNoAuditStore,)):
        _, path = populated(kind, size)

        def step(r: int, kind: type[Store] = kind, path: Path = path) -> float | None:
            if kind is KeePassStore and r > 3:
                return None
            return cold_open_seconds(kind, path, key_file, "secret-000042")

        steps[kind.name] = step
    _interleaved(benchmark, "cold open + 1 read", size, steps, rounds=9)


@pytest.mark.parametrize("size", SIZES)
def test_rotation(benchmark: object, populated: Callable[..., tuple[Store, Path]], size: int) -> None:
    store, _ = populated(VaultStore, size)
    assert isinstance(store, VaultStore)
    counts: list[int] = []

    def run() -> None:
        counts.append(store.vault.rotate_keyring())

    benchmark.pedantic(run, rounds=1 if size >= 100_000 else 3)  # type: ignore[attr-defined]
    records = counts[-1]
    RESULTS[("rotation (per record)", size)][VaultStore.name] = _median(benchmark) / records
    EXTRA[("rotation (per record)", size)] = f"{records} records"

    # reference: the same number of 32-byte DEKs unwrapped and re-wrapped by `cryptography`
    # in a Python loop, without reading or writing any store
    old, new = os.urandom(32), os.urandom(32)
    wrapped = [aes_key_wrap(old, os.urandom(32)) for _ in range(min(records, 20_000))]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for w in wrapped:
            aes_key_wrap(new, aes_key_unwrap(old, w))
        best = min(best, (time.perf_counter() - t0) / len(wrapped))
    RESULTS[("rotation (per record)", size)]["cryptography KW loop"] = best


# -- the table -------------------------------------------------------------------------------


def _fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _print_table() -> None:
    if not RESULTS:
        return
    names = [k.name for k in STORES] + ["cryptography KW loop"]
    names = [n for n in names if any(n in row for row in RESULTS.values())]
    peers = [n for n in names if not n.startswith("vaultcore")]
    lines = ["", f"vaultcore vs peers, same run ({describe()})", ""]
    head = ["metric", "N", *names, *[f"{p} / vaultcore" for p in peers]]
    rows = []
    order = ["get", "bulk insert", "durable set", "cold open + 1 read", "rotation (per record)"]
    for (metric, size), row in sorted(RESULTS.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        base = row.get(VaultStore.name)
        cells = [metric, f"{size:,}"]
        cells += [_fmt(row[n]) if n in row else "-" for n in names]
        cells += [f"{row[p] / base:.2f}x" if p in row and base else "-" for p in peers]
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines.append(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.append("")
    lines.append("x > 1: vaultcore is faster (peer time / vaultcore time). Rates:")
    for (metric, size), row in sorted(RESULTS.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        if metric in ("bulk insert", "rotation (per record)") and VaultStore.name in row:
            rate = ", ".join(f"{n} {1 / row[n]:,.0f}/s" for n in names if n in row)
            note = f" ({EXTRA[(metric, size)]})" if (metric, size) in EXTRA else ""
            lines.append(f"  {metric} N={size:,}: {rate}{note}")
    print("\n".join(lines))
