"""An Entra-compatible token service on the server's own origin, for azure-identity unchanged.

Routes (``T`` is ``adfs`` or the vault's name, case-insensitive; docs/server.md):

``GET /T/.well-known/openid-configuration``, ``GET /T/v2.0/.well-known/openid-configuration``
    The OIDC document MSAL reads first: ``token_endpoint`` = ``https://HOST/T/oauth2/v2.0/token``
    (built from the ``Host`` the client used, so the assertion audience matches).
``POST /T/oauth2/v2.0/token``
    OAuth 2.0 client credentials (form-encoded), with ``client_secret`` or with a
    ``client_assertion`` signed by a certificate registered on the application
    (:mod:`._assertion`). ``scope`` must be Key Vault's (``https://vault.azure.net/.default``);
    ``claims`` (CAE) is accepted and ignored. Answers ``{"token_type","access_token",
    "expires_in","ext_expires_in"}`` or Entra's ``{"error","error_description"}``.
``GET /msi/token``
    Managed identity, App Service protocol 2019-08-01 (``IDENTITY_ENDPOINT`` +
    ``IDENTITY_HEADER``): the identity is the **OS user that owns the client's socket**, read
    from the kernel (:mod:`._peer`: ``/proc/net/tcp`` for loopback TCP, ``SO_PEERCRED`` on
    ``serve --unix-socket``); the ``X-IDENTITY-HEADER`` only has to be present (it
    stops requests forged through an SSRF bug, it proves nothing). The principal ``uid:N``
    is created on first use (no roles: its calls get 403 until a role is assigned).

Tokens are the server's own (:class:`._auth.TokenIssuer`: per-server key, principal
incarnation, revocation on delete). Both token endpoints are rate-limited per peer address,
per client id and per peer uid (429 + ``Retry-After``), and every token issued or refused is
audited with the peer's uid when the kernel knows it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pwd
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio

from vaultcore.exceptions import ConflictError, UnauthorizedError, VaultError

from ._assertion import ASSERTION_TYPE, AssertionRejected, ReplayCache, verify_assertion
from ._auth import APP_LIFETIME, RESOURCE, Principals, TokenIssuer
from ._peer import UNIX_CLIENT, loopback_peer_uid
from ._ratelimit import RateLimiter
from ._web import JSONResponse, Request, Response, run_in_threadpool

if TYPE_CHECKING:
    from .._vault import Vault

__all__ = ["MSI_PATH", "IdentityService"]

log = logging.getLogger("vaultcore.server")

MSI_PATH = "/msi/token"
MSI_API_VERSION = "2019-08-01"
MAX_FORM = 65536
_OIDC = ("/.well-known/openid-configuration", "/v2.0/.well-known/openid-configuration")
_TOKEN = "/oauth2/v2.0/token"
_RESOURCES = {RESOURCE, RESOURCE + "/"}
_SCOPES = {RESOURCE + "/.default", RESOURCE + "//.default"}


def _error(status: int, error: str, description: str, headers: dict[str, str]) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str, retry_after: float = 0.0) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.retry_after = status, error, description, retry_after


class IdentityService:
    """The OIDC documents, the token endpoint and the managed-identity endpoint."""

    def __init__(self, vault: Vault, issuer: TokenIssuer, principals: Principals, *, concurrency: int = 4) -> None:
        self.vault = vault
        self.issuer = issuer
        self.principals = principals
        self.tenants = {"adfs", vault.name.lower()}
        self.per_peer = RateLimiter(rate=10.0, burst=60)
        self.per_client = RateLimiter(rate=2.0, burst=20)
        self.replay = ReplayCache()
        self._checks = anyio.CapacityLimiter(concurrency)

    def route(self, path: str) -> tuple[str, str] | None:
        """``(kind, tenant)`` for a path this service serves, else ``None``."""
        if path == MSI_PATH:
            return "msi", ""
        tenant, sep, rest = path[1:].partition("/")
        if not sep or tenant.lower() not in self.tenants:
            return None
        rest = "/" + rest
        if rest in _OIDC:
            return "oidc", tenant
        if rest == _TOKEN:
            return "token", tenant
        return None

    async def handle(self, request: Request, headers: dict[str, str], host: str, kind: str, tenant: str) -> Response:
        headers = {**headers, "Cache-Control": "no-store", "Pragma": "no-cache"}
        expected = "POST" if kind == "token" else "GET"
        if request.method != expected:
            return _error(405, "invalid_request", f"use {expected}", {**headers, "Allow": expected})
        origin = f"https://{host.lower()}"
        if kind == "oidc":
            return JSONResponse(self._oidc(origin, tenant), headers=headers)
        try:
            if kind == "token":
                body = await self._token(request, f"{origin}/{tenant}{_TOKEN}")
            else:
                body = await self._managed_identity(request)
        except _Refused as exc:
            if exc.retry_after:
                headers["Retry-After"] = str(int(exc.retry_after))
            return _error(exc.status, exc.error, exc.description, headers)
        return JSONResponse(body, headers=headers)

    @staticmethod
    def _oidc(origin: str, tenant: str) -> dict[str, Any]:
        base = f"{origin}/{tenant}"
        return {
            "issuer": base,
            "token_endpoint": base + _TOKEN,
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "scopes_supported": [RESOURCE + "/.default"],
            "subject_types_supported": ["pairwise"],
            "tenant_region_scope": None,
        }

    # -- shared ------------------------------------------------------------------------

    @staticmethod
    async def _peer(request: Request) -> tuple[str, int | None]:
        """The peer's address and the uid the kernel names (read off the event loop: ~ms)."""
        client, server = request.scope.get("client"), request.scope.get("server")
        remote = str(client[0]) if client else "unknown"
        if client and client[0] == UNIX_CLIENT and server and server[1] is None:
            return remote, int(client[1])  # a Unix socket: SO_PEERCRED, read at accept
        if not client or not server or server[1] is None:
            return remote, None
        peer, local = (str(client[0]), int(client[1])), (str(server[0]), int(server[1]))
        return remote, await run_in_threadpool(loopback_peer_uid, peer, local)

    def _limit(self, limiter: RateLimiter, key: str) -> None:
        wait = limiter.allow(key)
        if wait:
            raise _Refused(429, "temporarily_unavailable", "too many token requests; retry later", wait)

    async def _form(self, request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
            "application/x-www-form-urlencoded"
        ):
            raise _Refused(400, "invalid_request", "the token request must be application/x-www-form-urlencoded")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_FORM:
                raise _Refused(400, "invalid_request", "the token request is too large")
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=False, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "invalid_request", "the token request is not a valid form") from None
        if any(len(v) != 1 for v in parsed.values()):
            raise _Refused(400, "invalid_request", "a parameter was given more than once")
        return {k: v[0] for k, v in parsed.items()}

    def _audit(self, principal: str, operation: str, caller: dict[str, Any], result: str) -> None:
        try:
            self.vault.record_sign_in(principal, operation, caller, result)
        except VaultError:  # pragma: no cover - the vault closed under a request
            log.warning("could not audit %s for %s", operation, principal)

    def _grant(self, principal_id: str) -> tuple[str, int]:
        issued = self.issuer.issue(self.principals.subject(principal_id), lifetime=APP_LIFETIME)
        return issued.token, issued.expires_on

    # -- client credentials --------------------------------------------------------------

    async def _token(self, request: Request, audience: str) -> dict[str, Any]:
        remote, uid = await self._peer(request)
        self._limit(self.per_peer, f"ip:{remote}")
        form = await self._form(request)
        if form.get("grant_type") != "client_credentials":
            raise _Refused(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        client_id = form.get("client_id", "")
        if not client_id or len(client_id) > 128:
            raise _Refused(400, "invalid_request", "client_id is required")
        scopes = form.get("scope", "").split()
        if not scopes:
            raise _Refused(400, "invalid_request", "scope is required (https://vault.azure.net/.default)")
        if any(s not in _SCOPES for s in scopes):
            raise _Refused(400, "invalid_scope", "this authority issues tokens for https://vault.azure.net only")
        claims = form.get("claims")
        if claims is not None:
            try:
                json.loads(claims)
            except ValueError:
                raise _Refused(400, "invalid_request", "claims is not valid JSON") from None
        self._limit(self.per_client, f"client:{client_id.lower()}")
        secret, assertion = form.get("client_secret"), form.get("client_assertion")
        if secret and assertion:
            raise _Refused(400, "invalid_request", "give client_secret or client_assertion, not both")
        caller: dict[str, Any] = {"remote": remote, "via": "akv-server-token", "uid": uid}
        async with self._checks:
            if secret:
                principal = await run_in_threadpool(self._check_secret, client_id, secret, caller)
            elif assertion:
                if form.get("client_assertion_type") != ASSERTION_TYPE:
                    raise _Refused(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
                principal = await run_in_threadpool(self._check_assertion, client_id, assertion, audience, caller)
            else:
                raise _Refused(401, "invalid_client", "client_secret or client_assertion is required")
        token, _ = await run_in_threadpool(self._grant, principal)
        self._audit(principal, "TokenIssue", caller, "success")
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": APP_LIFETIME,
            "ext_expires_in": APP_LIFETIME,
        }

    def _check_secret(self, client_id: str, secret: str, caller: dict[str, Any]) -> str:
        try:
            return self.vault.as_principal(client_id, secret, caller=caller).principal  # audits failures
        except UnauthorizedError:
            raise _Refused(401, "invalid_client", "invalid client credentials") from None

    def _check_assertion(self, client_id: str, assertion: str, audience: str, caller: dict[str, Any]) -> str:
        certificates = self.vault.access.application_certificates(client_id)
        try:
            verify_assertion(
                assertion,
                client_id=client_id,
                audience=audience,
                certificates=certificates,
                replay=self.replay,
                holder=caller.get("uid"),
            )
            return self.vault.access.application_id(client_id)
        except (AssertionRejected, UnauthorizedError) as exc:
            shown = f"app:{client_id}" if certificates else "app:unknown"
            self._audit(shown, "PrincipalAuthenticate", caller, "Unauthorized")
            reason = exc.reason if isinstance(exc, AssertionRejected) and certificates else "invalid client credentials"
            raise _Refused(401, "invalid_client", reason) from None

    # -- managed identity ----------------------------------------------------------------

    async def _managed_identity(self, request: Request) -> dict[str, Any]:
        remote, uid = await self._peer(request)
        self._limit(self.per_peer, f"ip:{remote}")
        if not request.headers.get("x-identity-header"):
            raise _Refused(400, "invalid_request", "the X-IDENTITY-HEADER header is required")
        if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
            # A proxied request is not the caller's own connection: the kernel cannot name it.
            raise _Refused(400, "invalid_request", "managed identity is not available through a proxy")
        query = request.query_params
        if query.get("api-version") != MSI_API_VERSION:
            raise _Refused(400, "invalid_request", f"api-version must be {MSI_API_VERSION}")
        resource = query.get("resource", "")
        if resource not in _RESOURCES:
            raise _Refused(400, "invalid_resource", "this endpoint issues tokens for https://vault.azure.net only")
        caller: dict[str, Any] = {"remote": remote, "via": "akv-server-msi", "uid": uid}
        if uid is None:
            self._audit("uid:unknown", "ManagedIdentityToken", caller, "Unauthorized")
            raise _Refused(
                400, "invalid_request", "managed identity needs a connection from a local user over loopback"
            )
        self._limit(self.per_client, f"uid:{uid}")
        principal = f"uid:{uid}"
        for name in ("client_id", "principal_id", "object_id", "mi_res_id"):
            wanted = query.get(name)
            if wanted is not None and wanted.lower() not in _names_of(uid):
                self._audit(principal, "ManagedIdentityToken", caller, "NotFound")
                raise _Refused(400, "invalid_request", f"no managed identity {wanted!r} for this OS user")
        async with self._checks:
            token, expires_on = await run_in_threadpool(self._os_user_token, uid)
        self._audit(principal, "ManagedIdentityToken", caller, "success")
        return {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": principal,
        }

    def _os_user_token(self, uid: int) -> tuple[str, int]:
        principal = f"uid:{uid}"
        try:
            self.vault.access.require_principal(principal)
        except UnauthorizedError:
            with contextlib.suppress(ConflictError):  # created by a concurrent request
                self.vault.access.create_os_user(uid, display_name=_user_name(uid) or "")
        return self._grant(principal)


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _names_of(uid: int) -> set[str]:
    """What a client may pass as ``client_id`` for the OS user *uid*."""
    names = {f"uid:{uid}", str(uid)}
    name = _user_name(uid)
    if name:
        names.add(name.lower())
    return names
