"""Per-invocation state: where the vault is, how to unlock it, how to print results."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import platformdirs
from rich.console import Console, RenderableType

from vaultcore import Credential, KeyFileCredential, PassphraseCredential, Pkcs11Credential, Vault
from vaultcore.exceptions import UnauthorizedError

__all__ = [
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_KEY_FILE",
    "ENV_OUTPUT",
    "ENV_PASSPHRASE",
    "ENV_PKCS11_KEY_LABEL",
    "ENV_PKCS11_MODULE",
    "ENV_PKCS11_PIN",
    "ENV_PKCS11_TOKEN",
    "ENV_VAULT",
    "State",
    "default_vault_path",
    "output_option",
    "pass_state",
    "secret_from_env_or_prompt",
]

ENV_VAULT = "VAULTCORE_VAULT"
ENV_PASSPHRASE = "VAULTCORE_PASSPHRASE"
ENV_KEY_FILE = "VAULTCORE_KEY_FILE"
ENV_OUTPUT = "VAULTCORE_OUTPUT"
ENV_PKCS11_MODULE = "VAULTCORE_PKCS11_MODULE"
ENV_PKCS11_TOKEN = "VAULTCORE_PKCS11_TOKEN"
ENV_PKCS11_PIN = "VAULTCORE_PKCS11_PIN"
ENV_PKCS11_KEY_LABEL = "VAULTCORE_PKCS11_KEY_LABEL"
ENV_CLIENT_ID = "VAULTCORE_CLIENT_ID"
ENV_CLIENT_SECRET = "VAULTCORE_CLIENT_SECRET"
OUTPUT_FORMATS = ("table", "json")

F = TypeVar("F", bound=Callable[..., Any])


def default_vault_path() -> str:
    """The vault used when neither ``--vault`` nor ``VAULTCORE_VAULT`` is given."""
    return os.path.join(platformdirs.user_data_dir("vaultcore"), "default")


def interactive() -> bool:
    """Whether a hidden prompt can be shown (stdin is a terminal)."""
    return sys.stdin is not None and sys.stdin.isatty()


def secret_from_env_or_prompt(env: str, prompt: str, *, confirm: bool = False, allow_prompt: bool = True) -> str:
    """A secret from the environment variable *env*, else a hidden prompt on a terminal.

    Never from the command line; without a terminal the error names the variable to set.
    """
    value = os.environ.get(env)
    if value is not None:
        return value
    if not (allow_prompt and interactive()):
        raise UnauthorizedError(f"no {prompt.lower()}: set {env} (or run in a terminal to be prompted)")
    entered: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    return entered


@dataclass
class State:
    """What the root command resolved; commands reach it with :func:`pass_state`."""

    vault_path: str
    output: str = "table"
    key_file: str | None = None
    client_id: str | None = None
    pkcs11_token: str | None = None
    pkcs11_module: str | None = None
    pkcs11_key_label: str | None = None
    _vault: Vault | None = field(default=None, repr=False)
    _owner: Vault | None = field(default=None, repr=False)
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    # -- consoles ----------------------------------------------------------------------

    @property
    def out(self) -> Console:
        """Console on stdout (markup off: values and names are printed verbatim)."""
        if self._out is None:
            self._out = Console(markup=False, highlight=False, emoji=False)
            if not self._out.is_terminal:
                self._out.width = 240  # piped: do not fold tables at 80 columns
        return self._out

    @property
    def err(self) -> Console:
        """Console on stderr, for progress bars and notes."""
        if self._err is None:
            self._err = Console(stderr=True, markup=False, highlight=False, emoji=False)
        return self._err

    @property
    def json(self) -> bool:
        return self.output == "json"

    def emit(self, data: Any, human: RenderableType | None = None) -> None:
        """Print a result: *data* as JSON, or the human rendering (``str`` printed verbatim)."""
        if self.json:
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        elif isinstance(human, str):
            click.echo(human)
        elif human is not None and self.out.is_terminal:
            self.out.print(human)
        elif human is not None:  # piped: plain lines without trailing padding
            with self.out.capture() as captured:
                self.out.print(human)
            click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def note(self, text: str) -> None:
        """A remark for humans on stderr (never part of a result)."""
        click.echo(text, err=True)

    # -- credentials and the vault -----------------------------------------------------

    def credential(self, *, prompt: bool = True) -> Credential:
        """The unlock credential: key file, PKCS#11 token, ``VAULTCORE_PASSPHRASE``, else a prompt."""
        if self.key_file and self.pkcs11_token:
            raise click.UsageError("give a key file or a PKCS#11 token, not both")
        if self.key_file:
            return KeyFileCredential(self.key_file)
        if self.pkcs11_token:
            pin = secret_from_env_or_prompt(ENV_PKCS11_PIN, f"PIN of token {self.pkcs11_token!r}", allow_prompt=prompt)
            label = {"key_label": self.pkcs11_key_label} if self.pkcs11_key_label else {}
            return Pkcs11Credential(self.pkcs11_module or None, token_label=self.pkcs11_token, pin=pin, **label)
        if ENV_PASSPHRASE not in os.environ and not (prompt and interactive()):
            raise UnauthorizedError(
                f"no credential: set {ENV_PASSPHRASE} or {ENV_KEY_FILE} (or run in a terminal to be prompted)"
            )
        return PassphraseCredential(secret_from_env_or_prompt(ENV_PASSPHRASE, "Vault passphrase"))

    def vault(self) -> Vault:
        """The vault, opened on first use and closed when the command ends.

        With ``--client-id`` (or ``VAULTCORE_CLIENT_ID``) and ``VAULTCORE_CLIENT_SECRET`` the
        commands act as that application principal: its roles are checked and audited.
        """
        if self._vault is None:
            owner = Vault.open(self.vault_path, self.credential())
            self._owner = owner
            self._vault = owner
            if self.client_id:
                secret = os.environ.get(ENV_CLIENT_SECRET)
                if not secret:
                    raise UnauthorizedError(f"acting as {self.client_id!r} needs {ENV_CLIENT_SECRET}")
                self._vault = owner.as_principal(self.client_id, secret)
        return self._vault

    def adopt(self, vault: Vault) -> None:
        """Use an already opened vault (``init`` creates one) for the rest of the command."""
        self.close()
        self._vault = self._owner = vault

    def close(self) -> None:
        owner, self._vault, self._owner = self._owner, None, None
        if owner is not None:  # detached first: a failing close is not retried at exit
            owner.close()


pass_state = click.make_pass_decorator(State)


def _set_output(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    state = ctx.find_object(State)
    if value is not None and state is not None:
        state.output = value


def output_option(fn: F) -> F:
    """``-o/--output`` on a subcommand too, so ``vaultcore secret list -o json`` works."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        expose_value=False,
        callback=_set_output,
        help="Result format (default: the global --output).",
    )(fn)
