"""``vaultcore.server``: Azure Key Vault's REST API over HTTPS, for the official Azure SDK clients.

Run it with ``vaultcore serve`` or in tests with the ``akv_server`` pytest fixture; see
docs/server.md. Modules: ``_app`` (ASGI app, authentication, routing), ``_auth`` (tokens,
challenge, principal views), ``_errors`` (exception → Azure error body: the one mapping),
``_wire`` (JSON encodings and paging), ``_secrets`` / ``_keys`` / ``_certificates``
(routes), ``_tls`` (local CA and server certificate), ``_credential`` (Azure credentials
for clients), ``_server`` (uvicorn in the foreground or a thread).

This package is the only importer of starlette and uvicorn (the ``server`` extra). The
client-side pieces - :func:`credential`, the credential classes and
:func:`ensure_local_tls` - import neither, so they work without the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._auth import IssuedToken, TokenIssuer
from ._credential import AsyncServerCredential, ServerCredential, StaticTokenCredential, credential
from ._tls import DEFAULT_HOSTS, TlsFiles, check_cert_files, ensure_local_tls

if TYPE_CHECKING:
    from ._app import AkvApp, create_app
    from ._server import BackgroundServer, serve, url_for

__all__ = [
    "DEFAULT_HOSTS",
    "AkvApp",
    "AsyncServerCredential",
    "BackgroundServer",
    "IssuedToken",
    "ServerCredential",
    "StaticTokenCredential",
    "TlsFiles",
    "TokenIssuer",
    "check_cert_files",
    "create_app",
    "credential",
    "ensure_local_tls",
    "serve",
    "url_for",
]

_LAZY = {
    "AkvApp": "._app",
    "create_app": "._app",
    "BackgroundServer": "._server",
    "serve": "._server",
    "url_for": "._server",
}


def __getattr__(name: str) -> Any:
    """The starlette/uvicorn parts load on first use (they need the ``server`` extra)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
