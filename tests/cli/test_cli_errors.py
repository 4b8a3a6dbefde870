"""Exit codes and one-line messages for bad input (CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelpers import Cli

from vaultcore import (
    ConflictError,
    ForbiddenError,
    HSMError,
    IntegrityError,
    InvalidParameterError,
    NotAVaultError,
    NotFoundError,
    StorageError,
    UnauthorizedError,
    VaultLockedError,
)
from vaultcore.cli import exit_code_for
from vaultcore.exceptions import RollbackError, UnsupportedError


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (NotFoundError(), 1),
        (InvalidParameterError(), 2),
        (UnsupportedError(), 2),
        (UnauthorizedError(), 3),
        (ForbiddenError(), 3),
        (IntegrityError(), 4),
        (RollbackError(), 4),
        (ConflictError(), 5),
        (NotAVaultError(), 6),
        (StorageError(), 7),
        (HSMError(), 7),
        (VaultLockedError(), 7),
        (FileNotFoundError(2, "No such file"), 7),
        (RuntimeError("bug"), 70),
    ],
)
def test_exit_code_table(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def test_unknown_name_is_1(cli: Cli) -> None:
    result = cli.fails(1, "secret", "get", "nope")
    assert result.stderr == "Error: A secret with (name/id) nope was not found in this key vault.\n"
    assert result.stdout == ""
    cli.fails(1, "secret", "versions", "nope")
    cli.fails(1, "secret", "show", "nope")
    cli.ok("secret", "set", "there", input="v")
    cli.fails(1, "secret", "show", "there", "--version", "0" * 32)
    cli.fails(1, "secret", "delete", "nope")
    cli.fails(1, "secret", "purge", "nope")


def test_usage_errors_are_2(cli: Cli) -> None:
    assert "No such option" in cli.fails(2, "secret", "list", "--bogus").stderr
    assert "No such command" in cli.fails(2, "bogus").stderr
    assert "Missing argument" in cli.fails(2, "secret", "get").stderr
    assert "'xml' is not one of" in cli.fails(2, "-o", "xml", "secret", "list").stderr
    result = cli.fails(2, "secret", "set", "bad_name!", input="v")
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    cli.fails(2, "init", "--retention-days", "3")


def test_wrong_credentials_are_3(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(b"k" * 32)
    other.chmod(0o600)
    result = cli.fails(3, "secret", "list", env={"VAULTCORE_KEY_FILE": str(other)})
    assert result.stderr == "Error: the credential does not unlock this vault\n"
    no_cred = Cli({"VAULTCORE_VAULT": cli.env["VAULTCORE_VAULT"]})
    result = no_cred.fails(3, "secret", "list")
    assert "VAULTCORE_PASSPHRASE" in result.stderr
    result = no_cred.fails(3, "secret", "list", env={"VAULTCORE_PASSPHRASE": "guess"})
    assert "passphrase" in result.stderr


def test_wrong_passphrase_is_3(tmp_path: Path) -> None:
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "pv"), "VAULTCORE_PASSPHRASE": "right"})
    runner.ok("init", "--kdf-profile", "interactive")
    result = runner.fails(3, "secret", "list", env={"VAULTCORE_PASSPHRASE": "wrong"})
    assert result.stderr == "Error: the credential does not unlock this vault\n"


def test_missing_vault_is_6(tmp_path: Path) -> None:
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "nowhere"), "VAULTCORE_PASSPHRASE": "x"})
    result = runner.fails(6, "secret", "list")
    assert result.stderr.startswith(f"Error: no vault at '{tmp_path / 'nowhere'}'")
    assert "vaultcore init" in result.stderr and result.stderr.count("\n") == 1
    (tmp_path / "empty").mkdir()
    runner.fails(6, "--vault", str(tmp_path / "empty"), "info")


def test_existing_vault_is_a_conflict(cli: Cli) -> None:
    assert "already exists" in cli.fails(5, "init").stderr


def test_loose_key_file_permissions_are_usage(cli: Cli, key_file: Path) -> None:
    key_file.chmod(0o644)
    assert "chmod 600" in cli.fails(2, "secret", "list").stderr


def test_internal_errors_have_no_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultcore.cli import _secret

    def boom(*args: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(_secret.r, "secret_properties", boom)
    result = cli.fails(70, "secret", "set", "x", input="v")
    assert result.stderr == (
        "Error: internal error (RuntimeError): unexpected (set VAULTCORE_DEBUG=1 for a traceback)\n"
    )
    with pytest.raises(RuntimeError):
        cli("secret", "set", "x", input="v", env={"VAULTCORE_DEBUG": "1"})


def test_serve_without_the_server_extra_is_7(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import vaultcore.server

    monkeypatch.delattr(vaultcore.server, "_server", raising=False)
    monkeypatch.setitem(sys.modules, "vaultcore.server._server", None)  # as if uvicorn were missing
    result = cli.fails(7, "serve")
    assert result.stderr.startswith("Error: vaultcore serve needs the server extra")
