"""Per-invocation state: where the vault is, how to unlock it, how to print results."""

from __future__ import annotations

import gc
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vaultcore.exceptions import NotAVaultError, StorageError, UnauthorizedError

from . import _output
from ._tty import hidden_prompt, terminal_available

if TYPE_CHECKING:  # rich and the vault load on first use: --version and Tab stay cheap
    from rich.console import Console, RenderableType

    from vaultcore import Credential, Vault

__all__ = [
    "CREDENTIAL_VARS",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_KEY_FILE",
    "ENV_OUTPUT",
    "ENV_PASSPHRASE",
    "ENV_PKCS11_KEY_LABEL",
    "ENV_PKCS11_MODULE",
    "ENV_PKCS11_PIN",
    "ENV_PKCS11_TOKEN",
    "ENV_SESSION",
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
ENV_SESSION = "VAULTCORE_SESSION"
ENV_NEW_PASSPHRASE = "VAULTCORE_NEW_PASSPHRASE"
ENV_DOMAIN_PASSPHRASE = "VAULTCORE_DOMAIN_PASSPHRASE"
ENV_PFX_PASSWORD = "VAULTCORE_PFX_PASSWORD"
#: Every variable that unlocks a vault or acts as a principal: never passed to a child.
CREDENTIAL_VARS = (
    ENV_PASSPHRASE,
    ENV_KEY_FILE,
    ENV_PKCS11_PIN,
    ENV_CLIENT_SECRET,
    ENV_SESSION,
    ENV_NEW_PASSPHRASE,
    ENV_DOMAIN_PASSPHRASE,
    ENV_PFX_PASSWORD,
)
OUTPUT_FORMATS = _output.FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def default_vault_path() -> str:
    """The vault used when neither ``--vault`` nor ``VAULTCORE_VAULT`` is given."""
    from vaultcore._environment import default_vault_path as default

    return default()


def interactive() -> bool:
    """Whether stdin is a terminal (values are then prompted for instead of read from stdin)."""
    return sys.stdin is not None and sys.stdin.isatty()


def secret_from_env_or_prompt(env: str, prompt: str, *, confirm: bool = False, allow_prompt: bool = True) -> str:
    """A secret from the environment variable *env*, else a hidden prompt on ``/dev/tty``.

    Never from the command line. The terminal is read even when stdin is a pipe (so a value
    can be piped while the passphrase is typed); without one the error names the variable.
    """
    value = os.environ.get(env)
    if value is not None:
        return value
    if not (allow_prompt and terminal_available()):
        raise UnauthorizedError(f"no {prompt.lower()} and no terminal to ask on: set {env}")
    return hidden_prompt(prompt, confirm=confirm)


@dataclass
class State:
    """What the root command resolved; commands reach it with :func:`pass_state`."""

    vault_path: str
    output: str = "table"
    query: str | None = None
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
            from rich.console import Console

            self._out = Console(markup=False, highlight=False, emoji=False)
            if not self._out.is_terminal:
                self._out.width = 240  # piped: do not fold tables at 80 columns
        return self._out

    @property
    def err(self) -> Console:
        """Console on stderr, for progress bars and notes."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, markup=False, highlight=False, emoji=False)
        return self._err

    @property
    def json(self) -> bool:
        """Whether results are data (json, yaml, tsv, none or a --query), not a human table."""
        return self.output != "table" or self.query is not None

    def emit(self, data: Any, human: RenderableType | None = None) -> None:
        """Print a result: *data* as JSON/YAML/TSV (after ``--query``), nothing for ``none``,
        or for ``table`` the human rendering (``str`` printed verbatim)."""
        if self.output == "none":
            return
        if self.query is not None:
            data = _output.query(self.query, data)
            if self.output == "table":  # a query picks fields: show them, not the full rendering
                click.echo(_output.render("tsv", data), nl=False)
                return
        if self.output != "table":
            click.echo(_output.render(self.output, data), nl=False)
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
        """The unlock credential, first found: key file, PKCS#11 token, ``VAULTCORE_PASSPHRASE``,
        an unlocked session (``VAULTCORE_SESSION``), a hidden prompt on the terminal."""
        from vaultcore import KeyFileCredential, PassphraseCredential, Pkcs11Credential

        if self.key_file and self.pkcs11_token:
            raise click.UsageError("give a key file or a PKCS#11 token, not both")
        if self.key_file:
            if os.environ.get(ENV_PASSPHRASE) is not None:
                self.note(f"Warning: both a key file and {ENV_PASSPHRASE} are set; using the key file.")
            return KeyFileCredential(self.key_file)
        if self.pkcs11_token:
            pin = secret_from_env_or_prompt(ENV_PKCS11_PIN, f"PIN of token {self.pkcs11_token!r}", allow_prompt=prompt)
            label = {"key_label": self.pkcs11_key_label} if self.pkcs11_key_label else {}
            return Pkcs11Credential(self.pkcs11_module or None, token_label=self.pkcs11_token, pin=pin, **label)
        passphrase = os.environ.get(ENV_PASSPHRASE)
        if passphrase is None and os.environ.get(ENV_SESSION):
            from ._agent import SessionError, session_credential

            try:
                return session_credential(os.environ[ENV_SESSION], self.vault_path)
            except SessionError as exc:
                self.note(f"Note: {ENV_SESSION} not used: {exc}.")
        if passphrase is None and not (prompt and terminal_available()):
            raise UnauthorizedError(
                f"no credential and no terminal to ask on: set {ENV_KEY_FILE} (a key file), "
                f"{ENV_PASSPHRASE}, or {ENV_SESSION} (from 'eval \"$(vaultcore unlock)\"')"
            )
        return PassphraseCredential(passphrase if passphrase is not None else hidden_prompt("Vault passphrase"))

    def vault(self) -> Vault:
        """The vault, opened on first use and closed when the command ends.

        With ``--client-id`` (or ``VAULTCORE_CLIENT_ID``) and ``VAULTCORE_CLIENT_SECRET`` the
        commands act as that application principal: its roles are checked and audited.
        """
        if self._vault is None:
            from vaultcore import Vault

            self.require_vault()
            owner = Vault.open(self.vault_path, self.credential())
            gc.enable()  # start-up is over (main() turns the collector off while importing)
            self._owner = owner
            self._vault = owner
            if self.client_id:
                secret = os.environ.get(ENV_CLIENT_SECRET)
                if not secret:
                    raise UnauthorizedError(f"acting as {self.client_id!r} needs {ENV_CLIENT_SECRET}")
                self._vault = owner.as_principal(self.client_id, secret)
        return self._vault

    def require_vault(self) -> None:
        """Exit 6 before asking for a credential when there is no vault at the path (exit 7
        when the path exists but this user may not look at it: another user's vault)."""
        if "://" in self.vault_path:
            return  # a database URL: the store says whether the vault exists
        try:
            is_dir = stat.S_ISDIR(os.stat(self.vault_path).st_mode)
        except PermissionError:
            raise StorageError(f"permission denied: the vault at {self.vault_path!r} belongs to another user") from None
        except OSError:
            is_dir = False
        if not is_dir:
            raise NotAVaultError(f"no vault at {self.vault_path!r}")

    def adopt(self, vault: Vault) -> None:
        """Use an already opened vault (``init`` creates one) for the rest of the command."""
        self.close()
        self._vault = self._owner = vault

    def close(self) -> None:
        """Close the vault; also ends start-up (``run`` closes before it starts its command)."""
        owner, self._vault, self._owner = self._owner, None, None
        if owner is not None:  # detached first: a failing close is not retried at exit
            owner.close()
        gc.enable()


pass_state = click.make_pass_decorator(State)


def _set_output(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    state = ctx.find_object(State)
    if value is not None and state is not None:
        state.output = value


def _set_query(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    state = ctx.find_object(State)
    if value is not None and state is not None:
        state.query = value


def output_option(fn: F) -> F:
    """``-o/--output`` and ``--query`` on a subcommand too (``vaultcore secret list -o json``)."""
    fn = click.option(
        "--query",
        default=None,
        expose_value=False,
        callback=_set_query,
        help="JMESPath query applied to the JSON result (as az), e.g. '[].name'.",
    )(fn)
    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        expose_value=False,
        callback=_set_output,
        help="Result format (default: the global --output).",
    )(fn)
