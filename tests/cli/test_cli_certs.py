"""``vaultcore cert ...`` through click's CliRunner."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from clihelpers import Cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_self_signed_create_download_export(cli: Cli, tmp_path: Path) -> None:
    created = cli.json(
        "cert", "create", "web", "--subject", "CN=example.com", "--dns", "example.com", "--content-type", "pem"
    )
    assert created["policy"]["x509_props"]["subject"] == "CN=example.com" and len(created["x509_thumbprint"]) == 40
    assert created["key_id"].endswith(f"/keys/web/{created['version']}")
    cert = x509.load_pem_x509_certificate(cli.ok("cert", "download", "web").stdout_bytes)
    assert cert.subject.rfc4514_string() == "CN=example.com"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["example.com"]
    der = tmp_path / "web.der"
    cli.ok("cert", "download", "web", "--der", "--out", str(der))
    assert x509.load_der_x509_certificate(der.read_bytes()) == cert
    exported = cli.ok("cert", "export", "web").stdout_bytes
    private = serialization.load_pem_private_key(exported, None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.public_key() == cert.public_key()
    table = cli.ok("cert", "get", "web").stdout
    assert "CN=example.com" in table and "BEGIN" not in table
    assert [c["name"] for c in cli.json("cert", "list")] == ["web"]


def test_pkcs12_export_and_import_with_password(cli: Cli, tmp_path: Path) -> None:
    cli.ok(
        "cert", "create", "p12", "--subject", "CN=p12", "--content-type", "pkcs12", "--kty", "EC", "--curve", "P-256"
    )
    pfx = tmp_path / "p12.pfx"
    cli.ok("cert", "export", "p12", "--out", str(pfx))
    key, cert, _ = pkcs12.load_key_and_certificates(pfx.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and cert is not None
    protected = tmp_path / "protected.pfx"
    protected.write_bytes(
        pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.BestAvailableEncryption(b"pfx-pw"))
    )
    cli.fails(2, "cert", "import", "copy", "-f", str(protected))  # no password
    imported = cli.json("cert", "import", "copy", "-f", str(protected), env={"VAULTCORE_PFX_PASSWORD": "pfx-pw"})
    assert imported["x509_thumbprint"] == cli.json("cert", "get", "p12")["x509_thumbprint"]


def test_csr_merge_and_pending(cli: Cli, tmp_path: Path) -> None:
    op = cli.json("cert", "create", "ext", "--subject", "CN=ext.example", "--issuer", "Unknown")
    assert op["status"] == "inProgress" and op["csr"]
    cli.fails(5, "cert", "create", "ext", "--subject", "CN=ext.example", "--issuer", "Unknown")
    csr = x509.load_pem_x509_csr(cli.ok("cert", "csr", "ext").stdout_bytes)
    assert csr.subject.rfc4514_string() == "CN=ext.example"
    ca_key, ca_cert = _ca()
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .sign(ca_key, hashes.SHA256())
    )
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    ca_file = tmp_path / "ca.der"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))
    merged = cli.json("cert", "merge", "ext", "-f", str(leaf_file), "-f", str(ca_file))
    assert merged["name"] == "ext"
    assert cli.json("cert", "pending", "ext")["status"] == "completed"
    assert "no pending" in cli.fails(2, "cert", "csr", "ext").stderr
    cli.json("cert", "create", "other", "--subject", "CN=o", "--issuer", "Unknown")
    assert cli.json("cert", "pending", "other", "--cancel")["cancellation_requested"] is True
    cli.ok("cert", "pending", "other", "--delete")
    cli.fails(1, "cert", "pending", "other")


def test_policy_update_and_lifecycle(cli: Cli, tmp_path: Path) -> None:
    cli.ok("cert", "create", "c", "--subject", "CN=c", "--validity-months", "3")
    policy = cli.json("cert", "policy", "c")
    assert policy["x509_props"]["validity_months"] == 3
    policy["x509_props"]["validity_months"] = 6
    new_policy = tmp_path / "policy.json"
    new_policy.write_text(json.dumps(policy))
    assert cli.json("cert", "policy", "c", "--set", str(new_policy))["x509_props"]["validity_months"] == 6
    rotated = cli.json("cert", "create", "c", "--policy", str(new_policy))
    assert len(cli.json("cert", "versions", "c")) == 2 and rotated["policy"]["x509_props"]["validity_months"] == 6
    assert cli.json("cert", "update", "c", "--disable")["enabled"] is False
    cli.fails(2, "cert", "update", "c")
    deleted = cli.json("cert", "delete", "c")
    assert deleted["recovery_id"].endswith("/deletedcertificates/c")
    cli.fails(1, "cert", "get", "c")
    assert cli.json("cert", "recover", "c")["name"] == "c"
    (tmp_path / "bad.json").write_text("[1, 2]")
    cli.fails(2, "cert", "create", "d", "--policy", str(tmp_path / "bad.json"))


@pytest.mark.parametrize("args", [["--kty", "DSA"], ["--content-type", "zip"]])
def test_bad_certificate_options(cli: Cli, args: list[str]) -> None:
    cli.fails(2, "cert", "create", "bad", "--subject", "CN=x", *args)
