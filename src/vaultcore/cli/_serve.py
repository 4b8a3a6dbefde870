"""``vaultcore serve``: the Azure Key Vault REST server for this vault (TLS only)."""

from __future__ import annotations

import os
import sys

import click
import platformdirs

from ._errors import MissingDependency
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]


def default_tls_dir() -> str:
    """Where ``serve`` keeps its generated local CA and server certificate."""
    return os.path.join(platformdirs.user_data_dir("vaultcore"), "tls")


@click.command(
    "serve",
    epilog="""\b
Examples:
  vaultcore serve                                 https://localhost:8443, local CA
  vaultcore serve --port 9443 --tls-dir ./tls
  vaultcore serve --host 0.0.0.0 --tls-name myhost.lan
  vaultcore serve --cert server.pem --key server.key

\b
Azure SDK clients (details: docs/server.md):
  from vaultcore.server import credential
  cred = credential(URL, client_id=ID, client_secret=SECRET, ca_path=CA)
  SecretClient(URL, cred, verify_challenge_resource=False, connection_verify=CA)
""",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False),
    help="Generate (or reuse) a local CA and server certificate here [default: user data dir/tls].",
)
@click.option(
    "--tls-name",
    "tls_names",
    multiple=True,
    help="Extra host name or IP for the generated certificate (repeatable).",
)
@click.option("--cert", type=click.Path(dir_okay=False, exists=True), help="Server certificate chain (PEM).")
@click.option("--key", type=click.Path(dir_okay=False, exists=True), help="Its private key (PEM).")
@click.option(
    "--admin-token/--no-admin-token",
    default=True,
    show_default=True,
    help="Print an administrator token (12 hours) once at start.",
)
@click.option(
    "--maintenance-interval",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds between scheduler runs (purge, rotation, lifetime actions, expiry events, webhooks); 0: off.",
)
@output_option
@pass_state
def serve(
    state: State,
    host: str,
    port: int,
    tls_dir: str | None,
    tls_names: tuple[str, ...],
    cert: str | None,
    key: str | None,
    admin_token: bool,
    maintenance_interval: float,
) -> None:
    """Serve this vault over HTTPS with Azure Key Vault's REST API.

    The official azure-keyvault-secrets, -keys and -certificates clients work against it
    unchanged. Clients authenticate with bearer tokens: application principals get them
    from the server's token endpoint with their client id and secret; the administrator
    token printed at start acts as the vault administrator. Runs until Ctrl-C.
    """
    if (cert is None) != (key is None):
        raise click.UsageError("give --cert and --key together")
    if cert is not None and (tls_dir or tls_names):
        raise click.UsageError("--cert/--key and --tls-dir/--tls-name exclude each other")
    if state.client_id:
        raise click.UsageError("serve runs as the vault administrator: drop --client-id / VAULTCORE_CLIENT_ID")
    try:
        from vaultcore import server

        from ..server import _server  # noqa: F401 - fails early without starlette/uvicorn
    except ImportError as exc:
        raise MissingDependency(
            f"vaultcore serve needs the server extra ({exc.name} is missing): pip install 'vaultcore[server]'"
        ) from None

    if cert is not None and key is not None:
        tls = server.check_cert_files(cert, key)
    else:
        hosts = list(dict.fromkeys([*server.DEFAULT_HOSTS, *tls_names]))
        tls = server.ensure_local_tls(tls_dir or default_tls_dir(), hosts)
    vault = state.vault()
    app = server.create_app(vault)
    url = server.url_for(host, port)
    token = app.state.akv.admin_token() if admin_token else None
    ca = str(tls.ca_path) if tls.ca_path else None
    info = {"url": url, "vault": vault.name, "ca_path": ca, "token_endpoint": url + "/_vaultcore/token"}
    if state.json:
        state.emit({**info, "admin_token": token})
    else:
        lines = [
            f"Serving vault {vault.name!r} at {url} (TLS only; Ctrl-C stops)",
            f"CA certificate: {ca or 'the issuer of ' + str(tls.cert_path)}",
        ]
        if token:
            lines += ["Administrator token (valid 12 hours, shown once; keep it secret):", f"  {token}"]
        verify = repr(ca) if ca else "True"
        lines += [
            "Azure SDK clients:",
            "  from vaultcore.server import credential",
            f"  cred = credential({url!r}, client_id=ID, client_secret=SECRET, ca_path={verify})"
            + ("   # or token=<administrator token>" if token else ""),
            f"  SecretClient({url!r}, cred, verify_challenge_resource=False, connection_verify={verify})",
            "Application principals: vaultcore access principal create-app ID, then vaultcore access role assign.",
        ]
        click.echo("\n".join(lines))
    if host not in ("127.0.0.1", "localhost", "::1") and cert is None and not tls_names:
        state.note(f"note: the generated certificate names localhost only; add --tls-name for clients reaching {host}")
    sys.stdout.flush()
    scheduler = vault.start_scheduler(maintenance_interval) if maintenance_interval > 0 else None
    try:
        server.serve(vault, tls, host=host, port=port, app=app)
    finally:
        if scheduler is not None:
            scheduler.stop()


COMMANDS: tuple[click.Command, ...] = (serve,)
