"""The CLI on a PostgreSQL vault: ``--vault`` / ``VAULTCORE_VAULT`` take a ``postgresql://`` URL,
and ``backup`` migrates a directory vault into PostgreSQL and back."""

from __future__ import annotations

from pathlib import Path

from clihelpers import Cli

import pghelpers
from vaultfixtures import pg_base

__all__ = ["pg_base"]


def test_cli_on_a_postgresql_vault_and_migration_both_ways(tmp_path: Path, pg_base: tuple[str, str]) -> None:
    base, schema = pg_base
    url = pghelpers.vault_url(base, schema)
    key_file = tmp_path / "vault.key"
    cli = Cli({"VAULTCORE_VAULT": url, "VAULTCORE_KEY_FILE": str(key_file)})
    info = cli.json("init", "--retention-days", "7")
    assert info["name"] == url.rsplit("vault=", 1)[1]
    cli.ok("secret", "set", "db-password", input="pg-stored")
    assert cli.ok("secret", "get", "db-password").stdout == "pg-stored\n"
    # --vault wins over the environment
    other = Cli({"VAULTCORE_KEY_FILE": str(key_file)})
    assert other.ok("--vault", url, "secret", "get", "db-password").stdout == "pg-stored\n"

    copy_dir = tmp_path / "copy"
    cli.ok("backup", str(copy_dir))
    on_disk = Cli({"VAULTCORE_VAULT": str(copy_dir), "VAULTCORE_KEY_FILE": str(key_file)})
    assert on_disk.ok("secret", "get", "db-password").stdout == "pg-stored\n"
    on_disk.ok("secret", "set", "added-on-disk", input="x")
    back = pghelpers.vault_url(base, schema)
    shown = on_disk.json("backup", back)
    assert shown["path"] == back
    again = Cli({"VAULTCORE_VAULT": back, "VAULTCORE_KEY_FILE": str(key_file)})
    assert again.ok("secret", "get", "added-on-disk").stdout == "x\n"
    assert again.ok("secret", "get", "db-password").stdout == "pg-stored\n"
