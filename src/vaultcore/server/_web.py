"""The one module that imports the web framework (starlette) and the ASGI server (uvicorn).

Everything else in ``vaultcore.server`` takes these names from here, so replacing either
dependency touches one file.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "ClientDisconnect",
    "H11Protocol",
    "JSONResponse",
    "Request",
    "Response",
    "Route",
    "Starlette",
    "run_in_threadpool",
    "uvicorn",
]
