"""Helpers for the server tests: SDK client factories and raw HTTPS requests."""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vaultcore import Vault
from vaultcore.server import BackgroundServer, ServerCredential

POLL = {"_polling_interval": 0}  # the SDK pollers' private knob: no 2-5 s sleeps between polls


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Server:
    """A running server, its vault (administrator handle) and the principals' secrets."""

    server: BackgroundServer
    vault: Vault
    secrets: dict[str, str]
    _credentials: dict[str, ServerCredential] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_path(self) -> str:
        return str(self.server.ca_path)

    def credential(self, client_id: str = "ci") -> ServerCredential:
        if client_id not in self._credentials:
            self._credentials[client_id] = self.server.credential(client_id, self.secrets[client_id])
        return self._credentials[client_id]

    @contextmanager
    def client(self, cls: Any, client_id: str = "ci", **kwargs: Any) -> Iterator[Any]:
        """An Azure SDK client of *cls* for this server, closed afterwards."""
        with cls(self.url, self.credential(client_id), **self.server.client_kwargs, **kwargs) as client:
            yield client

    def token(self, client_id: str = "ci") -> str:
        return self.credential(client_id).get_token("https://vault.azure.net/.default").token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "ci",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        api_version: str | None = "7.5",
    ) -> Response:
        """One raw HTTPS request; *token* is a principal name, a literal token (``vc1.``...) or None."""
        context = ssl.create_default_context(cafile=self.ca_path)
        conn = http.client.HTTPSConnection("localhost", self.server.port, context=context, timeout=30)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = "Bearer " + (token if token.startswith("vc1.") else self.token(token))
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if api_version is not None:
            path += ("&" if "?" in path else "?") + f"api-version={api_version}"
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
            out_headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
        parsed = json.loads(payload) if payload else None
        return Response(response.status, out_headers, parsed)
