"""Examples for the ``--help`` of commands whose module does not write its own epilog.

:func:`add_examples` runs when a command module is loaded (``_app``): every leaf command
without an ``Examples:`` section gets the lines of :data:`EXAMPLES` for its path, or, for
the lifecycle commands every object kind shares, the generic lines of
:data:`LIFECYCLE_EXAMPLES`. ``tests/cli/test_cli_help.py`` checks that every leaf command
ends up with examples, so a new command without any fails the build.
"""

from __future__ import annotations

import click

__all__ = ["EXAMPLES", "LIFECYCLE_EXAMPLES", "add_examples"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "access role-definition create": (
        "vaultcore access role-definition create 'Secret Reader' \\\n"
        "      --data-action 'Microsoft.KeyVault/vaults/secrets/getSecret/action' --description 'read values only'",
    ),
    "access role-definition update": (
        "vaultcore access role-definition update 5d3a... --role-name 'Secret Reader' \\\n"
        "      --data-action 'Microsoft.KeyVault/vaults/secrets/*'",
    ),
    "access role-definition show": ("vaultcore access role-definition show 'Key Vault Secrets User'",),
    "access role-definition list": ("vaultcore access role-definition list --custom -o json",),
    "access role-definition delete": ("vaultcore access role-definition delete 5d3a...   (refused while assigned)",),
    "domain download": ("vaultcore domain download --key a.pem --key b.pem --key c.pem --quorum 2 --out sd.json",),
    "domain upload": ("vaultcore --vault ./restored domain upload sd.json --key a.key --key c.key --key-file new.key",),
    "full-backup": ("vaultcore full-backup vault.full   (restorable into a vault of the same security domain)",),
    "full-restore": (
        "vaultcore --vault ./restored full-restore vault.full",
        "vaultcore full-restore vault.full --key signing",
    ),
    "setting list": ("vaultcore setting list -o json",),
    "setting show": ("vaultcore setting show AuditSynchronousReads",),
    "setting set": ("vaultcore setting set AuditSynchronousReads true",),
    "events subscribe": (
        "vaultcore events subscribe --url https://hooks.example/kv --types SecretNearExpiry,SecretExpired",
        "vaultcore events subscribe --url https://localhost:9000/hook --ca-file ca.pem --schema cloudevents",
    ),
    "events unsubscribe": ("vaultcore events unsubscribe 8c1f...",),
    "events list": ("vaultcore events list -o json",),
    "events tail": ("vaultcore events tail --follow --types SecretNewVersionCreated",),
    "events dead-letters": ("vaultcore events dead-letters -o json",),
    "events redeliver": ("vaultcore events redeliver 8c1f... 42",),
    "events deliver": ("vaultcore events deliver   (send what is due now; the scheduler does it on a timer)",),
    "info": ("vaultcore info", "vaultcore info -o json --query kind"),
    "maintenance": ("vaultcore maintenance", "vaultcore maintenance -o json   (from cron or a systemd timer)"),
    "rotate-keyring": ("vaultcore rotate-keyring",),
    "enable-purge-protection": ("vaultcore enable-purge-protection   (irreversible)",),
    "domain export": ("VAULTCORE_DOMAIN_PASSPHRASE=... vaultcore domain export vault.domain",),
    "domain import": (
        "VAULTCORE_DOMAIN_PASSPHRASE=... vaultcore --vault ./replica domain import vault.domain --key-file replica.key",
    ),
    "secret show": ("vaultcore secret show db-password", "vaultcore secret show db-password --version 3f2a... -o json"),
    "key create": (
        "vaultcore key create signing --kty EC --curve P-256",
        "vaultcore key create wrapping --kty RSA --size 3072 --ops wrapKey,unwrapKey",
        "vaultcore key create release --kty RSA-HSM --hsm     (premium vault)",
    ),
    "key import": ("vaultcore key import legacy --jwk legacy.jwk.json --exportable",),
    "key get": ("vaultcore key get signing", "vaultcore key get signing -o json --query key.kty"),
    "key update": ("vaultcore key update signing --disable", "vaultcore key update signing --expires +365d"),
    "key rotate": ("vaultcore key rotate signing",),
    "key encrypt": ("printf %s hello | vaultcore key encrypt wrapping -a RSA-OAEP-256 -o json",),
    "key decrypt": ('vaultcore key decrypt wrapping -a RSA-OAEP-256 --ciphertext "$CT"',),
    "key wrap": ("head -c 32 /dev/urandom | vaultcore key wrap wrapping -a RSA-OAEP-256 -o json",),
    "key unwrap": ('vaultcore key unwrap wrapping -a RSA-OAEP-256 --encrypted-key "$WRAPPED" --out dek.bin',),
    "key sign": ("vaultcore key sign signing -a ES256 --file release.tar.gz -o json --query signature",),
    "key verify": ('vaultcore key verify signing -a ES256 --file release.tar.gz --signature "$SIG"',),
    "key export-public": ("vaultcore key export-public signing --pem > signing.pub.pem",),
    "key export": ("vaultcore key export legacy > legacy.jwk.json   (exportable keys only; private!)",),
    "key random": ("vaultcore key random --count 16",),
    "cert create": (
        "vaultcore cert create web --subject CN=example.com --dns example.com --dns www.example.com",
        "vaultcore cert create ca-signed --subject CN=api.example.com --issuer Unknown   (CSR, then merge)",
        "vaultcore cert create web --policy policy.json",
    ),
    "cert csr": ("vaultcore cert csr ca-signed > ca-signed.csr",),
    "cert pending": ("vaultcore cert pending ca-signed", "vaultcore cert pending ca-signed --cancel"),
    "cert merge": ("vaultcore cert merge ca-signed --file signed-chain.pem",),
    "cert import": (
        "vaultcore cert import web --file web.pem",
        "VAULTCORE_PFX_PASSWORD=... vaultcore cert import web --file web.pfx",
    ),
    "cert get": ("vaultcore cert get web", "vaultcore cert get web -o json --query x509_thumbprint"),
    "cert download": ("vaultcore cert download web > web.crt", "vaultcore cert download web --der --out web.der"),
    "cert export": ("vaultcore cert export web --out web-with-key.pem   (certificate and private key)",),
    "cert update": ("vaultcore cert update web --tag owner=ops", "vaultcore cert update web --disable"),
    "cert contacts show": ("vaultcore cert contacts show -o json",),
    "cert contacts delete": ("vaultcore cert contacts delete",),
    "cert issuer show": ("vaultcore cert issuer show digicert",),
    "cert issuer delete": ("vaultcore cert issuer delete digicert",),
    "cert issuer list": ("vaultcore cert issuer list -o tsv",),
    "cert issuer update": (
        "vaultcore cert issuer update digicert --disable",
        "vaultcore cert issuer update digicert --clear-admins",
    ),
    "access principal create-app": (
        "vaultcore access principal create-app ci --display-name 'CI pipeline' -o json   (secret shown once)",
    ),
    "access principal create-user": ("vaultcore access principal create-user 1001 --display-name alice",),
    "access principal rotate-secret": ("vaultcore access principal rotate-secret ci -o json",),
    "access principal list": ("vaultcore access principal list",),
    "access principal delete": ("vaultcore access principal delete app:ci",),
    "access role assign": (
        "vaultcore access role assign app:ci 'Key Vault Secrets User'",
        "vaultcore access role assign app:ci 'Key Vault Secrets User' --scope /secrets/db-password",
    ),
    "access role list": ("vaultcore access role list --principal app:ci",),
    "access role remove": ("vaultcore access role remove ASSIGNMENT_ID",),
    "access role definitions": ("vaultcore access role definitions -o json",),
    "audit show": (
        "vaultcore audit show --last 20",
        "vaultcore audit show --since -1h --operation SecretGet --principal app:ci",
    ),
    "audit verify": ("vaultcore audit verify   (exit 4 when the log was edited)",),
    "audit export": ("vaultcore audit export --since 2026-01-01 --file audit.jsonl",),
}

#: ``{group}`` is secret, key or cert; ``{name}`` an example object name of that kind.
LIFECYCLE_EXAMPLES: dict[str, tuple[str, ...]] = {
    "list": ("vaultcore {group} list", "vaultcore {group} list --prefix app- -o json"),
    "versions": ("vaultcore {group} versions {name}",),
    "delete": ("vaultcore {group} delete {name}   (recoverable until purged)",),
    "list-deleted": ("vaultcore {group} list-deleted",),
    "show-deleted": ("vaultcore {group} show-deleted {name}",),
    "recover": ("vaultcore {group} recover {name}",),
    "purge": ("vaultcore {group} purge {name}   (permanent)",),
    "backup": ("vaultcore {group} backup {name} --file {name}.blob",),
    "restore": ("vaultcore {group} restore --file {name}.blob",),
}
_EXAMPLE_NAMES = {"secret": "db-password", "key": "signing", "cert": "web"}


def _has_examples(command: click.Command) -> bool:
    return "Example" in (command.help or "") + (command.epilog or "")


def _lines(path: str) -> tuple[str, ...]:
    if path in EXAMPLES:
        return EXAMPLES[path]
    group, _, leaf = path.partition(" ")
    if group in _EXAMPLE_NAMES and leaf in LIFECYCLE_EXAMPLES:
        return tuple(line.format(group=group, name=_EXAMPLE_NAMES[group]) for line in LIFECYCLE_EXAMPLES[leaf])
    return ()


def add_examples(command: click.Command, path: str) -> None:
    """Give *command* (at *path*, e.g. ``"secret show"``) and its subcommands examples."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_examples(sub, f"{path} {name}")
        return
    if _has_examples(command):
        return
    lines = _lines(path)
    if lines:
        examples = "\n".join(f"  {line}" for line in lines)
        command.epilog = f"\b\nExamples:\n{examples}\n" + (f"\n{command.epilog}" if command.epilog else "")
