"""Vault administration: init, info, backup, rotate-keyring, domain, maintenance, credentials."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from vaultcore import (
    KDF_DEFAULT,
    KDF_INTERACTIVE,
    Credential,
    KdfParameters,
    KeyFileCredential,
    PassphraseCredential,
    Vault,
)

from . import _render as r
from ._params import write_new_file
from ._progress import progress, tree_size, watch_size
from ._state import ENV_PASSPHRASE, ENV_PKCS11_TOKEN, State, output_option, pass_state, secret_from_env_or_prompt

__all__ = ["COMMANDS"]

ENV_DOMAIN_PASSPHRASE = "VAULTCORE_DOMAIN_PASSPHRASE"
ENV_NEW_PASSPHRASE = "VAULTCORE_NEW_PASSPHRASE"
#: Shorter passphrases get a warning from ``init`` and ``change-credential``.
MIN_PASSPHRASE = 12
KDF_PROFILES: dict[str, KdfParameters] = {"default": KDF_DEFAULT, "interactive": KDF_INTERACTIVE}

F = TypeVar("F", bound=Callable[..., Any])


def _kdf_option(fn: F) -> F:
    return click.option(
        "--kdf-profile",
        type=click.Choice(tuple(KDF_PROFILES)),
        default="default",
        show_default=True,
        help="Argon2id cost of a passphrase: default (64 MiB, t=3) or interactive (19 MiB, t=2).",
    )(fn)


def _key_file_credential(path: str, state: State) -> Credential:
    """Use the key file at *path*, generating it first if it does not exist."""
    if os.path.exists(path):
        return KeyFileCredential(path)
    credential = KeyFileCredential.generate(path)
    state.note(f"Generated key file {path}: keep it safe, it is what opens the vault.")
    return credential


def _new_credential(state: State, key_file: str | None, kdf_profile: str, env: str, what: str) -> Credential:
    """A credential for a new vault or a credential change: key file, env passphrase, prompt."""
    if key_file:
        return _key_file_credential(key_file, state)
    passphrase = secret_from_env_or_prompt(env, what, confirm=True)
    if len(passphrase) < MIN_PASSPHRASE:
        state.note(
            f"Warning: the passphrase has {len(passphrase)} characters; use at least {MIN_PASSPHRASE} "
            "(e.g. four random words): it is all that protects a copy of the vault directory."
        )
    state.note("Remember the passphrase: there is no recovery, a lost passphrase means lost data.")
    return PassphraseCredential(passphrase, kdf=KDF_PROFILES[kdf_profile])


def _domain_passphrase(confirm: bool) -> str:
    return secret_from_env_or_prompt(ENV_DOMAIN_PASSPHRASE, "Security domain passphrase", confirm=confirm)


def _create_options(fn: F) -> F:
    """Options shared by ``init`` and ``domain import`` (both create a vault)."""
    for option in reversed(
        (
            click.option(
                "--retention-days",
                type=click.IntRange(7, 90),
                default=90,
                show_default=True,
                help="Days a deleted object stays recoverable.",
            ),
            click.option("--purge-protection", is_flag=True, help="Refuse purges until retention ends (permanent)."),
            click.option("--name", help="Vault name (default: from the directory name)."),
            click.option(
                "--key-file",
                type=click.Path(dir_okay=False),
                help=f"Unlock with this key file, generated if missing (else {ENV_PASSPHRASE} or a prompt).",
            ),
            click.option(
                "--allow-software-oct-keys",
                is_flag=True,
                help="Allow software oct (AES) keys, which Azure keeps to managed HSMs.",
            ),
            click.option(
                "--tier",
                type=click.Choice(("standard", "premium")),
                help="premium keeps the root key in the PKCS#11 token (--pkcs11-token); default: from the credential.",
            ),
            click.option(
                "--kind",
                type=click.Choice(("vault", "managed-hsm")),
                default="vault",
                show_default=True,
                help="managed-hsm: HSM-backed keys only (needs a PKCS#11 token).",
            ),
            _kdf_option,
        )
    ):
        fn = option(fn)
    return fn


def _create(
    state: State,
    *,
    retention_days: int,
    purge_protection: bool,
    name: str | None,
    key_file: str | None,
    kdf_profile: str,
    allow_software_oct_keys: bool,
    tier: str | None,
    kind: str,
    security_domain: tuple[bytes, str | list[bytes]] | None = None,
) -> None:
    key_file = key_file or state.key_file
    if (tier == "premium" or kind == "managed-hsm") and not state.pkcs11_token:
        raise click.UsageError(f"--tier premium and --kind managed-hsm need a PKCS#11 token ({ENV_PKCS11_TOKEN})")
    if tier == "standard" and state.pkcs11_token:
        raise click.UsageError("--tier standard cannot use a PKCS#11 token")
    if state.pkcs11_token:
        if key_file:
            raise click.UsageError("give a key file or a PKCS#11 token, not both")
        credential = state.credential()
    else:
        credential = _new_credential(state, key_file, kdf_profile, ENV_PASSPHRASE, "Vault passphrase")
    vault = Vault.create(
        state.vault_path,
        credential,
        retention_days=retention_days,
        purge_protection=purge_protection,
        name=name,
        security_domain=security_domain,
        allow_software_oct_keys=allow_software_oct_keys,
        kind=kind.replace("-", "_"),
    )
    state.adopt(vault)
    data = r.vault_info(vault)
    state.emit(data, r.fields_table(data))


@click.command(
    "init",
    epilog=f"""\b
Examples:
  vaultcore init                                   (prompts for a passphrase twice)
  {ENV_PASSPHRASE}=... vaultcore init --kdf-profile interactive
  vaultcore --vault ./dev-vault init --key-file ./dev-vault.key --retention-days 7
  VAULTCORE_PKCS11_TOKEN=vault VAULTCORE_PKCS11_PIN=... vaultcore init --tier premium
""",
)
@_create_options
@output_option
@pass_state
def init(state: State, /, **options: Any) -> None:
    """Create a new vault at --vault (default: your data directory)."""
    _create(state, **options)


@click.command("info")
@output_option
@pass_state
def info(state: State) -> None:
    """Show the vault's name, URL, kind, tier and settings."""
    data = r.vault_info(state.vault())
    state.emit(data, r.fields_table(data))


@click.command(
    "backup",
    epilog="""\b
Example:
  vaultcore backup ./vault-2026-01-31     (open the copy with the same credential)
""",
)
@click.argument("destination", type=click.Path(file_okay=False))
@output_option
@pass_state
def backup(state: State, destination: str) -> None:
    """Copy the whole vault into a new directory or postgresql:// URL DESTINATION (hot, consistent).

    To restore, point --vault at the copy (or copy it back) and open it with the same credential.
    """
    vault = state.vault()
    total = tree_size(vault.path)
    with progress(state.err, "Backing up", unit="bytes") as update, watch_size(update, destination, total):
        vault.backup_to(destination)
    if destination.startswith(("postgresql://", "postgres://")):  # migration into PostgreSQL
        shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", destination)
        state.emit({"path": shown, "bytes": None}, f"Copied and verified the vault into {shown}.")
        return
    size = tree_size(destination)
    state.emit({"path": os.path.abspath(destination), "bytes": size}, f"Backed up the vault to {destination}.")


@click.command("rotate-keyring")
@output_option
@pass_state
def rotate_keyring(state: State) -> None:
    """Add a keyring term and re-wrap every data key under it; the old term is destroyed.

    Values are not re-encrypted. An interrupted rotation is finished by running it again.
    """
    vault = state.vault()
    with progress(state.err, "Re-wrapping data keys") as update:
        count = vault.rotate_keyring(progress=update)
    data = {"rewrapped": count, "keyring_generation": vault.keyring_generation}
    state.emit(data, f"Rotated the keyring: {count} data keys re-wrapped (generation {vault.keyring_generation}).")


@click.command("maintenance")
@output_option
@pass_state
def maintenance(state: State) -> None:
    """Purge expired deleted objects, apply key rotation and certificate lifetime policies (cron it)."""
    report = state.vault().run_maintenance()
    events = [dict(event) for event in report.events]
    human = f"Maintenance done: {report.purged} expired deleted objects purged, {len(events)} policy events."
    state.emit({"purged": report.purged, "events": events}, human)


@click.command(
    "change-credential",
    epilog=f"""\b
Examples:
  vaultcore change-credential                         (prompts for the new passphrase)
  {ENV_NEW_PASSPHRASE}=... vaultcore change-credential
  vaultcore change-credential --new-key-file ./vault.key
""",
)
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False),
    help=f"Protect the vault with this key file, generated if missing (else {ENV_NEW_PASSPHRASE} or a prompt).",
)
@_kdf_option
@output_option
@pass_state
def change_credential(state: State, new_key_file: str | None, kdf_profile: str) -> None:
    """Protect the vault with a new passphrase or key file (re-wraps only the keyring)."""
    vault = state.vault()
    vault.change_credential(_new_credential(state, new_key_file, kdf_profile, ENV_NEW_PASSPHRASE, "New passphrase"))
    data = r.vault_info(vault)
    state.emit(data, "Changed the vault credential.")


@click.command("enable-purge-protection")
@output_option
@pass_state
def enable_purge_protection(state: State) -> None:
    """Turn purge protection on (it can never be turned off)."""
    vault = state.vault()
    vault.enable_purge_protection()
    data = r.vault_info(vault)
    state.emit(data, "Purge protection is on.")


@click.group(
    "domain",
    epilog=f"""\b
Examples:
  {ENV_DOMAIN_PASSPHRASE}=... vaultcore domain export domain.vcsd
  vaultcore --vault ./replica domain import domain.vcsd --key-file replica.key
""",
)
def domain() -> None:
    """The security domain: what lets a backup blob restore into another vault."""


@domain.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@_kdf_option
@output_option
@pass_state
def domain_export(state: State, path: str, force: bool, kdf_profile: str) -> None:
    """Write the security domain to PATH, sealed under a passphrase.

    The passphrase comes from VAULTCORE_DOMAIN_PASSPHRASE or a prompt.
    """
    vault = state.vault()
    blob = vault.export_security_domain(_domain_passphrase(confirm=True), kdf=KDF_PROFILES[kdf_profile])
    write_new_file(path, blob, force=force)
    state.emit({"file": path, "bytes": len(blob)}, f"Exported the security domain to {path}.")


@domain.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_create_options
@output_option
@pass_state
def domain_import(state: State, /, path: str, **options: Any) -> None:
    """Create a new vault at --vault that shares the security domain exported to PATH.

    Object backups of either vault restore into the other. The vault's own credential works
    as for init; the export's passphrase comes from VAULTCORE_DOMAIN_PASSPHRASE or a prompt.
    """
    with open(path, "rb") as handle:
        blob = handle.read()
    _create(state, **options, security_domain=(blob, _domain_passphrase(confirm=False)))


COMMANDS: tuple[click.Command, ...] = (
    init,
    info,
    backup,
    rotate_keyring,
    maintenance,
    change_credential,
    enable_purge_protection,
    domain,
)
