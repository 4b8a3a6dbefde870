"""Helpers for the azure-identity tests: a ``vaultcore serve`` subprocess, client certificates,
clean child environments, and temporary OS users (root only)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

APP = Path(__file__).with_name("azure_app.py")
VAULT_NAME = "idv"
SERVE_ARGS = ("--no-admin-token",)
# Variables of the test runner that would change what azure-identity or its transports do.
_DROP = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "VAULTCORE_", "PYTHONPATH")
_DROP_EXACT = {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"}
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def clean_env() -> dict[str, str]:
    """The runner's environment without Azure, CA, proxy and vaultcore variables."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROP) and k not in _DROP_EXACT and k.lower() not in _PROXIES
    }


def client_certificate(directory: Path, client_id: str) -> tuple[Path, bytes]:
    """A self-signed RSA certificate for *client_id*: (PEM file with key + cert, cert PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = directory / f"{client_id}.pem"
    path.write_bytes(key_pem + cert_pem)
    path.chmod(0o600)
    return path, cert_pem


@dataclass
class Served:
    """A running ``vaultcore serve`` process and what it printed."""

    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    vault_args: list[str]
    tls_dir: Path

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def env(self) -> dict[str, str]:
        return dict(self.info["env"])

    def stop(self) -> bytes:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return err


def cli(vault_args: list[str], *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "vaultcore.cli", *vault_args, *args],
        input=stdin,
        env=clean_env(),
        capture_output=True,
        check=False,
        timeout=120,
    )


@contextmanager
def serve(vault_args: list[str], tls_dir: Path, *extra: str) -> Iterator[Served]:
    """``vaultcore serve --port 0 -o json`` in a subprocess until the block ends (SIGTERM)."""
    argv = [sys.executable, "-m", "vaultcore.cli", *vault_args, "-o", "json", "serve", "--port", "0", *SERVE_ARGS]
    argv += extra
    proc = subprocess.Popen(
        [*argv, "--tls-dir", str(tls_dir)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    served = None
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}":
            line = proc.stdout.readline().decode()
            assert line, proc.stderr.read().decode() if proc.stderr else "serve exited"
            lines.append(line.rstrip("\n"))
        served = Served(proc, json.loads("\n".join(lines)), vault_args, tls_dir)
        yield served
    finally:
        if served is not None:
            err = served.stop()
            assert b"Traceback" not in err, err.decode()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def run_python(argv: list[str], env: dict[str, str], user: str | None = None) -> dict[str, Any]:
    """``python ARGV...`` with *env* on a clean environment (as OS *user* if given); its JSON line."""
    child = {**clean_env(), **env}
    command = [sys.executable, *argv]
    if user is not None:  # runuser keeps most of the environment; `env -i` makes it exact
        child["HOME"] = "/"
        command = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in child.items()), *command]
    done = subprocess.run(command, env=child, capture_output=True, check=False, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def run_app(
    env: dict[str, str], kind: str, mode: str, name: str, value: str | None = None, *, user: str | None = None
) -> dict[str, Any]:
    """Run :mod:`azure_app` with *env* on top of a clean environment (as OS *user* if given)."""
    return run_python([str(APP), kind, mode, name, *([value] if value is not None else [])], env, user)


# -- temporary OS users ----------------------------------------------------------------


def add_user() -> tuple[str, int]:
    """A new system user (no home, no login shell); ``(name, uid)``."""
    name = "vcmi" + uuid.uuid4().hex[:8]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return name, pwd.getpwnam(name).pw_uid


def remove_user(name: str) -> None:
    subprocess.run(["userdel", name], check=False, capture_output=True, timeout=60)


@contextmanager
def traversable(paths: list[Path]) -> Iterator[None]:
    """Let other users reach *paths* (search permission on every ancestor directory that lacks
    it, e.g. /root in CI), restoring the original modes afterwards. Nothing becomes listable."""
    changed: dict[Path, int] = {}
    try:
        for path in paths:
            for folder in [path, *path.parents] if path.is_dir() else list(path.parents):
                mode = folder.stat().st_mode
                if folder not in changed and not mode & stat.S_IXOTH:
                    changed[folder] = stat.S_IMODE(mode)
                    folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)
