"""vaultcore on PostgreSQL against a do-it-yourself psycopg + AESGCM store and against LMDB (issue 16 §8).

Run: ``.venv/bin/python benchmarks/bench_postgres.py`` (a plain script: it starts client
processes). ``BENCH_PG`` is the server URL (default: the local test server, database
``test``); everything is created in a fresh schema and dropped at the end. ``BENCH_N``
(default 10,000) secrets of 100 bytes; ``BENCH_ROUNDS`` (default 7) interleaved rounds;
``BENCH_THROUGHPUT=0`` skips the multi-process throughput part (~1 minute).

Stores:
- ``vaultcore PG``: ``Vault`` on ``postgresql://``, audit on (group-committed reads);
- ``DIY PG``: one psycopg connection (autocommit), table ``(name text PRIMARY KEY, blob
  bytea)``, AES-256-GCM with one key, a random nonce per value and the name as AAD; a set is
  ``INSERT .. ON CONFLICT DO UPDATE``, bulk is ``executemany`` in one transaction;
- ``vaultcore LMDB``: the same ``Vault`` on a directory.

Metrics: ``get`` (a random existing name), ``set`` (a new value of an existing name, durably
committed), ``bulk`` (N new names in one call, per secret), and throughput of ``get`` and
``set`` with 1, 2 and 4 client processes (operations per second over all processes).
All stores are open in one process; get, set and bulk run in interleaved rounds whose order
rotates, each store's background work (vaultcore's queued audit events) timed in its own
round; figures are medians of per-round means and the ratio DIY / vaultcore PG is taken per
round (median, min..max). The first load of N secrets into an empty store runs in
``FIRST_ROUNDS`` (default 3) interleaved rounds too, each into fresh stores (a new vault, a
new DIY table), in rotating order; the first round's stores serve the rest.

CPU placement (``BENCH_PIN``, default ``0:1``): on a small machine a round trip costs ~25 µs
when the server process that answers runs on the client's CPU and ~90 µs when it must be
woken on the other one, and the scheduler keeps each connection's server process where it
happens to start: unpinned, one store's connection could run every round "near" and the
other's "far", and the get ratio measured that (0.3x one run, 3x another). So before the
timed phases the benchmark process is pinned to the first CPU list and every client backend
of the database to the second (``0:1``: always across CPUs, client and server in parallel);
``BENCH_PIN=0`` turns it off. The throughput part runs unpinned.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vaultcore import RawKeyCredential, Vault

BASE = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
N = int(os.environ.get("BENCH_N", "10000"))
KEY = b"\x33" * 32
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
THROUGHPUT = os.environ.get("BENCH_THROUGHPUT", "1") != "0"
FIRST_ROUNDS = int(os.environ.get("BENCH_FIRST_ROUNDS", "3"))
PIN = os.environ.get("BENCH_PIN", "0:1")
PER_ROUND = 300
SECONDS = 3.0


class Diy:
    """A do-it-yourself encrypted secret table on PostgreSQL."""

    def __init__(self, base: str, schema: str, table: str = "diy") -> None:
        self.conn = psycopg.connect(base, autocommit=True)
        self.table = f'"{schema}".{table}'
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (name text PRIMARY KEY, blob bytea NOT NULL)")
        self.aead = AESGCM(KEY)

    def _seal(self, name: str, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, value.encode(), name.encode())

    def get(self, name: str) -> str:
        row = self.conn.execute(f"SELECT blob FROM {self.table} WHERE name = %s", (name,)).fetchone()
        assert row is not None
        blob = bytes(row[0])
        return self.aead.decrypt(blob[:12], blob[12:], name.encode()).decode()

    def put(self, name: str, value: str) -> None:
        self.conn.execute(
            f"INSERT INTO {self.table} VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET blob = EXCLUDED.blob",
            (name, self._seal(name, value)),
        )

    def settle(self) -> None:
        """Nothing runs in the background here."""

    def put_many(self, items: dict[str, str]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.table} VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET blob = EXCLUDED.blob",
                [(k, self._seal(k, v)) for k, v in items.items()],
            )

    def close(self) -> None:
        self.conn.close()


class VaultStore:
    def __init__(self, location: str, *, create: bool) -> None:
        cred = RawKeyCredential(KEY)
        self.vault = Vault.create(location, cred) if create else Vault.open(location, cred)

    def get(self, name: str) -> str:
        return self.vault.secrets.get_secret(name).value

    def put(self, name: str, value: str) -> None:
        self.vault.secrets.set_secret(name, value)

    def put_many(self, items: dict[str, str]) -> None:
        self.vault.secrets.set_secrets(items)

    def settle(self) -> None:
        """Write the queued (group-committed) read audit events inside this store's own round."""
        self.vault.audit.flush()

    def close(self) -> None:
        self.vault.close()


def _values(n: int, prefix: str = "s") -> dict[str, str]:
    return {f"{prefix}{i}": f"{i:08d}" + "v" * 92 for i in range(n)}


def _round(store: Any, fn: Callable[[Any, int], None], first: int, count: int) -> float:
    """Mean seconds per call of *count* calls, the store's background work included."""
    t0 = time.perf_counter()
    for i in range(first, first + count):
        fn(store, i)
    store.settle()
    return (time.perf_counter() - t0) / count


def _interleaved(
    stores: dict[str, Any], fn: Callable[[Any, int], None], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Per-store mean time per call in each round; every round runs all stores, in an order
    that rotates from round to round (no store always runs first on a warm or cold machine)."""
    kinds = list(stores)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            times[kind].append(_round(stores[kind], fn, r * per_round, per_round))
    return times


def _open(kind: str, where: dict[str, str], *, create: bool = False, copy: int = 0) -> Any:
    """A store of *kind*; *copy* > 0: the copy-th extra one (another vault, DIY table or
    directory), for the repeated first loads."""
    if kind == "DIY PG":
        return Diy(where["base"], where["schema"], f"diy{copy}" if copy else "diy")
    location = where[kind]
    if copy and kind == "vaultcore PG":
        location = location.replace("vault=bench", f"vault=bench{copy}")
    elif copy:
        location = f"{location}{copy}"
    return VaultStore(location, create=create)


def _client(kind: str, where: dict[str, str], op: str, seconds: float, start: Any, out: Any) -> None:
    store = _open(kind, where)
    rng = random.Random(os.getpid())
    start.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        name = f"s{rng.randrange(N)}"
        if op == "get":
            store.get(name)
        else:
            store.put(name, f"{done:08d}" + "w" * 92)
        done += 1
    store.close()
    out.put(done)


def _throughput(kind: str, where: dict[str, str], op: str, procs: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_client, args=(kind, where, op, SECONDS, start, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    time.sleep(1.5)  # let every client open its store
    start.set()
    total = sum(out.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(60)
    return total / SECONDS


_ALL_CPUS = os.sched_getaffinity(0)  # before any pinning


def _cpus(spec: str) -> set[int]:
    return {int(c) for c in spec.split(",")}


def _pin() -> bool:
    """Pin this process and the database's client backends as ``BENCH_PIN`` says (see the
    module docstring); False (and nothing pinned) when off or not possible here."""
    if PIN in ("", "0") or len(_ALL_CPUS) < 2:
        return False
    mine, theirs = (_cpus(part) for part in PIN.split(":"))
    with psycopg.connect(BASE, autocommit=True) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        ]
    for pid in pids:
        try:
            os.sched_setaffinity(pid, theirs)
        except ProcessLookupError:  # a connection closed meanwhile
            continue
        except PermissionError as exc:  # not root and not the server's user: leave placement alone
            print(f"BENCH_PIN: cannot pin the server's processes ({exc}); unpinned", file=sys.stderr)
            return False
    os.sched_setaffinity(0, mine)
    return True


def _unpin() -> None:
    os.sched_setaffinity(0, _ALL_CPUS)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    tmp = Path(tempfile.mkdtemp(prefix="vc-bench-"))
    sep = "&" if "?" in BASE else "?"
    where = {
        "base": BASE,
        "schema": schema,
        "vaultcore PG": f"{BASE}{sep}schema={schema}&vault=bench",
        "vaultcore LMDB": str(tmp / "lmdb"),
    }
    kinds = ["vaultcore PG", "DIY PG", "vaultcore LMDB"]
    results: dict[str, dict[str, float]] = {k: {} for k in kinds}
    pinned = False
    per_round: dict[str, dict[str, list[float]]] = {}
    try:
        values = _values(N)
        first: dict[str, list[float]] = {k: [] for k in kinds}
        stores: dict[str, Any] = {}
        for r in range(max(1, FIRST_ROUNDS)):  # each round loads N into fresh stores
            for kind in kinds[r % 3 :] + kinds[: r % 3]:
                store = _open(kind, where, create=True, copy=r)
                pinned = _pin()  # (the new store's connections too)
                t0 = time.perf_counter()
                store.put_many(values)
                store.settle()
                first[kind].append((time.perf_counter() - t0) / N)
                if r == 0:
                    stores[kind] = store
                else:
                    store.close()
        per_round["bulk (first N, per secret)"] = first
        names = list(values)
        rng = random.Random(7)
        order = [rng.choice(names) for _ in range(ROUNDS * PER_ROUND)]
        for store in stores.values():
            store.get(order[0])
        _pin()
        per_round["get"] = _interleaved(stores, lambda st, i: st.get(order[i]), ROUNDS, PER_ROUND)
        _pin()
        per_round["set (durable)"] = _interleaved(
            stores, lambda st, i: st.put(order[i], f"{i:08d}" + "u" * 92), ROUNDS, 60
        )
        _pin()
        batches = {k: [_values(2000, prefix=f"b{r}{k[:2]}") for r in range(5)] for k in kinds}
        bulk: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(5):
            for kind in kinds[r % 3 :] + kinds[: r % 3]:
                t0 = time.perf_counter()
                stores[kind].put_many(batches[kind][r])
                stores[kind].settle()
                bulk[kind].append((time.perf_counter() - t0) / 2000)
        per_round["bulk 2k (per secret)"] = bulk
        for metric, times in per_round.items():
            for kind in kinds:
                results[kind][metric] = statistics.median(times[kind])
        for store in stores.values():
            store.close()
        _unpin()
        throughput: dict[tuple[str, str, int], float] = {}
        for kind in kinds if THROUGHPUT else []:
            for op in ("get", "set"):
                for procs in (1, 2, 4):
                    throughput[(kind, op, procs)] = _throughput(kind, where, op, procs)
                    print(kind, op, procs, f"{throughput[(kind, op, procs)]:.0f}/s", file=sys.stderr, flush=True)
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    metrics = list(results[kinds[0]])
    placement = f"this process and the server's on CPUs {PIN.replace(':', ' / ')}" if pinned else "unpinned"
    print(f"\nN = {N} secrets of 100 bytes; median per operation (ratio: DIY / vaultcore PG, above 1 = faster)")
    print(f"CPU placement: {placement}\n")
    print("| metric | vaultcore PG | DIY PG | vaultcore LMDB | DIY / vc PG |")
    print("|---|---:|---:|---:|---:|")
    for m in metrics:
        vc, diy, lm = (results[k][m] for k in kinds)
        spread = ""
        if m in per_round:  # ratio per round: median (min..max)
            ratios = [d / v for d, v in zip(per_round[m]["DIY PG"], per_round[m]["vaultcore PG"], strict=True)]
            spread = f" ({min(ratios):.2f}..{max(ratios):.2f})"
            diy_over_vc = statistics.median(ratios)
        else:
            diy_over_vc = diy / vc
        print(f"| {m} | {_fmt(vc)} | {_fmt(diy)} | {_fmt(lm)} | {diy_over_vc:.2f}x{spread} |")
    if not THROUGHPUT:
        return
    print("\nThroughput, operations per second over all client processes\n")
    print("| op | processes | vaultcore PG | DIY PG | vaultcore LMDB |")
    print("|---|---:|---:|---:|---:|")
    for op in ("get", "set"):
        for procs in (1, 2, 4):
            row = " | ".join(f"{throughput[(k, op, procs)]:,.0f}" for k in kinds)
            print(f"| {op} | {procs} | {row} |")


if __name__ == "__main__":
    main()
