"""``vaultcore secret ...`` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

from clihelpers import Cli


def test_set_get_versions_show(cli: Cli) -> None:
    first = cli.json("secret", "set", "db-password", "-t", "env=prod", "--content-type", "text/plain", input="one\n")
    assert "value" not in first
    assert first["name"] == "db-password" and first["tags"] == {"env": "prod"}
    assert first["content_type"] == "text/plain" and first["enabled"] is True
    second = cli.json("secret", "set", "db-password", input="two")
    assert cli.ok("secret", "get", "db-password").stdout == "two\n"
    assert cli.ok("secret", "get", "db-password", "-n").stdout == "two"
    assert cli.ok("secret", "get", "db-password", "--version", first["version"]).stdout == "one\n"
    got = cli.json("secret", "get", "db-password")
    assert got["value"] == "two" and got["version"] == second["version"]
    versions = cli.json("secret", "versions", "db-password")
    assert [v["version"] for v in versions] == [first["version"], second["version"]]
    shown = cli.json("secret", "show", "db-password")
    assert shown["version"] == second["version"] and "value" not in shown
    assert cli.json("secret", "show", "db-password", "--version", first["version"])["tags"] == {"env": "prod"}
    table = cli.ok("secret", "list").stdout
    assert "db-password" in table and "two" not in table
    assert [s["name"] for s in cli.json("secret", "list")] == ["db-password"]


def test_json_shape_is_stable(cli: Cli) -> None:
    props = cli.json("secret", "set", "api-key", "--expires", "2031-01-02T03:04:05Z", input="v")
    assert list(props) == [
        "id",
        "name",
        "version",
        "enabled",
        "not_before",
        "expires_on",
        "created_on",
        "updated_on",
        "recovery_level",
        "recoverable_days",
        "tags",
        "managed",
        "content_type",
        "key_id",
    ]
    assert props["expires_on"] == "2031-01-02T03:04:05Z"
    assert props["created_on"].endswith("Z") and props["not_before"] is None
    assert props["id"].endswith(f"/secrets/api-key/{props['version']}")
    assert props["recoverable_days"] == 7


def test_value_sources_and_newlines(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "a", input="keep\n", env=None)
    assert cli.json("secret", "get", "a")["value"] == "keep"
    cli.ok("secret", "set", "a", "--keep-newline", input="keep\n")
    assert cli.json("secret", "get", "a")["value"] == "keep\n"
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN-----\nabc\n-----END-----\n")
    cli.ok("secret", "set", "pem", "--file", str(pem))
    assert cli.json("secret", "get", "pem")["value"] == pem.read_text()
    out = tmp_path / "out.pem"
    cli.ok("secret", "get", "pem", "--file", str(out))
    assert out.read_text() == pem.read_text() and out.stat().st_mode & 0o777 == 0o600
    cli.fails(2, "secret", "get", "pem", "--file", str(out))  # refuses to overwrite
    cli.ok("secret", "get", "pem", "--file", str(out), "--force")
    cli.fails(2, "secret", "set", "bin", input=b"\xff\xfe")


def test_set_never_echoes_the_value(cli: Cli) -> None:
    result = cli.ok("secret", "set", "token", input="sup3r-s3cret")
    assert "sup3r-s3cret" not in result.stdout + result.stderr
    result = cli.ok("secret", "list")
    assert "sup3r-s3cret" not in result.stdout


def test_update(cli: Cli) -> None:
    v1 = cli.json("secret", "set", "s", input="x")["version"]
    cli.ok("secret", "set", "s", input="y")
    updated = cli.json("secret", "update", "s", "--version", v1, "--disable", "-t", "a=b", "--expires", "+1d")
    assert updated["enabled"] is False and updated["tags"] == {"a": "b"} and updated["expires_on"]
    forbidden = cli.fails(3, "secret", "get", "s", "--version", v1)
    assert "disabled" in forbidden.stderr.lower()
    cleared = cli.json("secret", "update", "s", "--version", v1, "--enable", "--clear-tags", "--expires", "none")
    assert cleared["enabled"] is True and cleared["tags"] == {} and cleared["expires_on"] is None
    latest = cli.json("secret", "update", "s", "--content-type", "text/plain")
    assert latest["content_type"] == "text/plain"
    assert cli.json("secret", "update", "s", "--content-type", "")["content_type"] is None
    cli.fails(2, "secret", "update", "s")  # nothing to update
    cli.fails(2, "secret", "update", "s", "--tag", "x=y", "--clear-tags")
    cli.fails(2, "secret", "update", "s", "--expires", "tomorrow")


def test_delete_conflict_recover_purge(cli: Cli) -> None:
    cli.ok("secret", "set", "gone", input="v")
    deleted = cli.json("secret", "delete", "gone")
    assert deleted["name"] == "gone" and deleted["recovery_id"].endswith("/deletedsecrets/gone")
    assert deleted["scheduled_purge_date"] > deleted["deleted_date"]
    cli.fails(1, "secret", "get", "gone")
    conflict = cli.fails(5, "secret", "set", "gone", input="again")
    assert "deleted" in conflict.stderr
    assert [d["name"] for d in cli.json("secret", "list-deleted")] == ["gone"]
    assert cli.json("secret", "show-deleted", "gone")["name"] == "gone"
    assert "Recovered" in cli.ok("secret", "recover", "gone").stdout
    assert cli.ok("secret", "get", "gone").stdout == "v\n"
    cli.ok("secret", "delete", "gone")
    assert cli.json("secret", "purge", "gone") == {"name": "gone", "purged": True}
    assert cli.json("secret", "list-deleted") == []
    cli.fails(1, "secret", "recover", "gone")
    cli.ok("secret", "set", "gone", input="reborn")


def test_purge_protection_is_forbidden(tmp_path: Path) -> None:
    runner = Cli({"VAULTCORE_VAULT": str(tmp_path / "pp"), "VAULTCORE_KEY_FILE": str(tmp_path / "pp.key")})
    runner.ok("init", "--purge-protection")
    runner.ok("secret", "set", "x", input="v")
    runner.ok("secret", "delete", "x")
    result = runner.fails(3, "secret", "purge", "x")
    assert "purge" in result.stderr.lower()


def test_backup_restore_and_tampering(cli: Cli, tmp_path: Path) -> None:
    cli.ok("secret", "set", "kept", input="one")
    cli.ok("secret", "set", "kept", input="two")
    blob = tmp_path / "kept.vcbak"
    assert cli.json("secret", "backup", "kept", "-f", str(blob))["bytes"] == blob.stat().st_size
    cli.fails(2, "secret", "backup", "kept", "-f", str(blob))
    cli.fails(5, "secret", "restore", "-f", str(blob))  # the name still exists
    cli.ok("secret", "delete", "kept")
    cli.ok("secret", "purge", "kept")
    bad = tmp_path / "bad.vcbak"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    result = cli.fails(4, "secret", "restore", "-f", str(bad))
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    restored = cli.json("secret", "restore", "-f", str(blob))
    assert restored["name"] == "kept"
    assert len(cli.json("secret", "versions", "kept")) == 2
    assert cli.ok("secret", "get", "kept").stdout == "two\n"
