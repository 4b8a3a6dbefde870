"""The wire contract around the routes: challenge auth, tokens, TLS only, errors, headers, logs."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import ssl
import threading
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.keyvault.secrets import SecretClient
from serverhelpers import Server, unique

from vaultcore.exceptions import UnauthorizedError
from vaultcore.server import AsyncServerCredential, StaticTokenCredential, TokenIssuer, credential
from vaultcore.server import _auth as auth_module

CHALLENGE = 'Bearer authorization="https://localhost:{port}/adfs", resource="https://vault.azure.net"'


def test_requests_without_a_token_get_the_challenge(srv: Server) -> None:
    for method, path in (("GET", "/secrets/x/"), ("PUT", "/secrets/x"), ("GET", "/no/such/route")):
        response = srv.request(method, path, token=None, headers={"Content-Length": "0"})
        assert response.status == 401
        assert response.headers["www-authenticate"] == CHALLENGE.format(port=srv.server.port)
        assert response.body == {
            "error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}
        }
    basic = srv.request("GET", "/secrets", token=None, headers={"Authorization": "Basic Y2k6eA=="})
    assert basic.status == 401 and basic.headers["www-authenticate"] == CHALLENGE.format(port=srv.server.port)


def test_bad_tokens_are_refused(srv: Server) -> None:
    good = srv.token()
    assert srv.request("GET", "/secrets", token=good).status == 200
    head, payload, mac = good.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    other_server = TokenIssuer("srv").issue("admin").token  # another process's key
    for token in (f"{head}.{payload}.{mac[:-2]}xx", f"{head}.{forged_payload}.{mac}", other_server, "vc1.x.y"):
        response = srv.request("GET", "/secrets", token=token)
        assert response.status == 401, token
        assert response.headers["www-authenticate"] == CHALLENGE.format(port=srv.server.port)


def test_token_issuer_checks_expiry_audience_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = TokenIssuer("t")
    issued = issuer.issue("app:x", lifetime=60)
    assert issuer.verify(issued.token) == "app:x"
    assert issued.token not in repr(issued)
    with pytest.raises(UnauthorizedError):
        TokenIssuer("other-tenant", key=b"k" * 32).verify(TokenIssuer("t", key=b"k" * 32).issue("admin").token)
    now = time.time()
    monkeypatch.setattr(auth_module.time, "time", lambda: now + 61)
    with pytest.raises(UnauthorizedError):
        issuer.verify(issued.token)
    for junk in ("", "vc1", "a.b.c", "vc1.." + "A" * 3000, "vc1.e30.AAAA", "vc1.*.*"):
        with pytest.raises(UnauthorizedError):
            issuer.verify(junk)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(issuer)


def test_token_endpoint(srv: Server) -> None:
    def post(body: bytes, content_type: str = "application/x-www-form-urlencoded", method: str = "POST") -> tuple:
        context = ssl.create_default_context(cafile=srv.ca_path)
        conn = http.client.HTTPSConnection("localhost", srv.server.port, context=context)
        try:
            conn.request(method, "/_vaultcore/token", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            return response.status, json.loads(response.read()), dict(response.getheaders())
        finally:
            conn.close()

    form = f"grant_type=client_credentials&client_id=ci&client_secret={srv.secrets['ci']}".encode()
    status, body, headers = post(form)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert headers["cache-control"] == "no-store"
    assert srv.request("GET", "/secrets", token=body["access_token"]).status == 200
    as_json = json.dumps({"client_id": "CI", "client_secret": srv.secrets["ci"]}).encode()
    status, body, _ = post(as_json, "application/json")
    assert status == 200  # client ids are case-insensitive
    status, body, _ = post(b"grant_type=client_credentials&client_id=ci&client_secret=wrong")
    assert status == 401 and body["error"] == "invalid_client"
    status, body, _ = post(b"grant_type=password&client_id=ci&client_secret=x")
    assert status == 400 and body["error"] == "invalid_request"
    status, body, _ = post(b"", method="GET")
    assert status == 405
    refused = srv.vault.audit.events(principal="app:ci", operation="PrincipalAuthenticate")
    assert refused and refused[-1].result == "Unauthorized"


def test_wrong_client_secret_is_a_client_authentication_error(srv: Server) -> None:
    bad = credential(srv.url, "ci", "not-the-secret", ca_path=srv.ca_path)
    with SecretClient(srv.url, bad, **srv.server.client_kwargs) as client, pytest.raises(ClientAuthenticationError):
        client.get_secret("anything")


def test_deleting_a_principal_revokes_its_tokens(srv: Server) -> None:
    client_id = unique("temp")
    app = srv.vault.access.create_application(client_id)
    srv.vault.access.assign_role(app.principal.id, "Key Vault Secrets Officer")
    cred = srv.server.credential(client_id, app.client_secret)
    token = cred.get_token("https://vault.azure.net/.default").token
    with SecretClient(srv.url, cred, **srv.server.client_kwargs) as client:
        client.set_secret(unique("by-temp"), "x")
        srv.vault.access.delete_principal(app.principal.id)
        assert srv.request("GET", "/secrets", token=token).status == 401
        with pytest.raises(ClientAuthenticationError):
            client.set_secret(unique("by-temp"), "y")


def test_a_recreated_principal_does_not_accept_its_predecessors_tokens(srv: Server) -> None:
    client_id = unique("again")
    first = srv.vault.access.create_application(client_id)
    srv.vault.access.assign_role(first.principal.id, "Key Vault Secrets Officer")
    old_token = srv.server.credential(client_id, first.client_secret).get_token("https://vault.azure.net/.default")
    assert srv.request("GET", "/secrets", token=old_token.token).status == 200
    srv.vault.access.delete_principal(first.principal.id)
    second = srv.vault.access.create_application(client_id)
    srv.vault.access.assign_role(second.principal.id, "Key Vault Secrets Officer")
    assert srv.request("GET", "/secrets", token=old_token.token).status == 401
    new_token = srv.server.credential(client_id, second.client_secret).get_token("https://vault.azure.net/.default")
    assert srv.request("GET", "/secrets", token=new_token.token).status == 200


def test_administrator_token_and_async_credential(srv: Server) -> None:
    admin = srv.server.admin_credential()
    with SecretClient(srv.url, admin, **srv.server.client_kwargs) as client:
        name = unique("admin")
        client.set_secret(name, "by admin")
    assert srv.vault.audit.events(operation="SecretSet")[-1].principal == "admin"
    assert str(srv.server.admin_token()) not in repr(admin)
    expired = StaticTokenCredential(srv.server.issuer.issue("admin", lifetime=1).token)
    expired._expires_on = int(time.time()) - 1
    with pytest.raises(ClientAuthenticationError):
        expired.get_token("https://vault.azure.net/.default")

    async def fetch() -> str:
        async with AsyncServerCredential(srv.url, "ci", srv.secrets["ci"], ca_path=srv.ca_path) as cred:
            return (await cred.get_token("https://vault.azure.net/.default")).token

    assert srv.request("GET", "/secrets", token=asyncio.run(fetch())).status == 200
    with pytest.raises(ValueError):
        credential("http://localhost:1", "ci", "x")


def test_tls_only(srv: Server) -> None:
    plain_url = srv.url.replace("https://", "http://")
    plain = SecretClient(plain_url, srv.credential(), verify_challenge_resource=False, retry_total=0)
    with plain, pytest.raises(ServiceRequestError, match="non-TLS"):
        plain.get_secret("x")
    conn = http.client.HTTPConnection("localhost", srv.server.port, timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/secrets?api-version=7.5")
            conn.getresponse()
    finally:
        conn.close()
    context = ssl.create_default_context()  # without the local CA: the certificate is not trusted
    conn = http.client.HTTPSConnection("localhost", srv.server.port, context=context, timeout=10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.request("GET", "/secrets")
    finally:
        conn.close()


def test_ids_follow_the_host_header_and_any_api_version(srv: Server) -> None:
    name = unique("host")
    put = srv.request("PUT", f"/secrets/{name}", {"value": "v"}, headers={"Host": f"127.0.0.1:{srv.server.port}"})
    assert put.status == 200 and put.body["id"].startswith(f"https://127.0.0.1:{srv.server.port}/secrets/{name}/")
    for version in ("7.0", "2016-10-01", "2026-04-01"):
        got = srv.request("GET", f"/secrets/{name}/", api_version=version)
        assert got.status == 200 and got.body["id"].startswith(f"{srv.url}/secrets/{name}/")
        assert isinstance(got.body["attributes"]["created"], int)
    assert srv.request("GET", "/secrets", headers={"Host": "bad host/"}).status == 400


def test_headers_unknown_routes_and_limits(srv: Server) -> None:
    response = srv.request("GET", "/secrets", headers={"x-ms-client-request-id": "abc-123"})
    assert response.headers["x-ms-client-request-id"] == "abc-123"
    assert response.headers["x-ms-request-id"] and response.headers["cache-control"] == "no-store"
    assert srv.request("GET", "/nothing/here").status == 404
    wrong = srv.request("POST", "/secrets/x/versions")
    assert wrong.status == 405 and wrong.body["error"]["code"] == "MethodNotAllowed" and "GET" in wrong.headers["allow"]
    big = srv.request("PUT", f"/secrets/{unique('big')}", raw=b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert big.status == 413
    purge_missing = srv.request("DELETE", f"/deletedsecrets/{unique('none')}")
    assert purge_missing.status == 404 and purge_missing.body["error"]["code"] == "SecretNotFound"
    name = unique("gone")
    srv.vault.secrets.set_secret(name, "x")
    srv.vault.secrets.delete_secret(name)
    conflict = srv.request("PUT", f"/secrets/{name}", {"value": "y"})
    assert conflict.status == 409
    assert conflict.body["error"] == {
        "code": "Conflict",
        "message": conflict.body["error"]["message"],
        "innererror": {"code": "ObjectIsDeletedButRecoverable"},
    }
    assert srv.request("DELETE", f"/deletedsecrets/{name}").status == 204


def test_concurrent_clients_on_keep_alive_connections(srv: Server) -> None:
    prefix = unique("conc")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with SecretClient(srv.url, srv.credential(), **srv.server.client_kwargs) as client:
                for i in range(8):
                    name = f"{prefix}-{n}-{i}"
                    client.set_secret(name, f"value-{n}-{i}")
                    assert client.get_secret(name).value == f"value-{n}-{i}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(1 for p in srv.vault.secrets.list_properties_of_secrets() if p.name.startswith(prefix)) == 48


def test_no_secret_value_or_token_in_logs(srv: Server, caplog: pytest.LogCaptureFixture) -> None:
    marker = "s3cr3t-" + unique("marker")
    token = srv.token()
    with caplog.at_level(logging.DEBUG):
        srv.request("PUT", f"/secrets/{unique('log')}", {"value": marker}, token=token)
        srv.request("PUT", "/secrets/bad_name!", {"value": marker}, token=token)
        srv.request("GET", "/secrets", token=token + "x")
        srv.request("POST", "/keys/none//decrypt", {"alg": "RSA-OAEP", "value": "AAAA"}, token=token)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert marker not in text and token not in text and srv.secrets["ci"] not in text


POISON = {
    "value": 1,
    "attributes": "x",
    "tags": [1],
    "kty": 5,
    "key": "x",
    "policy": 3,
    "x5c": [1],
    "contacts": "x",
    "lifetimeActions": [1],
    "alg": 3,
    "count": "x",
    "cancellation_requested": "yes",
    "provider": 1,
    "contentType": 3,
}
WRITES = [
    ("PUT", "/secrets/{n}"),
    ("PATCH", "/secrets/{n}/"),
    ("POST", "/secrets/restore"),
    ("POST", "/keys/{n}/create"),
    ("PUT", "/keys/{n}"),
    ("PATCH", "/keys/{k}/"),
    ("POST", "/keys/{k}//encrypt"),
    ("POST", "/keys/{k}//verify"),
    ("POST", "/keys/{k}//unwrapkey"),
    ("POST", "/rng"),
    ("PUT", "/keys/{k}/rotationpolicy"),
    ("POST", "/keys/restore"),
    ("POST", "/certificates/{n}/create"),
    ("POST", "/certificates/{n}/import"),
    ("PATCH", "/certificates/{n}/policy"),
    ("POST", "/certificates/{n}/pending/merge"),
    ("PATCH", "/certificates/{n}/pending"),
    ("PUT", "/certificates/contacts"),
    ("PUT", "/certificates/issuers/{n}"),
    ("POST", "/certificates/restore"),
]


def test_malformed_bodies_are_client_errors(srv: Server) -> None:
    key = unique("fuzz")
    srv.vault.keys.create_ec_key(key)
    for method, template in WRITES:
        path = template.format(n=unique("f"), k=key)
        for body, raw in ((POISON, None), ([1, 2], None), (None, b"{not json")):
            response = srv.request(method, path, body, raw=raw)
            assert 400 <= response.status < 500, (method, template, body, response.body)
            assert set(response.body["error"]) >= {"code", "message"}
