"""``vaultcore unlock`` / ``vaultcore lock``: an unlock-once session for passphrase vaults.

The passphrase is typed once (or read from ``VAULTCORE_PASSPHRASE``), checked against the
vault, and its Argon2id result for that vault is held by a per-user agent (``_agent``); the
shell keeps only ``VAULTCORE_SESSION``, which names the agent's socket and a random token. Threat model: docs/cli.md.
"""

from __future__ import annotations

import os
import shlex

import click

from ._durations import parse_duration
from ._state import ENV_PASSPHRASE, ENV_SESSION, State, pass_state
from ._tty import hidden_prompt, terminal_available

__all__ = ["COMMANDS"]


@click.command(
    "unlock",
    epilog="""\b
Examples:
  eval "$(vaultcore unlock)"                  (type the passphrase once)
  eval "$(vaultcore unlock --timeout 2h)"
  vaultcore secret get db-password            (no prompt while the session lasts)
  eval "$(vaultcore lock)"                    (end it)
""",
)
@click.option(
    "--timeout",
    default="30m",
    show_default=True,
    help="End the session after this much inactivity (s, m, h; at most 12h).",
)
@pass_state
def unlock(state: State, timeout: str) -> None:
    """Unlock a passphrase vault once; prints `export VAULTCORE_SESSION=...` for eval.

    A key derived from it stays in a per-user agent process (never in the environment or
    shell history) until 'vaultcore lock', the idle timeout or 12 hours.
    """
    from vaultcore import PassphraseCredential, Vault
    from vaultcore.exceptions import UnauthorizedError

    from ._agent import MAX_LIFETIME, start_agent

    idle = parse_duration(timeout)
    if not 0 < idle <= MAX_LIFETIME:
        raise click.BadParameter("between 1s and 12h", param_hint="--timeout")
    if state.key_file or state.pkcs11_token:
        raise click.UsageError("sessions are for passphrase vaults; a key file or token needs no unlock")
    state.require_vault()
    passphrase = os.environ.get(ENV_PASSPHRASE)
    if passphrase is None:
        if not terminal_available():
            raise UnauthorizedError(f"no passphrase and no terminal to ask on: set {ENV_PASSPHRASE}")
        passphrase = hidden_prompt("Vault passphrase")
    credential = PassphraseCredential(passphrase)
    Vault.open(state.vault_path, credential).close()  # a wrong one fails here
    session = start_agent(credential.stretched(), state.vault_path, idle)
    click.echo(f"export {ENV_SESSION}={shlex.quote(session)}")
    state.note(f"Unlocked {state.vault_path} until 'vaultcore lock' or {timeout} without use.")


@click.command(
    "lock",
    epilog="""\b
Examples:
  eval "$(vaultcore lock)"     (ends the session and unsets VAULTCORE_SESSION)
  vaultcore lock               (ends it; the variable stays but no longer works)
""",
)
@pass_state
def lock(state: State) -> None:
    """End the session of VAULTCORE_SESSION; prints `unset VAULTCORE_SESSION` for eval."""
    from ._agent import SessionError, lock_session

    session = os.environ.get(ENV_SESSION)
    if session:
        try:
            lock_session(session)
            state.note("Locked: the session has ended.")
        except SessionError as exc:
            state.note(f"Nothing to lock: {exc}.")
    else:
        state.note(f"Nothing to lock: {ENV_SESSION} is not set.")
    click.echo(f"unset {ENV_SESSION}")


COMMANDS: tuple[click.Command, ...] = (unlock, lock)
