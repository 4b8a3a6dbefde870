"""Premium tier (root key and -HSM keys in SoftHSM2) against the standard tier (issue 5 §9).

Each case pairs the premium call (``ours``) with the same call on a standard vault or a
software key (``reference``) and reports ``premium / standard`` from interleaved medians in
one run (``bench_keyops.measure_ratio``):

* unlock: ``Vault.open`` + ``close`` of a premium vault (root key found in the token,
  keyring unwrapped inside it, rollback counter read and recorded) against a raw-key and a
  key-file vault; the root-key part alone (no store: find/derive the root key, unwrap the
  keyring, check the rollback counter); and the first unlock in a fresh process (module
  load and login included);
* ``get_secret`` after unlock (goal: the same within noise — the HSM is not on the read
  path);
* RSA-2048 PS256/RS256 and P-256 ES256 sign through ``vault.keys`` with an ``-HSM`` key
  against a software key of the same type in the same premium vault.

Needs SoftHSM2 (``apt-get install softhsm2``); a private token is made in a temp dir.
Run with pytest-benchmark::

    .venv/bin/python -m pytest benchmarks/bench_premium.py --benchmark-only -s

or as a script for the ratio table alone::

    .venv/bin/python benchmarks/bench_premium.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench_keyops import Case, Ratio, measure_ratio, report
from vaultcore import KeyFileCredential, Pkcs11Credential, RawKeyCredential, Vault
from vaultcore.crypto._keyring import Keyring
from vaultcore.engine._context import KEYRING_KEY, META, keyring_aad
from vaultcore.hsm import _softhsm as _hsm_softhsm

GET_SECRET_GOAL = 1.10  # premium get_secret / standard get_secret: "the same within noise"
# More interleaved rounds where the two sides are expected to be equal (noise decides).
_ROUNDS = {"get_secret after unlock": 151}
_PIN = "bench-user-pin"
_TOKEN = "vaultcore-bench"


@dataclass
class Setup:
    """A SoftHSM2 token; closed premium, raw-key and key-file vaults (unlock cases); an open
    premium and an open standard vault (reads and signatures)."""

    directory: str
    conf: str
    premium_path: str
    premium_credential: Pkcs11Credential
    raw_path: str
    raw_key: bytes
    keyfile_path: str
    keyfile: str
    premium: Vault
    standard: Vault

    def close(self) -> None:
        self.premium.close()
        self.standard.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def softhsm_missing() -> str | None:
    if _hsm_softhsm.softhsm2_util() is None:
        return "softhsm2-util not found (apt-get install softhsm2)"
    if not any(os.path.isfile(p) for p in _hsm_softhsm.SOFTHSM_MODULE_CANDIDATES):
        return "libsofthsm2.so not found (apt-get install softhsm2)"
    return None


def make_setup() -> Setup:
    directory = tempfile.mkdtemp(prefix="bench-premium-")
    token = _hsm_softhsm.create_softhsm_token(
        os.path.join(directory, "softhsm"), label=_TOKEN, pin=_PIN, so_pin="bench-so-pin"
    )
    os.environ["SOFTHSM2_CONF"] = token.conf_path  # before the first PKCS#11 call
    credential = Pkcs11Credential(token_label=_TOKEN, pin=_PIN, key_label="bench-root")
    premium_path = os.path.join(directory, "premium")
    raw_path = os.path.join(directory, "raw")
    keyfile_path = os.path.join(directory, "keyfile")
    keyfile = os.path.join(directory, "vault.key")
    raw_key = os.urandom(32)
    # The unlock cases open vaults that no other handle in this process holds open.
    for path, made in (
        (keyfile_path, KeyFileCredential.generate(keyfile)),
        (premium_path, credential),
        (raw_path, RawKeyCredential(raw_key)),
    ):
        with Vault.create(path, made) as vault:
            vault.secrets.set_secret("db-password", "correct horse battery staple")
    premium = Vault.create(os.path.join(directory, "premium-open"), credential)
    standard = Vault.create(os.path.join(directory, "raw-open"), RawKeyCredential(raw_key))
    for vault in (premium, standard):
        vault.secrets.set_secret("db-password", "correct horse battery staple")
    premium.keys.create_key("rsa-hsm", "RSA-HSM", size=2048)
    premium.keys.create_key("rsa-soft", "RSA", size=2048)
    premium.keys.create_key("ec-hsm", "EC-HSM", curve="P-256")
    premium.keys.create_key("ec-soft", "EC", curve="P-256")
    return Setup(
        directory,
        token.conf_path,
        premium_path,
        credential,
        raw_path,
        raw_key,
        keyfile_path,
        keyfile,
        premium,
        standard,
    )


def _root_unlock(path: str, credential: Any) -> Callable[[], object]:
    """What unlocking costs without the store: find the root key (in the token for premium,
    HKDF + verifier for a raw key), unwrap the keyring, check the rollback counter."""
    with Vault.open(path, credential) as vault:
        header_raw = vault._ctx.header_raw
        with vault._ctx.store.read() as txn:
            blob = bytes(txn.get(META, KEYRING_KEY))
    header = json.loads(header_raw)
    vault_id = bytes.fromhex(header["vault_id"])
    aad = keyring_aad(header_raw)

    def unlock() -> object:
        root = credential._open_root(header["root"], vault_id)
        ring = Keyring.from_bytes(root.unwrap(blob, aad))
        check = getattr(root, "check_generation", None)
        if check is not None:
            check(ring.generation)
        return ring

    return unlock


def premium_cases(setup: Setup) -> list[Case]:
    def open_close(path: str, credential: Any) -> None:
        Vault.open(path, credential).close()

    premium_unlock = _root_unlock(setup.premium_path, setup.premium_credential)
    raw_unlock = _root_unlock(setup.raw_path, RawKeyCredential(setup.raw_key))
    cases = [
        Case("root unlock (no store)", premium_unlock, raw_unlock),
        Case(
            "unlock vs raw key",
            lambda: open_close(setup.premium_path, setup.premium_credential),
            lambda: open_close(setup.raw_path, RawKeyCredential(setup.raw_key)),
        ),
        Case(
            "unlock vs key file",
            lambda: open_close(setup.premium_path, setup.premium_credential),
            lambda: open_close(setup.keyfile_path, KeyFileCredential(setup.keyfile)),
        ),
        Case(
            "get_secret after unlock",
            lambda: setup.premium.secrets.get_secret("db-password"),
            lambda: setup.standard.secrets.get_secret("db-password"),
        ),
    ]
    digest = os.urandom(32)
    for kty, alg in (("rsa", "PS256"), ("rsa", "RS256"), ("ec", "ES256")):
        hsm = setup.premium.keys.get_cryptography_client(f"{kty}-hsm")
        soft = setup.premium.keys.get_cryptography_client(f"{kty}-soft")
        label = "RSA-2048" if kty == "rsa" else "P-256"
        cases.append(
            Case(
                f"{label} sign {alg} HSM/sw",
                lambda hsm=hsm, alg=alg: hsm.sign(alg, digest),
                lambda soft=soft, alg=alg: soft.sign(alg, digest),
            )
        )
    return cases


_COLD = """
import sys, time
from vaultcore import Pkcs11Credential, RawKeyCredential, Vault
start = time.perf_counter()
kind, path, secret, token, pin = sys.argv[1:6]
if kind == "premium":
    credential = Pkcs11Credential(token_label=token, pin=pin, key_label="bench-root")
else:
    credential = RawKeyCredential(bytes.fromhex(secret))
Vault.open(path, credential).close()
print(time.perf_counter() - start)
"""


def cold_unlock(setup: Setup, runs: int = 7) -> tuple[float, float]:
    """Median seconds of the first ``Vault.open`` + ``close`` in a fresh process (after
    ``import vaultcore``): premium (module load, login, root key lookup) and raw key."""
    env = dict(os.environ, SOFTHSM2_CONF=setup.conf)
    times: dict[str, list[float]] = {"premium": [], "raw": []}
    for i in range(runs):
        for kind in ("premium", "raw") if i % 2 else ("raw", "premium"):
            path = setup.premium_path if kind == "premium" else setup.raw_path
            out = subprocess.run(
                [sys.executable, "-c", _COLD, kind, path, setup.raw_key.hex(), _TOKEN, _PIN],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            times[kind].append(float(out.stdout.strip()))
    return statistics.median(times["premium"]), statistics.median(times["raw"])


def summary(ratios: list[Ratio], cold: tuple[float, float] | None) -> str:
    lines = [report(ratios)]
    if cold is not None:
        premium, raw = cold
        lines.append(
            f"{'first unlock, new process':<28} {premium * 1e6:>10.0f} {raw * 1e6:>13.0f} {premium / raw:>6.2f}x"
        )
    get = next((r for r in ratios if r.name == "get_secret after unlock"), None)
    if get is not None:
        verdict = "met" if get.ratio <= GET_SECRET_GOAL else "NOT met"
        lines.append(f"goal: get_secret premium <= {GET_SECRET_GOAL}x standard: {verdict} ({get.ratio:.2f}x)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- pytest-benchmark

_NAMES = [
    "root unlock (no store)",
    "unlock vs raw key",
    "unlock vs key file",
    "get_secret after unlock",
    "RSA-2048 sign PS256 HSM/sw",
    "RSA-2048 sign RS256 HSM/sw",
    "P-256 sign ES256 HSM/sw",
]
_RATIOS: list[Ratio] = []


@pytest.fixture(scope="module")
def cases() -> Iterator[dict[str, Case]]:
    missing = softhsm_missing()
    if missing:
        pytest.skip(f"SoftHSM2 is not installed: {missing}")
    previous = os.environ.get("SOFTHSM2_CONF")
    setup = make_setup()
    try:
        yield {case.name: case for case in premium_cases(setup)}
        cold = cold_unlock(setup) if _RATIOS else None
    finally:
        setup.close()
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
    if _RATIOS:
        print("\n\npremium (SoftHSM2) vs standard / software, interleaved medians (ours = premium)")
        print(summary(_RATIOS, cold))


@pytest.mark.parametrize("name", _NAMES)
def test_premium(benchmark: Any, cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    benchmark.group = name
    benchmark.name = f"{name}: premium"
    benchmark(case.ours)
    if not benchmark.disabled:
        ratio = measure_ratio(case, rounds=_ROUNDS.get(name, 31))
        benchmark.extra_info["ratio_premium_vs_standard"] = round(ratio.ratio, 3)
        _RATIOS.append(ratio)


@pytest.mark.parametrize("name", _NAMES)
def test_standard(benchmark: Any, cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    benchmark.group = name
    benchmark.name = f"{name}: standard/software"
    benchmark(case.reference)


def main() -> None:
    missing = softhsm_missing()
    if missing:
        raise SystemExit(f"SoftHSM2 is not installed: {missing}")
    setup = make_setup()
    try:
        ratios = [measure_ratio(case, rounds=_ROUNDS.get(case.name, 31)) for case in premium_cases(setup)]
        cold = cold_unlock(setup)
    finally:
        setup.close()
    print(summary(ratios, cold))


if __name__ == "__main__":
    main()
