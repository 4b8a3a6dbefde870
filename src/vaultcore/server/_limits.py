"""Bounds on connections, and the hardening of uvicorn's configuration (TLS, logs, proxies).

**Connections.** uvicorn keeps a connection that never finishes its request forever, and
accepts as many as the file-descriptor limit allows. :func:`guarded_protocol` gives its
HTTP/1.1 protocol a *read deadline* (the request line, headers and body must arrive within
``read_timeout`` seconds of the connection or of the previous response) and caps on open
connections per client address and in total. When a cap is reached, the oldest connection
of that client (or of anyone, for the total) that is *not* being served - idle between
requests, or still sending one - is closed to make room; only when every connection is
busy is the new one refused. So a flood of idle sockets from one address cannot lock out
a legitimate client, even one at the same address. The TLS handshake has its own deadline
(``handshake_timeout``).

**Configuration.** :func:`harden_tls` (TLS 1.2+ with AEAD suites only), :func:`check_key_file`
(a private key others can read is refused), :func:`log_config` (everything to stderr,
credentials never logged) and :class:`GuardedServer` (reports when the port is listening).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaultcore.exceptions import InvalidParameterError

from ._auth import TOKEN_PATH
from ._bodies import token_in_query
from ._web import PeerCredProtocol, uvicorn

__all__ = [
    "ConnectionLimits",
    "GuardedServer",
    "check_key_file",
    "guarded_protocol",
    "harden_tls",
    "log_config",
]

log = logging.getLogger("vaultcore.server")

# TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all AEAD).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take and how many connections it may hold."""

    read_timeout: float = 30.0
    """Seconds to send a complete request (line, headers, body)."""
    handshake_timeout: float = 10.0
    """Seconds to finish the TLS handshake."""
    keep_alive: float = 5.0
    """Seconds an idle keep-alive connection stays open after a response."""
    max_connections: int = 1000
    """Open connections in total."""
    max_per_peer: int = 100
    """Open connections per client address."""

    def __post_init__(self) -> None:
        if min(self.read_timeout, self.handshake_timeout, self.keep_alive) <= 0:
            raise InvalidParameterError("connection timeouts must be positive")
        if not 1 <= self.max_per_peer <= self.max_connections:
            raise InvalidParameterError("connection caps must be at least 1, per client at most the total")


class _Registry:
    """Open connections, oldest first, in total and per client address (event-loop only)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.all: OrderedDict[Any, str] = OrderedDict()
        self.by_peer: dict[str, OrderedDict[Any, None]] = {}

    def admit(self, conn: Any, peer: str) -> bool:
        """Register *conn*; make room by closing an idle one when a cap is reached."""
        mine = self.by_peer.get(peer)
        if mine is not None and len(mine) >= self.limits.max_per_peer and not self._evict(mine):
            return False
        if len(self.all) >= self.limits.max_connections and not self._evict(self.all):
            return False
        self.all[conn] = peer
        self.by_peer.setdefault(peer, OrderedDict())[conn] = None
        return True

    def _evict(self, pool: OrderedDict[Any, Any]) -> bool:
        for conn in pool:
            if conn.idle():
                conn.evict()
                return True
        return False

    def forget(self, conn: Any) -> None:
        peer = self.all.pop(conn, None)
        if peer is not None:
            mine = self.by_peer.get(peer)
            if mine is not None:
                mine.pop(conn, None)
                if not mine:
                    del self.by_peer[peer]


def guarded_protocol(limits: ConnectionLimits, should_drop: Callable[[], bool] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with a read deadline and connection caps (one registry per server).

    *should_drop*, asked when a request starts, aborts the connection when it says so: the
    ``--inject reset=P`` fault of ``_faults`` (the client sees a reset).
    """
    registry = _Registry(limits)

    class GuardedH11Protocol(PeerCredProtocol):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None
        _admitted = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = self.client[0] if self.client else "unknown"
            if not registry.admit(self, peer):
                log.warning("connection from %s refused: too many open connections", peer)
                transport.abort()
                return
            self._admitted = True
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._admitted:
                registry.forget(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._between_requests():
                if should_drop is not None and should_drop():
                    self.transport.abort()
                    return
                self._arm()
            super().data_received(data)
            if self.cycle is not None and not self.cycle.more_body and not self.cycle.response_complete:
                self._disarm()  # the request is complete: the app is answering it

        def _between_requests(self) -> bool:
            return self.cycle is None or bool(self.cycle.response_complete)

        def idle(self) -> bool:
            """Not being served: idle keep-alive, or still sending its request."""
            return self._between_requests() or bool(self.cycle.more_body)

        def evict(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.abort()

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(limits.read_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.idle() and not self.transport.is_closing():
                self.transport.abort()

    return GuardedH11Protocol


class GuardedServer(uvicorn.Server):  # type: ignore[misc]
    """uvicorn's server with a TLS handshake deadline, calling *on_ready* once it listens
    (if that fails, the server shuts down and keeps the error in ``ready_error``)."""

    def __init__(
        self, config: uvicorn.Config, limits: ConnectionLimits, on_ready: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self.limits = limits
        self.on_ready = on_ready
        self.ready_error: BaseException | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        loop: Any = asyncio.get_running_loop()
        # uvicorn has no option for it: give its create_server call a handshake deadline.
        try:
            loop.create_server = functools.partial(
                loop.create_server, ssl_handshake_timeout=self.limits.handshake_timeout
            )
            patched = True
        except (AttributeError, TypeError):  # a loop type with read-only methods: its default applies
            log.warning("the TLS handshake deadline could not be set on this event loop")
            patched = False
        try:
            await super().startup(sockets=sockets)
        finally:
            if patched:
                del loop.create_server
        if self.started and self.on_ready is not None:
            try:
                self.on_ready()
            except BaseException as exc:  # e.g. stdout closed: stop serving, report it after shutdown
                self.ready_error = exc
                self.should_exit = True


def harden_tls(context: ssl.SSLContext) -> None:
    """TLS 1.2 or newer; on TLS 1.2 only ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE


def check_key_file(path: Path) -> None:
    """Refuse a TLS private key that users other than its owner (and group) can read or change.

    Group read is allowed (Debian's ``ssl-cert`` group convention); world access or group
    write is not.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InvalidParameterError(f"the TLS key file {path} cannot be read ({exc.strerror})") from None
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        raise InvalidParameterError(
            f"the TLS key file {path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


class RedactQuery(logging.Filter):
    """Drop query strings that may carry credentials from uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query and (path == TOKEN_PATH or token_in_query(query)):
                record.args = (args[0], args[1], path + "?[redacted]", args[3], args[4])
        return True


def log_config(quiet: bool) -> dict[str, Any] | None:
    """uvicorn's logging: server and access log both to stderr (stdout is the caller's)."""
    if quiet:
        return None
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactQuery}},
        "formatters": {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
    return config
