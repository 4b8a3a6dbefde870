"""The administration plane on the command line: quorum security domain, settings, full backup.

- ``vaultcore domain download --key a.pem --key b.pem --key c.pem --quorum 2 --out sd.json``
  and ``vaultcore domain upload sd.json --key a.key --key c.key`` (added to ``domain``);
- ``vaultcore setting list|show|set``;
- ``vaultcore full-backup FILE`` and ``vaultcore full-restore FILE`` (what
  ``KeyVaultBackupClient`` does over REST).
"""

from __future__ import annotations

from typing import Any

import click

from . import _render as r
from ._admin import _create, _create_options, domain
from ._params import write_new_file
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@domain.command("download")
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="An operator's RSA public key or certificate (PEM); 3 to 10, repeat the option.",
)
@click.option("--quorum", type=click.IntRange(2, 10), required=True, help="How many private keys restore it.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the JSON.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@output_option
@pass_state
def download(state: State, keys: tuple[str, ...], quorum: int, out: str, force: bool) -> None:
    """Write the security domain split under a quorum of RSA keys (as Managed HSM does)."""
    blob = state.vault().download_security_domain([_read(k) for k in keys], quorum)
    write_new_file(out, blob, force=force)
    data = {"file": out, "keys": len(keys), "quorum": quorum}
    state.emit(data, f"Wrote the security domain to {out}: any {quorum} of the {len(keys)} private keys restore it.")


@domain.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="An operator's RSA private key (PEM); at least the quorum, repeat the option.",
)
@_create_options
@output_option
@pass_state
def upload(state: State, /, path: str, keys: tuple[str, ...], **options: Any) -> None:
    """Create a new vault at --vault with the security domain downloaded to PATH.

    The private keys are unencrypted PEM files (PKCS#8 or PKCS#1); the new vault's own
    credential works as for init.
    """
    _create(state, **options, security_domain=(_read(path), [_read(k) for k in keys]))


@click.group("setting")
def setting() -> None:
    """The vault's settings (what KeyVaultSettingsClient reads and changes)."""


def _setting(s: Any) -> dict[str, Any]:
    return {"name": s.name, "value": s.value, "type": s.type}


@setting.command("list")
@output_option
@pass_state
def setting_list(state: State) -> None:
    """List the settings."""
    data = [_setting(s) for s in state.vault().settings.list_settings()]
    state.emit(data, r.rows_table(("name", "value", "type"), data))


@setting.command("show")
@click.argument("name")
@output_option
@pass_state
def setting_show(state: State, name: str) -> None:
    """Show setting NAME."""
    data = _setting(state.vault().settings.get_setting(name))
    state.emit(data, r.fields_table(data))


@setting.command("set")
@click.argument("name")
@click.argument("value", type=click.Choice(("true", "false"), case_sensitive=False))
@output_option
@pass_state
def setting_set(state: State, name: str, value: str) -> None:
    """Set boolean setting NAME to true or false."""
    data = _setting(state.vault().settings.update_setting(name, value))
    state.emit(data, r.fields_table(data))


@click.command("full-backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@output_option
@pass_state
def full_backup(state: State, path: str, force: bool) -> None:
    """Write the whole vault, sealed for its security domain, to PATH (one file)."""
    blob = state.vault().full_backup()
    write_new_file(path, blob, force=force)
    state.emit({"file": path, "bytes": len(blob)}, f"Wrote a full backup to {path} ({len(blob)} bytes).")


@click.command("full-restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_name", help="Restore only this key (all its versions), as selective key restore does.")
@output_option
@pass_state
def full_restore(state: State, path: str, key_name: str | None) -> None:
    """Restore a full backup into this vault (same security domain, no secrets/keys/certificates yet)."""
    vault = state.vault()
    if key_name is not None:
        name = vault.restore_key_from_full_backup(_read(path), key_name)
        state.emit({"key": name}, f"Restored key {name}.")
        return
    done = vault.full_restore(_read(path))
    data = {"objects": done.objects, "access_records": done.access_records}
    state.emit(data, f"Restored {done.objects} objects and {done.access_records} access records.")


COMMANDS: tuple[click.Command, ...] = (setting, full_backup, full_restore)
