"""Scripting habits: output formats, --query, global options anywhere, secret get forms,
--encoding, list filters, clear refusals."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from clihelpers import Cli


def test_output_formats_and_query(cli: Cli) -> None:
    cli.ok("secret", "set", "app-a", "--tag", "env=prod", input="1")
    cli.ok("secret", "set", "app-b", "--tag", "env=dev", input="2")
    assert cli.ok("secret", "list", "--query", "[].name", "-o", "tsv").stdout == "app-a\napp-b\n"
    prod = cli.ok("secret", "list", "-o", "json", "--query", "[?tags.env=='prod'].name").stdout
    assert json.loads(prod) == ["app-a"]
    yaml = cli.ok("secret", "show", "app-a", "-o", "yaml").stdout
    assert "name: app-a\n" in yaml and "tags:\n  env: prod\n" in yaml and "enabled: true\n" in yaml
    assert cli.ok("secret", "show", "app-a", "-o", "none").stdout == ""
    tsv = cli.ok("secret", "show", "app-a", "-o", "tsv", "--query", "[name, enabled]").stdout
    assert tsv == "app-a\nTrue\n"
    assert "--query" in cli.fails(2, "secret", "list", "--query", "[?bad").stderr


def test_global_options_after_the_subcommand(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "x", input="v")
    env = {"VAULTCORE_VAULT": str(tmp_path / "elsewhere")}
    vault, key = cli.env["VAULTCORE_VAULT"], cli.env["VAULTCORE_KEY_FILE"]
    moved = cli.ok("secret", "get", "x", "--vault", vault, "--key-file", key, env=env)
    assert moved.stdout == "v\n"
    assert json.loads(cli.ok("secret", "list", "--output", "json").stdout)[0]["name"] == "x"
    # Nothing after '--' moves: it belongs to the command that run starts.
    code = "import sys; print(sys.argv[1:])"
    cli.ok("secret", "set", "app-y", input="1")
    result = cli.ok("run", "--prefix", "app-", "--mask", "--", sys.executable, "-c", code, "--vault", "z")
    assert result.stdout == "['--vault', 'z']\n"


def test_secret_get_forms(cli: Cli) -> None:
    first = cli.json("secret", "set", "db-user", input="alice")
    cli.ok("secret", "set", "db-user", input="bob")
    cli.ok("secret", "set", "db-password", input="pw")
    assert cli.ok("secret", "get", "db-user", "db-password").stdout == "bob\npw\n"
    assert cli.ok("secret", "get", f"db-user/{first['version']}").stdout == "alice\n"
    assert cli.ok("secret", "get", first["id"]).stdout == "alice\n"
    assert cli.ok("secret", "get", first["id"].rsplit("/", 1)[0]).stdout == "bob\n"
    # Plain values even when VAULTCORE_OUTPUT=json, with -o tsv or --field value.
    as_json = {"VAULTCORE_OUTPUT": "json"}
    assert json.loads(cli.ok("secret", "get", "db-user", env=as_json).stdout)["value"] == "bob"
    assert cli.ok("secret", "get", "db-user", "-o", "tsv", env=as_json).stdout == "bob\n"
    assert cli.ok("secret", "get", "db-user", "--field", "value", env=as_json).stdout == "bob\n"
    version = cli.ok("secret", "get", f"db-user/{first['version']}", "--field", "version").stdout
    assert version == f"{first['version']}\n"
    both = json.loads(cli.ok("secret", "get", "db-user", "db-password", "-o", "json").stdout)
    assert [d["value"] for d in both] == ["bob", "pw"]
    cli.fails(2, "secret", "get", "db-user", "db-password", "--version", first["version"])


def test_binary_values_with_encoding(cli: Cli, tmp_path: Path) -> None:
    blob = bytes(range(256))
    source = tmp_path / "blob.bin"
    source.write_bytes(blob)
    cli.ok("secret", "set", "blob", "--file", str(source), "--encoding", "base64")
    stored = cli.json("secret", "get", "blob")
    assert base64.b64decode(stored["value"]) == blob and stored["tags"] == {"file-encoding": "base64"}
    out = tmp_path / "out.bin"
    cli.ok("secret", "get", "blob", "--file", str(out))  # the tag says how to decode
    assert out.read_bytes() == blob
    cli.ok("secret", "set", "hexed", "--encoding", "hex", input=b"\x00\xff")
    assert cli.ok("secret", "get", "hexed").stdout == "00ff\n"
    assert cli.runner.invoke(_root(), ["secret", "get", "hexed", "--encoding", "hex"], env=cli.env).stdout_bytes == (
        b"\x00\xff"
    )


def test_list_filters(cli: Cli) -> None:
    for name, env in (("app-a", "prod"), ("app-b", "dev"), ("app-c", "prod"), ("other", "prod")):
        cli.ok("secret", "set", name, "--tag", f"env={env}", input="1")
    names = lambda *args: [d["name"] for d in cli.json("secret", "list", *args)]  # noqa: E731
    assert names("--prefix", "APP-") == ["app-a", "app-b", "app-c"]
    assert names("--tag", "env=prod") == ["app-a", "app-c", "other"]
    assert names("--prefix", "app-", "--tag", "env=prod", "--maxresults", "1") == ["app-a"]


def test_clear_refusals(cli: Cli, tmp_path: Path) -> None:
    refused = cli.fails(2, "secret", "set", "db-password", "hunter2")
    assert "never taken from the command line" in refused.stderr and "printf" in refused.stderr
    assert "hunter2" not in refused.stderr
    none = Cli({"VAULTCORE_VAULT": str(tmp_path / "nothing")})
    assert "vaultcore init" in none.fails(6, "secret", "list").stderr
    rsa = cli.json("key", "create", "k1", "--kty", "RSA", "--key-size", "3072")
    assert len(base64.urlsafe_b64decode(rsa["key"]["n"] + "==")) == 384
    created = cli.json("cert", "create", "c1", "--subject", "CN=x", "--size", "3072")
    assert created["policy"]["key_props"]["key_size"] == 3072


def _root() -> object:
    from vaultcore.cli import cli

    return cli


def test_global_options_before_runs_command_move_but_not_after(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "app-z", input="zz")
    vault, key = cli.env["VAULTCORE_VAULT"], cli.env["VAULTCORE_KEY_FILE"]
    elsewhere = {"VAULTCORE_VAULT": str(tmp_path / "elsewhere"), "VAULTCORE_KEY_FILE": ""}
    code = "import os, sys; print(os.environ['Z'], sys.argv[1:])"
    result = cli.ok(
        "run", "--prefix", "app-", "--vault", vault, "--key-file", key, "--mask", sys.executable, "-c", code,
        "--vault", "kept", env=elsewhere,
    )  # fmt: skip
    assert result.stdout == "<concealed by vaultcore> ['--vault', 'kept']\n"
