"""``vaultcore access ...``, acting as a principal, and ``vaultcore audit ...``."""

from __future__ import annotations

import json
from pathlib import Path

import lmdb
from clihelpers import Cli


def test_principal_roles_and_acting_as_an_application(cli: Cli) -> None:
    cli.ok("secret", "set", "db-password", input="pw")
    cli.ok("secret", "set", "other", input="no")
    new = cli.json("access", "principal", "create-app", "ci", "--display-name", "CI deployer")
    assert new["id"] == "app:ci" and new["client_secret"]
    as_ci = {"VAULTCORE_CLIENT_ID": "ci", "VAULTCORE_CLIENT_SECRET": new["client_secret"]}
    denied = cli.fails(3, "secret", "get", "db-password", env=as_ci)
    assert "not authorized" in denied.stderr
    assigned = cli.json(
        "access", "role", "assign", "app:ci", "key vault secrets user", "--scope", "/secrets/db-password"
    )
    assert assigned["role"] == "Key Vault Secrets User"
    assert cli.ok("secret", "get", "db-password", env=as_ci).stdout == "pw\n"
    cli.fails(3, "secret", "get", "other", env=as_ci)
    cli.fails(3, "secret", "set", "db-password", input="x", env=as_ci)
    assert cli.ok("--client-id", "ci", "secret", "get", "db-password", env=as_ci).stdout == "pw\n"
    cli.fails(3, "secret", "get", "db-password", env={**as_ci, "VAULTCORE_CLIENT_SECRET": "wrong"})
    assert "VAULTCORE_CLIENT_SECRET" in cli.fails(3, "--client-id", "ci", "secret", "list").stderr

    assert [a["principal_id"] for a in cli.json("access", "role", "list", "--principal", "app:ci")] == ["app:ci"]
    rotated = cli.json("access", "principal", "rotate-secret", "ci")
    cli.fails(3, "secret", "get", "db-password", env=as_ci)  # the old secret stopped working
    as_ci["VAULTCORE_CLIENT_SECRET"] = rotated["client_secret"]
    cli.ok("secret", "get", "db-password", env=as_ci)
    cli.ok("access", "role", "remove", assigned["id"])
    cli.fails(3, "secret", "get", "db-password", env=as_ci)
    user = cli.json("access", "principal", "create-user", "1234")
    assert user == {**user, "id": "uid:1234", "kind": "os_user"}
    assert {p["id"] for p in cli.json("access", "principal", "list")} == {"app:ci", "uid:1234"}
    cli.ok("access", "principal", "delete", "app:ci")
    cli.fails(1, "access", "principal", "delete", "app:ci")
    roles = {d["role"] for d in cli.json("access", "role", "definitions")}
    assert "Key Vault Administrator" in roles and "Key Vault Crypto User" in roles
    cli.fails(2, "access", "role", "assign", "uid:1234", "Overlord")


def test_audit_show_export_verify_and_tampering(cli: Cli, vault_dir: Path, tmp_path: Path) -> None:
    cli.ok("secret", "set", "audited", input="audited-value-123")
    cli.ok("secret", "get", "audited")
    cli.fails(1, "secret", "get", "missing")
    gets = cli.json("audit", "show", "--operation", "SecretGet")
    assert [e["result"] for e in gets][-2:] == ["success", "NotFound"]
    assert all(e.get("value") != "v" for e in gets) and gets[-1]["time"].endswith("Z")
    assert len(cli.json("audit", "show", "--last", "3")) == 3
    assert cli.json("audit", "show", "--since", "+1d") == []
    out = tmp_path / "audit.jsonl"
    cli.ok("audit", "export", "--file", str(out), "--principal", "admin")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and {e["principal"] for e in lines} == {"admin"}
    assert out.stat().st_mode & 0o777 == 0o600
    everything = cli.ok("audit", "export").stdout
    assert everything.count("\n") >= len(lines) and "audited-value-123" not in everything
    assert cli.json("audit", "verify")["ok"] is True

    env = lmdb.open(str(vault_dir), max_dbs=16, subdir=True)
    with env.begin(write=True) as txn:
        audit_db = env.open_db(b"audit", txn=txn, create=False)
        cursor = txn.cursor(audit_db)
        assert cursor.first()
        cursor.next()
        cursor.delete()  # remove the second event
    env.close()
    result = cli.fails(4, "audit", "verify")
    assert "damaged at event" in result.stdout
