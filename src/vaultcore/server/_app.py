"""The ASGI application: authentication, routing, body limits, error mapping, headers.

One catch-all Starlette route hands every request to :class:`AkvApp`, which

1. checks the ``Host`` header (ids in responses are built from it);
2. serves ``POST /_vaultcore/token`` (client credentials, no bearer token needed) and the
   Entra-compatible token service (:mod:`._identity`: OIDC documents, token endpoint,
   managed identity);
3. demands a valid bearer token, else 401 with the challenge the Azure SDK expects;
4. matches the path against the route table of the three collections (our own matcher:
   Azure's "latest version" is an *empty* segment, ``/secrets/x/`` and ``/keys/x//sign``);
5. reads the body (bounded), runs the handler in a worker thread as the caller's view of
   the vault, and maps any error in one place (:mod:`._errors`).

Requests are logged by method, path, status and principal only: never bodies or headers.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from vaultcore.access._operations import ADMIN, current_request_id
from vaultcore.exceptions import InvalidParameterError, UnauthorizedError, VaultError

from . import _admin_backup, _admin_rbac, _admin_settings, _certificates, _keys, _secrets
from ._auth import ADMIN_LIFETIME, APP_LIFETIME, TOKEN_PATH, Principals, TokenIssuer, bearer_token, challenge_header
from ._auth import parse_token_request as _parse_token_request
from ._bodies import TOKEN_IN_QUERY, run_validated, token_in_query
from ._errors import error_body, error_for
from ._faults import FaultPlan
from ._identity import IdentityService
from ._web import ClientDisconnect, JSONResponse, Request, Response, Route, Starlette, run_in_threadpool
from ._wire import Call, Handler, RouteSpec

if TYPE_CHECKING:
    from .._vault import Vault

__all__ = ["AkvApp", "create_app"]

log = logging.getLogger("vaultcore.server")

MAX_BODY = 4 * 1024 * 1024
_METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE"]
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def _routes(backup_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, re.Pattern[str], Handler]]:
    # The administration routes come first: /keys/NAME/restore and /keys/providers/... are not keys.
    admin = [*_admin_rbac.ROUTES, *_admin_backup.routes(backup_dir), *_admin_settings.ROUTES]
    specs: Sequence[RouteSpec] = [*admin, *_secrets.ROUTES, *_keys.ROUTES, *_certificates.ROUTES]
    return [(s.method, s.compile(), s.handler) for s in specs]


def _json(status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


class AkvApp:
    """Azure Key Vault's data plane for one open vault (the administrator's handle)."""

    def __init__(
        self,
        vault: Vault,
        *,
        issuer: TokenIssuer | None = None,
        max_body: int = MAX_BODY,
        token_concurrency: int = 4,
        faults: FaultPlan | None = None,
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.vault = vault
        self.faults = faults if faults is not None else FaultPlan()
        # The token key comes from the vault's keyring: replicas serving one vault accept
        # each other's tokens (a client can move to another replica).
        self.issuer = issuer or TokenIssuer(vault.name, key=vault._service_key("server-token"))
        self.principals = Principals(vault)
        self.max_body = max_body
        self._routes = _routes(backup_dir)
        self._token_limiter = anyio.CapacityLimiter(token_concurrency)
        self.identity = IdentityService(vault, self.issuer, self.principals, concurrency=token_concurrency)

    # -- helpers -----------------------------------------------------------------------

    def admin_token(self, *, lifetime: int = ADMIN_LIFETIME) -> str:
        """A new token for the administrator (whoever holds the vault credential)."""
        return self.issuer.issue(ADMIN, lifetime=lifetime).token

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {"x-ms-request-id": str(uuid.uuid4()), "Cache-Control": "no-store"}
        client_id = request.headers.get("x-ms-client-request-id")
        if client_id and _REQUEST_ID.fullmatch(client_id):
            headers["x-ms-client-request-id"] = client_id
        return headers

    def _unauthorized(self, headers: dict[str, str], message: str, host: str) -> Response:
        headers = {**headers, "WWW-Authenticate": challenge_header(f"https://{host}")}
        return _json(401, error_body("Unauthorized", message), headers)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise _TooLarge()
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    raise _TooLarge()
                chunks.append(chunk)
        except ClientDisconnect:  # closed by the client, or by the read deadline (_limits)
            raise _TooLarge() from None  # answered into a closed connection: never seen
        return b"".join(chunks)

    # -- the endpoint ------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Serve one request; whatever fails, the client gets Azure's error shape, never a traceback."""
        try:
            return await self._handle(request)
        except Exception as exc:
            status, body = error_for(exc, where=f"{request.method} {request.url.path}")
            return _json(status, body, {"x-ms-request-id": str(uuid.uuid4()), "Cache-Control": "no-store"})

    async def _handle(self, request: Request) -> Response:
        headers = self._headers(request)
        method, path = request.method, request.url.path
        where = f"{method} {path}"
        host = request.headers.get("host", "")
        if not _HOST.fullmatch(host):
            return _json(400, error_body("BadParameter", "The Host header is missing or invalid."), headers)
        if path == TOKEN_PATH:
            return await self._token(request, headers)
        identity = self.identity.route(path)
        if identity is not None:
            return await self.identity.handle(request, headers, host, *identity)
        if token_in_query(request.url.query):
            return _json(400, error_body("BadParameter", TOKEN_IN_QUERY), headers)
        faults = self.faults
        if faults.latency:
            await anyio.sleep(faults.latency)
        if faults.throttled():
            retry = {**headers, "Retry-After": str(faults.retry_after)}
            message = "Request was not processed because too many requests were received (injected fault)."
            return _json(429, error_body("Throttled", message), retry)
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return self._unauthorized(headers, "AKV10000: Request is missing a Bearer or PoP token.", host)
        try:
            principal = self.issuer.verify(token)
        except UnauthorizedError as exc:
            return self._unauthorized(headers, exc.message, host)

        match = self._match(method, path)
        if isinstance(match, Response):
            match.headers.update(headers)
            return match
        refused = check_api_version(path, request.query_params.get("api-version"))
        if refused is not None:
            return _json(400, error_body("BadParameter", refused), headers)
        handler, params = match
        try:
            raw = await self._read_body(request)
        except _TooLarge:
            return _json(
                413, error_body("RequestTooLarge", f"The request body exceeds {self.max_body} bytes."), headers
            )
        remote = request.client.host if request.client else "unknown"
        try:
            view = await run_in_threadpool(self.principals.view, principal, remote)
            call = Call(view, f"https://{host}", path, params, dict(request.query_params), raw)
            rid = current_request_id.set(headers.get("x-ms-client-request-id") or headers["x-ms-request-id"])
            try:
                reply = await run_in_threadpool(run_validated, handler, call)
            finally:
                current_request_id.reset(rid)
        except UnauthorizedError as exc:
            return self._unauthorized(headers, exc.message, host)
        except Exception as exc:
            status, body = error_for(exc, where=where)
            if status >= 500 or not isinstance(exc, VaultError):
                log.warning("%s -> %d as %s", where, status, principal)
            return _json(status, body, headers)
        return _json(reply.status, reply.body, {**headers, **reply.headers})

    def _match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | Response:
        allowed: list[str] = []
        for route_method, pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if route_method == method:
                return handler, {k: v for k, v in m.groupdict().items() if v is not None}
            allowed.append(route_method)
        if allowed:
            return _json(
                405,
                error_body("MethodNotAllowed", f"The method {method} is not allowed here."),
                {"Allow": ", ".join(sorted(set(allowed)))},
            )
        return _json(404, error_body("NotFound", "There is no such resource in the Key Vault API."), {})

    async def _token(self, request: Request, headers: dict[str, str]) -> Response:
        headers = {**headers, "Pragma": "no-cache"}
        if request.method != "POST":
            return _json(
                405, {"error": "invalid_request", "error_description": "use POST"}, {**headers, "Allow": "POST"}
            )
        try:
            raw = await self._read_body(request)
            content_type = request.headers.get("content-type", "")
            client_id, secret = await run_in_threadpool(_parse_token_request, content_type, raw)
        except (_TooLarge, InvalidParameterError) as exc:
            message = exc.message if isinstance(exc, InvalidParameterError) else "the token request is too large"
            return _json(400, {"error": "invalid_request", "error_description": message}, headers)
        remote = request.client.host if request.client else "unknown"
        wait = self.identity.per_peer.allow(f"ip:{remote}") or self.identity.per_client.allow(
            f"client:{client_id.lower()}"
        )
        if wait:
            busy = {"error": "temporarily_unavailable", "error_description": "too many token requests; retry later"}
            return _json(429, busy, {**headers, "Retry-After": str(int(wait))})

        def authenticate() -> str:
            view = self.vault.as_principal(client_id, secret, caller={"remote": remote, "via": "akv-server-token"})
            return self.principals.subject(view.principal)

        try:
            async with self._token_limiter:
                principal = await run_in_threadpool(authenticate)
        except UnauthorizedError:
            log.info("token request refused for a client from %s", remote)
            refused = {"error": "invalid_client", "error_description": "invalid client credentials"}
            return _json(401, refused, headers)
        except Exception as exc:
            status, failed = error_for(exc, where="POST " + TOKEN_PATH)
            return _json(status, failed, headers)
        issued = self.issuer.issue(principal, lifetime=APP_LIFETIME)
        granted: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": issued.token,
            "expires_in": APP_LIFETIME,
            "expires_on": issued.expires_on,
            "resource": "https://vault.azure.net",
        }
        return _json(200, granted, headers)


# Azure's api-version: "7.6", "7.5-preview.1", "2025-07-01", "2016-10-01-preview".
_API_VERSION = re.compile(r"(?:\d{1,2}\.\d{1,2}|\d{4}-\d{2}-\d{2})(?:-preview(?:\.\d{1,3})?)?")
# Long-running-operation status URLs (the administration plane's backup/restore jobs) are
# polled without an api-version by the SDK, as the service names them in its
# Azure-AsyncOperation header.
_NO_API_VERSION = re.compile(r"/(?:backup|restore)/[^/]+/pending")


def check_api_version(path: str, value: str | None) -> str | None:
    """Why the request's ``api-version`` is refused, or ``None``: Azure answers 400 when it is
    missing or malformed and accepts every well-formed version (clients pin old ones)."""
    if _NO_API_VERSION.fullmatch(path):
        return None
    if value is None or value == "":
        return "The 'api-version' query parameter is missing."
    if not _API_VERSION.fullmatch(value):
        return "The 'api-version' query parameter is not a valid version (e.g. 7.6 or 2025-07-01)."
    return None


class _TooLarge(Exception):
    pass


def create_app(
    vault: Vault,
    *,
    issuer: TokenIssuer | None = None,
    max_body: int = MAX_BODY,
    faults: FaultPlan | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
) -> Starlette:
    """The Starlette application serving *vault* (the administrator's handle).

    *faults* injects throttling, latency and dropped connections for retry tests
    (``serve --inject``); *backup_dir* receives full backups (``KeyVaultBackupClient``),
    ``None`` turns them off.
    """
    akv = AkvApp(vault, issuer=issuer, max_body=max_body, faults=faults, backup_dir=backup_dir)
    app = Starlette(routes=[Route("/{path:path}", akv.handle, methods=_METHODS)])
    app.state.akv = akv
    return app
