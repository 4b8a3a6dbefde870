"""``make demo``: a scripted tour of the ``vaultcore`` CLI on a throwaway vault.

Runs every command in-process through click's test runner (fast, no prompts, no HSM) in a
fresh temporary directory and prints it like a terminal session. ``python -m vaultcore.demo``.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from click.testing import CliRunner

from vaultcore.cli import cli

__all__ = ["main"]

ENV = {
    "VAULTCORE_VAULT": "vault",
    "VAULTCORE_PASSPHRASE": "correct horse battery staple",
    "VAULTCORE_OUTPUT": "table",
}


class Session:
    """Runs ``vaultcore`` commands and prints them with their output and exit code."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, stdin: str | bytes | None = None, expect: int = 0) -> str:
        shown = "vaultcore " + " ".join(shlex.quote(a) for a in args)
        if stdin is not None:
            text = stdin.decode() if isinstance(stdin, bytes) else stdin
            shown = f"printf %s {shlex.quote(text)} | {shown}"
        print(f"$ {shown}")
        sys.stdout.flush()
        result = self.runner.invoke(cli, list(args), input=stdin, env=ENV, prog_name="vaultcore")
        output = result.output.rstrip("\n")
        if output:
            print(output)
        if result.exit_code != 0:
            print(f"[exit {result.exit_code}]")
        print()
        if result.exit_code != expect:
            raise SystemExit(f"demo step failed: expected exit {expect}, got {result.exit_code}")
        return result.stdout

    @staticmethod
    def say(text: str) -> None:
        print(f"# {text}")


@contextmanager
def _scratch_dir() -> Iterator[str]:
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="vaultcore-demo-") as directory:
        os.chdir(directory)
        try:
            yield directory
        finally:
            os.chdir(previous)


def tour(run: Session) -> None:
    """The scripted steps."""
    import json

    run.say("A vault is a directory; the passphrase comes from VAULTCORE_PASSPHRASE here.")
    run.say(f"export VAULTCORE_VAULT={ENV['VAULTCORE_VAULT']} VAULTCORE_PASSPHRASE='...'")
    run("init", "--kdf-profile", "interactive", "--retention-days", "7", "--allow-software-oct-keys")

    run.say("Secrets: values come from stdin or --file, never from the command line.")
    first = json.loads(run("secret", "set", "db-password", "-t", "env=dev", "-o", "json", stdin="hunter2"))
    run("secret", "get", "db-password")
    run("secret", "set", "db-password", "--expires", "+90d", stdin="correct-horse-2")
    run("secret", "versions", "db-password")
    run.say("Disable the old version: reading it is now Forbidden (exit 3), as in Azure.")
    run("secret", "update", "db-password", "--version", first["version"], "--disable")
    run("secret", "get", "db-password", "--version", first["version"], expect=3)

    run.say("Soft-delete, a name conflict while deleted (exit 5), recover, purge.")
    run("secret", "delete", "db-password")
    run("secret", "set", "db-password", stdin="again", expect=5)
    run("secret", "list-deleted")
    run("secret", "recover", "db-password")
    run("secret", "get", "db-password")
    run("secret", "set", "scratch", stdin="temporary")
    run("secret", "delete", "scratch")
    run("secret", "purge", "scratch")
    run("secret", "get", "nope", expect=1)

    run.say("Backup blobs restore within the vault's security domain.")
    run("secret", "backup", "db-password", "-f", "db-password.vcbak")
    run("secret", "delete", "db-password")
    run("secret", "purge", "db-password")
    run("secret", "restore", "-f", "db-password.vcbak")

    run.say("Keys: sign with a key that never leaves the vault, verify.")
    run("key", "create", "signing", "--kty", "EC", "--curve", "P-256")
    signature = json.loads(run("key", "sign", "signing", "-a", "ES256", "-o", "json", stdin="release-1.0.tar.gz"))
    run("key", "verify", "signing", "-a", "ES256", "--signature", signature["signature"], stdin="release-1.0.tar.gz")
    run("key", "verify", "signing", "-a", "ES256", "--signature", signature["signature"], stdin="tampered", expect=4)
    run("key", "export-public", "signing", "--pem")

    run.say("Certificates: self-signed under a policy, backed by a key and a secret of the same name.")
    run("cert", "create", "web", "--subject", "CN=demo.example", "--dns", "demo.example", "--validity-months", "3")
    run("cert", "list")

    run.say("Secrets as environment variables for a program, and as a .env file.")
    run("secret", "set", "app-api-url", stdin="https://api.example")
    run("secret", "set", "app-api-token", stdin="t0k3n with spaces & $ign")
    run("export-env", "--prefix", "app-")
    code = 'import os; print("child sees API_URL =", os.environ["API_URL"])'
    run("run", "--prefix", "app-", "--", sys.executable, "-c", code)

    run.say("Whole-vault hot backup, keyring rotation (no value re-encrypted), maintenance.")
    run("backup", "vault-copy")
    run("rotate-keyring")
    run("maintenance")
    run("--vault", "vault-copy", "secret", "list")

    run.say("Every operation is in the HMAC-chained audit log.")
    run("audit", "show", "--operation", "SecretGet")
    run("audit", "verify")
    run("info")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the tour in a fresh temporary directory."""
    started = time.monotonic()
    with _scratch_dir() as directory:
        print(f"# vaultcore demo in {directory} (deleted afterwards)\n")
        tour(Session())
    print(f"# demo finished in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
