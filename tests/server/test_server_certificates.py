"""Certificates through azure-keyvault-certificates (CertificateClient) against the server."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.certificates import (
    CertificateClient,
    CertificateContact,
    CertificateContentType,
    CertificateOperation,
    CertificatePolicy,
    WellKnownIssuerNames,
)
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from serverhelpers import POLL, Server, unique


def _self_signed(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_create_with_the_default_policy(srv: Server) -> None:
    name = unique("cert")
    with srv.client(CertificateClient) as client:
        poller = client.begin_create_certificate(name, CertificatePolicy.get_default(), tags={"k": "v"}, **POLL)
        cert = poller.result()
        assert poller.done()
        assert cert.name == name and cert.id.startswith(f"{srv.url}/certificates/{name}/")
        assert cert.key_id == f"{srv.url}/keys/{name}/{cert.properties.version}"
        assert cert.secret_id == f"{srv.url}/secrets/{name}/{cert.properties.version}"
        parsed = x509.load_der_x509_certificate(cert.cer)
        assert parsed.subject.rfc4514_string() == "CN=DefaultPolicy"
        assert cert.properties.x509_thumbprint == parsed.fingerprint(hashes.SHA1())
        assert cert.properties.tags == {"k": "v"}
        policy = cert.policy
        assert policy is not None and policy.issuer_name == "Self" and policy.key_size == 2048
        assert policy.content_type == CertificateContentType.pkcs12 and policy.validity_in_months == 12

        assert client.get_certificate_version(name, cert.properties.version).cer == cert.cer
        assert client.get_certificate_operation(name).status == "completed"
        assert name in {c.name for c in client.list_properties_of_certificates()}
        assert [v.version for v in client.list_properties_of_certificate_versions(name)] == [cert.properties.version]
        fetched_policy = client.get_certificate_policy(name)
        assert fetched_policy.subject == "CN=DefaultPolicy"
        changed = client.update_certificate_policy(name, CertificatePolicy(subject="CN=renamed", validity_in_months=6))
        assert changed.subject == "CN=renamed" and changed.validity_in_months == 6
        disabled = client.update_certificate_properties(name, enabled=False)
        assert disabled.properties.enabled is False

    with srv.client(SecretClient) as secrets, pytest.raises(HttpResponseError) as forbidden:
        secrets.get_secret(name)  # the backing secret follows the certificate's enabled flag
    assert forbidden.value.status_code == 403


def test_import_pfx_delete_recover_purge_backup(srv: Server) -> None:
    name = unique("pfx")
    key, cert = _self_signed("imported.example")
    pfx = pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(b"pfx-password")
    )
    with srv.client(CertificateClient) as client:
        imported = client.import_certificate(name, pfx, password="pfx-password", tags={"src": "pfx"})
        assert imported.cer == cert.public_bytes(serialization.Encoding.DER)
        assert imported.policy is not None and imported.policy.issuer_name == "Unknown"
        with pytest.raises(HttpResponseError) as wrong_password:
            client.import_certificate(unique("pfx"), pfx, password="wrong")
        assert wrong_password.value.status_code == 400

        with srv.client(SecretClient) as secrets:
            value = secrets.get_secret(name)
            assert value.properties.content_type == "application/x-pkcs12" and value.properties.managed
            assert value.properties.key_id == f"{srv.url}/keys/{name}/{imported.properties.version}"
            loaded = pkcs12.load_key_and_certificates(base64.b64decode(value.value), None)
            assert loaded[1] == cert

        backup = client.backup_certificate(name)
        deleted = client.begin_delete_certificate(name, **POLL).result()
        assert deleted.recovery_id == f"{srv.url}/deletedcertificates/{name}"
        assert deleted.deleted_on is not None and deleted.scheduled_purge_date is not None
        assert client.get_deleted_certificate(name).name == name
        assert name in {c.name for c in client.list_deleted_certificates()}
        with pytest.raises(ResourceNotFoundError):
            client.get_certificate(name)
        with pytest.raises(ResourceExistsError):
            client.import_certificate(name, pfx, password="pfx-password")

        recovered = client.begin_recover_deleted_certificate(name, **POLL).result()
        assert recovered.cer == imported.cer
        client.begin_delete_certificate(name, **POLL).wait()
        client.purge_deleted_certificate(name)
        with pytest.raises(ResourceNotFoundError):
            client.get_deleted_certificate(name)
        restored = client.restore_certificate_backup(backup)
        assert restored.name == name and restored.cer == imported.cer


def test_pending_csr_merge_and_cancel(srv: Server) -> None:
    name = unique("csr")
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.unknown, subject="CN=merged.example")
    ca_key, ca_cert = _self_signed("test CA")
    with srv.client(CertificateClient) as client:
        operation = client.begin_create_certificate(name, policy, **POLL).result()
        assert isinstance(operation, CertificateOperation)
        assert operation.status == "inProgress" and operation.csr
        with pytest.raises(ResourceExistsError):
            client.begin_create_certificate(name, policy, **POLL)
        csr = x509.load_der_x509_csr(client.get_certificate_operation(name).csr)
        now = dt.datetime.now(dt.UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=10))
            .sign(ca_key, hashes.SHA256())
        )
        merged = client.merge_certificate(
            name, [leaf.public_bytes(serialization.Encoding.DER), ca_cert.public_bytes(serialization.Encoding.DER)]
        )
        assert merged.cer == leaf.public_bytes(serialization.Encoding.DER)
        assert client.get_certificate_operation(name).status == "completed"

        other = unique("cancel")
        client.begin_create_certificate(other, policy, **POLL).result()
        cancelled = client.cancel_certificate_operation(other)
        assert cancelled.status == "cancelled" and cancelled.cancellation_requested
        removed = client.delete_certificate_operation(other)
        assert removed.name == other
        with pytest.raises(ResourceNotFoundError):
            client.get_certificate_operation(other)


def test_contacts_and_issuers(srv: Server) -> None:
    with srv.client(CertificateClient) as client:
        contacts = client.set_contacts([CertificateContact(email="ops@example.com", name="Ops", phone="123")])
        assert [c.email for c in contacts] == ["ops@example.com"]
        assert [c.name for c in client.get_contacts()] == ["Ops"]
        assert [c.phone for c in client.delete_contacts()] == ["123"]
        with pytest.raises(ResourceNotFoundError):
            client.get_contacts()

        issuer_name = unique("issuer")
        issuer = client.create_issuer(issuer_name, "Test", account_id="acct", password="issuer-pw", enabled=True)
        assert issuer.name == issuer_name and issuer.provider == "Test" and issuer.account_id == "acct"
        assert issuer.id == f"{srv.url}/certificates/issuers/{issuer_name}"
        assert client.update_issuer(issuer_name, account_id="acct2").account_id == "acct2"
        assert client.get_issuer(issuer_name).enabled is True
        assert issuer_name in {i.name for i in client.list_properties_of_issuers()}
        raw_issuer = srv.request("GET", f"/certificates/issuers/{issuer_name}")
        assert raw_issuer.body["credentials"] == {"account_id": "acct2"}  # the password never comes back
        client.delete_issuer(issuer_name)
        with pytest.raises(ResourceNotFoundError):
            client.get_issuer(issuer_name)
    raw = srv.request("GET", f"/certificates/issuers/{issuer_name}")
    assert raw.status == 404
