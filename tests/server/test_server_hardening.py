"""Issue 13, the server: each numbered behaviour with a test that failed before the fix.

1. bad input is 400 BadParameter (401 and an audited failed login at the token endpoint);
2. idle and slow clients are bounded (read deadline, caps with idle eviction);
3. work-factor limits (RSA exponent, RSA member sizes, PFX iteration counts);
4. X-Forwarded-For only from a proxy the operator names;
5. no credentials in URLs or logs, access log on stderr, ``serve`` announces once listening;
6. TLS 1.2 with AEAD suites only, a TLS key others can read is refused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import json
import logging
import math
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from serverhelpers import Server, unique

from vaultcore import KDF_TESTING, RawKeyCredential, Vault
from vaultcore.exceptions import InvalidParameterError, UnauthorizedError
from vaultcore.server import BackgroundServer, ConnectionLimits, TlsFiles, ensure_local_tls, serve
from vaultcore.server._limits import RedactQuery

# -------------------------------------------------------------------------- helpers


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _num(value: int) -> str:
    return _b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _ec_jwk() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).private_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64u(key.public_numbers.x.to_bytes(32, "big")),
        "y": _b64u(key.public_numbers.y.to_bytes(32, "big")),
        "d": _b64u(key.private_value.to_bytes(32, "big")),
    }


def _post_token(srv: Server, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=srv.ca_path)
    conn = http.client.HTTPSConnection("localhost", srv.server.port, context=context, timeout=30)
    try:
        conn.request("POST", "/_vaultcore/token", body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _refused_logins(vault: Vault) -> list[Any]:
    return [e for e in vault.audit.events(operation="PrincipalAuthenticate") if e.result == "Unauthorized"]


@pytest.fixture
def own_vault(tmp_path: Path) -> Iterator[Vault]:
    vault = Vault.create(tmp_path / "v", RawKeyCredential(os.urandom(32)), access_kdf=KDF_TESTING, name="own")
    try:
        yield vault
    finally:
        vault.close()


# -------------------------------------------------------------------------- 1. no 500s for bad input


def test_malformed_bodies_are_bad_parameter_not_500(srv: Server) -> None:
    name = unique("hb")
    cases = [
        ("PUT", f"/secrets/{name}", json.dumps({"value": "\ud800"}).encode()),  # lone surrogate
        ("PUT", f"/secrets/{name}", json.dumps({"value": "v", "tags": {"a\udfff": "b"}}).encode()),
        ("PUT", f"/secrets/{name}", json.dumps({"value": "v", "contentType": "\udc80"}).encode()),
        ("POST", f"/keys/{name}/create", b'{"kty":' * 1200 + b'"EC"' + b"}" * 1200),  # deep nesting
        ("PUT", f"/keys/{name}", json.dumps({"key": {**_ec_jwk(), "key_ops": 5}}).encode()),  # wrong type
        ("POST", f"/keys/{name}/create", json.dumps({"kty": "EC", "key_ops": 7}).encode()),
        ("PUT", f"/secrets/{name}", b'{"value": NaN}'),
        ("PUT", f"/secrets/{name}", b"\xff\xfe{}"),
    ]
    for method, path, raw in cases:
        response = srv.request(method, path, raw=raw)
        assert response.status == 400, (path, raw[:40], response.status, response.body)
        assert response.body["error"]["code"] == "BadParameter"
        assert "Traceback" not in response.body["error"]["message"]
    assert srv.request("GET", f"/secrets/{name}").status == 404  # nothing was stored


def test_token_endpoint_refuses_malformed_credentials_as_audited_failed_logins(srv: Server) -> None:
    before = len(_refused_logins(srv.vault))
    bodies = [
        (json.dumps({"client_id": "\ud800", "client_secret": "x"}).encode(), "application/json"),
        (json.dumps({"client_id": "ci", "client_secret": "\udfff"}).encode(), "application/json"),
        (json.dumps({"client_id": 5, "client_secret": ["x"]}).encode(), "application/json"),
        (b"[" * 3000 + b"]" * 3000, "application/json"),
        (b'{"client_id":' * 500 + b"1" + b"}" * 500, "application/json"),
        (b"client_id=%ED%A0%80&client_secret=%ED%B0%80", "application/x-www-form-urlencoded"),
    ]
    for body, content_type in bodies:
        status, answer = _post_token(srv, body, content_type)
        assert status == 401 and answer["error"] == "invalid_client", (body[:40], status, answer)
    assert len(_refused_logins(srv.vault)) == before + len(bodies)


def test_library_raises_its_own_errors_for_invalid_text(own_vault: Vault) -> None:
    with pytest.raises(InvalidParameterError):
        own_vault.secrets.set_secret("s", "\ud800")
    with pytest.raises(InvalidParameterError):
        own_vault.secrets.set_secret("s", "v", content_type="\ud800")
    with pytest.raises(InvalidParameterError):
        own_vault.secrets.set_secret("s", "v", tags={"t": "\udfff"})
    with pytest.raises(InvalidParameterError):
        own_vault.keys.import_key("k", {**_ec_jwk(), "key_ops": 5})
    with pytest.raises(InvalidParameterError):
        own_vault.keys.create_ec_key("k", key_operations=5)  # type: ignore[arg-type]
    for client_id, secret in (("\ud800", "x"), ("x", "\ud800")):
        with pytest.raises(UnauthorizedError):
            own_vault.as_principal(client_id, secret)
    assert len(_refused_logins(own_vault)) == 2
    assert own_vault.audit.verify()


# -------------------------------------------------------------------------- 2. idle and slow clients


def _tls_socket(server: BackgroundServer) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.ca_path))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    return context.wrap_socket(raw, server_hostname="localhost")


def _closed_by_server(sock: ssl.SSLSocket) -> bool:
    """Blocks until the server closes *sock* (True) or 60 s pass (socket.timeout); any
    answer sent before (a 401 to a request without a token) is read and ignored."""
    try:
        while sock.recv(4096):
            pass
    except (ConnectionError, ssl.SSLError):
        pass
    return True


@pytest.fixture
def limited(own_vault: Vault, tmp_path: Path) -> Iterator[BackgroundServer]:
    limits = ConnectionLimits(read_timeout=1.0, max_per_peer=50, max_connections=120)
    server = BackgroundServer(own_vault, ensure_local_tls(tmp_path / "tls"), limits=limits).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_request_that_never_completes_is_closed_after_the_read_deadline(limited: BackgroundServer) -> None:
    slow = _tls_socket(limited)
    try:
        slow.sendall(b"GET /secrets?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\n")  # headers never end
        assert _closed_by_server(slow)
    finally:
        slow.close()
    silent = _tls_socket(limited)  # sends nothing at all
    try:
        assert _closed_by_server(silent)
    finally:
        silent.close()


def test_legitimate_client_is_served_while_200_idle_sockets_are_open(
    limited: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    idle: list[ssl.SSLSocket] = []
    auth = f"Authorization: Bearer {limited.admin_token()}\r\n".encode()
    try:
        for i in range(200):
            sock = _tls_socket(limited)
            if i % 3 == 1:  # headers never end
                sock.sendall(b"GET /secrets HTTP/1.1\r\nHost: localhost\r\n")
            elif i % 3 == 2:  # the body never ends (the handler is waiting for it)
                sock.sendall(b"PUT /secrets/x HTTP/1.1\r\nHost: localhost\r\n" + auth + b"Content-Length: 100\r\n\r\n{")
            idle.append(sock)
        context = ssl.create_default_context(cafile=str(limited.ca_path))
        for _ in range(3):
            conn = http.client.HTTPSConnection("localhost", limited.port, context=context, timeout=60)
            try:
                conn.request(
                    "GET", "/secrets?api-version=7.5", headers={"Authorization": f"Bearer {limited.admin_token()}"}
                )
                response = conn.getresponse()
                assert response.status == 200, response.read()
                response.read()
            finally:
                conn.close()
        # The caps held: most idle sockets were closed to make room (50 per peer at most).
        assert sum(_closed_by_server(sock) for sock in idle[:140]) == 140
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an evicted request raised"
    finally:
        for sock in idle:
            sock.close()


def test_a_client_that_never_starts_tls_is_closed_after_the_handshake_deadline(
    own_vault: Vault, tmp_path: Path
) -> None:
    limits = ConnectionLimits(handshake_timeout=0.5)
    with BackgroundServer(own_vault, ensure_local_tls(tmp_path / "tls"), limits=limits) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)  # asyncio's default: 60 s
        try:
            with contextlib.suppress(ConnectionError):  # closed (EOF) or reset: either way, not kept
                assert raw.recv(1024) == b""
        finally:
            raw.close()


def test_connection_limits_are_checked() -> None:
    with pytest.raises(InvalidParameterError):
        ConnectionLimits(read_timeout=0)
    with pytest.raises(InvalidParameterError):
        ConnectionLimits(max_per_peer=10, max_connections=5)


# -------------------------------------------------------------------------- 3. work-factor limits


def _rsa_jwk_with_exponent(e: int) -> dict[str, Any]:
    """A consistent RSA-2048 private JWK whose public exponent is *e*."""
    while True:
        numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
        p, q = numbers.p, numbers.q
        lam = math.lcm(p - 1, q - 1)
        if math.gcd(e, lam) == 1:
            break
    d = pow(e, -1, lam)
    n = p * q
    return {
        "kty": "RSA", "n": _num(n), "e": _num(e), "d": _num(d), "p": _num(p), "q": _num(q),
        "dp": _num(d % (p - 1)), "dq": _num(d % (q - 1)), "qi": _num(pow(q, -1, p)),
    }  # fmt: skip


def test_rsa_jwk_exponent_and_member_sizes_are_capped(own_vault: Vault) -> None:
    own_vault.keys.import_key("ok", _rsa_jwk_with_exponent(65537))
    own_vault.keys.import_key("small", _rsa_jwk_with_exponent(3))
    for e in (65539, 2**31 - 1):
        with pytest.raises(InvalidParameterError, match="exponent"):
            own_vault.keys.import_key("big", _rsa_jwk_with_exponent(e))
    huge = {**_rsa_jwk_with_exponent(65537), "d": _b64u(b"\x01" * 100_000)}
    with pytest.raises(InvalidParameterError, match="longer"):
        own_vault.keys.import_key("huge", huge)


def test_certificate_import_refuses_an_rsa_key_with_an_unsupported_exponent(own_vault: Vault) -> None:
    jwk = _rsa_jwk_with_exponent(65539)
    value = {
        k: int.from_bytes(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)), "big")
        for k, v in jwk.items()
        if k != "kty"
    }
    public = rsa.RSAPublicNumbers(value["e"], value["n"])
    key = rsa.RSAPrivateNumbers(
        value["p"], value["q"], value["d"], value["dp"], value["dq"], value["qi"], public
    ).private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidParameterError, match="exponent"):
        own_vault.certificates.import_certificate("odd-e", pem)


def test_pfx_with_an_excessive_iteration_count_is_refused(own_vault: Vault) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pfx")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )

    def pfx(rounds: int) -> bytes:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(rounds)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(b"pw")
        )
        return pkcs12.serialize_key_and_certificates(b"c", key, cert, None, encryption)

    own_vault.certificates.import_certificate("fine", pfx(2048), password="pw")
    with pytest.raises(InvalidParameterError, match="iterations"):
        own_vault.certificates.import_certificate("costly", pfx(1_000_001), password="pw")


# -------------------------------------------------------------------------- 4. X-Forwarded-For


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)])
def test_forwarded_for_is_believed_only_from_a_named_proxy(
    own_vault: Vault, tmp_path: Path, trusted: tuple[str, ...]
) -> None:
    server = BackgroundServer(own_vault, ensure_local_tls(tmp_path / "tls"), trusted_proxies=trusted).start()
    try:
        srv = Server(server, own_vault, {})
        status, _ = _post_token(
            srv,
            b"client_id=nobody&client_secret=x",
            "application/x-www-form-urlencoded",
            {"X-Forwarded-For": "203.0.113.9"},
        )
        assert status == 401
    finally:
        server.stop()
    remote = _refused_logins(own_vault)[-1].caller["remote"]
    assert remote == ("203.0.113.9" if trusted else "127.0.0.1")


# -------------------------------------------------------------------------- 5. secrets never in logs


def test_tokens_in_the_url_are_refused(srv: Server) -> None:
    token = srv.token()
    for query in (f"access_token={token}", f"code={token}", f"x={token}"):
        response = srv.request("GET", f"/secrets?{query}", token=None)
        assert response.status == 400 and response.body["error"]["code"] == "BadParameter", query
        response = srv.request("GET", f"/secrets?{query}")  # even with a valid header as well
        assert response.status == 400
    assert srv.request("GET", "/secrets?maxresults=2").status == 200


def test_access_log_redacts_query_strings_that_may_hold_credentials() -> None:
    def line(path: str) -> str:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None)
        record.args = ("127.0.0.1:5", "POST", path, "1.1", 200)
        RedactQuery().filter(record)
        return record.getMessage()

    assert "s3cret" not in line("/_vaultcore/token?client_secret=s3cret")
    assert "vc1.abc" not in line("/secrets?access_token=vc1.abc")
    assert "api-version=7.5" in line("/secrets?api-version=7.5")


def test_serve_announces_only_once_the_port_listens(own_vault: Vault, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connected: list[bool] = []
    outcome: list[BaseException] = []

    class Done(Exception):
        pass

    def on_ready(bound: int) -> None:
        assert bound == port
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            connected.append(True)
        raise Done  # stops the server; serve() raises it once the server is down

    def run() -> None:
        try:
            serve(own_vault, ensure_local_tls(tmp_path / "tls"), port=port, on_ready=on_ready)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert connected == [True] and len(outcome) == 1 and isinstance(outcome[0], Done)


def test_serve_process_logs_to_stderr_and_never_logs_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTCORE_")}
    env.update({"VAULTCORE_VAULT": str(tmp_path / "v"), "VAULTCORE_PASSPHRASE": "pw"})
    cli = [sys.executable, "-m", "vaultcore.cli"]
    subprocess.run([*cli, "init", "--kdf-profile", "interactive"], env=env, check=True, capture_output=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [*cli, "-o", "json", "serve", "--port", str(port), "--tls-dir", str(tmp_path / "tls")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}":
            line = proc.stdout.readline().decode()
            assert line, "serve exited early"
            lines.append(line.rstrip("\n"))
        info = json.loads("\n".join(lines))
        context = ssl.create_default_context(cafile=info["ca_path"])
        for path in (f"/secrets?access_token={info['admin_token']}", "/_vaultcore/token?client_secret=s3cret-in-url"):
            conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)  # listening already
            conn.request("POST" if "token?" in path else "GET", path, body=b"")
            conn.getresponse().read()
            conn.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    log = err.decode()
    assert out.strip() == b""  # nothing after the JSON document: the access log is on stderr
    assert '"GET /secrets?[redacted] HTTP/1.1" 400' in log and "/_vaultcore/token?[redacted]" in log
    assert info["admin_token"] not in log and "s3cret-in-url" not in log


# -------------------------------------------------------------------------- 6. TLS


def test_tls12_offers_aead_suites_only(srv: Server) -> None:
    def handshake(ciphers: str) -> str | None:
        context = ssl.create_default_context(cafile=srv.ca_path)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
        try:
            with (
                socket.create_connection(("127.0.0.1", srv.server.port), timeout=30) as raw,
                context.wrap_socket(raw, server_hostname="localhost") as sock,
            ):
                cipher = sock.cipher()
                return cipher[0] if cipher else None
        except ssl.SSLError:
            return None

    assert handshake("ECDHE+AESGCM:ECDHE+CHACHA20") is not None
    cbc = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:AES128-SHA"
    assert handshake(cbc) is None
    assert handshake("AES128-GCM-SHA256:AES256-GCM-SHA384") is None  # no forward secrecy


def test_a_tls_key_others_can_read_is_refused(own_vault: Vault, tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path / "tls")
    key = tmp_path / "copy.key"
    shutil.copy(tls.key_path, key)
    for mode in (0o644, 0o604, 0o660):
        key.chmod(mode)
        with pytest.raises(InvalidParameterError, match="other users"):
            BackgroundServer(own_vault, TlsFiles(tls.cert_path, key, tls.ca_path))
    key.chmod(0o600)
    BackgroundServer(own_vault, TlsFiles(tls.cert_path, key, tls.ca_path)).stop()


# -------------------------------------------------------------------------- 3. list pages cost O(page size)


def test_a_list_page_decrypts_only_its_own_objects(own_vault: Vault, tmp_path: Path, monkeypatch: Any) -> None:
    from azure.keyvault.secrets import SecretClient

    from vaultcore.engine._lifecycle import Lifecycle

    names = {f"p{i:02d}" for i in range(30)}
    for name in names:
        own_vault.secrets.set_secret(name, "v")
    for name in sorted(names)[:5]:
        own_vault.secrets.delete_secret(name)
    opened: list[int] = []
    original = Lifecycle._open_version

    def counting(self: Lifecycle, key: bytes, blob: bytes) -> Any:
        opened.append(1)
        return original(self, key, blob)

    monkeypatch.setattr(Lifecycle, "_open_version", counting)
    with BackgroundServer(own_vault, ensure_local_tls(tmp_path / "tls")) as server:
        srv = Server(server, own_vault, {})
        token = server.admin_token()
        first = srv.request("GET", "/secrets?maxresults=3", token=token)
        assert first.status == 200 and len(first.body["value"]) == 3 and first.body["nextLink"]
        assert len(opened) <= 3  # not 25: only the page's objects were decrypted
        seen: list[str] = []
        link: str | None = "/secrets?maxresults=4&api-version=7.5"
        while link:
            response = srv.request("GET", link.removeprefix(server.url), token=token, api_version=None)
            assert response.status == 200 and len(response.body["value"]) <= 4
            seen += [item["id"].split("/secrets/")[1].split("/")[0] for item in response.body["value"]]
            link = response.body["nextLink"]
        assert sorted(seen) == sorted(names - set(sorted(names)[:5]))  # each live secret once
        deleted = srv.request("GET", "/deletedsecrets?maxresults=2", token=token)
        assert len(deleted.body["value"]) == 2 and deleted.body["nextLink"]
        bad = srv.request("GET", "/secrets?$skiptoken=AAAA", token=token)
        assert bad.status == 400 and bad.body["error"]["code"] == "BadParameter"
        with SecretClient(server.url, server.admin_credential(), **server.client_kwargs) as client:
            listed = {p.name for p in client.list_properties_of_secrets(max_page_size=7)}
            assert listed == names - set(sorted(names)[:5])
            assert len({d.name for d in client.list_deleted_secrets(max_page_size=2)}) == 5
