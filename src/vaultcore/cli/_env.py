"""Secrets as environment variables: ``run``, ``import-env``, ``export-env``."""

from __future__ import annotations

import os
import subprocess
from typing import IO

import click

from vaultcore import Vault
from vaultcore.exceptions import ForbiddenError

from ._dotenv import (
    DotenvError,
    env_to_secret_name,
    format_dotenv,
    is_env_name,
    parse_dotenv,
    secret_to_env_name,
)
from ._errors import BadInput
from ._params import write_new_file
from ._progress import progress
from ._state import ENV_PASSPHRASE, State, output_option, pass_state

__all__ = ["COMMANDS"]

#: Secrets per transaction in ``import-env`` (one commit per chunk, progress between).
IMPORT_CHUNK = 500
EXIT_CANNOT_EXECUTE = 126
EXIT_COMMAND_NOT_FOUND = 127


def _parse(handle: IO[str]) -> dict[str, str]:
    try:
        return parse_dotenv(handle.read())
    except DotenvError as exc:
        raise BadInput(f"{handle.name}: {exc}") from None


def _prefixed(state: State, vault: Vault, prefix: str) -> dict[str, str]:
    """Env var -> value for every usable secret whose name starts with *prefix*.

    Secrets that cannot be read (disabled; expired ones are readable, as in Azure) or whose name does not
    make an environment variable name are skipped with a note on stderr.
    """
    found: dict[str, str] = {}
    for props in sorted(vault.secrets.list_properties_of_secrets(), key=lambda p: p.name.lower()):
        env_name = secret_to_env_name(props.name, prefix)
        if env_name is None:
            continue
        if not is_env_name(env_name):
            state.note(f"skipped secret {props.name!r}: {env_name!r} is not a variable name")
            continue
        try:
            found[env_name] = vault.secrets.get_secret(props.name).value
        except ForbiddenError as exc:
            state.note(f"skipped secret {props.name!r}: {exc}")
    return dict(sorted(found.items()))


def _mapped(vault: Vault, mapping: dict[str, str]) -> dict[str, str]:
    """Env var -> value for ``ENV_VAR=secret-name[/version]`` lines; any failure is an error."""
    found: dict[str, str] = {}
    for env_name, ref in mapping.items():
        name, _, version = ref.strip().partition("/")
        found[env_name] = vault.secrets.get_secret(name, version or None).value
    return found


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="""\b
Examples:
  vaultcore run --prefix myapp- -- python app.py     (myapp-db-url -> DB_URL)
  vaultcore run --map secrets.env -- ./deploy.sh     (lines: DATABASE_URL=db-url[/version])
  vaultcore run --prefix '' -- env                  (every secret)
""",
)
@click.option("--map", "map_file", type=click.File("r"), help="A file of ENV_VAR=secret-name[/version] lines.")
@click.option("--prefix", help="Inject every secret whose name starts with this prefix.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def run(state: State, map_file: IO[str] | None, prefix: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND with secrets injected as environment variables.

    With --prefix P, secret P<rest> becomes variable <REST> (uppercased, '-' -> '_').
    The exit code is COMMAND's (126: cannot execute, 127: not found). Secrets are read
    like 'secret get'. VAULTCORE_PASSPHRASE is not passed on to COMMAND.
    """
    if (map_file is None) == (prefix is None):
        raise click.UsageError("give exactly one of --map FILE or --prefix P")
    vault = state.vault()
    injected = _mapped(vault, _parse(map_file)) if map_file is not None else _prefixed(state, vault, prefix or "")
    state.close()  # the child does not need the vault open
    env = {k: v for k, v in os.environ.items() if k != ENV_PASSPHRASE}
    env.update(injected)
    try:
        child = subprocess.Popen(list(command), env=env)
    except FileNotFoundError:
        click.echo(f"Error: command not found: {command[0]}", err=True)
        raise click.exceptions.Exit(EXIT_COMMAND_NOT_FOUND) from None
    except PermissionError:
        click.echo(f"Error: cannot execute: {command[0]}", err=True)
        raise click.exceptions.Exit(EXIT_CANNOT_EXECUTE) from None
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:  # the child got the signal too; wait for it to finish
            continue
    raise click.exceptions.Exit(128 - code if code < 0 else code)


@click.command(
    "import-env",
    epilog="""\b
Examples:
  vaultcore import-env .env                       (DB_PASSWORD -> secret DB-PASSWORD)
  vaultcore import-env .env --prefix myapp-       (DB_PASSWORD -> myapp-DB-PASSWORD)
""",
)
@click.argument("file", type=click.File("r"))
@click.option("--prefix", default="", help="Prepend this to every secret name.")
@click.option("--content-type", help="Content type of every imported secret.")
@output_option
@pass_state
def import_env(state: State, file: IO[str], prefix: str, content_type: str | None) -> None:
    """Store every variable of a dotenv FILE as a secret ('_' -> '-' in names).

    Each variable becomes a new version. Up to 500 variables commit in one transaction.
    """
    entries = _parse(file)
    names: dict[str, str] = {}
    for env_name in entries:
        secret_name = env_to_secret_name(env_name, prefix)
        other = names.get(secret_name.lower())
        if other is not None:
            raise BadInput(f"{other} and {env_name} map to the same secret name {secret_name!r}")
        names[secret_name.lower()] = env_name
    vault = state.vault()
    items = [(env_name, env_to_secret_name(env_name, prefix), value) for env_name, value in entries.items()]
    rows: list[dict[str, str]] = []
    try:
        with progress(state.err, "Importing") as update:
            update(0, len(items))
            for start in range(0, len(items), IMPORT_CHUNK):
                chunk = items[start : start + IMPORT_CHUNK]
                stored = vault.secrets.set_secrets({name: value for _, name, value in chunk}, content_type=content_type)
                rows += [
                    {"env": env_name, "name": props.name, "version": props.version or ""}
                    for (env_name, _, _), props in zip(chunk, stored, strict=True)
                ]
                update(len(rows), len(items))
    except BaseException:
        _report_partial(state, rows, len(items))
        raise
    state.emit(rows, f"Imported {len(rows)} secrets from {file.name}.")


def _report_partial(state: State, rows: list[dict[str, str]], total: int) -> None:
    """After a failure or Ctrl-C: which secrets were stored (each chunk commits whole)."""
    if not rows:
        state.note(f"import-env stopped: none of the {total} secrets was stored.")
        return
    names = ", ".join(row["name"] for row in rows)
    state.note(f"import-env stopped: {len(rows)} of {total} secrets were stored: {names}")


@click.command(
    "export-env",
    epilog="""\b
Examples:
  vaultcore export-env > .env
  vaultcore export-env --prefix myapp- --file .env   (myapp-db-url -> DB_URL)
""",
)
@click.option("--prefix", default="", help="Only secrets starting with this; it is removed from the name.")
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False), help="Write to this new file (0600).")
@click.option("--force", is_flag=True, help="Overwrite --file if it exists.")
@output_option
@pass_state
def export_env(state: State, prefix: str, path: str | None, force: bool) -> None:
    """Print secrets in dotenv format (names uppercased, '-' -> '_'); prints values!

    JSON output is an object of variable -> value.
    """
    found = _prefixed(state, state.vault(), prefix)
    if path is not None:
        write_new_file(path, format_dotenv(found).encode("utf-8"), force=force)
        state.emit({"file": path, "count": len(found)}, f"Exported {len(found)} secrets to {path}.")
    elif state.json:
        state.emit(found)
    else:
        click.echo(format_dotenv(found), nl=False)


COMMANDS: tuple[click.Command, ...] = (run, import_env, export_env)
