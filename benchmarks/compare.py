"""vaultcore against hand-rolled stores, with the method of issue 12 (run as a script).

    .venv/bin/python benchmarks/compare.py [--sizes 10000,100000] [--rounds 9] [--quick]

Method (each point fixes a way the older benchmark flattered one side):

- every store of a comparison lives in this one process; a metric runs in *rounds*, and in
  each round every store runs once, the order rotating from round to round, so machine
  noise and cache warmth hit all sides alike;
- a store's queued background work is timed inside its own round (``Store.settle``:
  vaultcore's group-committed read events are flushed before its clock stops), never in
  the next peer's;
- two DIY peers: names in clear, and names hidden by an HMAC like vaultcore's store keys;
- a ratio is computed per round (DIY time / vaultcore time, above 1 = vaultcore faster)
  and reported as the median with the spread (min..max) over the rounds;
- cold start runs a fresh interpreter and times from *before the imports* to the first
  value read.

The figures are for the README table (docs/storage.md explains each row); nothing here is
a test, and no test asserts a time.
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (
    DiyHmacStore,
    DiyStore,
    SqlCipherStore,
    Store,
    VaultNoAuditStore,
    VaultStore,
    make,
    sqlcipher3,
    write_key_file,
)

Timer = Callable[[], float]


def values(n: int, seed: int = 0) -> dict[str, str]:
    rng = random.Random(n + seed)
    return {f"secret-{seed}-{i:06d}": rng.randbytes(50).hex() for i in range(n)}


def rounds(stores: dict[str, Timer], count: int) -> dict[str, list[float]]:
    """Run every timer once per round, rotating the order; seconds per round and store."""
    names = list(stores)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(count):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            out[name].append(stores[name]())
    return out


def ratio_line(label: str, times: dict[str, list[float]], ours: str, peers: Sequence[str], unit: str = "us") -> str:
    scale = 1e6 if unit == "us" else 1e3
    parts = [f"{label:<34}"]
    for name in [ours, *peers]:
        parts.append(f"{name}={statistics.median(times[name]) * scale:.2f}{unit}")
    for peer in peers:
        per_round = [p / o for p, o in zip(times[peer], times[ours], strict=True)]
        parts.append(
            f"ratio vs {peer}: {statistics.median(per_round):.2f}x ({min(per_round):.2f}..{max(per_round):.2f})"
        )
    return "  ".join(parts)


def reader(store: Store, names: list[str], reads: int, seed: int) -> Timer:
    rng = random.Random(seed)

    def run() -> float:
        picks = [rng.choice(names) for _ in range(reads)]
        get = store.get
        t0 = time.perf_counter()
        for name in picks:
            get(name)
        store.settle()
        return (time.perf_counter() - t0) / reads

    return run


def threaded_reader(store: Store, names: list[str], reads: int, threads: int) -> Timer:
    """Seconds per read with *threads* threads reading at once (aggregate throughput)."""

    def run() -> float:
        barrier = threading.Barrier(threads + 1)

        def work(seed: int) -> None:
            rng = random.Random(seed)
            picks = [rng.choice(names) for _ in range(reads)]
            get = store.get
            barrier.wait()
            for name in picks:
                get(name)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in pool:
            t.join()
        store.settle()
        return (time.perf_counter() - t0) / (reads * threads)

    return run


# Child interpreters run as a user's shell has them: byte-code caching on. Under
# PYTHONDONTWRITEBYTECODE=1 (set in some CI and agent environments) a package whose .pyc
# files are missing or stale recompiles every module in every process, and the cold start
# would time the compiler (~45 ms more for vaultcore, measured); bench_cold warms each store once.
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cold_start(kind: type[Store], path: Path, key_file: Path, probe: str) -> float:
    """Seconds from before the imports to the first value read, in a fresh interpreter."""
    target = path / "vault" if issubclass(kind, VaultStore) else path
    body = textwrap.dedent(kind.COLD_OPEN).format(path=str(target), key_file=str(key_file), probe=probe)
    body = body.replace("t0 = perf_counter()\n", "")
    code = "from time import perf_counter\nt0 = perf_counter()\n" + body + "\nprint(t1 - t0)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=_CHILD_ENV)
    if out.returncode != 0:
        raise RuntimeError(f"{kind.name} cold start failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def import_seconds(module: str) -> float:
    code = f"from time import perf_counter\nt0 = perf_counter()\nimport {module}\nprint(perf_counter() - t0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_CHILD_ENV)
    return float(out.stdout.strip())


def peer_kinds() -> dict[str, type[Store]]:
    kinds: dict[str, type[Store]] = {
        "vault": VaultStore,
        "vault-noaudit": VaultNoAuditStore,
        "diy": DiyStore,
        "diy-hmac": DiyHmacStore,
    }
    if sqlcipher3 is not None:
        kinds["sqlcipher"] = SqlCipherStore
    return kinds


def bench_reads(base: Path, key_file: Path, n: int, count: int, reads: int) -> list[str]:
    kinds = peer_kinds()
    data = values(n)
    names = list(data)
    stores = {label: make(kind, base / f"r{n}-{label}", key_file, create=True) for label, kind in kinds.items()}
    try:
        for store in stores.values():
            store.put_many(data)
            store.settle()
        timers = {label: reader(s, names, reads, i) for i, (label, s) in enumerate(stores.items())}
        for t in timers.values():  # warm caches and the audit flusher thread
            t()
        times = rounds(timers, count)
        peers = [p for p in ("diy", "diy-hmac", "sqlcipher") if p in times]
        lines = [
            ratio_line(f"get_secret audit on, {n:,}", times, "vault", peers),
            ratio_line(f"get_secret audit off, {n:,}", times, "vault-noaudit", peers),
        ]
        vault = stores["vault"]
        two = rounds(
            {"1 thread": reader(vault, names, reads, 99), "2 threads": threaded_reader(vault, names, reads, 2)}, count
        )
        scaling = [a / b for a, b in zip(two["1 thread"], two["2 threads"], strict=True)]
        lines.append(
            f"{'get_secret audit on, 2 threads, ' + f'{n:,}':<34}  aggregate vs 1 thread: "
            f"{statistics.median(scaling):.2f}x ({min(scaling):.2f}..{max(scaling):.2f})"
        )
        return lines
    finally:
        for store in stores.values():
            store.close()


def bench_ablation(base: Path, key_file: Path, n: int, count: int, reads: int) -> list[str]:
    """The same vault read through the fused native read (``vc_store_read``: one C call from
    read transaction to opened record) and through the general path it falls back to (a
    read transaction and cursor through ``storage._mdb``, then ``Envelope.opener``), interleaved."""
    data = values(n)
    names = list(data)
    new = make(VaultStore, base / f"ab{n}-new", key_file, create=True)
    old = make(VaultStore, base / f"ab{n}-old", key_file, create=True)
    assert isinstance(new, VaultStore) and isinstance(old, VaultStore)
    try:
        for store in (new, old):
            store.put_many(data)
            store.settle()
        old.vault.secrets._engine._read_open = None  # type: ignore[attr-defined]
        timers = {"fused": reader(new, names, reads, 1), "general": reader(old, names, reads, 2)}
        for t in timers.values():
            t()
        times = rounds(timers, count)
        return [ratio_line(f"get_secret audit on, {n:,}: fused read vs general path", times, "fused", ["general"])]
    finally:
        new.close()
        old.close()


def bench_native(count: int) -> list[str]:
    """C-level cost of the cached record open (hit and miss) and of the plain ``open_record``:
    each cffi call minus the same call with a NULL cache (refused at once: the floor of
    argument conversion and GIL release), 100-byte record."""
    from vaultcore.crypto import _bindings

    ffi, lib = _bindings.ffi, _bindings.lib
    kek = os.urandom(32)
    aad = b"vaultcore/1" + os.urandom(16) + b"v" + os.urandom(33)
    blob = _bindings.seal_record(kek, b"\x01\x00\x00\x00\x01", aad, os.urandom(100))
    out = ffi.new("uint8_t[]", len(blob))
    hit = _bindings.DekCache(1024)
    miss = _bindings.DekCache(1024)
    chit, cmiss = hit._c, miss._c
    lib.vc_dek_cache_close(cmiss)  # a closed cache looks up nothing and inserts nothing: every call misses
    n = 20000
    bl, al = len(blob), len(aad)

    def loop(fn: Callable[[], object]) -> Timer:
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            return (time.perf_counter() - t0) / n

        return run

    timers = {
        "floor": loop(lambda: lib.vc_open_record_cached(ffi.NULL, kek, 32, blob, bl, 5, aad, al, out)),
        "hit": loop(lambda: lib.vc_open_record_cached(chit, kek, 32, blob, bl, 5, aad, al, out)),
        "miss": loop(lambda: lib.vc_open_record_cached(cmiss, kek, 32, blob, bl, 5, aad, al, out)),
        "open_record": loop(lambda: lib.vc_open_record(kek, 32, blob, bl, 5, aad, al, out)),
    }
    times = rounds(timers, count)
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    return [
        f"{'native open, 100 B record (C part)':<34}  cached DEK hit {med['hit'] - med['floor']:.2f}us  "
        f"miss (fused unwrap + open) {med['miss'] - med['floor']:.2f}us  "
        f"open_record (no cache) {med['open_record'] - med['floor']:.2f}us  "
        f"[cffi call floor {med['floor']:.2f}us]",
        *bench_fused(count, n),
    ]


def bench_fused(count: int, n: int) -> list[str]:
    """C-level cost of the fused read (``vc_store_read``: LMDB read transaction, lookup of the
    latest version, term check, AAD, cached DEK, GCM open) in a vault of 10,000 secrets,
    minus the same call refused at once by a blocked gate (the cffi floor)."""
    import random

    from vaultcore import RawKeyCredential, Vault
    from vaultcore._ffi import ffi, lib
    from vaultcore.crypto._envelope import RecordType
    from vaultcore.secrets._client import _KIND

    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.create(os.path.join(tmp, "v"), RawKeyCredential(os.urandom(32)), audit="off")
        try:
            names = [f"n{i}" for i in range(10_000)]
            vault.secrets.set_secrets({name: "x" * 100 for name in names})
            engine = vault.secrets._engine  # type: ignore[attr-defined]
            okeys = [engine.objkey(_KIND, random.Random(i).choice(names)) for i in range(n)]
            cache, kek, term, head = vault._ctx.envelope.native_key(RecordType.VERSION)  # type: ignore[misc]
            env = vault._ctx.store._shared.env  # type: ignore[attr-defined]
            gate, dbi = env._gate, env.dbs[b"versions"]
            out, size = ffi.new("uint8_t[]", 1024), ffi.new("size_t *")
            for okey in okeys[:2000]:  # warm: every DEK cached
                lib.vc_store_read(gate, dbi, okey, 17, b"", 0, cache, kek, 32, term, head, len(head), out, 1024, size)

            hl = len(head)

            def loop() -> float:
                t0 = time.perf_counter()
                for okey in okeys:
                    lib.vc_store_read(gate, dbi, okey, 17, b"", 0, cache, kek, 32, term, head, hl, out, 1024, size)
                return (time.perf_counter() - t0) / n

            def blocked() -> float:
                env.block_reads()
                try:
                    return loop()
                finally:
                    env.allow_reads()

            times = rounds({"read": loop, "floor": blocked}, count)
        finally:
            vault.close()
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    return [
        f"{'fused read, 10k secrets (C part)':<34}  vc_store_read {med['read'] - med['floor']:.2f}us  "
        f"[cffi call floor {med['floor']:.2f}us]"
    ]


def bench_bulk(base: Path, key_file: Path, n: int, count: int) -> list[str]:
    kinds = {k: v for k, v in peer_kinds().items() if k in ("vault", "diy", "diy-hmac", "sqlcipher")}
    counter = iter(range(1_000_000))

    def inserter(kind: type[Store], label: str) -> Timer:
        def run() -> float:
            data = values(n, seed=next(counter))
            path = base / f"bulk-{label}-{next(counter)}"
            store = make(kind, path, key_file, create=True)
            try:
                t0 = time.perf_counter()
                store.put_many(data)
                store.settle()
                took = time.perf_counter() - t0
            finally:
                store.close()
                shutil.rmtree(path, ignore_errors=True)
            return took / n

        return run

    times = rounds({label: inserter(kind, label) for label, kind in kinds.items()}, count)
    peers = [p for p in ("diy", "diy-hmac", "sqlcipher") if p in times]
    return [ratio_line(f"bulk set_secrets per secret, {n:,}", times, "vault", peers)]


def bench_durable(base: Path, key_file: Path, n: int, count: int, writes: int) -> list[str]:
    kinds: dict[str, type[Store]] = {"vault": VaultStore, "diy": DiyStore}
    data = values(n)
    names = list(data)
    stores = {label: make(kind, base / f"d{n}-{label}", key_file, create=True) for label, kind in kinds.items()}
    vault = stores["vault"]
    assert isinstance(vault, VaultStore)
    try:
        for store in stores.values():
            store.put_many(data)
            store.settle()

        def writer(put: Callable[[str, str], None], settle: Callable[[], None], seed: int) -> Timer:
            rng = random.Random(seed)

            def run() -> float:
                picks = [rng.choice(names) for _ in range(writes)]
                t0 = time.perf_counter()
                for name in picks:
                    put(name, "v" * 100)
                settle()
                return (time.perf_counter() - t0) / writes

            return run

        timers = {
            "vault": writer(vault.put, vault.settle, 1),
            "diy": writer(stores["diy"].put, stores["diy"].settle, 2),
        }
        secrets = vault.vault.secrets
        if "durability" in inspect.signature(secrets.set_secret).parameters:

            def put_fast(name: str, value: str) -> None:
                secrets.set_secret(name, value, durability="meta_async")

            timers["vault-metaasync"] = writer(put_fast, vault.settle, 3)
        times = rounds(timers, count)
        lines = [ratio_line(f"durable set_secret (full), {n:,}", times, "vault", ["diy"], unit="ms")]
        if "vault-metaasync" in times:
            lines.append(ratio_line(f"set_secret meta_async, {n:,}", times, "vault-metaasync", ["diy"], unit="ms"))
        return lines
    finally:
        for store in stores.values():
            store.close()


def bench_cold(base: Path, key_file: Path, count: int) -> list[str]:
    kinds = {k: v for k, v in peer_kinds().items() if k in ("vault", "diy", "sqlcipher")}
    data = values(100)
    probe = next(iter(data))
    paths = {}
    for label, kind in kinds.items():
        paths[label] = base / f"cold-{label}"
        store = make(kind, paths[label], key_file, create=True)
        store.put_many(data)
        store.close()
    timers = {
        label: (lambda k=kind, p=paths[label]: cold_start(k, p, key_file, probe)) for label, kind in kinds.items()
    }
    for timer in timers.values():  # untimed: writes any missing .pyc files, as a first run would
        timer()
    times = rounds(timers, count)
    imports = rounds(
        {
            "vault": lambda: import_seconds("vaultcore"),
            "diy": lambda: import_seconds("sqlite3, cryptography.hazmat.primitives.ciphers.aead"),
        },
        count,
    )
    peers = [p for p in ("diy", "sqlcipher") if p in times]
    return [
        ratio_line("cold start: import+open+1 read", times, "vault", peers, unit="ms"),
        ratio_line("import alone", imports, "vault", ["diy"], unit="ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--only", default="reads,ablation,bulk,native,durable,cold")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    base = Path(tempfile.mkdtemp(prefix="vaultcore-compare-"))
    key_file = base / "bench.key"
    write_key_file(key_file)
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.rounds} rounds; ratio = peer / vaultcore")
        for n in sizes:
            if "reads" in only:
                for line in bench_reads(base, key_file, n, args.rounds, args.reads):
                    print(line, flush=True)
            if "ablation" in only:
                for line in bench_ablation(base, key_file, n, args.rounds, args.reads):
                    print(line, flush=True)
            if "bulk" in only:
                for line in bench_bulk(base, key_file, n, max(3, args.rounds // 3)):
                    print(line, flush=True)
        if "native" in only:
            for line in bench_native(args.rounds):
                print(line, flush=True)
        if "durable" in only:
            for line in bench_durable(base, key_file, sizes[0], args.rounds, 100):
                print(line, flush=True)
        if "cold" in only:
            for line in bench_cold(base, key_file, args.rounds):
                print(line, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
