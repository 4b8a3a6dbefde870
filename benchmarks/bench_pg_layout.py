"""Table layout for the PostgreSQL backend: one keyed table vs one table per sub-database.

Run: ``.venv/bin/python benchmarks/bench_pg_layout.py`` (``BENCH_PG`` as in bench_postgres.py).
Both layouts get the same rows (4 sub-databases x 25,000 keys of 33 bytes, 150-byte values,
two vaults); measured interleaved on one connection: a point get, the last key under a
17-byte prefix, a 200-row upsert batch, and the table + index size. Medians of 7 rounds.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid

import psycopg

BASE = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
DBS = [b"objects", b"versions", b"audit", b"meta"]
PER_DB = 25_000


def main() -> None:
    schema = f"layout_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(BASE, autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        s = f'"{schema}"'
        conn.execute(
            f'CREATE TABLE {s}.one (vault text COLLATE "C", db bytea, key bytea, value bytea, '
            "PRIMARY KEY (vault, db, key))"
        )
        for db in DBS:
            conn.execute(
                f'CREATE TABLE {s}."t_{db.decode()}" (vault text COLLATE "C", key bytea, value bytea, '
                "PRIMARY KEY (vault, key))"
            )
        rng = random.Random(1)
        keys = {db: [rng.randbytes(33) for _ in range(PER_DB)] for db in DBS}
        for vault in ("a", "b"):
            with conn.transaction(), conn.cursor() as cur:
                for db in DBS:
                    rows = [(vault, k, rng.randbytes(150)) for k in keys[db]]
                    one_rows = [(v, db, k, val) for v, k, val in rows]
                    cur.executemany(f"INSERT INTO {s}.one VALUES (%s, %s, %s, %s)", one_rows)
                    cur.executemany(f'INSERT INTO {s}."t_{db.decode()}" VALUES (%s, %s, %s)', rows)
        conn.execute(f"VACUUM ANALYZE {s}.one")
        for db in DBS:
            conn.execute(f'VACUUM ANALYZE {s}."t_{db.decode()}"')
        probes = [rng.choice(keys[b"versions"]) for _ in range(300)]
        layouts = {
            "one keyed table": (
                f"SELECT value FROM {s}.one WHERE vault = %s AND db = %s AND key = %s",
                f"SELECT key, value FROM {s}.one WHERE vault = %s AND db = %s AND key >= %s AND key < %s "
                "ORDER BY key DESC LIMIT 1",
                f"INSERT INTO {s}.one VALUES (%s, %s, %s, %s) ON CONFLICT (vault, db, key) "
                "DO UPDATE SET value = EXCLUDED.value",
                True,
            ),
            "table per sub-database": (
                f'SELECT value FROM {s}."t_versions" WHERE vault = %s AND key = %s',
                f'SELECT key, value FROM {s}."t_versions" WHERE vault = %s AND key >= %s AND key < %s '
                "ORDER BY key DESC LIMIT 1",
                f'INSERT INTO {s}."t_versions" VALUES (%s, %s, %s) ON CONFLICT (vault, key) '
                "DO UPDATE SET value = EXCLUDED.value",
                False,
            ),
        }
        results: dict[str, dict[str, list[float]]] = {n: {"get": [], "last": [], "upsert200": []} for n in layouts}
        for _ in range(7):
            for name, (get, last, put, with_db) in layouts.items():
                t0 = time.perf_counter()
                for k in probes:
                    conn.execute(get, ("a", b"versions", k) if with_db else ("a", k)).fetchone()
                results[name]["get"].append((time.perf_counter() - t0) / len(probes))
                t0 = time.perf_counter()
                for k in probes:
                    lo, hi = k[:17], k[:16] + bytes([(k[16] + 1) % 256])
                    args = ("a", b"versions", lo, hi) if with_db else ("a", lo, hi)
                    conn.execute(last, args).fetchone()
                results[name]["last"].append((time.perf_counter() - t0) / len(probes))
                batch = [rng.randbytes(33) for _ in range(200)]
                t0 = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    rows = [("a", b"versions", k, b"v" * 150) if with_db else ("a", k, b"v" * 150) for k in batch]
                    cur.executemany(put, rows)
                results[name]["upsert200"].append(time.perf_counter() - t0)
        size_one = conn.execute(f"SELECT pg_total_relation_size('{schema}.one')").fetchone()[0]  # type: ignore[index]
        size_per = sum(
            conn.execute(f"SELECT pg_total_relation_size('{schema}.\"t_{db.decode()}\"')").fetchone()[0]  # type: ignore[index]
            for db in DBS
        )
        print("| layout | point get | last under prefix | 200-row upsert txn | size (200k rows) |")
        print("|---|---:|---:|---:|---:|")
        for name, r in results.items():
            size = size_one if name == "one keyed table" else size_per
            print(
                f"| {name} | {statistics.median(r['get']) * 1e6:.0f} µs | {statistics.median(r['last']) * 1e6:.0f} µs "
                f"| {statistics.median(r['upsert200']) * 1e3:.2f} ms | {size / 1e6:.1f} MB |"
            )
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


if __name__ == "__main__":
    main()
