"""``vaultcore cert contacts ...`` and ``vaultcore cert issuer ...`` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelpers import Cli

from vaultcore import KeyFileCredential, Vault

PASSWORD = "s3cr3t-Issuer-pw-7f1c"


def test_contacts_round_trip(cli: Cli) -> None:
    cli.fails(1, "cert", "contacts", "show")
    cli.fails(1, "cert", "contacts", "delete")
    contacts = cli.json(
        "cert", "contacts", "set", "--contact", "ops@example.com,Ops Team,+1-555-0100", "--contact", "pki@example.com"
    )
    assert contacts == [
        {"email": "ops@example.com", "name": "Ops Team", "phone": "+1-555-0100"},
        {"email": "pki@example.com", "name": None, "phone": None},
    ]
    assert cli.json("cert", "contacts", "show") == contacts
    table = cli.ok("cert", "contacts", "show").stdout
    assert "ops@example.com" in table and "Ops Team" in table and "pki@example.com" in table
    replaced = cli.json("cert", "contacts", "set", "--contact", ",Night shift,+1-555-0199")
    assert replaced == [{"email": None, "name": "Night shift", "phone": "+1-555-0199"}]
    assert cli.json("cert", "contacts", "delete") == replaced
    cli.fails(1, "cert", "contacts", "show")
    cli.ok("cert", "contacts", "set", "--contact", "a@example.com")
    assert cli.ok("cert", "contacts", "delete").stdout == "Deleted 1 certificate contact(s).\n"


@pytest.mark.parametrize(
    "args",
    [
        [],  # --contact is required
        ["--contact", "not-an-email"],
        ["--contact", ",,"],
        ["--contact", "a@example.com,A,1,extra"],
    ],
)
def test_bad_contacts(cli: Cli, args: list[str]) -> None:
    cli.fails(2, "cert", "contacts", "set", *args)
    cli.fails(1, "cert", "contacts", "show")


def test_issuer_round_trip(cli: Cli, tmp_path: Path) -> None:
    assert cli.json("cert", "issuer", "list") == []
    cli.fails(1, "cert", "issuer", "show", "digicert")
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(PASSWORD + "\n")
    created = cli.json(
        "cert",
        "issuer",
        "create",
        "digicert",
        "--provider",
        "DigiCert",
        "--account-id",
        "acct-1",
        "--organization-id",
        "org-1",
        "--admin",
        "pki@example.com,Ada,Lovelace,+1-555-0100",
        "--admin",
        "sec@example.com,Alan,Turing",
        "--password-file",
        str(pw_file),
    )
    assert set(created) == {
        "name",
        "id",
        "provider",
        "account_id",
        "organization_id",
        "admin_contacts",
        "enabled",
        "created_on",
        "updated_on",
    }
    assert created["name"] == "digicert" and created["provider"] == "DigiCert" and created["enabled"] is True
    assert created["id"].endswith("/certificates/issuers/digicert")
    assert (created["account_id"], created["organization_id"]) == ("acct-1", "org-1")
    assert created["admin_contacts"] == [
        {"email": "pki@example.com", "first_name": "Ada", "last_name": "Lovelace", "phone": "+1-555-0100"},
        {"email": "sec@example.com", "first_name": "Alan", "last_name": "Turing", "phone": None},
    ]
    assert cli.json("cert", "issuer", "show", "digicert") == created
    table = cli.ok("cert", "issuer", "show", "digicert").stdout
    assert "Ada Lovelace <pki@example.com> +1-555-0100" in table and "DigiCert" in table

    updated = cli.json("cert", "issuer", "update", "digicert", "--disable", "--account-id", "acct-2", "--clear-admins")
    assert updated["enabled"] is False and updated["account_id"] == "acct-2" and updated["admin_contacts"] == []
    assert updated["organization_id"] == "org-1" and updated["created_on"] == created["created_on"]
    again = cli.json("cert", "issuer", "update", "digicert", "--admin", "x@example.com,,", "--enable")
    assert again["admin_contacts"] == [{"email": "x@example.com", "first_name": None, "last_name": None, "phone": None}]

    cli.ok("cert", "issuer", "create", "gs", "--provider", "GlobalSign", "--disabled")
    assert cli.json("cert", "issuer", "show", "gs")["enabled"] is False
    listed = cli.json("cert", "issuer", "list")
    assert [(i["name"], i["provider"]) for i in listed] == [("digicert", "DigiCert"), ("gs", "GlobalSign")]
    assert set(listed[0]) == {"name", "id", "provider"}
    assert "GlobalSign" in cli.ok("cert", "issuer", "list").stdout

    deleted = cli.json("cert", "issuer", "delete", "gs")
    assert deleted["name"] == "gs" and deleted["provider"] == "GlobalSign"
    assert "Deleted issuer 'digicert'." in cli.ok("cert", "issuer", "delete", "digicert").stdout
    cli.fails(1, "cert", "issuer", "delete", "digicert")
    assert cli.json("cert", "issuer", "list") == []


def test_issuer_password_is_stored_and_never_printed(cli: Cli, tmp_path: Path, vault_dir: Path) -> None:
    outputs = []
    for fmt in ("table", "json"):
        name = f"ca-{fmt}"
        result = cli.ok(
            "cert", "issuer", "create", name, "--provider", "Test", "--password-stdin", "-o", fmt, input=PASSWORD + "\n"
        )
        outputs.append(result)
        outputs.append(cli.ok("cert", "issuer", "show", name, "-o", fmt))
        outputs.append(cli.ok("cert", "issuer", "update", name, "--password-stdin", "-o", fmt, input="other-pw"))
        outputs.append(cli.ok("cert", "issuer", "list", "-o", fmt))
    outputs.append(cli.ok("cert", "issuer", "delete", "ca-table"))
    outputs.append(cli.ok("cert", "issuer", "delete", "ca-json", "-o", "json"))
    outputs.append(cli.ok("cert", "issuer", "create", "--help"))
    outputs.append(cli.fails(2, "cert", "issuer", "create", "x", "--provider", "P", "--password-stdin", input="\n"))
    for result in outputs:
        assert PASSWORD not in result.stdout + result.stderr
        assert "other-pw" not in result.stdout + result.stderr

    # The password did reach the vault: the vault stores it sealed (to_dict with include_password).
    pw_file = tmp_path / "pw"
    pw_file.write_bytes(PASSWORD.encode() + b"\r\n")
    cli.ok("cert", "issuer", "create", "kept", "--provider", "Test", "--password-file", str(pw_file))
    with Vault.open(str(vault_dir), KeyFileCredential(cli.env["VAULTCORE_KEY_FILE"])) as vault:
        meta = vault.certificates._meta  # the stored record: the CLI never gets it back
        with meta._ctx.read() as txn:
            doc = meta.issuer_doc(txn, "kept")
    assert doc["issuer"]["credentials"]["pwd"] == PASSWORD


def test_password_never_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    for option in ("--password", "--pwd", f"--password={PASSWORD}"):
        result = cli.fails(2, "cert", "issuer", "create", "x", "--provider", "P", option, PASSWORD)
        assert "No such option" in result.stderr
    both = cli.fails(
        2, "cert", "issuer", "create", "x", "--provider", "P", "--password-stdin", "--password-file", __file__
    )
    assert "cannot be combined" in both.stderr
    cli.fails(2, "cert", "issuer", "create", "x", "--provider", "P", "--password-file", str(tmp_path / "missing"))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\xff\xfe\n")
    assert (
        "not UTF-8"
        in cli.fails(2, "cert", "issuer", "create", "x", "--provider", "P", "--password-file", str(bad)).stderr
    )
    assert cli.json("cert", "issuer", "list") == []


@pytest.mark.parametrize(
    "args",
    [
        ["create", "x"],  # --provider is required
        ["create", "x", "--provider", "P", "--admin", "a@example.com,Ada"],
        ["create", "x", "--provider", "P", "--admin", ",Ada,Lovelace"],
        ["create", "x", "--provider", "P", "--admin", "nope,Ada,Lovelace"],
        ["create", "Self", "--provider", "P"],  # reserved issuer name
        ["create", "bad_name!", "--provider", "P"],
        ["update", "x"],  # nothing to update
        ["update", "x", "--admin", "a@example.com,A,B", "--clear-admins"],
        ["show", "Unknown"],
    ],
)
def test_bad_issuer_input(cli: Cli, args: list[str]) -> None:
    cli.fails(2, "cert", "issuer", *args)


def test_issuer_not_found_and_help(cli: Cli) -> None:
    cli.fails(1, "cert", "issuer", "update", "ghost", "--disable")
    cli.fails(1, "cert", "issuer", "delete", "ghost")
    for group in ("contacts", "issuer"):
        assert "Examples:" in cli.ok("cert", group, "--help").stdout
    help_text = cli.ok("cert", "--help").stdout
    assert "contacts" in help_text and "issuer" in help_text
