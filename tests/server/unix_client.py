"""A client of ``vaultcore serve --unix-socket``: managed identity by ``SO_PEERCRED``, then a read.

``python unix_client.py SOCKET CA NAME`` gets a token from ``/msi/token`` over the Unix socket
(TLS, as on TCP), reads secret NAME with it over the same socket and prints one JSON line.
Standard library only.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import sys
from typing import Any


class UnixHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, path: str, context: ssl.SSLContext) -> None:
        super().__init__("localhost", context=context, timeout=30)
        self.path = path
        self.tls = context

    def connect(self) -> None:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(self.path)
        self.sock = self.tls.wrap_socket(raw, server_hostname="localhost")


def get(conn: http.client.HTTPSConnection, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def main(path: str, ca: str, name: str) -> None:
    conn = UnixHTTPSConnection(path, ssl.create_default_context(cafile=ca))
    try:
        query = "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net"
        status, token = get(conn, query, {"X-IDENTITY-HEADER": "x"})
        result: dict[str, Any] = {"token_status": status, "client_id": token.get("client_id")}
        if status == 200:
            auth = {"Authorization": "Bearer " + token["access_token"]}
            result["status"], body = get(conn, f"/secrets/{name}/?api-version=7.5", auth)
            result["value"] = body.get("value") if isinstance(body, dict) else None
    finally:
        conn.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
