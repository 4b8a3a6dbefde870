"""The root ``vaultcore`` command: global options, error handling, command registration.

Each command group lives in its own module exposing ``COMMANDS``; :data:`COMMAND_MODULES`
names the module of every top-level command, and a module is imported only when one of its
commands runs (or ``--help`` lists them). So ``vaultcore --version`` and a Tab completion
load click and nothing of the vault, and ``secret get`` loads only the secret commands.
"""

from __future__ import annotations

import contextlib
from importlib import import_module
from typing import Any

import click

from vaultcore._version import __version__

from ._errors import guard
from ._examples import add_examples
from ._globals import move_global_options
from ._names import track_names
from ._state import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_KEY_FILE,
    ENV_OUTPUT,
    ENV_PASSPHRASE,
    ENV_PKCS11_KEY_LABEL,
    ENV_PKCS11_MODULE,
    ENV_PKCS11_PIN,
    ENV_PKCS11_TOKEN,
    ENV_VAULT,
    OUTPUT_FORMATS,
    State,
    default_vault_path,
)

__all__ = ["cli", "main"]

PROG_NAME = "vaultcore"
COMPLETE_VAR = "_VAULTCORE_COMPLETE"

_ADMIN_COMMANDS = (
    "init",
    "info",
    "backup",
    "rotate-keyring",
    "maintenance",
    "change-credential",
    "enable-purge-protection",
    "domain",
)
#: Top-level command name -> the module (in this package) whose ``COMMANDS`` holds it.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(_ADMIN_COMMANDS, "_admin"),
    "secret": "_secret",
    "key": "_key",
    "cert": "_cert",
    "access": "_rbac",
    "audit": "_auditlog",
    **dict.fromkeys(("run", "import-env", "export-env", "inject"), "_env"),
    **dict.fromkeys(("unlock", "lock"), "_session"),
    "serve": "_serve",
    "env": "_clientenv",
    "events": "_events",
    **dict.fromkeys(("setting", "full-backup", "full-restore"), "_adminplane"),
}
#: Modules that add subcommands to a group another module defines (``access role-definition``,
#: ``domain download|upload``): imported together with that module.
GROUP_EXTENSIONS: dict[str, tuple[str, ...]] = {"_rbac": ("_roledef",), "_admin": ("_adminplane",)}


class _Root(click.Group):
    """Loads command modules on demand; runs every command inside :func:`guard` (the one
    error-to-exit-code mapping); accepts global options after the subcommand too."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            name = COMMAND_MODULES[cmd_name]
            module = import_module(f"{__package__}.{name}")
            for extension in GROUP_EXTENSIONS.get(name, ()):
                import_module(f"{__package__}.{extension}")
            for command in module.COMMANDS:
                add_examples(command, command.name or "")
                track_names(command, command.name or "")
                self.commands.setdefault(command.name or "", command)
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, move_global_options(self, ctx, args))

    def invoke(self, ctx: click.Context) -> Any:
        with guard():
            try:
                result = super().invoke(ctx)
            except BaseException:
                _close_quietly(ctx)  # the command's own error is the one reported
                raise
            state = ctx.find_object(State)
            if state is not None:
                state.close()  # inside guard: a failure while closing is reported, not a traceback
            return result


def _close_quietly(ctx: click.Context) -> None:
    """Close the vault (flushing the audit events of reads already done) after a failure."""
    state = ctx.find_object(State)
    if state is not None:
        with contextlib.suppress(Exception):
            state.close()


@click.group(
    PROG_NAME,
    cls=_Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=f"""\b
Examples:
  vaultcore init                                  create the default vault (asks a passphrase)
  eval "$(vaultcore unlock)"                      type it once for this shell
  printf %s hunter2 | vaultcore secret set db-password
  vaultcore secret get db-password
  vaultcore run --prefix myapp- -- python app.py
  {ENV_KEY_FILE}=ci.key vaultcore --vault ./ci-vault secret list -o json

\b
Environment:
  {ENV_VAULT}         vault directory (like --vault)
  {ENV_PASSPHRASE}    passphrase (else a hidden prompt on a terminal)
  {ENV_KEY_FILE}      key file (like --key-file)
  {ENV_OUTPUT}        table, json, yaml, tsv or none (like --output)
  VAULTCORE_SESSION   an unlocked session (eval "$(vaultcore unlock)")
  {ENV_PKCS11_TOKEN}  PKCS#11 token label (premium vaults and managed HSMs)
  {ENV_PKCS11_PIN}    its user PIN (else a hidden prompt)
  {ENV_PKCS11_MODULE} / {ENV_PKCS11_KEY_LABEL}  library and root key label
  {ENV_CLIENT_ID}     act as this application principal (like --client-id)
  {ENV_CLIENT_SECRET} that principal's client secret

\b
Exit codes: 0 ok, 1 not found, 2 usage, 3 unauthorized/forbidden,
  4 integrity failure, 5 conflict, 6 no vault, 7 storage/HSM/file error,
  70 internal error, 130 interrupted. Details: docs/cli.md.
""",
)
@click.option(
    "--vault",
    "vault_path",
    envvar=ENV_VAULT,
    type=click.Path(file_okay=False),
    help="Vault directory or postgresql:// URL [default: <user data dir>/vaultcore/default].",
)
@click.option(
    "--key-file",
    envvar=ENV_KEY_FILE,
    type=click.Path(dir_okay=False),
    help="Unlock with this key file instead of a passphrase.",
)
@click.option("--pkcs11-token", envvar=ENV_PKCS11_TOKEN, help="Unlock with the root key in this PKCS#11 token.")
@click.option("--pkcs11-module", envvar=ENV_PKCS11_MODULE, help="PKCS#11 library [default: SoftHSM2].")
@click.option("--pkcs11-key-label", envvar=ENV_PKCS11_KEY_LABEL, help="Root key label [default: vaultcore-root].")
@click.option(
    "--client-id",
    envvar=ENV_CLIENT_ID,
    help=f"Act as this application principal (its secret from {ENV_CLIENT_SECRET}).",
)
@click.option(
    "-o",
    "--output",
    envvar=ENV_OUTPUT,
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Result format; json is stable (docs/cli.md); tsv/none for scripts.",
)
@click.option("--query", help="JMESPath query applied to the JSON result, as az (e.g. '[].name').")
@click.version_option(__version__, prog_name=PROG_NAME)
@click.pass_context
def cli(
    ctx: click.Context,
    vault_path: str | None,
    key_file: str | None,
    pkcs11_token: str | None,
    pkcs11_module: str | None,
    pkcs11_key_label: str | None,
    client_id: str | None,
    output: str,
    query: str | None,
) -> None:
    """vaultcore: an embedded, encrypted key vault with Azure Key Vault's object model."""
    state = State(
        vault_path or default_vault_path(),
        output=output,
        query=query,
        key_file=key_file,
        client_id=client_id,
        pkcs11_token=pkcs11_token,
        pkcs11_module=pkcs11_module,
        pkcs11_key_label=pkcs11_key_label,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    Example (bash):  eval "$(vaultcore completion bash)"
    Same as:         eval "$(_VAULTCORE_COMPLETE=bash_source vaultcore)"
    """
    from click.shell_completion import get_completion_class

    complete_class = get_completion_class(shell)
    assert complete_class is not None  # the Choice above only admits known shells
    click.echo(complete_class(cli, {}, PROG_NAME, COMPLETE_VAR).source())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vaultcore``)."""
    cli.main(args=argv, prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
