"""``vaultcore.server``: Azure Key Vault's REST API over HTTPS, for the official Azure SDK clients.

Run by ``vaultcore serve`` or the ``akv_server`` pytest fixture (docs/server.md). Uses only
the ``Vault`` facade, the object kinds' models and ``access``; ``_web`` is the only importer
of starlette and uvicorn (the ``server`` extra). The client-side pieces (:func:`credential`,
the credential classes, :func:`ensure_local_tls`) import neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._auth import IssuedToken, TokenIssuer
from ._clientenv import client_environment, public_ca_copy
from ._credential import AsyncServerCredential, ServerCredential, StaticTokenCredential, credential
from ._tls import DEFAULT_HOSTS, TlsFiles, check_cert_files, ensure_local_tls

if TYPE_CHECKING:
    from ._app import AkvApp, create_app
    from ._limits import ConnectionLimits
    from ._server import BackgroundServer, serve, url_for

__all__ = [
    "DEFAULT_HOSTS",
    "AkvApp",
    "AsyncServerCredential",
    "BackgroundServer",
    "ConnectionLimits",
    "IssuedToken",
    "ServerCredential",
    "StaticTokenCredential",
    "TlsFiles",
    "TokenIssuer",
    "check_cert_files",
    "client_environment",
    "create_app",
    "credential",
    "ensure_local_tls",
    "public_ca_copy",
    "serve",
    "url_for",
]

_LAZY = {
    "AkvApp": "._app",
    "create_app": "._app",
    "BackgroundServer": "._server",
    "ConnectionLimits": "._limits",
    "serve": "._server",
    "url_for": "._server",
}


def __getattr__(name: str) -> Any:
    """The starlette/uvicorn parts load on first use (they need the ``server`` extra)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
