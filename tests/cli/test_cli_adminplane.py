"""CLI: custom roles, quorum security domain, settings, full backup and restore (issue 15)."""

from __future__ import annotations

from pathlib import Path

from clihelpers import Cli
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

P = "Microsoft.KeyVault/vaults/"


def _operator_keys(tmp_path: Path, names: str) -> None:
    for name in names:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (tmp_path / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        (tmp_path / f"{name}.pem").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def test_role_definition_commands(cli: Cli) -> None:
    made = cli.json("access", "role-definition", "create", "db reader", "--data-action", P + "secrets/getSecret/action")
    assert made["type"] == "CustomRole" and made["assignable_scopes"] == ["/"]
    name = made["name"]
    listed = cli.json("access", "role-definition", "list", "--custom")
    assert [d["name"] for d in listed] == [name]
    builtins = {d["role_name"] for d in cli.json("access", "role-definition", "list")}
    assert {"Key Vault Administrator", "Managed HSM Crypto Officer"} <= builtins
    cli.ok("access", "principal", "create-app", "billing")
    assignment = cli.json("access", "role", "assign", "app:billing", "db reader", "--scope", "/secrets/db")
    assert assignment["role_definition_id"] == made["id"]
    cli.fails(5, "access", "role-definition", "delete", name)  # assigned: conflict
    updated = cli.json(
        "access", "role-definition", "update", name, "--role-name", "db reader 2", "--data-action", P + "secrets/*"
    )
    assert updated["role_name"] == "db reader 2"
    assert cli.json("access", "role-definition", "show", name)["data_actions"] == P + "secrets/*"
    cli.ok("access", "role", "remove", assignment["id"])
    assert cli.json("access", "role-definition", "delete", name)["deleted"] is True
    cli.fails(2, "access", "role-definition", "update", "00482a5a-887f-4fb3-b363-3b7fe8e74483", "--role-name", "x")


def test_domain_download_upload_and_full_backup(cli: Cli, tmp_path: Path) -> None:
    _operator_keys(tmp_path, "abc")
    cli.ok("secret", "set", "shared", input="across")
    sd = tmp_path / "sd.json"
    keys = [a for n in "abc" for a in ("--key", str(tmp_path / f"{n}.pem"))]
    cli.ok("domain", "download", *keys, "--quorum", "2", "--out", str(sd))
    assert sd.stat().st_mode & 0o777 == 0o600
    cli.fails(2, "domain", "download", *keys[:4], "--quorum", "2", "--out", str(tmp_path / "two.json"))
    full = tmp_path / "full.bin"
    assert cli.json("full-backup", str(full))["bytes"] > 0

    replica = Cli({"VAULTCORE_VAULT": str(tmp_path / "replica"), "VAULTCORE_KEY_FILE": str(tmp_path / "r.key")})
    replica.fails(2, "domain", "upload", str(sd), "--key", str(tmp_path / "a.key"))
    replica.ok("domain", "upload", str(sd), "--key", str(tmp_path / "a.key"), "--key", str(tmp_path / "c.key"))
    assert replica.json("full-restore", str(full)) == {"objects": 1, "access_records": 0}
    assert replica.ok("secret", "get", "shared").stdout == "across\n"
    replica.fails(5, "full-restore", str(full))  # no longer empty
    cli.ok("key", "create", "picked", "--kty", "EC")
    with_key = tmp_path / "with-key.bin"
    cli.ok("full-backup", str(with_key))
    assert replica.json("full-restore", str(with_key), "--key", "picked") == {"key": "picked"}
    replica.fails(5, "full-restore", str(with_key), "--key", "picked")

    stranger = Cli({"VAULTCORE_VAULT": str(tmp_path / "stranger"), "VAULTCORE_KEY_FILE": str(tmp_path / "s.key")})
    stranger.ok("init")
    stranger.fails(3, "full-restore", str(full))  # another security domain


def test_setting_commands(cli: Cli) -> None:
    names = [s["name"] for s in cli.json("setting", "list")]
    assert names[-1] == "AllowKeyManagementOperationsThroughARM" and "PurgeProtection" in names
    assert cli.json("setting", "set", "AllowKeyManagementOperationsThroughARM", "true")["value"] == "true"
    assert cli.json("setting", "show", "allowkeymanagementoperationsthroughARM")["value"] == "true"
    assert cli.json("setting", "set", "PurgeProtection", "true")["value"] == "true"
    cli.fails(2, "setting", "set", "PurgeProtection", "false")
    cli.fails(1, "setting", "show", "Nope")
