"""The one module that imports the web framework (starlette) and the ASGI server (uvicorn).

Everything else in ``vaultcore.server`` takes these names from here, so replacing either
dependency touches one file.
"""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._peer import UNIX_CLIENT, unix_peer_uid

__all__ = [
    "ClientDisconnect",
    "H11Protocol",
    "JSONResponse",
    "PeerCredProtocol",
    "Request",
    "Response",
    "Route",
    "Starlette",
    "run_in_threadpool",
    "uvicorn",
]


class PeerCredProtocol(H11Protocol):  # type: ignore[misc]
    """uvicorn's HTTP/1.1 protocol; on a Unix socket the client is ``("unix", uid)`` from
    ``SO_PEERCRED`` (uvicorn gives ``None`` there), so managed identity can name the caller."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        uid = unix_peer_uid(sock) if sock is not None else None
        if uid is not None:
            self.client = (UNIX_CLIENT, uid)
