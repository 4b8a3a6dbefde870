"""Committed mutations keep their audit events through a SIGKILL (issue 7 §5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import vaultcore
from vaultcore import RawKeyCredential, Vault


@pytest.fixture
def vault_path(vault_path_on_both: Path) -> Path:
    """These tests run on LMDB and on PostgreSQL (rows edited with SQL there)."""
    return vault_path_on_both


pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

CHILD = textwrap.dedent(
    """
    import sys
    from vaultcore import RawKeyCredential, Vault

    vault = Vault.open(sys.argv[1], RawKeyCredential(bytes.fromhex(sys.argv[2])), audit=sys.argv[3])
    i = 0
    while True:
        made = vault.secrets.set_secret(f"s{i}", "value %d" % i)
        print(i, made.properties.version, flush=True)  # acknowledged: the write committed
        vault.secrets.get_secret(f"s{i}")  # reads keep the group-commit flusher busy
        i += 1
    """
)


@pytest.mark.parametrize("mode", ["group", "sync"])
def test_sigkill_keeps_every_acknowledged_mutation_and_its_event(vault_path: Path, tmp_path: Path, mode: str) -> None:
    path = vault_path
    key = os.urandom(32)
    Vault.create(path, RawKeyCredential(key)).close()
    key_hex = key.hex()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(vaultcore.__file__).resolve().parent.parent), *sys.path]),
    }
    acked: list[tuple[int, str]] = []
    errors = tmp_path / "child.err"
    with (
        errors.open("w") as err,
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), key_hex, mode],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
        ) as child,
    ):
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        try:
            while len(acked) < 40:
                line = child.stdout.readline()
                assert line, f"the child died: {errors.read_text()}"
                number, made = line.split()
                acked.append((int(number), made))
                assert time.monotonic() < deadline
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    reopened = Vault.open(path, RawKeyCredential(bytes.fromhex(key_hex)))
    try:
        result = reopened.audit.verify()
        assert result.ok, result.reason
        set_events = {e.object_id for e in reopened.audit.events(operation="SecretSet") if e.result == "success"}
        for index, version in acked:
            assert f"/secrets/s{index}/{version}" in set_events
            assert reopened.secrets.get_secret(f"s{index}").properties.version is not None
        if mode == "sync":  # synchronous reads were committed before get_secret returned
            gets = {e.object_id for e in reopened.audit.events(operation="SecretGet")}
            for index, version in acked[:-1]:
                assert f"/secrets/s{index}/{version}" in gets
    finally:
        reopened.close()
