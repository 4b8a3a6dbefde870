"""Secrets as environment variables: ``run``, ``import-env``, ``export-env``."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING

import click

from vaultcore.exceptions import ForbiddenError, NotFoundError, VaultError

from ._dotenv import (
    DotenvError,
    env_to_secret_name,
    format_dotenv,
    is_env_name,
    parse_dotenv,
    parse_dotenv_lines,
    secret_to_env_name,
)
from ._errors import BadInput
from ._params import write_new_file
from ._progress import progress
from ._refs import TEMPLATE_REF, Ref, RefError, parse_ref
from ._run import CommandError, exec_command, supervise
from ._state import CREDENTIAL_VARS, State, output_option, pass_state

if TYPE_CHECKING:
    from vaultcore import Vault

__all__ = ["COMMANDS"]

#: Secrets per transaction in ``import-env`` (one commit per chunk, progress between).
IMPORT_CHUNK = 500


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


def _mapped(state: State, where: str, mapping: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Env var -> value for a ``--map`` file: literals kept, references read from the vault.

    Any failure names the file and line (and stops before the command runs).
    """
    refs: dict[str, tuple[Ref, int]] = {}
    found: dict[str, str] = {}
    for env_name, (value, line) in mapping.items():
        try:
            ref = parse_ref(value)
        except RefError as exc:
            raise BadInput(f"{where}: line {line}: {env_name}: {exc}") from None
        if ref is None:
            found[env_name] = value
        else:
            refs[env_name] = (ref, line)
    vault = state.vault() if refs else None  # literals only: no credential needed
    for env_name, (ref, line) in refs.items():
        assert vault is not None
        try:
            found[env_name] = vault.secrets.get_secret(ref.name, ref.version).value
        except VaultError:
            state.note(f"{where}: line {line}: {env_name}: cannot read secret {ref.name!r}")
            raise
    return found


def child_environment(injected: dict[str, str]) -> dict[str, str]:
    """The inherited environment without any vaultcore credential, plus *injected*."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update(injected)
    return env


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="""\b
Examples:
  vaultcore run --prefix myapp- -- python app.py     (myapp-db-url -> DB_URL)
  vaultcore run --map app.env -- ./deploy.sh         (lines: LOG_LEVEL=debug, DB=vault://db-url)
  vaultcore run --prefix app- --strict --exec -- gunicorn app:wsgi   (PID 1 in a container)
  vaultcore run --prefix app- --mask -- ./flaky-test.sh   (values hidden in its output)
""",
)
@click.option(
    "--map",
    "map_file",
    type=click.File("r"),
    help="dotenv file: literal values and references vault://NAME[/VERSION] or @Microsoft.KeyVault(...).",
)
@click.option("--prefix", help="Inject every secret whose name starts with this prefix.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when --prefix matches no secret, instead of warning.")
@click.option("--mask", is_flag=True, help="Replace secret values in COMMAND's stdout/stderr (makes them pipes).")
@click.option("--exec", "exec_", is_flag=True, help="Replace vaultcore by COMMAND (same PID; nothing stays resident).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def run(
    state: State,
    map_file: IO[str] | None,
    prefix: str | None,
    strict: bool,
    mask: bool,
    exec_: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with secrets injected as environment variables.

    With --prefix P, secret P<rest> becomes variable <REST> (uppercased, '-' -> '_').
    vaultcore waits for COMMAND, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
    SIGUSR2 to it and exits with its status (128+N if killed by signal N; 126: cannot
    execute, 127: not found); --exec replaces vaultcore by COMMAND instead. No vaultcore
    credential variable (passphrase, key file, PIN, client secret, session...) is passed on.
    """
    if (map_file is None) == (prefix is None):
        raise click.UsageError("give exactly one of --map FILE or --prefix P")
    if mask and exec_:
        raise click.UsageError("--mask needs vaultcore to stay resident: it cannot be combined with --exec")
    mapping = _parse_lines(map_file) if map_file is not None else None
    if mapping is not None and map_file is not None:
        injected = _mapped(state, map_file.name, mapping)
    else:
        injected = _prefixed(state, state.vault(), prefix or "")
        if not injected:
            if strict:
                state.close()
                raise NotFoundError(f"no usable secret name starts with {prefix!r} (--strict)")
            state.note(f"Warning: no usable secret name starts with {prefix!r}; running without secrets.")
    secrets_ = [v for k, v in injected.items() if mapping is None or k not in _literals(mapping)]
    state.close()  # the child does not need the vault open
    env = child_environment(injected)
    try:
        if exec_:
            exec_command(command, env)
        code = supervise(command, env, mask=secrets_ if mask else None)
    except CommandError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise click.exceptions.Exit(exc.code) from None
    raise click.exceptions.Exit(code)


def _parse_lines(handle: IO[str]) -> dict[str, tuple[str, int]]:
    try:
        return parse_dotenv_lines(handle.read())
    except DotenvError as exc:
        raise BadInput(f"{handle.name}: {exc}") from None


def _literals(mapping: dict[str, tuple[str, int]]) -> set[str]:
    return {name for name, (value, _) in mapping.items() if parse_ref(value) is None}


@click.command(
    "inject",
    epilog="""\b
Examples:
  vaultcore inject -i config.tpl -o config.ini       (config.tpl: password = {{ vault://db-password }})
  vaultcore inject -i app.yaml.tpl -o app.yaml --force
  vaultcore inject < config.tpl | some-tool --config -
""",
)
@click.option("-i", "--in-file", "template", type=click.File("r"), default="-", help="Template [default: stdin].")
@click.option(
    "-o", "--out-file", "path", type=click.Path(dir_okay=False), help="Write a new 0600 file [default: stdout]."
)
@click.option("--force", is_flag=True, help="Overwrite --out-file if it exists (it becomes 0600).")
@pass_state
def inject(state: State, template: IO[str], path: str | None, force: bool) -> None:
    """Render a template, replacing each {{ vault://NAME[/VERSION] }} by the secret's value.

    Each reference is read once (audited as SecretGet); an unknown or unreadable one fails
    with its line number and nothing is written.
    """
    text = template.read()
    where = template.name
    refs: dict[str, tuple[Ref, int]] = {}
    for match in TEMPLATE_REF.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        try:
            ref = parse_ref(match.group(1))
        except RefError as exc:
            raise BadInput(f"{where}: line {line}: {exc}") from None
        assert ref is not None  # the pattern only matches vault:// references
        refs.setdefault(match.group(1), (ref, line))
    values: dict[str, str] = {}
    if refs:
        vault = state.vault()
        for raw, (ref, line) in refs.items():
            try:
                values[raw] = vault.secrets.get_secret(ref.name, ref.version).value
            except VaultError:
                state.note(f"{where}: line {line}: cannot read secret {ref.name!r}")
                raise
    rendered = TEMPLATE_REF.sub(lambda m: values[m.group(1)], text)
    if path is None:
        click.echo(rendered, nl=False)
    else:
        write_new_file(path, rendered.encode("utf-8"), force=force)
        state.note(f"Wrote {path} (mode 0600) with {len(refs)} secret reference(s) resolved.")


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


COMMANDS: tuple[click.Command, ...] = (run, import_env, export_env, inject)
