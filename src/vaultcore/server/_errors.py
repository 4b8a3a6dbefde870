"""The one place where exceptions become Azure Key Vault error responses.

Body: ``{"error": {"code", "message", "innererror"?: {"code"}}}``. The status and code come
from the vaultcore exception (each carries Azure's ``code``, ``status`` and optional
``inner_code``); a missing object reports its specific code (``SecretNotFound``...) as the
top-level code, as the service does. Server errors (5xx) never show their message to the
client: it is logged here instead (messages never hold secret values). Anything that is
not a :class:`~vaultcore.exceptions.VaultError` is a 500 ``InternalError``.
"""

from __future__ import annotations

import logging
from typing import Any

from vaultcore.exceptions import NotFoundError, VaultError

__all__ = ["error_body", "error_for"]

log = logging.getLogger("vaultcore.server")


def error_body(code: str, message: str, inner: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner is not None and inner != code:
        error["innererror"] = {"code": inner}
    return {"error": error}


def error_for(exc: BaseException, *, where: str = "") -> tuple[int, dict[str, Any]]:
    """(status, body) for an exception raised while serving *where* (``METHOD path``)."""
    if isinstance(exc, VaultError):
        status = exc.status
        if status >= 500:
            log.error("%s failed: %s (%s)", where, type(exc).__name__, exc.code)
            return status, error_body(exc.code, "The vault could not complete the request; see the server log.")
        if isinstance(exc, NotFoundError) and exc.inner_code:
            return status, error_body(exc.inner_code, exc.message)
        return status, error_body(exc.code, exc.message, exc.inner_code)
    log.exception("%s failed with an unexpected error", where)
    return 500, error_body("InternalError", "An unexpected error occurred; see the server log.")
