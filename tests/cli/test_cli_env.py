"""``run``, ``import-env`` and ``export-env`` (CliRunner; ``run`` spawns real children)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from clihelpers import Cli
from test_cli_dotenv import TRICKY

from vaultcore.cli._dotenv import format_dotenv, parse_dotenv

# The child writes its environment to the file named by argv[1] (CliRunner cannot capture
# a child's stdout: it goes to the real file descriptor).
DUMP_ENV = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


def _child_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = json.loads(path.read_text())
    return env


def test_import_export_round_trip(cli: Cli, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(format_dotenv(TRICKY))
    rows = cli.json("import-env", str(dotenv))
    assert {r["env"]: r["name"] for r in rows}["DOUBLE"] == "DOUBLE"
    assert {r["name"] for r in rows} == {k.replace("_", "-") for k in TRICKY}
    assert cli.ok("secret", "get", "TRAILING-BACKSLASH", "-n").stdout == TRICKY["TRAILING_BACKSLASH"]
    exported = cli.ok("export-env").stdout
    assert parse_dotenv(exported) == TRICKY
    assert list(parse_dotenv(exported)) == sorted(TRICKY)
    assert cli.json("export-env") == dict(sorted(TRICKY.items()))
    out = tmp_path / "out.env"
    assert cli.json("export-env", "--file", str(out)) == {"file": str(out), "count": len(TRICKY)}
    assert parse_dotenv(out.read_text()) == TRICKY and out.stat().st_mode & 0o777 == 0o600
    cli.fails(2, "export-env", "--file", str(out))


def test_import_with_prefix_and_export_by_prefix(cli: Cli, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DB_URL=postgres://x\nAPI_KEY='k y'\n")
    cli.ok("import-env", str(dotenv), "--prefix", "myapp-", "--content-type", "text/plain")
    cli.ok("secret", "set", "other-thing", input="unrelated")
    names = {s["name"]: s["content_type"] for s in cli.json("secret", "list")}
    assert names == {"myapp-DB-URL": "text/plain", "myapp-API-KEY": "text/plain", "other-thing": None}
    assert parse_dotenv(cli.ok("export-env", "--prefix", "myapp-").stdout) == {
        "API_KEY": "k y",
        "DB_URL": "postgres://x",
    }


def test_import_errors(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nNOT VALID\n")
    result = cli.fails(2, "import-env", str(bad))
    assert result.stderr == f"Error: {bad}: line 2: expected NAME=value\n"
    clash = tmp_path / "clash.env"
    clash.write_text("db_url=1\nDB_URL=2\n")
    assert "same secret name" in cli.fails(2, "import-env", str(clash)).stderr
    assert cli.json("secret", "list") == []
    cli.fails(2, "import-env", str(tmp_path / "missing.env"))


def test_export_skips_unusable_secrets(cli: Cli) -> None:
    cli.ok("secret", "set", "good", input="1")
    cli.ok("secret", "set", "off", "--disabled", input="2")
    cli.ok("secret", "set", "1st", input="3")
    result = cli.ok("export-env")
    assert parse_dotenv(result.stdout) == {"GOOD": "1"}
    assert "skipped secret 'off'" in result.stderr and "skipped secret '1st'" in result.stderr


def test_run_injects_by_prefix_and_hides_the_passphrase(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "app-db-url", input="postgres://u:p@h/db")
    cli.ok("secret", "set", "app-api-key", input="k\"e'y $x")
    cli.ok("secret", "set", "unrelated", input="nope")
    dump = tmp_path / "env.json"
    cli.ok(
        "run",
        "--prefix",
        "app-",
        "--",
        sys.executable,
        "-c",
        DUMP_ENV,
        str(dump),
        env={"VAULTCORE_PASSPHRASE": "ignored"},
    )
    env = _child_env(dump)
    assert env["DB_URL"] == "postgres://u:p@h/db" and env["API_KEY"] == "k\"e'y $x"
    assert "UNRELATED" not in env and "VAULTCORE_PASSPHRASE" not in env
    assert env["VAULTCORE_VAULT"] == cli.env["VAULTCORE_VAULT"]  # the rest is inherited


def test_run_with_a_map_file(cli: Cli, tmp_path: Path) -> None:
    v1 = cli.json("secret", "set", "db-url", input="old")["version"]
    cli.ok("secret", "set", "db-url", input="new")
    mapping = tmp_path / "secrets.map"
    mapping.write_text(
        "# literals and references, mixed\n"
        "LOG_LEVEL=debug\n"
        "DATABASE_URL=vault://db-url\n"
        f"OLD_URL=vault://db-url/{v1}\n"
        "APP_SERVICE=@Microsoft.KeyVault(SecretUri=https://prod.vault.azure.net/secrets/db-url/)\n"
        f"APP_SERVICE_V1=@Microsoft.KeyVault(SecretUri=https://prod.vault.azure.net/secrets/db-url/{v1})\n"
        "BY_NAME=@Microsoft.KeyVault(VaultName=prod;SecretName=db-url)\n"
    )
    dump = tmp_path / "env.json"
    cli.ok("run", "--map", str(mapping), "--", sys.executable, "-c", DUMP_ENV, str(dump))
    env = _child_env(dump)
    assert env["LOG_LEVEL"] == "debug" and env["DATABASE_URL"] == "new" and env["OLD_URL"] == "old"
    assert env["APP_SERVICE"] == "new" and env["APP_SERVICE_V1"] == "old" and env["BY_NAME"] == "new"
    dump.unlink()
    mapping.write_text("A=1\n\nMISSING=vault://no-such-secret\n")
    result = cli.fails(1, "run", "--map", str(mapping), "--", sys.executable, "-c", DUMP_ENV, str(dump))
    assert "line 3" in result.stderr and "MISSING" in result.stderr
    mapping.write_text("A=1\nBAD=@Microsoft.KeyVault(SecretUri=https://x/keys/k)\n")
    assert "line 2" in cli.fails(2, "run", "--map", str(mapping), "--", "true").stderr
    mapping.write_text("A=1\nB=vault://bad name\n")
    assert "line 2" in cli.fails(2, "run", "--map", str(mapping), "--", "true").stderr
    assert not dump.exists()  # the command never ran


def test_run_passes_the_exit_code_through(cli: Cli) -> None:
    cli.ok("secret", "set", "app-x", input="1")
    code = "import os, sys; sys.exit(int(os.environ['X']) + 41)"
    result = cli("run", "--prefix", "app-", "--", sys.executable, "-c", code)
    assert result.exit_code == 42
    assert cli("run", "--prefix", "app-", sys.executable, "-c", "raise SystemExit(3)").exit_code == 3
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert cli("run", "--prefix", "app-", "--", sys.executable, "-c", kill).exit_code == 128 + 15
    missing = cli.fails(127, "run", "--prefix", "app-", "--", "/no/such/program")
    assert missing.stderr == "Error: command not found: /no/such/program\n"


def test_run_usage(cli: Cli, tmp_path: Path) -> None:
    assert "exactly one of" in cli.fails(2, "run", "--", "true").stderr
    mapping = tmp_path / "m"
    mapping.write_text("A=b\n")
    cli.fails(2, "run", "--map", str(mapping), "--prefix", "x", "--", "true")
    assert "Missing argument" in cli.fails(2, "run", "--prefix", "x").stderr
