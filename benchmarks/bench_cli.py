"""CLI latency (issue 18 §3, issue 12's import goal): wall time of whole processes.

Every case is a fresh process, as a user or a script runs it; ``python -c pass`` (the same
interpreter) is measured in the same rounds so the figures can be read as a ratio on a noisy
machine. Rounds interleave the cases; each figure is the median of the rounds (with min-max).

Goals: ``import vaultcore`` <= 60 ms, ``vaultcore --version`` <= 40 ms, ``vaultcore secret get
NAME`` with a key file <= 80 ms, and a Tab completion that never opens the vault. Issue 12's
cold start (a new process that opens and reads one secret, imports included) is shown beside
its do-it-yourself peer (sqlite3 + AES-GCM, names hidden by an HMAC; goal <= 2x).

Run as a script (prints a table)::

    .venv/bin/python benchmarks/bench_cli.py [--rounds 10]

or through pytest-benchmark's collector (``make bench``), which runs the same table once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PY = sys.executable
CLI = str(Path(PY).with_name("vaultcore"))
GOALS_MS = {"import vaultcore": 60.0, "vaultcore --version": 40.0, "vaultcore secret get (key file)": 80.0}


def _setup(root: Path) -> dict[str, str]:
    """A vault opened by a key file, with one secret; returns the environment for the CLI."""
    # As a user's shell has it: no VAULTCORE_* leftovers, and byte-code caching on (a
    # PYTHONDONTWRITEBYTECODE=1 environment recompiles every module in every process).
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(VAULTCORE_VAULT=str(root / "vault"), VAULTCORE_KEY_FILE=str(root / "vault.key"))
    subprocess.run([CLI, "init", "--key-file", str(root / "vault.key")], env=env, check=True, capture_output=True)
    subprocess.run([CLI, "secret", "set", "db-password"], env=env, input=b"s3cr3t", check=True, capture_output=True)
    _diy_setup(root)
    return env


_DIY_READ = """
import hashlib, hmac, sqlite3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = open({key!r}, "rb").read()
db = sqlite3.connect({db!r})
name = hmac.new(key, b"db-password", hashlib.sha256).digest()
nonce, blob = db.execute("SELECT nonce, value FROM secrets WHERE name = ?", (name,)).fetchone()
AESGCM(key).decrypt(nonce, blob, name)
db.close()
"""


def _diy_setup(root: Path) -> None:
    """The do-it-yourself peer of issue 12: sqlite3 (WAL) + AES-GCM, names hidden by an HMAC."""
    import hashlib
    import hmac
    import sqlite3

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = os.urandom(32)
    (root / "diy.key").write_bytes(key)
    db = sqlite3.connect(root / "diy.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE secrets (name BLOB PRIMARY KEY, nonce BLOB, value BLOB)")
    name = hmac.new(key, b"db-password", hashlib.sha256).digest()
    nonce = os.urandom(12)
    db.execute("INSERT INTO secrets VALUES (?, ?, ?)", (name, nonce, AESGCM(key).encrypt(nonce, b"s3cr3t", name)))
    db.commit()
    db.close()


def _cases(root: Path, env: dict[str, str]) -> dict[str, tuple[Sequence[str], dict[str, str]]]:
    complete = dict(env, _VAULTCORE_COMPLETE="bash_complete", COMP_WORDS="vaultcore secret get db", COMP_CWORD="3")
    script = (
        "from vaultcore import Vault, KeyFileCredential\n"
        f"with Vault.open({str(root / 'vault')!r}, KeyFileCredential({str(root / 'vault.key')!r})) as v:\n"
        "    v.secrets.get_secret('db-password')\n"
    )
    return {
        "python -c pass": ([PY, "-c", "pass"], env),
        "import vaultcore": ([PY, "-c", "import vaultcore"], env),
        "Vault.open + get_secret (key file)": ([PY, "-c", script], env),
        "DIY sqlite3 + AES-GCM open + read": (
            [PY, "-c", _DIY_READ.format(key=str(root / "diy.key"), db=str(root / "diy.db"))],
            env,
        ),
        "vaultcore --version": ([CLI, "--version"], env),
        "vaultcore secret get (key file)": ([CLI, "secret", "get", "db-password"], env),
        "Tab completion of a secret name": ([CLI], complete),
    }


def _time_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms of the process: user + system) for one run of *argv*."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000.0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{argv} exited {child.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0


def measure(rounds: int = 10) -> dict[str, list[tuple[float, float]]]:
    """(wall ms, CPU ms) per case, *rounds* interleaved samples each (after one warm-up round)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = _setup(root)
        cases = _cases(root, env)
        for argv, case_env in cases.values():  # warm-up: page cache, .pyc files
            _time_once(argv, case_env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (argv, case_env) in cases.items():
                samples[name].append(_time_once(argv, case_env))
    return samples


def report(samples: dict[str, list[tuple[float, float]]]) -> str:
    """A table: wall median (min-max), its ratio to ``python -c pass``, CPU median, the goal."""
    base = statistics.median(w for w, _ in samples["python -c pass"])
    lines = [f"{'case':36} {'wall ms':>8} {'min-max':>13} {'x pass':>7} {'CPU ms':>7} {'goal (wall)':>14}"]
    for name, values in samples.items():
        walls = [w for w, _ in values]
        med = statistics.median(walls)
        cpu = statistics.median(c for _, c in values)
        goal = GOALS_MS.get(name)
        verdict = "" if goal is None else f"<= {goal:.0f} {'ok' if med <= goal else 'MISSED'}"
        spread = f"{min(walls):.1f}-{max(walls):.1f}"
        lines.append(f"{name:36} {med:8.1f} {spread:>13} {med / base:7.1f} {cpu:7.1f} {verdict:>14}")
    vault = statistics.median(w for w, _ in samples["Vault.open + get_secret (key file)"])
    diy = statistics.median(w for w, _ in samples["DIY sqlite3 + AES-GCM open + read"])
    lines.append(f"cold open + first read, vaultcore / DIY: {vault / diy:.2f}x (issue 12 goal <= 2x)")
    return "\n".join(lines)


def test_cli_latency(benchmark: Any) -> None:
    """``make bench`` entry: one measurement of 10 rounds, printed as the table (no timed
    assertion: the machine is noisy)."""
    samples = benchmark.pedantic(measure, kwargs={"rounds": 10}, rounds=1, iterations=1)
    print()
    print(report(samples))
    assert all(len(v) == 10 for v in samples.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(report(measure(args.rounds)))


if __name__ == "__main__":
    main()
