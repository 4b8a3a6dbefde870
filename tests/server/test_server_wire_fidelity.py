"""Wire fidelity with Azure Key Vault, through the official SDK clients (sync and aio) and raw HTTPS.

Each test names the Azure behaviour it checks: expired secrets are readable, list items carry
unversioned ids, tag values up to 512 characters, ``outContentType``, ``includePending``,
``preserveCertOrder``, the PKCS#11-named key wraps, ``SecretTooLarge``, ``api-version``, and
injected faults for retry tests.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError
from azure.keyvault.certificates import CertificateClient, CertificatePolicy
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.x509.oid import NameOID
from serverhelpers import Server, unique

from vaultcore.server import AsyncServerCredential

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# -- secrets ---------------------------------------------------------------------------


def test_expired_and_not_yet_valid_secrets_are_readable_disabled_ones_are_not(srv: Server) -> None:
    # Azure: "a secret's get operation will work for not-yet-valid and expired secrets".
    gone, later, off = unique("gone"), unique("later"), unique("off")
    with srv.client(SecretClient) as client:
        client.set_secret(gone, "old", expires_on=NOW - dt.timedelta(days=1))
        client.set_secret(later, "new", not_before=NOW + dt.timedelta(days=1))
        client.set_secret(off, "x", enabled=False)
        expired = client.get_secret(gone)
        assert expired.value == "old" and expired.properties.expires_on == NOW - dt.timedelta(days=1)
        assert client.get_secret(later).value == "new"
        with pytest.raises(HttpResponseError) as refused:
            client.get_secret(off)
        assert refused.value.status_code == 403
        assert refused.value.error is not None and refused.value.error.code == "Forbidden"


def test_list_items_have_unversioned_ids_and_version_lists_keep_them(srv: Server) -> None:
    name = unique("ids")
    with srv.client(SecretClient) as client:
        client.set_secret(name, "1")
        v2 = client.set_secret(name, "2")
        listed = next(p for p in client.list_properties_of_secrets() if p.name == name)
        assert listed.version is None and listed.id == f"{srv.url}/secrets/{name}"
        versions = {p.version for p in client.list_properties_of_secret_versions(name)}
        assert v2.properties.version in versions and None not in versions
        client.begin_delete_secret(name).wait()
        deleted = next(d for d in client.list_deleted_secrets() if d.name == name)
        assert deleted.properties.version is None and deleted.recovery_id == f"{srv.url}/deletedsecrets/{name}"
        client.purge_deleted_secret(name)
    key = unique("ids")
    with srv.client(KeyClient) as keys:
        keys.create_ec_key(key)
        item = next(p for p in keys.list_properties_of_keys() if p.name == key)
        assert item.version is None and item.id == f"{srv.url}/keys/{key}"
        assert all(p.version for p in keys.list_properties_of_key_versions(key))


def test_tag_values_up_to_512_characters(srv: Server) -> None:
    name = unique("tags")
    with srv.client(SecretClient) as client:
        stored = client.set_secret(name, "v", tags={"long": "t" * 512})
        assert stored.properties.tags == {"long": "t" * 512}
        with pytest.raises(HttpResponseError) as refused:
            client.set_secret(name, "v", tags={"long": "t" * 513})
        assert refused.value.status_code == 400


def test_oversize_secret_has_the_secret_too_large_inner_code(srv: Server) -> None:
    reply = srv.request("PUT", f"/secrets/{unique('big')}", {"value": "x" * (25 * 1024 + 1)})
    assert reply.status == 400
    assert reply.body["error"]["code"] == "BadParameter"
    assert reply.body["error"]["innererror"]["code"] == "SecretTooLarge"


# -- certificates ----------------------------------------------------------------------


def test_out_content_type_converts_a_pfx_backed_secret_to_pem(srv: Server) -> None:
    name = unique("pfx")
    with srv.client(CertificateClient) as certs:
        cert = certs.begin_create_certificate(name, CertificatePolicy.get_default()).result()
    with srv.client(SecretClient) as client:
        as_stored = client.get_secret(name)
        assert as_stored.properties.content_type == "application/x-pkcs12"
        pem = client.get_secret(name, out_content_type="application/x-pem-file")
    assert pem.properties.content_type == "application/x-pem-file"
    assert pem.value.startswith("-----BEGIN PRIVATE KEY-----")
    leaf = x509.load_pem_x509_certificates(pem.value.encode())[0]
    assert leaf.public_bytes(serialization.Encoding.DER) == cert.cer
    # PEM to PFX is not offered (as in Azure); an unknown media type is a bad parameter
    for bad in ("application/json",):
        reply = srv.request("GET", f"/secrets/{name}/?outContentType={bad}")
        assert reply.status == 400 and reply.body["error"]["code"] == "BadParameter"
    # a plain secret comes back as it is
    plain = unique("plain")
    with srv.client(SecretClient) as client:
        client.set_secret(plain, "not a certificate", content_type="application/x-pkcs12")
        assert client.get_secret(plain, out_content_type="application/x-pem-file").value == "not a certificate"


def test_include_pending_lists_certificates_whose_first_version_is_pending(srv: Server) -> None:
    name = unique("pending")
    with srv.client(CertificateClient) as certs:
        certs.begin_create_certificate(name, CertificatePolicy(issuer_name="Unknown", subject="CN=pending"))
        assert name not in {p.name for p in certs.list_properties_of_certificates()}
        listed = {p.name: p for p in certs.list_properties_of_certificates(include_pending=True)}
        assert name in listed and listed[name].version is None
        certs.delete_certificate_operation(name)


def _chain() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def build(
        subject: str, issuer: str, public: object, signer: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca = build("Order CA", "Order CA", ca_key.public_key(), ca_key, True)
    return key, build("order.example", "Order CA", key.public_key(), ca_key, False), ca


@pytest.mark.parametrize("preserve", [True, False])
def test_preserve_cert_order_on_import(srv: Server, preserve: bool) -> None:
    key, leaf, ca = _chain()
    pem = b"".join(
        [
            ca.public_bytes(serialization.Encoding.PEM),  # the CA first, as some tools write it
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            leaf.public_bytes(serialization.Encoding.PEM),
        ]
    )
    name = unique("order")
    policy = CertificatePolicy(issuer_name="Unknown", subject="CN=order.example", content_type="application/x-pem-file")
    with srv.client(CertificateClient) as certs:
        imported = certs.import_certificate(name, pem, policy=policy, preserve_order=preserve)
        assert imported.properties.preserve_order is preserve
        assert imported.cer == leaf.public_bytes(serialization.Encoding.DER)
    with srv.client(SecretClient) as client:
        value = client.get_secret(name).value
    order = [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(value.encode())]
    expected = ["CN=Order CA", "CN=order.example"] if preserve else ["CN=order.example", "CN=Order CA"]
    assert order == expected


# -- keys ------------------------------------------------------------------------------


def test_ckm_key_wrap_algorithms_over_rest(srv: Server) -> None:
    name = unique("ckm")
    secret = os.urandom(32)
    with srv.client(KeyClient) as keys:
        from azure.keyvault.keys import JsonWebKey

        keys.import_key(name, JsonWebKey(kty="oct", k=secret, key_ops=["wrapKey", "unwrapKey"]))
        key_id = keys.get_key(name).id
        with CryptographyClient(key_id, srv.credential(), **srv.server.client_kwargs) as crypto:
            data = os.urandom(21)
            wrapped = crypto.wrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap_pad, data)
            assert aes_key_unwrap_with_padding(secret, wrapped.encrypted_key) == data
            assert crypto.unwrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap_pad, wrapped.encrypted_key).key == data
            cek = os.urandom(32)
            plain = crypto.wrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap, cek).encrypted_key
            assert crypto.unwrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap, plain).key == cek


# -- protocol --------------------------------------------------------------------------


def test_api_version_is_required_and_any_well_formed_version_is_accepted(srv: Server) -> None:
    name = unique("api")
    assert srv.request("PUT", f"/secrets/{name}", {"value": "v"}).status == 200
    for version in ("7.0", "7.6", "2016-10-01", "2025-07-01", "7.6-preview.2", "2026-04-01-preview"):
        assert srv.request("GET", f"/secrets/{name}/", api_version=version).status == 200, version
    missing = srv.request("GET", f"/secrets/{name}/", api_version=None)
    assert missing.status == 400 and missing.body["error"]["code"] == "BadParameter"
    assert "api-version" in missing.body["error"]["message"]
    for bad in ("latest", "7", "2025-7-1", "7.6;drop"):
        assert srv.request("GET", f"/secrets/{name}/", api_version=bad).status == 400, bad


def test_audit_events_carry_the_clients_request_id_header(srv: Server) -> None:
    name = unique("rid")
    reply = srv.request("PUT", f"/secrets/{name}", {"value": "v"}, headers={"x-ms-client-request-id": "my-trace-42"})
    assert reply.status == 200 and reply.headers["x-ms-client-request-id"] == "my-trace-42"
    srv.vault.audit.flush()
    events = [e for e in srv.vault.audit.events() if e.object_id and name.lower() in e.object_id]
    assert [e.request_id for e in events] == ["my-trace-42"]


def test_injected_faults_throttle_delay_and_drop(akv_server) -> None:  # type: ignore[no-untyped-def]
    with SecretClient(akv_server.url, akv_server.credential, **akv_server.client_kwargs) as client:
        client.set_secret("retry", "v")
        akv_server.inject("throttle=1,retry_after=0")
        with (
            SecretClient(
                akv_server.url, akv_server.credential, retry_total=0, **akv_server.client_kwargs
            ) as no_retries,
            pytest.raises(HttpResponseError) as throttled,
        ):
            no_retries.get_secret("retry")
        assert throttled.value.status_code == 429
        assert throttled.value.response is not None and throttled.value.response.headers["Retry-After"] == "0"
        akv_server.inject("latency=300ms")
        started = time.monotonic()
        assert client.get_secret("retry").value == "v"
        assert time.monotonic() - started >= 0.3  # a lower bound only: the delay happened
        akv_server.inject("reset=1")
        with (
            SecretClient(
                akv_server.url, akv_server.credential, retry_total=0, **akv_server.client_kwargs
            ) as no_retries,
            pytest.raises((ServiceRequestError, ServiceResponseError)),
        ):
            no_retries.get_secret("retry")
        akv_server.inject("throttle=0.5,retry_after=0")  # the SDK's retry policy gets through
        with SecretClient(
            akv_server.url, akv_server.credential, retry_total=40, retry_status=40, **akv_server.client_kwargs
        ) as patient:  # 41 throttles in a row at p=0.5 would be needed to fail
            assert all(patient.get_secret("retry").value == "v" for _ in range(5))
        akv_server.inject(None)
        assert client.get_secret("retry").value == "v"


def test_bad_fault_specs_are_refused() -> None:
    from vaultcore import InvalidParameterError
    from vaultcore.server._faults import FaultPlan

    for spec in ("throttle=2", "latency=fast", "bogus=1", "throttle", "retry_after=-1"):
        with pytest.raises(InvalidParameterError):
            FaultPlan.parse(spec)
    plan = FaultPlan.parse("throttle=0.25,latency=1.5s,reset=0", seed=7)
    assert plan.latency == 1.5 and plan.throttle == 0.25 and plan.active
    draws = [plan.throttled() for _ in range(2000)]
    assert 300 < sum(draws) < 700  # about a quarter, from a seeded generator


# -- the async clients -----------------------------------------------------------------


def test_async_clients_see_the_same_wire(srv: Server) -> None:
    from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

    name = unique("aio")

    async def run() -> None:
        credential = AsyncServerCredential(srv.url, "ci", srv.secrets["ci"], ca_path=srv.ca_path)
        async with credential, AsyncSecretClient(srv.url, credential, **srv.server.client_kwargs) as client:
            await client.set_secret(name, "old", expires_on=NOW - dt.timedelta(days=1))
            assert (await client.get_secret(name)).value == "old"
            listed = [p async for p in client.list_properties_of_secrets() if p.name == name]
            assert [p.version for p in listed] == [None]
            await client.delete_secret(name)
            with pytest.raises(ResourceNotFoundError):
                await client.get_secret(name)

    asyncio.run(run())


def test_managed_secret_value_is_base64_pfx(srv: Server) -> None:
    # sanity for the conversion above: what Azure stores for a PKCS#12 certificate's secret
    name = unique("b64")
    with srv.client(CertificateClient) as certs:
        certs.begin_create_certificate(name, CertificatePolicy.get_default()).result()
    with srv.client(SecretClient) as client:
        value = client.get_secret(name).value
    assert value is not None and base64.b64decode(value)[:1] == b"\x30"


def test_serve_refuses_a_bad_inject_spec_before_serving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from vaultcore.cli import cli

    env = {"VAULTCORE_VAULT": str(tmp_path / "v"), "VAULTCORE_PASSPHRASE": "pw"}
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--kdf-profile", "interactive"], env=env).exit_code == 0
    result = runner.invoke(cli, ["serve", "--tls-dir", str(tmp_path / "tls"), "--inject", "throttle=3"], env=env)
    assert result.exit_code == 2 and "probability" in result.output
