"""The real ``vaultcore`` process: exit codes, stderr messages, no tracebacks, ``run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from clihelpers import run_subprocess


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VAULTCORE_VAULT": str(tmp_path / "v"), "VAULTCORE_PASSPHRASE": "pw"}


def _check(proc: object, code: int, stderr_start: str = "") -> str:
    assert getattr(proc, "returncode") == code, proc  # noqa: B009
    err: str = getattr(proc, "stderr").decode()  # noqa: B009
    assert "Traceback" not in err
    assert err.startswith(stderr_start), err
    return err


def test_session_with_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    init = run_subprocess("-o", "json", "init", "--kdf-profile", "interactive", env=env)
    _check(init, 0)
    assert json.loads(init.stdout)["path"] == env["VAULTCORE_VAULT"]
    _check(run_subprocess("secret", "set", "db-password", env=env, input=b"hunter2\n"), 0)
    got = run_subprocess("secret", "get", "db-password", env=env)
    _check(got, 0)
    assert got.stdout == b"hunter2\n"

    err = _check(run_subprocess("secret", "get", "nope", env=env), 1, "Error: ")
    assert err.count("\n") == 1 and "nope" in err
    _check(run_subprocess("secret", "get", "--bogus", env=env), 2, "Usage: vaultcore secret get")
    err = _check(run_subprocess("secret", "list", env={**env, "VAULTCORE_PASSPHRASE": "wrong"}), 3)
    assert err == "Error: the credential does not unlock this vault\n"
    err = _check(run_subprocess("secret", "list", env={**env, "VAULTCORE_VAULT": str(tmp_path / "none")}), 6)
    assert "no vault at" in err and "vaultcore init" in err

    blob = tmp_path / "b.vcbak"
    _check(run_subprocess("secret", "backup", "db-password", "-f", str(blob), env=env), 0)
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0x40
    blob.write_bytes(bytes(data))
    _check(run_subprocess("secret", "delete", "db-password", env=env), 0)
    _check(run_subprocess("secret", "purge", "db-password", env=env), 0)
    err = _check(run_subprocess("secret", "restore", "-f", str(blob), env=env), 4, "Error: ")
    assert err.count("\n") == 1


def test_run_in_a_real_process(env: dict[str, str]) -> None:
    _check(run_subprocess("init", "--kdf-profile", "interactive", env=env), 0)
    _check(run_subprocess("secret", "set", "app-token", env=env, input=b"t0k3n"), 0)
    code = "import os, sys; print(os.environ['TOKEN']); print('VAULTCORE_PASSPHRASE' in os.environ); sys.exit(7)"
    proc = run_subprocess("run", "--prefix", "app-", "--", sys.executable, "-c", code, env=env)
    _check(proc, 7)
    assert proc.stdout.decode().split() == ["t0k3n", "False"]


def test_help_and_completion_in_a_real_process() -> None:
    proc = run_subprocess("--help", env={})
    _check(proc, 0)
    assert b"Usage: vaultcore" in proc.stdout and b"Exit codes" in proc.stdout
    proc = run_subprocess(env={"_VAULTCORE_COMPLETE": "bash_source"})
    _check(proc, 0)
    assert b"_vaultcore_completion" in proc.stdout
