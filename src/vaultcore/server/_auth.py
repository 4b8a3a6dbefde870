"""Bearer tokens the server issues and checks, the challenge, and per-principal views.

**Tokens.** The server is its own token authority. A token is::

    "vc1." base64url(payload) "." base64url(HMAC-SHA256(server key, "vc1." base64url(payload)))
    payload = {"aud": resource, "exp": unix, "iat": unix, "jti": random hex, "sub": principal id,
               "tid": tenant}   (JSON, sorted keys)

The HMAC key is 32 random bytes made when the server starts and held only in its memory:
tokens die with the process, and nothing on disk can mint them. A token names a principal
(``admin`` or ``app:<client id>``) and an expiry (1 hour for applications, as Entra ID's
access tokens; the administrator's printed token lasts ``admin_lifetime``). Checks: format
and length, the MAC (constant-time), audience, expiry; then, per request, that an
application principal still exists (deleting it revokes its tokens at once; role changes
apply at once as well, since every operation checks the principal's current roles).

**Getting one.** Applications ``POST /_vaultcore/token`` with OAuth 2.0 client credentials
(``grant_type=client_credentials&client_id=...&client_secret=...``, form-encoded or JSON);
the secret is checked by ``vault.as_principal`` (Argon2id, failures audited). The
administrator - whoever holds the vault credential and starts ``vaultcore serve`` - gets a
token printed once at start.

**The challenge.** A request without a valid bearer token gets 401 with
``WWW-Authenticate: Bearer authorization="https://<host the client used>/adfs",
resource="https://vault.azure.net"``, which is what the Azure SDK's challenge policy needs
before it sends the real request (docs/server.md). The authority is the server itself: its
token service (:mod:`._identity`) speaks enough of Entra ID for azure-identity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import ADMIN
from vaultcore.exceptions import InvalidParameterError, UnauthorizedError

from ._bodies import parse_body
from ._wire import b64u, unb64u

if TYPE_CHECKING:
    from .._vault import Vault

__all__ = ["RESOURCE", "IssuedToken", "Principals", "TokenIssuer", "challenge_header", "parse_token_request"]

RESOURCE = "https://vault.azure.net"
TOKEN_PATH = "/_vaultcore/token"
APP_LIFETIME = 3600
ADMIN_LIFETIME = 12 * 3600
_PREFIX = "vc1"
_MAX_TOKEN = 2048
_SKEW = 300
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_.-]+")


def challenge_header(origin: str) -> str:
    """The Key Vault challenge naming this server's own token service (tenant ``adfs``: the
    SDK then keeps the credential's own tenant, and MSAL needs no instance discovery)."""
    return f'Bearer authorization="{origin}/adfs", resource="{RESOURCE}"'


@dataclass(frozen=True)
class IssuedToken:
    """A token and when it expires (Unix seconds)."""

    token: str
    expires_on: int
    principal: str

    def __repr__(self) -> str:  # never show the token itself
        return f"IssuedToken(principal={self.principal!r}, expires_on={self.expires_on})"


class TokenIssuer:
    """Mints and checks the server's bearer tokens (the app derives the key from the vault's keyring)."""

    def __init__(self, tenant: str, *, key: bytes | None = None) -> None:
        if key is not None and len(key) < 32:
            raise InvalidParameterError("the token key must be at least 32 bytes")
        self._key = key if key is not None else os.urandom(32)
        self.tenant = tenant

    def __repr__(self) -> str:
        return f"TokenIssuer(tenant={self.tenant!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a TokenIssuer holds a signing key and cannot be pickled")

    def _mac(self, signed: bytes) -> bytes:
        return hmac.new(self._key, signed, hashlib.sha256).digest()

    def issue(self, principal: str, *, lifetime: int = APP_LIFETIME) -> IssuedToken:
        if not isinstance(lifetime, int) or lifetime <= 0:
            raise InvalidParameterError("a token lifetime is a positive number of seconds")
        now = int(time.time())
        payload = {
            "aud": RESOURCE,
            "exp": now + lifetime,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "sub": principal,
            "tid": self.tenant,
        }
        body = b64u(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
        signed = f"{_PREFIX}.{body}"
        token = f"{signed}.{b64u(self._mac(signed.encode()))}"
        return IssuedToken(token, now + lifetime, principal)

    def verify(self, token: str) -> str:
        """The principal a valid token names; ``UnauthorizedError`` (no detail) otherwise."""
        invalid = UnauthorizedError("AKV10032: Invalid or expired bearer token.")
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or not _TOKEN_CHARS.fullmatch(token):
            raise invalid
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise invalid
        try:
            mac = unb64u(parts[2], "token")
        except InvalidParameterError:
            raise invalid from None
        if not hmac.compare_digest(mac, self._mac(f"{parts[0]}.{parts[1]}".encode())):
            raise invalid
        try:
            payload = json.loads(unb64u(parts[1], "token"))
        except (InvalidParameterError, ValueError):
            raise invalid from None
        now = time.time()
        if (
            not isinstance(payload, dict)
            or payload.get("aud") != RESOURCE
            or payload.get("tid") != self.tenant
            or not isinstance(payload.get("exp"), int)
            or not isinstance(payload.get("iat"), int)
            or not isinstance(payload.get("sub"), str)
            or payload["exp"] <= now
            or payload["iat"] > now + _SKEW
        ):
            raise invalid
        return str(payload["sub"])


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (``None`` if absent/other)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def parse_token_request(content_type: str, raw: bytes) -> tuple[str, str]:
    """``(client_id, client_secret)`` of a client-credentials request (form or JSON).

    Only an unsupported ``grant_type`` or an oversized body is ``InvalidParameterError``
    (OAuth's 400 ``invalid_request``). Any other malformed request - not UTF-8 or JSON,
    nested, lone surrogates, credentials missing or not strings - yields empty credentials,
    so the caller refuses it as a failed (and audited) login: 401 ``invalid_client``.
    """
    from urllib.parse import parse_qs

    if len(raw) > 8192:
        raise InvalidParameterError("the token request is too large")
    fields: dict[str, Any]
    try:
        if content_type.split(";")[0].strip().lower() == "application/json":
            fields = parse_body(raw, max_depth=2)
        else:
            text = raw.decode("utf-8")
            fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True, max_num_fields=16).items()}
    except (InvalidParameterError, UnicodeDecodeError, ValueError):
        return "", ""
    grant = fields.get("grant_type", "client_credentials")
    if grant != "client_credentials":
        raise InvalidParameterError("unsupported grant_type: only client_credentials is supported")
    client_id, secret = fields.get("client_id"), fields.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str) or len(client_id) > 256:
        return "", ""
    return client_id, secret


class Principals:
    """Views of the vault per principal and client address (a bounded LRU).

    A view keeps its key-handle cache between requests, so crypto operations do not parse
    key material each time. The administrator's view acts as ``admin``; an application's
    view checks its roles on every operation, and :meth:`view` checks that the principal
    still exists (deleting a principal revokes its tokens).
    """

    def __init__(self, owner: Vault, *, size: int = 128) -> None:
        self._owner = owner
        self._size = size
        self._views: OrderedDict[tuple[str, str], Vault] = OrderedDict()
        self._lock = threading.Lock()

    def subject(self, principal: str) -> str:
        """The token subject for *principal*: its id and incarnation (``app:x#<inc>``)."""
        if principal == ADMIN:
            return ADMIN
        return f"{principal}#{self._owner.access.incarnation(principal)}"

    def view(self, subject: str, remote: str) -> Vault:
        """The view for a verified token subject; the principal must still be the same one
        the token was issued to (deleted, or deleted and created again → refused)."""
        principal, _, incarnation = subject.partition("#")
        if principal != ADMIN and self._owner.access.incarnation(principal) != incarnation:
            raise UnauthorizedError("AKV10032: Invalid or expired bearer token.")
        key = (principal.lower(), remote)
        with self._lock:
            hit = self._views.get(key)
            if hit is not None:
                self._views.move_to_end(key)
                return hit
        view = _make_view(self._owner, principal, {"remote": remote, "via": "akv-server"})
        with self._lock:
            self._views[key] = view
            while len(self._views) > self._size:
                self._views.popitem(last=False)
        return view


def _make_view(owner: Vault, principal: str, caller: dict[str, Any]) -> Vault:
    """A view of *owner* acting as *principal* with *caller* recorded in its audit events.

    The server has authenticated the principal itself (token MAC), so it builds the view
    directly instead of re-checking a client secret on every request.
    """
    return owner.as_authenticated(principal, caller=caller)
