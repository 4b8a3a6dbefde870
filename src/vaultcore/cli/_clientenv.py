"""``vaultcore env``: the environment variables that point an unchanged Azure app at ``vaultcore serve``."""

from __future__ import annotations

import shlex
import sys

import click

from ._errors import BadInput
from ._serve import default_tls_dir, server_files
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]


def _secret(from_stdin: bool, path: str | None) -> str | None:
    """The client secret from stdin or a file (surrounding whitespace dropped); never from argv."""
    if from_stdin and path is not None:
        raise click.UsageError("--secret-stdin and --secret-file cannot be combined")
    if from_stdin:
        data = click.prompt("Client secret", hide_input=True) if sys.stdin.isatty() else sys.stdin.read()
    elif path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                data = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read the client secret from {path}: {exc}") from None
    else:
        return None
    secret = data.strip()
    if not secret or "\n" in secret:
        raise BadInput("the client secret must be one non-empty line")
    return secret


@click.command(
    "env",
    epilog="""\b
Examples:
  vaultcore env --principal ci --secret-file ci.secret > vault.env
  vaultcore env --principal deployer --certificate-path deployer.pem --url https://localhost:9443
  eval "$(vaultcore env --principal ci < ci.secret)"        (the secret from stdin)
  vaultcore env                      managed identity: the OS user running the app
""",
)
@click.option("--principal", "client_id", help="Application principal (client id); omit for managed identity.")
@click.option("--secret-stdin", is_flag=True, help="Read its client secret from stdin (the default).")
@click.option("--secret-file", type=click.Path(dir_okay=False, exists=True), help="Read its client secret from a file.")
@click.option(
    "--certificate-path",
    type=click.Path(dir_okay=False, exists=True),
    help="PEM with its certificate and private key (AZURE_CLIENT_CERTIFICATE_PATH).",
)
@click.option(
    "--url", help="The server's URL [default: the running `serve` of this vault, else https://localhost:8443]."
)
@click.option("--ca", "ca_path", type=click.Path(dir_okay=False, exists=True), help="CA file [default: serve's].")
@output_option
@pass_state
def env(
    state: State,
    client_id: str | None,
    secret_stdin: bool,
    secret_file: str | None,
    certificate_path: str | None,
    url: str | None,
    ca_path: str | None,
) -> None:
    """Print the variables an unchanged Azure app exports to use a local ``vaultcore serve``.

    azure-identity's DefaultAzureCredential, EnvironmentCredential, ClientSecretCredential,
    CertificateCredential and ManagedIdentityCredential read them; Key Vault clients also need
    verify_challenge_resource=False in code. The secret is read from stdin or a file, never
    from the command line. The URL and CA are those of the running `serve` of this vault
    (--vault / VAULTCORE_VAULT); the vault is not opened: it only prints.
    """
    import os

    from vaultcore.server import client_environment, public_ca_copy

    if client_id is None and (secret_stdin or secret_file is not None or certificate_path is not None):
        raise click.UsageError("--secret-stdin/--secret-file/--certificate-path need --principal")
    if certificate_path is not None and (secret_stdin or secret_file is not None):
        raise click.UsageError("give --principal a secret or a certificate, not both")
    # An application without a certificate reads its secret from stdin unless a file is named.
    wants_secret = client_id is not None and certificate_path is None
    secret = _secret(secret_stdin or (wants_secret and secret_file is None), secret_file)
    running = _running_server(state.vault_path)
    if url is None:
        url = str(running.get("url") or "https://localhost:8443")
    if not url.startswith("https://"):
        raise click.UsageError("--url is https://host:port (the server speaks TLS only)")
    announced_ca = running.get("ca_path") if running.get("url") == url else None
    ca = ca_path or (str(announced_ca) if announced_ca else os.path.join(default_tls_dir(), "ca.pem"))
    public = str(public_ca_copy(ca)) if os.path.isfile(ca) else None
    if public is None:
        state.note(f"note: no CA file at {ca}; clients must already trust the server's certificate")
    variables = client_environment(
        url, public, client_id=client_id, client_secret=secret, certificate_path=certificate_path
    )
    if state.json:
        state.emit(variables)
    else:
        click.echo("\n".join(f"export {k}={shlex.quote(v)}" for k, v in variables.items()))


def _running_server(vault_path: str) -> dict[str, object]:
    """What the newest running ``vaultcore serve`` of this vault announced (``{}`` if none)."""
    import glob
    import json
    import os

    found: list[tuple[float, dict[str, object]]] = []
    for path in glob.glob(server_files(vault_path)):
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
            os.kill(int(info["pid"]), 0)  # still running?
            found.append((os.stat(path).st_mtime, info))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return max(found, key=lambda item: item[0])[1] if found else {}


COMMANDS: tuple[click.Command, ...] = (env,)
