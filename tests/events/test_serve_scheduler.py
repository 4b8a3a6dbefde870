"""``vaultcore serve`` runs the scheduler: a near-expiry event appears with no maintenance call."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from vaultcore import KeyFileCredential, Vault


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_emits_near_expiry_on_its_timer(tmp_path: Path) -> None:
    key = tmp_path / "vault.key"
    KeyFileCredential.generate(key)
    path = tmp_path / "v"
    with Vault.create(path, KeyFileCredential(key)) as vault:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
        version = vault.secrets.set_secret("soon", "x", expires_on=expires).properties.version
        assert [e.short_type for e in vault.events.read()] == ["SecretNewVersionCreated"]
    command = [
        sys.executable, "-m", "vaultcore.cli", "--vault", str(path), "--key-file", str(key),
        "serve", "--port", str(_free_port()), "--tls-dir", str(tmp_path / "tls"),
        "--no-admin-token", "--maintenance-interval", "0.2",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            found = []
            deadline = time.monotonic() + 120  # a bound on waiting, not a timing assertion
            with Vault.open(path, KeyFileCredential(key)) as reader:
                while not found and time.monotonic() < deadline and proc.poll() is None:
                    found = reader.events.read(types="SecretNearExpiry")
                    time.sleep(0.1)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert [(e.object_name, e.version) for e in found] == [("soon", version)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
