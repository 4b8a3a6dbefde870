"""``vaultcore run`` as a production supervisor (real processes, real signals) and ``inject``."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ttyhelpers import CLI, base_env

from vaultcore.cli._state import CREDENTIAL_VARS

# Installs a handler for each forwarded signal: records it, then exits with 100 + its number.
CHILD = """
import os, signal, sys, time
out = sys.argv[1]
def handler(signum, frame):
    with open(out, "a") as f:
        f.write(f"{signum} {os.getpid()}\\n")
    os._exit(100 + signum)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, handler)
with open(out + ".ready", "w") as f:
    f.write(str(os.getpid()))
time.sleep(60)
os._exit(3)
"""
FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"VAULTCORE_VAULT": str(tmp_path / "v"), "VAULTCORE_KEY_FILE": str(tmp_path / "v.key")}
    _vaultcore(["init", "--key-file", str(tmp_path / "v.key")], env)
    _vaultcore(["secret", "set", "app-db-password"], env, stdin=b"pa55-w0rd-value")
    return env


def _vaultcore(args: list[str], env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([*CLI, *args], env=base_env(env), input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result
    return result


def _start(args: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [*CLI, *args, "--", sys.executable, "-c", CHILD, str(out)],
        env=base_env(env),
        stdin=subprocess.DEVNULL,  # no terminal: as under systemd or docker without -t
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not Path(f"{out}.ready").exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    time.sleep(0.1)  # the ready file is written after the handlers are installed
    return child


@pytest.mark.parametrize("name", FORWARDED)
def test_signals_reach_the_command_and_its_status_is_the_exit_code(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    signum = getattr(signal, name)
    out = tmp_path / "signals"
    child = _start(["run", "--prefix", "app-"], env, out)
    child.send_signal(signum)  # to vaultcore, not to the command
    child.communicate(timeout=60)
    assert child.returncode == 100 + signum
    recorded, child_pid = out.read_text().split()
    assert int(recorded) == signum and int(child_pid) != child.pid  # a separate, supervised process


def test_exec_replaces_vaultcore(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "signals"
    child = _start(["run", "--prefix", "app-", "--exec"], env, out)
    assert int(Path(f"{out}.ready").read_text()) == child.pid  # same PID: nothing stays resident
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    assert child.returncode == 100 + signal.SIGTERM


def test_killed_command_gives_128_plus_n(env: dict[str, str]) -> None:
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    result = subprocess.run(
        [*CLI, "run", "--prefix", "app-", "--", sys.executable, "-c", kill], env=base_env(env), timeout=60
    )
    assert result.returncode == 128 + signal.SIGKILL


def test_every_credential_variable_is_stripped(env: dict[str, str], tmp_path: Path) -> None:
    dump = tmp_path / "env.json"
    code = f"import json, os; json.dump(dict(os.environ), open({str(dump)!r}, 'w'))"
    # Every credential variable set (the key file is the one that unlocks; the others are unused).
    full = {**dict.fromkeys(CREDENTIAL_VARS, "do-not-leak"), **env}
    result = subprocess.run(
        [*CLI, "run", "--prefix", "app-", "--", sys.executable, "-c", code],
        env=base_env(full),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result
    child_env = json.loads(dump.read_text())
    assert child_env["DB_PASSWORD"] == "pa55-w0rd-value"
    leaked = [name for name in CREDENTIAL_VARS if name in child_env]
    assert leaked == []
    assert "do-not-leak" not in json.dumps(child_env)
    assert child_env["VAULTCORE_VAULT"] == env["VAULTCORE_VAULT"]  # not a credential: inherited


def test_prefix_matching_nothing_warns_or_fails_with_strict(env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    args = [*CLI, "run", "--prefix", "nothing-", "--", sys.executable, "-c", code]
    warned = subprocess.run(args, env=base_env(env), capture_output=True, timeout=60)
    assert warned.returncode == 0 and b"Warning: no usable secret" in warned.stderr and marker.exists()
    marker.unlink()
    strict = [*CLI, "run", "--prefix", "nothing-", "--strict", "--", sys.executable, "-c", code]
    failed = subprocess.run(strict, env=base_env(env), capture_output=True, timeout=60)
    assert failed.returncode == 1 and not marker.exists()


def test_mask_hides_values_in_output_even_split_across_writes(env: dict[str, str]) -> None:
    code = (
        "import os, sys, time\n"
        "v = os.environ['DB_PASSWORD']\n"
        "sys.stdout.write('a ' + v[:4]); sys.stdout.flush(); time.sleep(0.2)\n"
        "sys.stdout.write(v[4:] + ' b\\n'); sys.stdout.flush()\n"
        "sys.stderr.write('err ' + v + '\\n')\n"
        "sys.stdout.write('pa55 alone\\n')\n"
    )
    args = [*CLI, "run", "--prefix", "app-", "--mask", "--", sys.executable, "-c", code]
    result = subprocess.run(args, env=base_env(env), capture_output=True, timeout=60)
    assert result.returncode == 0, result
    assert result.stdout == b"a <concealed by vaultcore> b\npa55 alone\n"
    assert result.stderr == b"err <concealed by vaultcore>\n"
    plain = subprocess.run([*CLI, "run", "--prefix", "app-", "--", sys.executable, "-c", code], env=base_env(env),
                           capture_output=True, timeout=60)  # fmt: skip
    assert b"pa55-w0rd-value" in plain.stdout  # masking is opt-in


def test_inject_renders_a_0600_file(env: dict[str, str], tmp_path: Path) -> None:
    template = tmp_path / "config.tpl"
    template.write_text(
        "[db]\npassword = {{ vault://app-db-password }}\nuser = app\nagain={{vault://app-db-password}}\n"
    )
    out = tmp_path / "config.ini"
    _vaultcore(["inject", "-i", str(template), "-o", str(out)], env)
    assert out.read_text() == "[db]\npassword = pa55-w0rd-value\nuser = app\nagain=pa55-w0rd-value\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = subprocess.run([*CLI, "inject", "-i", str(template), "-o", str(out)], env=base_env(env),
                           capture_output=True, timeout=60)  # fmt: skip
    assert again.returncode == 2  # no overwrite without --force
    template.write_text("ok\n\nx = {{ vault://missing }}\n")
    bad = subprocess.run([*CLI, "inject", "-i", str(template), "-o", str(tmp_path / "new.ini")],
                         env=base_env(env), capture_output=True, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and b"line 3" in bad.stderr and not (tmp_path / "new.ini").exists()
    assert os.path.exists(out)


def test_the_stripped_list_names_every_credential_the_cli_reads() -> None:
    from vaultcore.cli import _admin, _cert, _state

    read = {
        _state.ENV_PASSPHRASE,
        _state.ENV_KEY_FILE,
        _state.ENV_PKCS11_PIN,
        _state.ENV_CLIENT_SECRET,
        _state.ENV_SESSION,
        _admin.ENV_NEW_PASSPHRASE,
        _admin.ENV_DOMAIN_PASSPHRASE,
        _cert.ENV_PFX_PASSWORD,
    }
    assert read <= set(CREDENTIAL_VARS)
