"""init, info, backup, rotate-keyring, domain, maintenance, credentials, completion, help."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from clihelpers import Cli


def test_default_vault_just_works(tmp_path: Path) -> None:
    runner = Cli({"VAULTCORE_PASSPHRASE": "pw"})
    info = runner.json("init", "--kdf-profile", "interactive")
    assert info["path"] == str(tmp_path / "xdg-data" / "vaultcore" / "default")
    runner.ok("secret", "set", "x", input="y")
    assert runner.ok("secret", "get", "x").stdout == "y\n"


def test_init_options_and_info(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "v")})
    result = runner.ok("-o", "json", "init", "--key-file", str(key), "--name", "dev-vault", "--purge-protection")
    assert "Generated key file" in result.stderr
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    info = runner.json("--key-file", str(key), "info")
    assert re.fullmatch(r"[0-9a-f]{32}", info["vault_id"])
    assert info == {
        "name": "dev-vault",
        "vault_id": info["vault_id"],
        "vault_url": "https://dev-vault.vault.vaultcore.local",
        "path": str(tmp_path / "v"),
        "kind": "vault",
        "tier": "standard",
        "retention_days": 90,
        "purge_protection": True,
        "keyring_generation": info["keyring_generation"],
    }
    table = runner.ok("info", env={"VAULTCORE_KEY_FILE": str(key)}).stdout
    assert re.search(r"^purge protection +yes$", table, re.M)
    assert re.search(rf"^vault id +{info['vault_id']}$", table, re.M)
    # An existing key file is used, not replaced.
    other = Cli({"VAULTCORE_VAULT": str(tmp_path / "w"), "VAULTCORE_KEY_FILE": str(key)})
    assert "Generated" not in other.ok("init").stderr
    assert key.stat().st_size == 32


def _passphrase(text: str) -> object:
    from vaultcore import PassphraseCredential

    return PassphraseCredential(text)


def test_rotate_keyring_reports_progress(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        cli.ok("secret", "set", f"s{i}", input=str(i))
    calls: list[tuple[int, int]] = []
    from vaultcore.cli import _admin

    real = _admin.progress

    def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        cm = real(*args, **kwargs)  # type: ignore[arg-type]

        class Wrapped:
            def __enter__(self) -> object:
                update = cm.__enter__()
                return lambda d, t: (calls.append((d, t)), update(d, t))

            def __exit__(self, *exc: object) -> None:
                cm.__exit__(*exc)

        return Wrapped()

    monkeypatch.setattr(_admin, "progress", spy)
    before = cli.json("info")["keyring_generation"]
    data = cli.json("rotate-keyring")
    assert data["rewrapped"] >= 5 and data["keyring_generation"] > before
    assert calls and calls[-1][0] == calls[-1][1]
    for i in range(5):
        assert cli.ok("secret", "get", f"s{i}").stdout == f"{i}\n"


def test_whole_vault_backup(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "a", input="1")
    dest = tmp_path / "copy"
    data = cli.json("backup", str(dest))
    assert data["path"] == str(dest) and data["bytes"] > 0
    assert cli.ok("--vault", str(dest), "secret", "get", "a").stdout == "1\n"
    assert cli.fails(7, "backup", str(dest)).stderr.startswith("Error: ")


def test_domain_export_import_and_cross_vault_restore(cli: Cli, tmp_path: Path) -> None:
    domain_env = {"VAULTCORE_DOMAIN_PASSPHRASE": "domain-pw"}
    export = tmp_path / "domain.vcsd"
    cli.ok("domain", "export", str(export), "--kdf-profile", "interactive", env=domain_env)
    assert export.stat().st_mode & 0o777 == 0o600
    cli.fails(2, "domain", "export", str(export), env=domain_env)
    replica = Cli({"VAULTCORE_VAULT": str(tmp_path / "replica"), "VAULTCORE_KEY_FILE": str(tmp_path / "r.key")})
    replica.fails(4, "domain", "import", str(export), env={"VAULTCORE_DOMAIN_PASSPHRASE": "wrong"})
    replica.ok("domain", "import", str(export), "--retention-days", "30", env=domain_env)
    cli.ok("secret", "set", "shared", input="across")
    blob = tmp_path / "shared.vcbak"
    cli.ok("secret", "backup", "shared", "-f", str(blob))
    replica.ok("secret", "restore", "-f", str(blob))
    assert replica.ok("secret", "get", "shared").stdout == "across\n"
    stranger = Cli({"VAULTCORE_VAULT": str(tmp_path / "stranger"), "VAULTCORE_KEY_FILE": str(tmp_path / "s.key")})
    stranger.ok("init")
    assert "security domain" in stranger.fails(3, "secret", "restore", "-f", str(blob)).stderr


def test_maintenance_and_purge_protection(cli: Cli) -> None:
    assert cli.json("maintenance") == {"purged": 0, "events": []}
    assert cli.json("enable-purge-protection")["purge_protection"] is True
    cli.ok("secret", "set", "x", input="v")
    cli.ok("secret", "delete", "x")
    cli.fails(3, "secret", "purge", "x")


def test_change_credential(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "x", input="v")
    cli.ok("change-credential", "--kdf-profile", "interactive", env={"VAULTCORE_NEW_PASSPHRASE": "new-pw"})
    cli.fails(3, "secret", "get", "x")  # the old key file no longer opens it
    by_pass = Cli({"VAULTCORE_VAULT": cli.env["VAULTCORE_VAULT"], "VAULTCORE_PASSPHRASE": "new-pw"})
    assert by_pass.ok("secret", "get", "x").stdout == "v\n"
    new_key = tmp_path / "new.key"
    by_pass.ok("change-credential", "--new-key-file", str(new_key))
    assert by_pass.ok("--key-file", str(new_key), "secret", "get", "x").stdout == "v\n"


def test_help_has_examples() -> None:
    runner = Cli({})
    for args in (
        [],
        ["secret"],
        ["secret", "set"],
        ["secret", "get"],
        ["init"],
        ["run"],
        ["import-env"],
        ["export-env"],
        ["domain"],
    ):
        out = runner.ok(*args, "--help").stdout
        assert "Example" in out, args
    assert "Exit codes" in runner.ok("--help").stdout


def test_completion_script_and_names(cli: Cli) -> None:
    script = cli.ok("completion", "bash").stdout
    assert "_VAULTCORE_COMPLETE" in script and "complete " in script
    cli.ok("secret", "set", "alpha-one", input="1")
    cli.ok("secret", "set", "alpha-two", input="2")
    cli.ok("secret", "set", "beta", input="3")
    env = {"_VAULTCORE_COMPLETE": "bash_complete", "COMP_WORDS": "vaultcore secret get al", "COMP_CWORD": "3"}
    # A Tab never opens the vault: no credential needed, no audit event; names come from the
    # cache that 'set' (and create, import, delete, recover, purge) and 'list' keep.
    no_credential = {**cli.env, **env, "VAULTCORE_KEY_FILE": ""}
    result = cli.runner.invoke(_root(), [], env=no_credential, prog_name="vaultcore", complete_var=None)
    assert result.stdout.split() == ["plain,alpha-one", "plain,alpha-two"]
    cli.ok("secret", "delete", "alpha-two")
    result = cli.runner.invoke(_root(), [], env=no_credential, prog_name="vaultcore", complete_var=None)
    assert result.stdout.split() == ["plain,alpha-one"]
    deleted = {**no_credential, "COMP_WORDS": "vaultcore secret recover al"}
    result = cli.runner.invoke(_root(), [], env=deleted, prog_name="vaultcore", complete_var=None)
    assert result.stdout.split() == ["plain,alpha-two"]
    cli.ok("secret", "recover", "alpha-two")
    cache = next((Path(os.environ["XDG_RUNTIME_DIR"]) / "vaultcore").glob("names-*.json"))
    cache.unlink()  # a new login session: names come back with the first unfiltered list
    result = cli.runner.invoke(_root(), [], env=no_credential, prog_name="vaultcore", complete_var=None)
    assert result.stdout.split() == []
    cli.ok("secret", "list")
    before = len(cli.json("audit", "show"))
    for _ in range(3):
        result = cli.runner.invoke(_root(), [], env=no_credential, prog_name="vaultcore", complete_var=None)
        assert result.stdout.split() == ["plain,alpha-one", "plain,alpha-two"]
    after = cli.json("audit", "show")[before:]
    assert {e["operation"] for e in after} <= {"VaultOpen", "AuditRead"}, after  # 'audit show' itself
    cli.ok("secret", "list", "--prefix", "beta")  # a filtered list does not shrink the cache
    result = cli.runner.invoke(_root(), [], env=no_credential, prog_name="vaultcore", complete_var=None)
    assert result.stdout.split() == ["plain,alpha-one", "plain,alpha-two"]
    cache = list((Path(os.environ["XDG_RUNTIME_DIR"]) / "vaultcore").glob("names-*.json"))
    assert len(cache) == 1 and stat.S_IMODE(cache[0].stat().st_mode) == 0o600
    env["COMP_WORDS"] = "vaultcore sec"
    env["COMP_CWORD"] = "1"
    result = cli.runner.invoke(_root(), [], env={**cli.env, **env}, prog_name="vaultcore")
    assert "plain,secret" in result.stdout.split()


def _root() -> object:
    from vaultcore.cli import cli

    return cli
