"""The root ``vaultcore`` command: global options, error handling, command registration.

Each command group lives in its own module exposing ``COMMANDS``; a group is registered
here once the vault feature behind it exists.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import get_completion_class

from vaultcore import __version__

from . import _admin, _auditlog, _cert, _env, _key, _rbac, _secret, _serve
from ._errors import guard
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
_MODULES = (_admin, _secret, _key, _cert, _rbac, _auditlog, _env, _serve)


class _Root(click.Group):
    """Runs every command inside :func:`guard` (the one error-to-exit-code mapping)."""

    def invoke(self, ctx: click.Context) -> Any:
        with guard():
            return super().invoke(ctx)


@click.group(
    PROG_NAME,
    cls=_Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=f"""\b
Examples:
  vaultcore init                                  create the default vault
  echo -n hunter2 | vaultcore secret set db-password
  vaultcore secret get db-password
  vaultcore run --prefix myapp- -- python app.py
  {ENV_PASSPHRASE}=... vaultcore --vault ./ci-vault secret list -o json

\b
Environment:
  {ENV_VAULT}         vault directory (like --vault)
  {ENV_PASSPHRASE}    passphrase (else a hidden prompt on a terminal)
  {ENV_KEY_FILE}      key file (like --key-file)
  {ENV_OUTPUT}        table or json (like --output)
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
    help=f"Vault directory or postgresql:// URL [default: {default_vault_path()}].",
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
    help="Result format; json is stable (docs/cli.md).",
)
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
) -> None:
    """vaultcore: an embedded, encrypted key vault with Azure Key Vault's object model."""
    state = State(
        vault_path or default_vault_path(),
        output=output,
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
    complete_class = get_completion_class(shell)
    assert complete_class is not None  # the Choice above only admits known shells
    click.echo(complete_class(cli, {}, PROG_NAME, COMPLETE_VAR).source())


for _module in _MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vaultcore``)."""
    cli.main(args=argv, prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
