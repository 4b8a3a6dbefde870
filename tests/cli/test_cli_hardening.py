"""CLI hardening from issue 13 §9 and §12: close inside the error handling, no writes through
symlinks, bounded stdin, a linear dotenv parser, a partial import that says what it stored,
and another user's vault as exit 7."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from clihelpers import Cli, run_subprocess

from vaultcore import Vault
from vaultcore.cli._dotenv import parse_dotenv
from vaultcore.exceptions import StorageError
from vaultcore.secrets._client import SecretClient


def test_a_failure_while_closing_is_reported_inside_the_error_handling(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("secret", "set", "db-password", input="hunter2\n")
    original = Vault.close

    def failing_close(self: Vault) -> None:
        original(self)
        raise StorageError("write failed: no space left for the vault")

    monkeypatch.setattr(Vault, "close", failing_close)
    result = cli.fails(7, "secret", "get", "db-password")
    assert "no space" in result.stderr


def test_the_vault_is_closed_and_audited_when_a_command_fails(cli: Cli) -> None:
    cli.ok("secret", "set", "db-password", input="hunter2\n")
    cli.fails(1, "secret", "get", "missing")
    events = cli.json("audit", "show")
    assert any(e["operation"] == "SecretGet" and e["result"] == "NotFound" for e in events), events


def test_force_does_not_write_through_a_symlink(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "db-password", input="hunter2\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "out.env"
    link.symlink_to(victim)
    result = cli.fails(2, "export-env", "--file", str(link), "--force")
    assert "symbolic link" in result.stderr
    assert victim.read_text() == "precious\n"
    assert link.is_symlink()


def test_secret_set_refuses_a_value_over_25_kib_from_stdin(cli: Cli) -> None:
    result = cli.fails(2, "secret", "set", "big", input=b"x" * (25 * 1024 + 10))
    assert "25 KiB" in result.stderr
    cli.ok("secret", "set", "edge", input=b"y" * (25 * 1024) + b"\n")  # exactly the limit is fine


def test_secret_set_stops_reading_stdin_past_the_limit(vault_dir: Path, key_file: Path) -> None:
    env = {"VAULTCORE_VAULT": str(vault_dir), "VAULTCORE_KEY_FILE": str(key_file)}
    assert run_subprocess("init", env=env).returncode == 0
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")} | env
    with subprocess.Popen(
        [sys.executable, "-m", "vaultcore.cli", "secret", "set", "endless"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
    ) as child:
        assert child.stdin is not None and child.stderr is not None
        try:
            child.stdin.write(b"z" * (40 * 1024))  # more than the limit, less than a pipe buffer
            child.stdin.flush()
            code = child.wait(timeout=60)  # stdin is still open: it must not wait for EOF
            err = child.stderr.read()
        finally:
            child.kill()
    assert code == 2
    assert b"25 KiB" in err


class _CountingText(str):
    """A str that adds up how many characters ``count`` is asked to scan."""

    scanned = 0

    def count(self, sub: str, *args: Any) -> int:  # type: ignore[override]
        start = args[0] if args else 0
        end = args[1] if len(args) > 1 else len(self)
        _CountingText.scanned += max(0, end - start)
        return super().count(sub, *args)


def test_the_dotenv_parser_scans_linearly() -> None:
    text = "".join(f"VAR_{i}=value-{i}\n" for i in range(5000))
    _CountingText.scanned = 0
    parsed = parse_dotenv(_CountingText(text))
    assert len(parsed) == 5000 and parsed["VAR_4999"] == "value-4999"
    assert _CountingText.scanned <= 2 * len(text), "the parser rescans the text from the start for each line"


def test_an_interrupted_import_env_says_which_names_were_stored(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"VAR_{i}=v{i}\n" for i in range(600)))
    original = SecretClient.set_secrets
    calls = []

    def second_chunk_fails(self: SecretClient, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StorageError("write failed: no space left for the vault")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SecretClient, "set_secrets", second_chunk_fails)
    result = cli.fails(7, "import-env", str(dotenv))
    assert "500 of 600 secrets were stored" in result.stderr
    assert "VAR-0," in result.stderr and "VAR-499" in result.stderr and "VAR-500" not in result.stderr
    assert "v1" not in result.stderr.replace("VAR-1", "")  # names only, never values


OTHER_USER = """
import os, sys
from vaultcore.cli import main
# The CLI loads its modules lazily: load them while this process can still read the
# interpreter's files (under /root here), as another user's own Python would.
import vaultcore.cli._app, vaultcore.cli._secret, vaultcore._vault, vaultcore.storage._lmdb
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
sys.argv = ["vaultcore", "secret", "list"]
main()
"""


@pytest.mark.parametrize("unlock", ["passphrase", "key-file"])
def test_another_users_vault_is_exit_7(tmp_path: Path, unlock: str) -> None:
    vault_dir = tmp_path / "theirs"
    env = {"VAULTCORE_VAULT": str(vault_dir)}
    if unlock == "passphrase":
        env["VAULTCORE_PASSPHRASE"] = "their passphrase"
        Cli(env).ok("init", "--kdf-profile", "interactive")
    else:
        env["VAULTCORE_KEY_FILE"] = str(tmp_path / "their.key")
        Cli(env).ok("init")
    if os.geteuid() != 0:
        os.chmod(vault_dir, 0o000)
    try:
        child = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(OTHER_USER)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.chmod(vault_dir, 0o700)
    assert child.returncode == 7, (child.returncode, child.stderr)
    assert "permission denied" in child.stderr.lower()
    assert "Traceback" not in child.stderr
