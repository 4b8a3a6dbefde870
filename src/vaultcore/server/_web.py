"""The one module that imports the web framework (starlette) and the ASGI server (uvicorn).

Everything else in ``vaultcore.server`` takes these names from here, so replacing either
dependency touches one file.
"""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "JSONResponse",
    "Request",
    "Response",
    "Route",
    "Starlette",
    "dropping_h11",
    "run_in_threadpool",
    "uvicorn",
]


def dropping_h11(should_drop: Callable[[], bool]) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol that aborts the connection (a TCP reset for the client)
    when a new request starts and *should_drop()* says so (fault injection, ``_faults``)."""

    class DroppingH11(H11Protocol):
        def data_received(self, data: bytes) -> None:
            starting = self.cycle is None or self.cycle.response_complete
            if starting and self.transport is not None and should_drop():
                self.transport.abort()
                return
            super().data_received(data)

    return DroppingH11
