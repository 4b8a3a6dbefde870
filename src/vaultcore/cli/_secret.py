"""``vaultcore secret ...``: Azure Key Vault secrets."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from vaultcore.exceptions import NotFoundError

from . import _render as r
from ._objects import KindSpec, add_lifecycle_commands, attribute_changes, attribute_options
from ._params import (
    ENCODING_TAG,
    ENCODINGS,
    TagType,
    WhenType,
    complete_names,
    decode_value,
    encode_value,
    read_binary_input,
    read_secret_value,
    split_secret_ref,
    write_new_file,
)
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]

_LIST_COLUMNS = ("name", "enabled", "content_type", "updated_on", "expires_on", "tags")
_VERSION_COLUMNS = ("version", "enabled", "created_on", "not_before", "expires_on", "content_type")


SPEC = KindSpec(
    kind="secret",
    label="secret",
    client=lambda vault: vault.secrets,
    properties=r.secret_properties,
    deleted=r.deleted_secret,
    recovered=r.secret_properties,
    list_columns=_LIST_COLUMNS,
    version_columns=_VERSION_COLUMNS,
)
name_argument = SPEC.name_argument()
version_option = click.option("--version", "version", help="A version id (default: the latest).")
GET_FIELDS = ("value", "name", "version", "id", "content_type", "enabled", "expires_on", "not_before")


@click.group(
    "secret",
    epilog="""\b
Examples:
  echo -n 's3cr3t' | vaultcore secret set db-password
  vaultcore secret set tls-key --file key.pem --content-type application/x-pem-file
  vaultcore secret get db-password
  vaultcore secret list -o json
""",
)
def secret() -> None:
    """Secrets: versioned string values with attributes and soft-delete."""


class _SetCommand(click.Command):
    """``secret set``: a second positional argument gets the no-argv rule explained."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if "unexpected extra argument" not in exc.message:
                raise
            raise click.UsageError(
                "secret values are never taken from the command line (they would be kept in shell "
                "history and shown by ps); pipe the value in or use --file:\n"
                '  printf %s "$VALUE" | vaultcore secret set NAME\n'
                "  vaultcore secret set NAME --file value.txt\n"
                "  vaultcore secret set NAME                  (a hidden prompt on a terminal)",
                ctx,
            ) from None


@secret.command(
    "set",
    cls=_SetCommand,
    epilog="""\b
Examples:
  vaultcore secret set db-password            (prompts, hidden, when on a terminal)
  printf %s "$PW" | vaultcore secret set db-password --tag env=prod
  vaultcore secret set api-key --file key.txt --expires +90d
  vaultcore secret set tls-pfx --file cert.pfx --encoding base64   (binary file)
""",
)
@name_argument
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the value from this file (stored exactly).",
)
@click.option("--keep-newline", is_flag=True, help="Keep a trailing newline read from stdin.")
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    default="utf-8",
    show_default=True,
    help="base64/hex: store binary input as that text (tag file-encoding), as az.",
)
@click.option("--content-type", help="A hint of what the value is (e.g. text/plain).")
@click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="A tag (repeatable).")
@click.option("--disabled", is_flag=True, help="Create the version disabled.")
@click.option("--not-before", type=WhenType(), help="Not usable before this time.")
@click.option("--expires", type=WhenType(), help="Not usable after this time (e.g. +90d).")
@output_option
@pass_state
def set_(
    state: State,
    name: str,
    path: str | None,
    keep_newline: bool,
    encoding: str,
    content_type: str | None,
    tags: tuple[tuple[str, str], ...],
    disabled: bool,
    not_before: datetime | None,
    expires: datetime | None,
) -> None:
    """Add a new version of secret NAME, read from stdin, --file or a hidden prompt.

    The value is never taken from the command line and never printed.
    """
    tag_map = dict(tags)
    if encoding == "utf-8":
        value = read_secret_value(path, keep_newline=keep_newline)
    else:
        value = encode_value(read_binary_input(path, "value"), encoding)
        tag_map.setdefault(ENCODING_TAG, encoding)
    result = state.vault().secrets.set_secret(
        name,
        value,
        enabled=not disabled,
        tags=tag_map or None,
        content_type=content_type,
        not_before=not_before,
        expires_on=expires,
    )
    data = r.secret_properties(result.properties)
    state.emit(data, f"Stored secret {data['name']!r}, version {data['version']}.")


@secret.command(
    "get",
    epilog="""\b
Examples:
  export DB_PASSWORD="$(vaultcore secret get db-password)"
  vaultcore secret get db-password/3f2a...             (a version; or --version 3f2a...)
  vaultcore secret get https://v.vault.vaultcore.local/secrets/db-password/3f2a...
  vaultcore secret get db-user db-password -o tsv       (one value per line)
  vaultcore secret get db-password --field version
  vaultcore secret get tls-pfx --encoding base64 --file cert.pfx
""",
)
@click.argument("names", metavar="NAME...", nargs=-1, required=True, shell_complete=complete_names("secret"))
@version_option
@click.option("-n", "--no-newline", is_flag=True, help="Do not print a newline after the value.")
@click.option(
    "--field",
    type=click.Choice(GET_FIELDS),
    help="Print only this field, plainly (whatever --output says).",
)
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    help="Decode a base64/hex value to bytes (default with --file: the file-encoding tag).",
)
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False), help="Write the value to this new file (0600).")
@click.option("--force", is_flag=True, help="Overwrite --file if it exists.")
@output_option
@pass_state
def get(
    state: State,
    names: tuple[str, ...],
    version: str | None,
    no_newline: bool,
    field: str | None,
    encoding: str | None,
    path: str | None,
    force: bool,
) -> None:
    """Print the value of each secret NAME (NAME, NAME/VERSION or its id URL).

    Values print plainly, one per line, also with -o tsv or --field value; -o json/yaml add
    the properties (a list for several names).
    """
    if version is not None and len(names) > 1:
        raise click.UsageError("--version applies to one NAME; write NAME/VERSION for several")
    if path is not None and len(names) > 1:
        raise click.UsageError("--file writes one secret: give one NAME")
    vault = state.vault()
    results = []
    for raw in names:
        name, ref_version = split_secret_ref(raw)
        results.append(vault.secrets.get_secret(name, version or ref_version))
    if path is not None:
        result = results[0]
        wanted = encoding or result.properties.tags.get(ENCODING_TAG, "utf-8")
        write_new_file(path, decode_value(result.value, wanted), force=force)
        data = r.secret_properties(result.properties)
        state.emit(data, f"Wrote secret {result.name!r} to {path}.")
        return
    if field is not None or (state.output == "tsv" and state.query is None):
        key = field or "value"
        for result in results:
            click.echo(str(r.secret(result)[key] if key != "value" else result.value), nl=not no_newline)
        return
    if encoding is not None and encoding != "utf-8":
        for result in results:
            out = sys.stdout.buffer
            out.write(decode_value(result.value, encoding))
            out.flush()
        return
    if state.json:
        shaped = [r.secret(result) for result in results]
        state.emit(shaped[0] if len(shaped) == 1 else shaped)
        return
    for result in results:
        click.echo(result.value, nl=not no_newline)


@secret.command("show")
@name_argument
@version_option
@output_option
@pass_state
def show(state: State, name: str, version: str | None) -> None:
    """Show the properties of secret NAME (never its value)."""
    versions = list(state.vault().secrets.list_properties_of_secret_versions(name))
    wanted = versions[-1].version if version is None else version.lower()
    matching = [p for p in versions if p.version == wanted]
    if not matching:
        raise NotFoundError(f"A secret with (name/id) {name}/{version} was not found in this key vault.")
    found = matching[0]
    data = r.secret_properties(found)
    state.emit(data, r.fields_table(data))


@secret.command(
    "update",
    epilog="""\b
Examples:
  vaultcore secret update db-password --disable --version 3f2a...
  vaultcore secret update db-password --tag owner=ops --expires +30d
  vaultcore secret update db-password --expires none --content-type ''
""",
)
@name_argument
@version_option
@click.option("--content-type", help="New content type ('' clears it).")
@attribute_options
@output_option
@pass_state
def update(
    state: State,
    name: str,
    version: str | None,
    content_type: str | None,
    enabled: bool | None,
    tags: tuple[tuple[str, str], ...],
    clear_tags: bool,
    not_before: Any,
    expires: Any,
) -> None:
    """Change attributes of a version of secret NAME (the value never changes)."""
    extra = {} if content_type is None else {"content_type": content_type or None}
    changes = attribute_changes(enabled, tags, clear_tags, not_before, expires, extra)
    props = state.vault().secrets.update_secret_properties(name, version, **changes)
    data = r.secret_properties(props)
    state.emit(data, r.fields_table(data))


add_lifecycle_commands(secret, SPEC)

COMMANDS: tuple[click.Command, ...] = (secret,)
