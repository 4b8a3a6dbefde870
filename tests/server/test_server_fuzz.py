"""Bounded fuzz of every route's JSON body and of the token endpoint (issue 13).

The only acceptable answers are 2xx, or 4xx with Azure's error shape (the token endpoint:
OAuth's ``{"error", "error_description"}``); the server stays up, and the vault's objects
and audit chain still verify afterwards. ``VAULTCORE_FUZZ_EXAMPLES=5000`` runs longer.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaultcore import KDF_TESTING, RawKeyCredential, Vault
from vaultcore.server import (
    BackgroundServer,
    _admin_backup,
    _admin_rbac,
    _admin_settings,
    _certificates,
    _keys,
    _secrets,
    ensure_local_tls,
)
from vaultcore.server._ratelimit import RateLimiter

EXAMPLES = int(os.environ.get("VAULTCORE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

FIELDS = [
    "value", "contentType", "attributes", "tags", "kty", "key_ops", "key_size", "crv", "n", "e", "d", "p", "q",
    "dp", "dq", "qi", "x", "y", "k", "key", "Hsm", "alg", "iv", "aad", "tag", "digest", "enabled", "exp", "nbf",
    "exportable", "public_exponent", "release_policy", "policy", "pwd", "x5c", "cer", "contacts", "credentials",
    "org_details", "provider", "lifetimeActions", "trigger", "action", "count", "cancellation_requested",
    "issuer", "name", "secret_props", "key_props", "x509_props", "subject", "sans", "validity_months",
    "timeAfterCreate", "timeBeforeExpiry", "recoveryLevel", "managed",
]  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "RSA", "EC", "oct", "RSA-HSM", "P-256", "sign", "AQAB", "", "-1"]),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False), TEXT
)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), inner, max_size=4)
    ),
    max_leaves=12,
)
BODY_OBJECT = st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=6)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _templates() -> list[dict[str, Any]]:
    """Valid bodies of the main operations: mutated, they reach deep into the handlers."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_numbers()

    def num(n: int, size: int) -> str:
        return _b64u(n.to_bytes(size, "big"))

    rsa_jwk = {
        "kty": "RSA", "n": num(rsa_key.public_numbers.n, 256), "e": "AQAB", "d": num(rsa_key.d, 256),
        "p": num(rsa_key.p, 128), "q": num(rsa_key.q, 128), "dp": num(rsa_key.dmp1, 128),
        "dq": num(rsa_key.dmq1, 128), "qi": num(rsa_key.iqmp, 128), "key_ops": ["sign", "verify"],
    }  # fmt: skip
    ec_jwk = {
        "kty": "EC", "crv": "P-256", "x": num(ec_key.public_numbers.x, 32), "y": num(ec_key.public_numbers.y, 32),
        "d": num(ec_key.private_value, 32), "key_ops": ["sign"],
    }  # fmt: skip
    attributes = {"enabled": True, "exp": 2_000_000_000, "nbf": 1_000_000_000}
    return [
        {"value": "s", "contentType": "text/plain", "attributes": attributes, "tags": {"a": "b"}},
        {"kty": "EC", "crv": "P-256", "key_ops": ["sign", "verify"], "attributes": attributes, "tags": {}},
        {"kty": "oct", "key_size": 256},
        {"key": rsa_jwk, "attributes": attributes, "Hsm": False},
        {"key": ec_jwk, "attributes": {"exportable": True}},
        {"alg": "ES256", "value": _b64u(bytes(32))},
        {"alg": "RS256", "digest": _b64u(bytes(32)), "value": _b64u(bytes(256))},
        {"alg": "RSA-OAEP", "value": _b64u(b"plain")},
        {"alg": "A256GCM", "value": _b64u(b"plain"), "iv": _b64u(bytes(12)), "aad": _b64u(b"a"),
         "tag": _b64u(bytes(16))},
        {
            "policy": {
                "key_props": {"kty": "EC", "crv": "P-256", "exportable": True, "reuse_key": False},
                "secret_props": {"contentType": "application/x-pem-file"},
                "x509_props": {"subject": "CN=a", "sans": {"dns_names": ["a.example"]}, "validity_months": 12},
                "issuer": {"name": "Self"},
                "lifetime_actions": [{"trigger": {"days_before_expiry": 10}, "action": {"action_type": "AutoRenew"}}],
            },
            "attributes": {"enabled": True},
        },
        {"contacts": [{"email": "a@example.com", "name": "a", "phone": "1"}]},
        {"provider": "Test", "credentials": {"account_id": "a", "pwd": "p"}, "org_details": {"admin_details": []}},
        {"count": 8},
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
         "attributes": {"expiryTime": "P90D"}},
        {"value": _b64u(b"backup-blob")},
        {"x5c": [base64.b64encode(b"not a certificate").decode()]},
        {"cancellation_requested": True},
    ]  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn, templates: list[dict[str, Any]]) -> dict[str, Any]:
    """A template with a few of its fields (at any depth) replaced by arbitrary JSON or removed."""
    body: Any = json.loads(json.dumps(draw(st.sampled_from(templates))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        node = body
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
                del node[key]
            else:
                node[key] = draw(JSONISH)
            break
    result: dict[str, Any] = body
    return result


TEMPLATES = _templates()


def _raw_bodies() -> st.SearchStrategy[bytes]:
    deep = st.integers(min_value=30, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
    deep_obj = st.integers(min_value=30, max_value=3000).map(lambda n: b'{"value":' * n + b"1" + b"}" * n)
    return st.one_of(
        _mutated(TEMPLATES).map(lambda b: json.dumps(b).encode()),
        _mutated(TEMPLATES).map(lambda b: json.dumps(b).encode()),
        st.sampled_from(TEMPLATES).map(lambda b: json.dumps(b).encode()),
        BODY_OBJECT.map(lambda b: json.dumps(b).encode()),
        JSONISH.map(lambda b: json.dumps(b).encode()),
        deep,
        deep_obj,
        st.binary(max_size=64),
        st.sampled_from([b'{"value": NaN}', b'{"value": 1e999}', b'{"a":' + b"9" * 5000 + b"}", b"\xff\xfe"]),
    )


# Every route of the data plane and of the administration plane (a backup directory is
# configured in the fixture, so the backup/restore routes are live too).
ROUTES = [
    (r.method, r.pattern)
    for r in (
        *_secrets.ROUTES,
        *_keys.ROUTES,
        *_certificates.ROUTES,
        *_admin_rbac.ROUTES,
        *_admin_settings.ROUTES,
        *_admin_backup.routes("/unused"),
    )
]


def _path(pattern: str, name: str) -> str:
    """*pattern* with ``{x?}`` segments empty (latest version) and ``{x}`` segments *name*."""
    return re.sub(r"\{\w+\?\}", "", re.sub(r"\{\w+\}", name, pattern))


class Client:
    """One keep-alive HTTPS connection (reopened when the server closes it)."""

    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(server.ca_path))
        self.conn: http.client.HTTPSConnection | None = None

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("localhost", self.server.port, context=self.context, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, (json.loads(payload) if payload else None)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Vault, Client, str]]:
    vault = Vault.create(
        tmp_path_factory.mktemp("fuzz") / "vault",
        RawKeyCredential(os.urandom(32)),
        access_kdf=KDF_TESTING,
        allow_software_oct_keys=True,
        name="fuzz",
    )
    app = vault.access.create_application("fz")
    vault.access.assign_role(app.principal.id, "Key Vault Administrator")
    vault.secrets.set_secret("keep", "v")
    backups = tmp_path_factory.mktemp("fuzz-backups")
    server = BackgroundServer(vault, ensure_local_tls(tmp_path_factory.mktemp("fuzz-tls")), backup_dir=backups).start()
    # The fuzz exercises request parsing, hundreds of logins from one peer: lift the token
    # endpoints' rate limits here (they have their own tests in test_server_identity*.py).
    server.akv.identity.per_peer = RateLimiter(rate=1e6, burst=1_000_000)
    server.akv.identity.per_client = RateLimiter(rate=1e6, burst=1_000_000)
    client = Client(server)
    try:
        yield server, vault, client, app.client_secret
    finally:
        client.close()
        server.stop()
        vault.close()


def _azure_error(status: int, body: Any) -> None:
    assert 200 <= status < 500, (status, body)
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
        assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str)
        assert "Traceback" not in body["error"]["message"]


@FUZZ
@given(route=st.sampled_from(ROUTES), body=_raw_bodies(), name=st.sampled_from(["fz", "fz2", "fzk", "fzc"]))
def test_every_route_answers_bad_bodies_with_azure_errors(
    fuzzed: tuple[BackgroundServer, Vault, Client, str], route: tuple[str, str], body: bytes, name: str
) -> None:
    server, _, client, _ = fuzzed
    method, pattern = route
    path = _path(pattern, name) + "?api-version=7.5"
    headers = {"Authorization": f"Bearer {server.admin_token()}", "Content-Type": "application/json"}
    status, answer = client.send(method, path, body, headers)
    _azure_error(status, answer)


TOKEN_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "grant_type": st.one_of(st.just("client_credentials"), JSONISH),
        "client_id": st.one_of(st.just("fz"), TEXT, JSONISH),
        "client_secret": st.one_of(TEXT, JSONISH),
        "scope": JSONISH,
    },
)


@FUZZ
@given(
    body=st.one_of(TOKEN_FIELDS.map(lambda b: json.dumps(b).encode()), _raw_bodies()),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
)
def test_token_endpoint_answers_bad_bodies_with_oauth_errors(
    fuzzed: tuple[BackgroundServer, Vault, Client, str], body: bytes, content_type: str
) -> None:
    _, _, client, _ = fuzzed
    status, answer = client.send("POST", "/_vaultcore/token", body, {"Content-Type": content_type})
    assert status in (200, 400, 401), (status, answer)
    if status != 200:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str), answer
        assert isinstance(answer.get("error_description"), str)


@FUZZ
@given(
    body=st.one_of(TOKEN_FIELDS.map(lambda b: json.dumps(b).encode()), _raw_bodies()),
    tenant=st.sampled_from(["adfs", "fuzz"]),
)
def test_entra_token_endpoint_answers_bad_bodies_with_oauth_errors(
    fuzzed: tuple[BackgroundServer, Vault, Client, str], body: bytes, tenant: str
) -> None:
    """The Entra-compatible endpoint azure-identity posts to (form-encoded), for tenant ``adfs``
    and the vault's name: only OAuth errors or a token, never a 500."""
    _, _, client, _ = fuzzed
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer = client.send("POST", f"/{tenant}/oauth2/v2.0/token", body, headers)
    assert status in (200, 400, 401), (status, answer)
    if status != 200:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str), answer


def test_server_and_vault_survive_the_fuzz(fuzzed: tuple[BackgroundServer, Vault, Client, str]) -> None:
    """Runs after the fuzz tests (file order): the server answers, objects read, chain verifies."""
    _, vault, client, secret = fuzzed
    form = f"grant_type=client_credentials&client_id=fz&client_secret={secret}".encode()
    status, granted = client.send(
        "POST", "/_vaultcore/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    status, _ = client.send(
        "GET", "/secrets/keep?api-version=7.5", b"", {"Authorization": f"Bearer {granted['access_token']}"}
    )
    assert status == 200
    for props in vault.secrets.list_properties_of_secrets():
        if props.enabled:
            vault.secrets.get_secret(props.name)
    for key in vault.keys.list_properties_of_keys():
        if key.enabled:
            vault.keys.get_key(key.name)
    assert vault.audit.verify()
