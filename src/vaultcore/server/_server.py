"""Running the server with uvicorn: in the foreground (``vaultcore serve``) or in a thread (tests).

TLS only: uvicorn is always given a certificate and key (refused when others can read the
key), and its SSL context is set to TLS 1.2 or newer with AEAD suites only. Connections
are bounded (read deadline, caps per client and in total: :mod:`._limits`). There is no
option for plain HTTP; a plain-HTTP client gets no answer.
Concurrent keep-alive connections are served by uvicorn's event loop; vault work runs in
its worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaultcore.exceptions import InvalidParameterError

from ._app import AkvApp, create_app
from ._auth import ADMIN_LIFETIME, TokenIssuer
from ._credential import ServerCredential, StaticTokenCredential
from ._limits import ConnectionLimits, GuardedServer, check_key_file, guarded_protocol, harden_tls, log_config
from ._tls import TlsFiles
from ._web import uvicorn

if TYPE_CHECKING:
    from .._vault import Vault

__all__ = ["BackgroundServer", "serve"]

log = logging.getLogger("vaultcore.server")


def _config(
    app: Any,
    tls: TlsFiles,
    *,
    host: str,
    port: int,
    quiet: bool,
    limits: ConnectionLimits,
    trusted_proxies: Sequence[str] = (),
) -> uvicorn.Config:
    check_key_file(tls.key_path)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls.cert_path),
        ssl_keyfile=str(tls.key_path),
        lifespan="off",
        ws="none",
        # h11 with a read deadline, connection caps, injected drops and, on a Unix socket,
        # the client's SO_PEERCRED uid (managed identity)
        http=guarded_protocol(limits, _fault_drop(app)),
        server_header=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=int(max(1, limits.keep_alive)),
        # X-Forwarded-For is believed only from proxies the operator names: uvicorn's default
        # trusts it from 127.0.0.1 (port included), which would let a local client forge the
        # audit's caller address or name another user's connection to managed identity (which
        # also refuses any proxied request).
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=",".join(trusted_proxies) if trusted_proxies else "",
        log_config=log_config(quiet),
        access_log=not quiet,
        log_level="warning" if quiet else "info",
    )
    config.load()
    if not isinstance(config.ssl, ssl.SSLContext):  # pragma: no cover - uvicorn always builds one here
        raise InvalidParameterError("TLS could not be configured")
    harden_tls(config.ssl)
    return config


def _fault_drop(app: Any) -> Callable[[], bool] | None:
    """The dropped-connection draw of *app*'s fault plan (``--inject reset=P``), read at each
    request so ``AkvServer.inject`` changes it at run time; None for another ASGI app."""
    akv = getattr(getattr(app, "state", None), "akv", None)
    if not isinstance(akv, AkvApp):
        return None
    return lambda: akv.faults.dropped()


def url_for(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host  # noqa: S104
    return f"https://{shown}:{port}"


class _Stopped(Exception):
    """SIGTERM after a graceful shutdown (uvicorn re-raises the signal it handled)."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped()


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on *host*:*port* (port 0: a free one, read it from the socket)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InvalidParameterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InvalidParameterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def listen_unix(path: str) -> socket.socket:
    """A listening Unix socket at *path* that any local user may connect to (the server asks
    the kernel who they are: ``SO_PEERCRED``). A stale socket file there is replaced."""
    import stat

    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)  # noqa: S103 - like a loopback port: identity comes from the kernel
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InvalidParameterError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    return sock


def serve(
    vault: Vault,
    tls: TlsFiles,
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    app: Any = None,
    trusted_proxies: Sequence[str] = (),
    limits: ConnectionLimits | None = None,
    on_ready: Callable[[int], None] | None = None,
    unix_socket: str | None = None,
) -> None:
    """Serve *vault* until Ctrl-C or SIGTERM, then return normally (the caller closes the vault).

    *app* defaults to ``create_app(vault)``. *trusted_proxies*: addresses whose
    ``X-Forwarded-For`` is believed (none by default). *on_ready* is called with the port
    once the socket accepts connections (port 0 picks a free one). With *unix_socket* the
    server also listens there (TLS as well). Blocks; call from the main thread.
    """
    asgi = app if app is not None else create_app(vault)
    limits = limits or ConnectionLimits()
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    extra = [listen_unix(unix_socket)] if unix_socket else []
    try:
        config = _config(asgi, tls, host=host, port=bound, quiet=False, limits=limits, trusted_proxies=trusted_proxies)
    except BaseException:
        for opened in (sock, *extra):
            opened.close()
        raise
    server = GuardedServer(config, limits, (lambda: on_ready(bound)) if on_ready is not None else None)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    try:
        server.run(sockets=[sock, *extra])
    except (KeyboardInterrupt, _Stopped):
        pass  # the signal that stopped the server, raised again by uvicorn once it is down
    finally:
        sock.close()
        for unix in extra:
            unix.close()
            with contextlib.suppress(OSError):
                os.unlink(str(unix_socket))
        if main:
            signal.signal(signal.SIGTERM, previous)
    if server.ready_error is not None:
        raise server.ready_error


class BackgroundServer:
    """A server for *vault* on a free port of 127.0.0.1, run in a daemon thread.

    ``url`` (``https://localhost:<port>``), ``ca_path``, ``issuer`` and ``app`` are set;
    :meth:`credential` gives Azure credentials; :meth:`stop` (or ``with``) shuts it down.
    """

    def __init__(
        self,
        vault: Vault,
        tls: TlsFiles,
        *,
        issuer: TokenIssuer | None = None,
        limits: ConnectionLimits | None = None,
        trusted_proxies: Sequence[str] = (),
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.vault = vault
        self.tls = tls
        self.app = create_app(vault, issuer=issuer, backup_dir=backup_dir)
        self.akv: AkvApp = self.app.state.akv
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else 40 ms Nagle stalls)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"https://localhost:{self.port}"
        self.limits = limits or ConnectionLimits()
        try:
            config = _config(
                self.app,
                tls,
                host="127.0.0.1",
                port=self.port,
                quiet=True,
                limits=self.limits,
                trusted_proxies=trusted_proxies,
            )
        except BaseException:
            self._sock.close()
            raise
        self._server = GuardedServer(config, self.limits)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    @property
    def ca_path(self) -> Path | None:
        return self.tls.ca_path

    @property
    def issuer(self) -> TokenIssuer:
        return self.akv.issuer

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def _abort_connections(self) -> None:
        """Close every client connection now (in the server's loop): idle keep-alive
        connections of SDK clients would otherwise hold a TLS shutdown open."""
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self._run, name=f"vaultcore-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout:
            deadline.wait(0.01)
            waited += 0.01
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the vaultcore server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Stop at once: connections still open (idle keep-alive ones of SDK clients) are closed."""
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self._abort_connections)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._sock.close()

    def admin_token(self, *, lifetime: int = ADMIN_LIFETIME) -> str:
        return self.akv.admin_token(lifetime=lifetime)

    def admin_credential(self) -> StaticTokenCredential:
        """An Azure credential acting as the vault administrator."""
        return StaticTokenCredential(self.admin_token())

    def credential(self, client_id: str, client_secret: str) -> ServerCredential:
        """An Azure credential for an application principal (client credentials)."""
        return ServerCredential(self.url, client_id, client_secret, ca_path=self.ca_path)

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments Azure SDK clients need for this server."""
        return {"verify_challenge_resource": False, "connection_verify": str(self.ca_path) if self.ca_path else True}

    def __enter__(self) -> BackgroundServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"BackgroundServer(url={self.url!r})"
