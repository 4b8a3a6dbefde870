"""Credentials for Azure SDK clients talking to a vaultcore server.

They implement Azure's ``TokenCredential`` protocol (``get_token(*scopes, **kwargs)`` ->
``azure.core.credentials.AccessToken``; the async one ``AsyncTokenCredential``), so
``SecretClient(url, credential, verify_challenge_resource=False, connection_verify=ca)``
works unchanged. Client-credential tokens come from the server's
``POST /_vaultcore/token`` over HTTPS (the same CA as the vault); they are cached and
fetched again when less than 5 minutes remain, like azure-identity does.

Only the standard library is used to fetch tokens; ``azure-core`` (installed with any
Azure SDK client) provides ``AccessToken`` and ``ClientAuthenticationError``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from os import PathLike, fspath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._auth import TOKEN_PATH
from ._wire import unb64u

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken

__all__ = ["AsyncServerCredential", "ServerCredential", "StaticTokenCredential", "credential"]

_REFRESH = 300


def _access_token(token: str, expires_on: int) -> AccessToken:
    from azure.core.credentials import AccessToken

    return AccessToken(token, expires_on)


def _auth_error(message: str) -> Exception:
    from azure.core.exceptions import ClientAuthenticationError

    return ClientAuthenticationError(message=message)


def _check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("a vaultcore server URL is https://host:port (the server speaks TLS only)")
    return f"https://{parts.netloc}"


def _ssl_context(ca_path: str | PathLike[str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=None if ca_path is None else fspath(ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ServerCredential:
    """Client-credentials tokens for an application principal (``app:<client_id>``)."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        ca_path: str | PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        self._url = _check_url(url) + TOKEN_PATH
        self.client_id = client_id
        self._secret = client_secret
        self._context = _ssl_context(ca_path)
        self._timeout = timeout
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServerCredential(client_id={self.client_id!r}, url={self._url!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a credential holds a client secret and cannot be pickled")

    def _fetch(self) -> AccessToken:
        data = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - https only (checked in __init__)
            self._url, data=data, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=self._timeout) as response:  # noqa: S310
                doc = json.loads(response.read(65536))
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read(4096)).get("error_description", "")
            except (ValueError, AttributeError):
                detail = ""
            raise _auth_error(f"vaultcore token request failed ({exc.code}): {detail}".rstrip(": ")) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _auth_error(f"vaultcore token request failed: {type(exc).__name__}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise _auth_error("vaultcore token endpoint returned no access_token")
        return _access_token(doc["access_token"], int(doc.get("expires_on", time.time() + 3600)))

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A cached token, fetched again when less than 5 minutes remain."""
        with self._lock:
            if self._token is None or self._token.expires_on - time.time() < _REFRESH or claims:
                self._token = self._fetch()
            return self._token

    def close(self) -> None:
        """Nothing to release (each token request uses its own connection)."""

    def __enter__(self) -> ServerCredential:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncServerCredential:
    """The asyncio variant of :class:`ServerCredential` (``AsyncTokenCredential``)."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        ca_path: str | PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._sync = ServerCredential(url, client_id, client_secret, ca_path=ca_path, timeout=timeout)

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    def __reduce__(self) -> Any:
        raise TypeError("a credential holds a client secret and cannot be pickled")

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return await asyncio.to_thread(self._sync.get_token, *scopes, claims=claims, tenant_id=tenant_id)

    async def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> AsyncServerCredential:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def token_expiry(token: str) -> int:
    """The ``exp`` a server token carries (read without checking it: the server does)."""
    parts = token.split(".")
    try:
        payload = json.loads(unb64u(parts[1], "token")) if len(parts) == 3 else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise ValueError("not a vaultcore server token")
    return int(payload["exp"])


class StaticTokenCredential:
    """A fixed token, e.g. the administrator token ``vaultcore serve`` prints."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = token_expiry(token)

    def __repr__(self) -> str:
        return f"StaticTokenCredential(expires_on={self._expires_on})"

    def __reduce__(self) -> Any:
        raise TypeError("a credential holds a token and cannot be pickled")

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._expires_on <= time.time():
            raise _auth_error("the vaultcore token has expired; restart the server or use client credentials")
        return _access_token(self._token, self._expires_on)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def credential(
    url: str,
    client_id: str | None = None,
    client_secret: str | None = None,
    *,
    token: str | None = None,
    ca_path: str | PathLike[str] | None = None,
) -> ServerCredential | StaticTokenCredential:
    """An Azure ``TokenCredential`` for the vaultcore server at *url*.

    Give an application's ``client_id`` and ``client_secret`` (tokens from the server's
    token endpoint, trusting *ca_path*), or the administrator's ``token``.
    """
    if token is not None:
        if client_id is not None or client_secret is not None:
            raise ValueError("give client credentials or a token, not both")
        _check_url(url)
        return StaticTokenCredential(token)
    if client_id is None or client_secret is None:
        raise ValueError("give client_id and client_secret (or token=)")
    return ServerCredential(url, client_id, client_secret, ca_path=ca_path)
