"""A webhook receiver on 127.0.0.1 for the delivery tests.

HTTPS with a fresh self-signed certificate (``ca_file`` verifies it), the Event Grid
validation handshake and CloudEvents' OPTIONS handshake, a switch to fail requests, a hook
called on each notification, and ``stop()``/``start()`` on the same port (a receiver that
is down and comes back).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, as PEM files in *directory*."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Receiver:
    """Records every notification: ``(headers, parsed body, raw body)``."""

    def __init__(self, directory: Path, *, tls: bool = True) -> None:
        self.tls = tls
        self.cert, self.key = self_signed(directory)
        self.received: list[tuple[dict[str, str], Any, bytes]] = []
        self.handshakes: list[str] = []
        self.status = 200
        self.answer_handshake = True
        self.on_notification: Callable[[Any], None] | None = None
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event received, in arrival order (Event Grid arrays flattened)."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for _, body, _ in self.received:
                out.extend(body if isinstance(body, list) else [body])
        return out

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_OPTIONS(self) -> None:
                origin = self.headers.get("WebHook-Request-Origin", "")
                receiver.handshakes.append("cloudevents")
                self.send_response(200 if receiver.answer_handshake else 403)
                if receiver.answer_handshake:
                    self.send_header("WebHook-Allowed-Origin", origin)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw)
                if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                    receiver.handshakes.append("eventgrid")
                    code = body[0]["data"]["validationCode"] if receiver.answer_handshake else "wrong"
                    reply = json.dumps({"validationResponse": code}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                if receiver.on_notification is not None:
                    receiver.on_notification(body)
                if 200 <= receiver.status < 300:
                    with receiver._lock:
                        receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body, raw))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert), str(self.key))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def short(events: list[Any]) -> list[str]:
    """Event types without the ``Microsoft.KeyVault.`` prefix."""
    return [e.type.removeprefix("Microsoft.KeyVault.") for e in events]
