"""``vaultcore serve``: options, usage errors, and a real server process stopped by a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from azure.keyvault.secrets import SecretClient
from click.testing import CliRunner

import vaultcore
from vaultcore.cli import cli
from vaultcore.server import credential

# The directory holding the vaultcore this test imported (site-packages when installed,
# src/ in an editable checkout): children import the same package, never the bare source tree.
SRC = Path(vaultcore.__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    child["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), child.get("PYTHONPATH")]))
    child.update({"VAULTCORE_VAULT": str(tmp_path / "v"), "VAULTCORE_PASSPHRASE": "pw"})
    return child


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_help_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "Azure Key Vault's REST API" in result.output and "--tls-dir" in result.output
    pem = tmp_path / "x.pem"
    pem.write_text("x")
    result = runner.invoke(cli, ["serve", "--cert", str(pem)])
    assert result.exit_code == 2 and "--cert and --key together" in result.output
    result = runner.invoke(cli, ["serve", "--cert", str(pem), "--key", str(pem), "--tls-dir", str(tmp_path)])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["--client-id", "app", "serve"], env={"VAULTCORE_VAULT": str(tmp_path / "v")})
    assert result.exit_code == 2 and "administrator" in result.output


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_in_a_real_process(env: dict[str, str], tmp_path: Path, stop: signal.Signals) -> None:
    init = subprocess.run(
        [sys.executable, "-m", "vaultcore.cli", "init", "--kdf-profile", "interactive"],
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaultcore.cli", "-o", "json", "serve", "--port", str(port), "--tls-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or lines[-1] != "}":
            line = proc.stdout.readline().decode()
            assert line, proc.stderr.read().decode() if proc.stderr else ""
            lines.append(line.rstrip("\n"))
        info = json.loads("\n".join(lines))
        assert info["url"] == f"https://localhost:{port}" and info["ca_path"] == str(tmp_path / "ca.pem")
        assert info["token_endpoint"] == f"https://localhost:{port}/_vaultcore/token"
        admin = credential(info["url"], token=info["admin_token"])
        kwargs = {"verify_challenge_resource": False, "connection_verify": info["ca_path"]}
        with SecretClient(info["url"], admin, **kwargs) as client:
            client.set_secret("served", "over https")
            assert client.get_secret("served").value == "over https"
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and info["admin_token"].encode() not in err
    got = subprocess.run(
        [sys.executable, "-m", "vaultcore.cli", "secret", "get", "served"],
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert got.stdout == b"over https\n"
