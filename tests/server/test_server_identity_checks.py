"""The token service's checks, request by request: client assertions (signature, audience,
expiry, replay, both SDK dialects), the managed-identity protocol, rate limits, revocation,
and the kernel lookup of a loopback peer's uid."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from identityhelpers import client_certificate
from serverhelpers import Server, unique

from vaultcore.server._assertion import ASSERTION_TYPE, AssertionRejected, ReplayCache, verify_assertion
from vaultcore.server._peer import loopback_peer_uid, parse_proc_net_tcp, unix_peer_uid
from vaultcore.server._ratelimit import RateLimiter

SCOPE = "https://vault.azure.net/.default"


def b64(data: bytes, *, pad: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def make_assertion(
    key: rsa.RSAPrivateKey,
    cert_der: bytes,
    claims: dict[str, Any],
    *,
    alg: str = "RS256",
    pad: bool = False,
    header: dict[str, Any] | None = None,
) -> str:
    """An assertion as MSAL (RS256, x5t, unpadded) or the async SDK (PS256, x5t#S256, padded) signs it."""
    if header is None:
        header = (
            {"alg": "RS256", "typ": "JWT", "x5t": b64(hashlib.sha1(cert_der).digest(), pad=True)}
            if alg == "RS256"
            else {"typ": "JWT", "alg": "PS256", "x5t#S256": b64(hashlib.sha256(cert_der).digest(), pad=True)}
        )
    signed = f"{b64(json.dumps(header).encode(), pad=pad)}.{b64(json.dumps(claims).encode(), pad=pad)}"
    pad_scheme: padding.AsymmetricPadding = (
        padding.PKCS1v15() if alg == "RS256" else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    return f"{signed}.{b64(key.sign(signed.encode(), pad_scheme, hashes.SHA256()), pad=pad)}"


def claims_for(client_id: str, aud: str, **extra: Any) -> dict[str, Any]:
    now = time.time()
    claims = {"aud": aud, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "iat": now, "exp": now + 600}
    return {**claims, **extra}


def load(path: Path) -> tuple[rsa.RSAPrivateKey, bytes]:
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key, x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


def call(srv: Server, method: str, path: str, form: dict[str, str] | None = None, **headers: str) -> Any:
    context = ssl.create_default_context(cafile=srv.ca_path)
    conn = http.client.HTTPSConnection("localhost", srv.server.port, context=context, timeout=30)
    body = urlencode(form).encode() if form is not None else None
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers} if form is not None else headers
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def cert_app(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, rsa.RSAPrivateKey, bytes]:
    client_id = unique("cert")
    path, pem = client_certificate(tmp_path_factory.mktemp("certs"), client_id)
    srv.vault.access.create_application(client_id, certificate=pem)
    srv.vault.access.assign_role(f"app:{client_id}", "Key Vault Secrets User")
    key, der = load(path)
    return client_id, key, der


def token_url(srv: Server, tenant: str = "adfs") -> str:
    return f"{srv.url}/{tenant}/oauth2/v2.0/token"


def post_assertion(srv: Server, client_id: str, assertion: str, tenant: str = "adfs") -> Any:
    form = {
        "client_id": client_id,
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "claims": json.dumps({"access_token": {"xms_cc": {"values": ["CP1"]}}}),
    }
    return call(srv, "POST", f"/{tenant}/oauth2/v2.0/token", form)


# -- client assertions ------------------------------------------------------------------


def test_both_sdk_dialects_get_a_token_that_the_vault_accepts(srv: Server, cert_app: Any) -> None:
    client_id, key, der = cert_app
    sync = make_assertion(key, der, claims_for(client_id, token_url(srv)))
    now = int(time.time())
    async_claims = {"jti": str(uuid.uuid4()), "aud": token_url(srv, "srv"), "iss": client_id, "sub": client_id}
    padded = make_assertion(key, der, {**async_claims, "nbf": now, "exp": now + 1800}, alg="PS256", pad=True)
    for tenant, assertion in (("adfs", sync), ("srv", padded)):
        status, headers, body = post_assertion(srv, client_id, assertion, tenant)
        assert status == 200, body
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and headers["cache-control"] == "no-store"
        listed = srv.request("GET", "/secrets", token=body["access_token"])
        assert listed.status == 200
    issued = srv.vault.audit.events(operation="TokenIssue", principal=f"app:{client_id}")
    assert len(issued) == 2 and all(e.caller.get("uid") == os.getuid() for e in issued)
    assert all(e.caller.get("via") == "akv-server-token" and e.result == "success" for e in issued)


def test_assertions_are_checked(srv: Server, cert_app: Any, tmp_path: Path) -> None:
    client_id, key, der = cert_app
    other_key, other_der = load(client_certificate(tmp_path, "other")[0])
    aud = token_url(srv)
    good = claims_for(client_id, aud)
    cases = {
        "signature": make_assertion(other_key, der, claims_for(client_id, aud)),  # right thumbprint, wrong key
        "not registered": make_assertion(other_key, other_der, claims_for(client_id, aud)),
        "audience": make_assertion(key, der, claims_for(client_id, "https://login.microsoftonline.com/x")),
        "expired": make_assertion(key, der, {**good, "jti": "e1", "exp": time.time() - 3600}),
        "too long": make_assertion(key, der, {**good, "jti": "e2", "exp": time.time() + 86400}),
        "future": make_assertion(key, der, {**good, "jti": "e3", "nbf": time.time() + 3600}),
        "iss and sub": make_assertion(key, der, {**good, "jti": "e4", "iss": "someone-else"}),
        "RS256 or PS256": make_assertion(key, der, good, header={"alg": "none", "x5t": "x"}),
        "no certificate": make_assertion(key, der, good, header={"alg": "RS256"}),
        "jti": make_assertion(key, der, {k: v for k, v in good.items() if k != "jti"}),
    }
    for reason, assertion in cases.items():
        status, _, body = post_assertion(srv, client_id, assertion)
        assert status == 401 and body["error"] == "invalid_client", reason
        assert reason in body["error_description"], (reason, body)
    once = make_assertion(key, der, claims_for(client_id, aud))
    assert post_assertion(srv, client_id, once)[0] == 200
    # The same local user may present it again (sync MSAL reuses an assertion for ~9 minutes);
    # anyone else may not (test_replay_is_bound_to_the_first_holder).
    assert post_assertion(srv, client_id, once)[0] == 200
    # An unknown client learns nothing about why.
    status, _, body = post_assertion(srv, "nobody", make_assertion(key, der, claims_for("nobody", aud)))
    assert status == 401 and body["error_description"] == "invalid client credentials"
    failures = srv.vault.audit.events(operation="PrincipalAuthenticate", principal=f"app:{client_id}")
    assert any(e.result == "Unauthorized" and e.caller.get("uid") == os.getuid() for e in failures)


def test_verify_assertion_directly() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = client_certificate_from(key)
    replay = ReplayCache(size=2)
    aud = "https://localhost:1/adfs/oauth2/v2.0/token"
    for n in range(2):
        verify_assertion(
            make_assertion(key, cert, claims_for("c", aud, jti=f"j{n}")), client_id="c", audience=aud,
            certificates=[cert], replay=replay,
        )  # fmt: skip
    with pytest.raises(AssertionRejected, match="too many"):  # bounded: nothing expired yet
        verify_assertion(
            make_assertion(key, cert, claims_for("c", aud, jti="j3")), client_id="c", audience=aud,
            certificates=[cert], replay=replay,
        )  # fmt: skip
    with pytest.raises(AssertionRejected, match="malformed"):
        verify_assertion("a.b", client_id="c", audience=aud, certificates=[cert], replay=replay)
    with pytest.raises(AssertionRejected, match="no certificate is registered"):
        verify_assertion(
            make_assertion(key, cert, claims_for("c", aud)), client_id="c", audience=aud, certificates=[], replay=replay
        )


def test_replay_is_bound_to_the_first_holder() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = client_certificate_from(key)
    aud = "https://localhost:1/adfs/oauth2/v2.0/token"
    replay = ReplayCache()
    assertion = make_assertion(key, cert, claims_for("c", aud))
    check = {"client_id": "c", "audience": aud, "certificates": [cert], "replay": replay}
    verify_assertion(assertion, **check, holder=1001)
    verify_assertion(assertion, **check, holder=1001)  # the same OS user again: MSAL's reuse
    for other in (1002, None):  # another user, or a peer the kernel cannot name
        with pytest.raises(AssertionRejected, match="replayed"):
            verify_assertion(assertion, **check, holder=other)
    unbound = make_assertion(key, cert, claims_for("c", aud))
    verify_assertion(unbound, **check)
    with pytest.raises(AssertionRejected, match="replayed"):  # unknown first holder: never again
        verify_assertion(unbound, **check)


def client_certificate_from(key: rsa.RSAPrivateKey) -> bytes:
    import datetime as dt

    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c")])
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    cert = builder.serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
    return cert.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# -- the token endpoint's form, secrets, revocation, rate limits ---------------------------


def test_token_endpoint_requests(srv: Server) -> None:
    base = {"client_id": "ci", "client_secret": srv.secrets["ci"], "grant_type": "client_credentials", "scope": SCOPE}
    assert call(srv, "POST", "/adfs/oauth2/v2.0/token", base)[0] == 200
    assert call(srv, "GET", "/adfs/oauth2/v2.0/token")[0] == 405
    for change, error in (
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "https://storage.azure.com/.default"}, "invalid_scope"),
        ({"scope": ""}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"client_assertion": "x.y.z"}, "invalid_request"),  # both a secret and an assertion
    ):
        status, _, body = call(srv, "POST", "/adfs/oauth2/v2.0/token", {**base, **change})
        assert status == 400 and body["error"] == error, change
    status, _, body = call(srv, "POST", "/adfs/oauth2/v2.0/token", {**base, "client_secret": "wrong"})
    assert status == 401 and body["error"] == "invalid_client"


def test_deleting_an_app_revokes_its_tokens(srv: Server) -> None:
    app = srv.vault.access.create_application(unique("gone"))
    srv.vault.access.assign_role(app.principal.id, "Key Vault Secrets User")
    form = {"client_id": app.client_id, "client_secret": app.client_secret, "grant_type": "client_credentials"}
    status, _, body = call(srv, "POST", "/adfs/oauth2/v2.0/token", {**form, "scope": SCOPE})
    assert status == 200 and srv.request("GET", "/secrets", token=body["access_token"]).status == 200
    srv.vault.access.delete_principal(app.principal.id)
    assert srv.request("GET", "/secrets", token=body["access_token"]).status == 401


def test_token_endpoints_are_rate_limited(srv: Server) -> None:
    identity = srv.server.akv.identity
    saved = identity.per_client
    identity.per_client = RateLimiter(rate=0.001, burst=2)
    try:
        form = {"client_id": "limited", "client_secret": "x", "grant_type": "client_credentials", "scope": SCOPE}
        assert [call(srv, "POST", "/adfs/oauth2/v2.0/token", form)[0] for _ in range(2)] == [401, 401]
        status, headers, body = call(srv, "POST", "/adfs/oauth2/v2.0/token", form)
        assert status == 429 and int(headers["retry-after"]) >= 1 and body["error"] == "temporarily_unavailable"
        other = {**form, "client_id": "ci", "client_secret": srv.secrets["ci"]}
        assert call(srv, "POST", "/adfs/oauth2/v2.0/token", other)[0] == 200  # another client is not held up
    finally:
        identity.per_client = saved


def test_rate_limiter_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, size=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.allow("a", now=1.0) == 0.0
    assert limiter.allow("b", now=1.0) == 0.0
    assert limiter.allow("c", now=1.0) == 1.0  # table full, nothing refilled yet
    assert limiter.allow("c", now=10.0) == 0.0  # refilled buckets are dropped to make room


# -- managed identity protocol ------------------------------------------------------------


def test_managed_identity_protocol(srv: Server) -> None:
    query = "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net"
    status, _, body = call(srv, "GET", query, **{"X-IDENTITY-HEADER": "anything"})
    assert status == 200, body
    assert body["resource"] == "https://vault.azure.net" and body["token_type"] == "Bearer"
    assert body["expires_on"].isdigit() and int(body["expires_on"]) > time.time()
    assert body["client_id"] == f"uid:{os.getuid()}"
    me = f"&client_id=uid:{os.getuid()}"
    assert call(srv, "GET", query + me, **{"X-IDENTITY-HEADER": "x"})[0] == 200
    for path, headers in (
        (query, {}),  # the header is required (SSRF), though it proves nothing
        ("/msi/token?api-version=2017-09-01&resource=https://vault.azure.net", {"X-IDENTITY-HEADER": "x"}),
        ("/msi/token?api-version=2019-08-01&resource=https://storage.azure.com", {"X-IDENTITY-HEADER": "x"}),
        (query + "&client_id=uid:424242", {"X-IDENTITY-HEADER": "x"}),  # another identity
        (query, {"X-IDENTITY-HEADER": "x", "X-Forwarded-For": "127.0.0.1:1"}),  # proxied: not the caller's socket
    ):
        assert call(srv, "GET", path, **headers)[0] == 400, path
    assert call(srv, "POST", query, {}, **{"X-IDENTITY-HEADER": "x"})[0] == 405


def test_forwarded_headers_do_not_change_the_peer(srv: Server) -> None:
    """uvicorn would take the client address (port included) from X-Forwarded-For sent from
    127.0.0.1: a local user could then name another user's connection. The server ignores it."""
    assert srv.server._server.config.proxy_headers is False
    form = {"client_id": "ci", "client_secret": srv.secrets["ci"], "grant_type": "client_credentials", "scope": SCOPE}
    spoofed = {"X-Forwarded-For": "10.9.8.7:4242"}
    assert call(srv, "POST", "/adfs/oauth2/v2.0/token", form, **spoofed)[0] == 200
    last = srv.vault.audit.events(operation="TokenIssue", principal="app:ci")[-1]
    assert last.caller["remote"] == "127.0.0.1" and last.caller["uid"] == os.getuid()


def test_managed_identity_tokens_follow_the_principal(srv: Server) -> None:
    query = "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net/"
    me = f"uid:{os.getuid()}"
    token = call(srv, "GET", query, **{"X-IDENTITY-HEADER": "x"})[2]["access_token"]
    assert srv.request("GET", "/secrets", token=token).status == 403  # no role yet
    assignment = srv.vault.access.assign_role(me, "Key Vault Secrets User")
    assert srv.request("GET", "/secrets", token=token).status == 200  # roles apply at once
    srv.vault.access.remove_role(assignment.id)
    srv.vault.access.delete_principal(me)
    assert srv.request("GET", "/secrets", token=token).status == 401  # deleted: its tokens are revoked


# -- the kernel's socket table ------------------------------------------------------------


def test_peer_uid_of_a_real_loopback_connection() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname()) as client:
            accepted, peer = listener.accept()
            with accepted:
                assert loopback_peer_uid(peer, accepted.getsockname()) == os.getuid()
                assert loopback_peer_uid(("10.1.2.3", peer[1]), accepted.getsockname()) is None
                assert loopback_peer_uid(("127.0.0.1", 1), accepted.getsockname()) is None
            assert client.fileno() >= 0


def test_peer_uid_over_ipv6_and_a_dual_stack_listener() -> None:
    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", 0))
    except OSError:  # no IPv6 on this machine: nothing to check
        return
    with listener:
        listener.listen(2)
        port = listener.getsockname()[1]
        for client_host in ("::1", "127.0.0.1"):
            with socket.create_connection((client_host, port)) as client:
                accepted, peer = listener.accept()
                with accepted:
                    assert loopback_peer_uid(peer[:2], accepted.getsockname()[:2]) == os.getuid(), client_host
                assert client.fileno() >= 0


def test_unix_socket_peer_credentials() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        assert unix_peer_uid(left) == os.getuid() == unix_peer_uid(right)
        assert unix_peer_uid(tcp) is None  # only Unix sockets carry peer credentials


def test_parse_proc_net_tcp_rows() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1001        0 1\n"
        "   1: 0000000000000000FFFF00000100007F:1F91 0000000000000000FFFF00000100007F:C351 01 0:0 0:0 0 1002 0 2\n"
        "   2: garbage\n"
    )
    rows = parse_proc_net_tcp(table)
    assert [(str(a[0]), a[1], str(b[0]), b[1], st, uid) for a, b, st, uid in rows] == [
        ("127.0.0.1", 8080, "127.0.0.1", 50000, "01", 1001),
        ("127.0.0.1", 8081, "127.0.0.1", 50001, "01", 1002),  # IPv4-mapped IPv6 is compared as IPv4
    ]


def test_the_vaultcore_token_endpoint_is_rate_limited_too(srv: Server) -> None:
    identity = srv.server.akv.identity
    saved = identity.per_client
    identity.per_client = RateLimiter(rate=0.001, burst=1)
    try:
        form = {"grant_type": "client_credentials", "client_id": "slow", "client_secret": "x"}
        assert call(srv, "POST", "/_vaultcore/token", form)[0] == 401
        status, headers, body = call(srv, "POST", "/_vaultcore/token", form)
        assert status == 429 and int(headers["retry-after"]) >= 1 and body["error"] == "temporarily_unavailable"
    finally:
        identity.per_client = saved
