"""Unchanged Azure apps against ``vaultcore serve``: azure-identity's own credentials, sync and
async, configured only by environment variables (plus ``verify_challenge_resource=False``).

A ``vaultcore serve --port 0 -o json`` subprocess serves a vault with application principals
``sec`` (client secret), ``certapp`` (client certificate) and ``idle`` (no role); each app is a
fresh Python process (:mod:`azure_app`) whose environment is what ``serve`` and
``vaultcore env`` print. Managed identity by OS user runs as two real users made with
``useradd`` (root only; required in CI).
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import ssl
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from identityhelpers import (
    VAULT_NAME,
    Served,
    add_user,
    cli,
    client_certificate,
    remove_user,
    run_app,
    run_python,
    serve,
    traversable,
)

from vaultcore import KDF_TESTING, KeyFileCredential, Vault

OFFICER = "Key Vault Secrets Officer"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("identity")
    key_file = base / "vault.key"
    KeyFileCredential.generate(key_file)
    cert_path, cert_pem = client_certificate(base, "certapp")
    with Vault.create(base / "vault", KeyFileCredential(key_file), access_kdf=KDF_TESTING, name=VAULT_NAME) as vault:
        sec = vault.access.create_application("sec")
        vault.access.assign_role(sec.principal.id, OFFICER)
        idle = vault.access.create_application("idle")
    vault_args = ["--vault", str(base / "vault"), "--key-file", str(key_file)]
    created = cli(vault_args, "access", "principal", "create-app", "certapp", "--certificate", "-", stdin=cert_pem)
    assert created.returncode == 0 and b"client_secret" not in created.stdout, created.stderr
    assigned = cli(vault_args, "access", "role", "assign", "app:certapp", OFFICER)
    assert assigned.returncode == 0, assigned.stderr
    return {
        "base": base,
        "vault_args": vault_args,
        "key_file": key_file,
        "secrets": {"sec": sec.client_secret, "idle": idle.client_secret},
        "cert_path": cert_path,
    }


@pytest.fixture(scope="module")
def served(setup: dict[str, Any]) -> Iterator[Served]:
    with serve(setup["vault_args"], setup["base"] / "tls") as server:
        yield server


def app_env(served: Served, setup: dict[str, Any], client_id: str, *, certificate: bool = False) -> dict[str, str]:
    """What ``vaultcore env --principal`` prints for *client_id*, plus the app's vault URL."""
    args = ["-o", "json", "env", "--principal", client_id, "--url", served.url, "--ca", str(served.tls_dir / "ca.pem")]
    if certificate:
        done = cli([], *args, "--certificate-path", str(setup["cert_path"]))
    else:
        done = cli([], *args, "--secret-stdin", stdin=setup["secrets"][client_id].encode() + b"\n")
    assert done.returncode == 0, done.stderr
    env: dict[str, str] = json.loads(done.stdout)
    return {**env, "AZURE_KEYVAULT_URL": served.url}


def https_get(served: Served, path: str) -> tuple[int, dict[str, str], Any]:
    port = int(served.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=served.env["REQUESTS_CA_BUNDLE"])
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read() or b"null")
    finally:
        conn.close()


# -- what serve prints, the discovery documents and the challenge ------------------------


def test_serve_prints_the_client_environment(served: Served) -> None:
    env = served.env
    assert set(env) == {
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
    }
    assert env["AZURE_AUTHORITY_HOST"] == served.url and env["AZURE_TENANT_ID"] == "adfs"
    assert env["IDENTITY_ENDPOINT"] == served.url + "/msi/token"
    public = Path(env["REQUESTS_CA_BUNDLE"])
    assert env["SSL_CERT_FILE"] == str(public)
    assert public.read_bytes() == (served.tls_dir / "ca.pem").read_bytes()
    assert stat.S_IMODE(public.stat().st_mode) == 0o644 and stat.S_IMODE(public.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE((served.tls_dir / "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(served.tls_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "path", ["/adfs/.well-known/openid-configuration", f"/{VAULT_NAME}/v2.0/.well-known/openid-configuration"]
)
def test_openid_configuration(served: Served, path: str) -> None:
    status, headers, doc = https_get(served, path)
    tenant = path.split("/")[1]
    assert status == 200 and headers["cache-control"] == "no-store"
    assert doc["token_endpoint"] == f"{served.url}/{tenant}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{served.url}/{tenant}/oauth2/v2.0/authorize"
    assert doc["issuer"] == f"{served.url}/{tenant}"


def test_challenge_names_the_server_as_authority(served: Served) -> None:
    status, headers, _ = https_get(served, "/secrets/anything?api-version=7.5")
    assert status == 401
    assert (
        headers["www-authenticate"] == f'Bearer authorization="{served.url}/adfs", resource="https://vault.azure.net"'
    )


def test_other_tenants_are_not_served(served: Served) -> None:
    status, _, _ = https_get(served, "/contoso/v2.0/.well-known/openid-configuration")
    assert status == 401  # not ours: the vault's own rules (no token) apply


# -- client credentials -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", ["secret", "certificate", "default"])
def test_unchanged_app_with_client_credentials(served: Served, setup: dict[str, Any], kind: str, mode: str) -> None:
    certificate = kind == "certificate" or (mode == "async" and kind == "default")
    client_id = "certapp" if certificate else "sec"
    env = app_env(served, setup, client_id, certificate=certificate)
    if kind == "default":  # both blocks exported: client credentials win over the managed identity
        env = {**served.env, **env}
    name = f"{kind}-{mode}"
    assert run_app(env, kind, mode, name, f"value of {name}") == {"value": f"value of {name}"}


def test_a_wrong_secret_is_refused(served: Served, setup: dict[str, Any]) -> None:
    env = {**app_env(served, setup, "sec"), "AZURE_CLIENT_SECRET": "not-the-secret"}
    result = run_app(env, "secret", "sync", "whatever")
    assert result["error"] == "ClientAuthenticationError" and "invalid client credentials" in result["message"]


def test_a_certificate_of_another_app_is_refused(served: Served, setup: dict[str, Any]) -> None:
    other, _ = client_certificate(setup["base"], "stranger")
    env = {**app_env(served, setup, "certapp", certificate=True), "AZURE_CLIENT_CERTIFICATE_PATH": str(other)}
    result = run_app(env, "certificate", "async", "whatever")
    assert result["error"] == "ClientAuthenticationError" and "not registered" in result["message"]


def test_an_app_without_a_role_gets_403(served: Served, setup: dict[str, Any]) -> None:
    result = run_app(app_env(served, setup, "idle"), "default", "sync", "secret-sync")
    assert result["error"] == "HttpResponseError" and result["status"] == 403


# -- managed identity: the OS user -------------------------------------------------------


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the managed-identity test needs root in CI (useradd, runuser)")
        pytest.skip("needs root (useradd, runuser): runs in CI")
    alice, bob = add_user(), add_user()
    try:
        yield alice, bob
    finally:
        remove_user(alice[0])
        remove_user(bob[0])


def test_managed_identity_is_the_os_user(setup: dict[str, Any], two_users: Any) -> None:
    (alice, alice_uid), (bob, bob_uid) = two_users
    here = Path(__file__).resolve()
    # The socket lives outside pytest's temp root, which other pytest sessions reset to 0700.
    sockets = Path(tempfile.mkdtemp(prefix="vcmi-"))
    sockets.chmod(0o711)
    sock = sockets / "mi.sock"
    reach = [Path(sys.executable), Path(sys.executable).resolve(), here, sockets, *map(Path, sys.path[1:])]
    served = serve(setup["vault_args"], setup["base"] / "tls-mi", "--unix-socket", str(sock))
    with served as server, traversable([p for p in reach if p.exists()]):
        assert server.info["unix_socket"] == str(sock) and stat.S_IMODE(sock.stat().st_mode) == 0o666
        # Roles are given while the server runs (another process writing the same vault).
        assigned = cli(setup["vault_args"], "-o", "json", "access", "role", "assign", "--os-user", alice, OFFICER)
        assert assigned.returncode == 0, assigned.stderr
        assert json.loads(assigned.stdout)["principal_id"] == f"uid:{alice_uid}"
        env = {**server.env, "AZURE_KEYVAULT_URL": server.url}
        assert run_app(env, "managed", "sync", "mi", "set by alice", user=alice) == {"value": "set by alice"}
        assert run_app(env, "managed", "async", "mi", user=alice) == {"value": "set by alice"}
        assert run_app(env, "default", "async", "mi", user=alice) == {"value": "set by alice"}
        assert run_app(env, "default", "sync", "mi", user=alice) == {"value": "set by alice"}
        refused = run_app(env, "managed", "sync", "mi", user=bob)
        assert refused["error"] == "HttpResponseError" and refused["status"] == 403
        refused = run_app(env, "managed", "async", "mi", user=bob)
        assert refused["status"] == 403
        # The header proves nothing: root's own connection is root's identity, whatever it sends.
        assert run_app(env, "managed", "sync", "mi")["status"] == 403
        # On the Unix socket the kernel names the caller too (SO_PEERCRED).
        unix = [str(here.with_name("unix_client.py")), str(sock), server.env["SSL_CERT_FILE"], "mi"]
        by_alice = run_python(unix, {}, user=alice)
        alice_read = {"token_status": 200, "client_id": f"uid:{alice_uid}", "status": 200, "value": "set by alice"}
        assert by_alice == alice_read
        by_bob = run_python(unix, {}, user=bob)
        assert by_bob["client_id"] == f"uid:{bob_uid}" and by_bob["status"] == 403
    assert not sock.exists()  # removed when the server stops
    sockets.rmdir()
    with Vault.open(setup["base"] / "vault", KeyFileCredential(setup["key_file"])) as vault:
        issued = vault.audit.events(operation="ManagedIdentityToken")
        names = {p.id: p.display_name for p in vault.access.list_principals()}
    by_uid = {(e.principal, e.caller.get("uid"), e.result) for e in issued}
    assert (f"uid:{alice_uid}", alice_uid, "success") in by_uid
    assert (f"uid:{bob_uid}", bob_uid, "success") in by_uid
    assert all(e.caller.get("via") == "akv-server-msi" for e in issued)
    assert names[f"uid:{alice_uid}"] == alice and names[f"uid:{bob_uid}"] == bob
    assert pwd.getpwuid(alice_uid).pw_name == alice


def test_vault_name_tenant_without_instance_discovery(served: Served, setup: dict[str, Any]) -> None:
    """Apps that pass ``disable_instance_discovery=True`` in code may use the vault's name as tenant."""
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    ca = served.env["REQUESTS_CA_BUNDLE"]
    credential = ClientSecretCredential(
        VAULT_NAME,
        "sec",
        setup["secrets"]["sec"],
        authority=served.url,
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    with credential, SecretClient(served.url, credential, verify_challenge_resource=False, connection_verify=ca) as c:
        c.set_secret("tenant-by-name", "ok")
        assert c.get_secret("tenant-by-name").value == "ok"


def test_env_command(served: Served, setup: dict[str, Any]) -> None:
    ca = str(served.tls_dir / "ca.pem")
    managed = cli([], "env", "--url", served.url, "--ca", ca)
    assert managed.returncode == 0, managed.stderr
    lines = managed.stdout.decode().splitlines()
    assert f"export IDENTITY_ENDPOINT={served.url}/msi/token" in lines and "export AZURE_TENANT_ID=adfs" in lines
    assert not any("AZURE_CLIENT_ID" in line for line in lines)
    app = cli([], "env", "--principal", "sec", "--url", served.url, "--ca", ca, "--secret-stdin", stdin=b"s3c r&t\n")
    assert "export AZURE_CLIENT_SECRET='s3c r&t'" in app.stdout.decode().splitlines()
    from_stdin = cli([], "env", "--principal", "sec", "--url", served.url, "--ca", ca, stdin=b"from-stdin\n")
    assert "export AZURE_CLIENT_SECRET=from-stdin" in from_stdin.stdout.decode().splitlines()
    assert cli([], "env", "--principal", "sec", "--url", served.url, stdin=b"").returncode != 0  # no secret
    both = ["--secret-stdin", "--certificate-path", str(setup["cert_path"])]
    assert cli([], "env", "--principal", "sec", "--url", served.url, *both).returncode == 2
    assert cli([], "env", "--secret-stdin", stdin=b"x").returncode == 2  # a secret without a principal
    assert cli([], "env", "--url", "http://localhost:1").returncode == 2
    # Without --url: the running serve of the vault named by --vault announced its URL and CA.
    found = cli(setup["vault_args"], "-o", "json", "env", "--principal", "sec", "--secret-stdin", stdin=b"s\n")
    assert found.returncode == 0, found.stderr
    announced = json.loads(found.stdout)
    assert announced["AZURE_AUTHORITY_HOST"] == served.url
    assert announced["SSL_CERT_FILE"] == served.env["SSL_CERT_FILE"]
    unknown = cli(setup["vault_args"], "access", "role", "assign", "--os-user", "no-such-user-x", OFFICER)
    assert unknown.returncode == 2 and b"no OS user" in unknown.stderr


def test_sync_certificate_credential_reuses_its_assertion(served: Served, setup: dict[str, Any]) -> None:
    """MSAL signs one assertion and reuses it for ~9 minutes (here: a claims challenge forces a
    second token request); the same OS user may present it again, so this works."""
    from azure.identity import CertificateCredential

    ca = served.env["REQUESTS_CA_BUNDLE"]
    scope = "https://vault.azure.net/.default"
    with CertificateCredential(
        "adfs", "certapp", str(setup["cert_path"]), authority=served.url, connection_verify=ca
    ) as credential:
        first = credential.get_token(scope)
        challenged = credential.get_token(scope, claims='{"access_token":{"nbf":{"essential":true,"value":"1"}}}')
    assert first.token != challenged.token
