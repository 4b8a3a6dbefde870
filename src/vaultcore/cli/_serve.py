"""``vaultcore serve``: the Azure Key Vault REST server for this vault (TLS only)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import sys

import click
import platformdirs

from ._errors import MissingDependency
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]


def default_tls_dir() -> str:
    """Where ``serve`` keeps its generated local CA and server certificate."""
    return os.path.join(platformdirs.user_data_dir("vaultcore"), "tls")


def server_files(vault_path: str) -> str:
    """The glob of files where running ``serve`` processes of *vault_path* leave their URL and
    public CA for ``vaultcore env`` (one per process: ``<vault hash>-<pid>.json``)."""
    digest = hashlib.sha256(os.path.abspath(vault_path).encode()).hexdigest()[:16]
    return os.path.join(platformdirs.user_data_dir("vaultcore"), "servers", f"{digest}-*.json")


def _announce(path: str, url: str, ca: str | None) -> None:
    """Write the server file (0600 in a 0700 directory); best effort."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"url": url, "ca_path": ca, "pid": os.getpid()}, fh)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


@click.command(
    "serve",
    epilog="""\b
Examples:
  vaultcore serve                                 https://localhost:8443, local CA
  vaultcore serve --port 9443 --tls-dir ./tls
  vaultcore serve --host 0.0.0.0 --tls-name myhost.lan
  vaultcore serve --cert server.pem --key server.key

\b
Unchanged Azure apps (details: docs/server.md): export the variables printed at start
(or by `vaultcore env --principal ID`) and pass verify_challenge_resource=False.
""",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8443, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: a free one)."
)
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
    "--unix-socket",
    type=click.Path(dir_okay=False),
    help="Also listen on this Unix socket (TLS too); managed identity there is SO_PEERCRED's uid.",
)
@click.option(
    "--admin-token/--no-admin-token",
    default=True,
    show_default=True,
    help="Print an administrator token (12 hours) once at start.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="Address of a reverse proxy whose X-Forwarded-For is believed (repeatable; default: none).",
)
@click.option(
    "--inject",
    metavar="FAULTS",
    help="Inject faults for retry tests, e.g. 'throttle=0.1,latency=50ms,reset=0.01' "
    "(429 + Retry-After, a delay per request, dropped connections; see docs/server.md).",
)
@click.option(
    "--backup-dir",
    type=click.Path(file_okay=False),
    help="Directory for full backups over REST (KeyVaultBackupClient): a container URL's path maps into it.",
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
    unix_socket: str | None,
    admin_token: bool,
    trusted_proxies: tuple[str, ...],
    inject: str | None,
    backup_dir: str | None,
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
    from ..server._faults import FaultPlan

    faults = FaultPlan.parse(inject)
    vault = state.vault()
    if backup_dir is not None:
        os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    app = server.create_app(vault, faults=faults, backup_dir=backup_dir)
    token = app.state.akv.admin_token() if admin_token else None
    ca = str(tls.ca_path) if tls.ca_path else None
    public_ca = str(server.public_ca_copy(tls.ca_path)) if tls.ca_path else None
    announced = server_files(state.vault_path).replace("*", str(os.getpid()))

    def listening(bound: int) -> None:  # only once the port is listening: a client may connect at once
        url = server.url_for(host, bound)
        _announce(announced, url, public_ca)
        env = server.client_environment(url, public_ca)
        info: dict[str, object] = {
            "url": url,
            "vault": vault.name,
            "ca_path": ca,
            "token_endpoint": url + "/_vaultcore/token",
        }
        if unix_socket:
            info["unix_socket"] = os.path.abspath(unix_socket)
        if faults.active:
            info["inject"] = faults.describe()
            state.note(f"fault injection on: {faults.describe()}")
        if backup_dir is not None:
            info["backup_dir"] = os.path.abspath(backup_dir)
        if state.json:
            state.emit({**info, "admin_token": token, "env": env})
        else:
            _print_banner(url, vault.name, ca, token, env)
        if host not in ("127.0.0.1", "localhost", "::1") and cert is None and not tls_names:
            state.note(
                f"note: the generated certificate names localhost only; add --tls-name for clients reaching {host}"
            )
        sys.stdout.flush()

    scheduler = vault.start_scheduler(maintenance_interval) if maintenance_interval > 0 else None
    try:
        server.serve(
            vault,
            tls,
            host=host,
            port=port,
            app=app,
            trusted_proxies=trusted_proxies,
            on_ready=listening,
            unix_socket=unix_socket,
        )
    finally:
        if scheduler is not None:
            scheduler.stop()
        with contextlib.suppress(OSError):
            os.unlink(announced)


def _print_banner(url: str, name: str, ca: str | None, token: str | None, env: dict[str, str]) -> None:
    lines = [
        f"Serving vault {name!r} at {url} (TLS only; Ctrl-C stops)",
        f"CA certificate: {ca or 'the issuer of the server certificate'}",
    ]
    if token:
        lines += ["Administrator token (valid 12 hours, shown once; keep it secret):", f"  {token}"]
    lines += [
        "Unchanged Azure apps (managed identity = your OS user; `vaultcore env --principal ID` for an app):",
        *(f"  export {k}={shlex.quote(v)}" for k, v in env.items()),
        "  and construct Key Vault clients with verify_challenge_resource=False.",
        "Application principals: vaultcore access principal create-app ID, then vaultcore access role assign.",
    ]
    click.echo("\n".join(lines))


COMMANDS: tuple[click.Command, ...] = (serve,)
