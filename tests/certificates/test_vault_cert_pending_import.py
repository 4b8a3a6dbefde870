"""vault.certificates: CSR + merge with a test CA, pending operations, PEM/PFX import with chains."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from certhelpers import START, FakeClock, TestCA
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from vaultcore import (
    CertificateContentType,
    CertificatePolicy,
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    RawKeyCredential,
    SignatureAlgorithm,
    Vault,
)


def unknown_policy(**kwargs: object) -> CertificatePolicy:
    base: dict[str, object] = {
        "issuer_name": "Unknown",
        "subject": "CN=csr.example",
        "san_dns_names": ["csr.example"],
        "key_type": "EC",
        "key_curve_name": "P-256",
    }
    base.update(kwargs)
    return CertificatePolicy(**base)  # type: ignore[arg-type]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# -- CSR + merge ----------------------------------------------------------------------


def test_csr_merge_completes_the_pending_operation(vault: Vault, ca: TestCA) -> None:
    op = vault.certificates.create_certificate("ext", unknown_policy(), tags={"from": "create"})
    assert op.status == "inProgress" and op.issuer_name == "Unknown"
    assert op.csr is not None and op.status_details and "Merge" in op.status_details
    csr = x509.load_der_x509_csr(op.csr)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=csr.example"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["csr.example"]

    pending = vault.certificates.get_certificate_operation("ext")
    assert pending.status == "inProgress" and pending.csr == op.csr and pending.request_id == op.request_id
    with pytest.raises(NotFoundError):
        vault.certificates.get_certificate("ext")  # no version until the merge
    assert list(vault.certificates.list_properties_of_certificates()) == []
    assert vault.certificates.get_certificate_policy("ext").issuer_name == "Unknown"
    with pytest.raises(ConflictError):
        vault.certificates.create_certificate("ext", unknown_policy())
    with pytest.raises(NotFoundError):
        vault.keys.get_key("ext")

    leaf = ca.sign_csr(csr)
    merged = vault.certificates.merge_certificate("ext", [der(leaf), der(ca.intermediate), der(ca.root)])
    assert merged.cer == der(leaf)
    assert merged.properties.tags == {"from": "create"}
    assert merged.policy is not None and merged.policy.issuer_name == "Unknown"
    done = vault.certificates.get_certificate_operation("ext")
    assert done.status == "completed" and done.csr is None

    # the secret holds the whole chain in order, with the key
    loaded = pkcs12.load_pkcs12(base64.b64decode(vault.secrets.get_secret("ext").value), None)
    assert loaded.cert is not None and loaded.cert.certificate == leaf
    assert [c.certificate for c in loaded.additional_certs] == [ca.intermediate, ca.root]
    assert loaded.key is not None and loaded.key.public_key() == leaf.public_key()
    key = vault.keys.get_key("ext")
    assert key.properties.version == merged.properties.version
    vault.keys.get_cryptography_client("ext").sign(SignatureAlgorithm.es256, b"\x02" * 32)
    with pytest.raises(ConflictError):
        vault.certificates.merge_certificate("ext", [der(leaf)])  # nothing pending any more


def test_merge_accepts_pem_and_base64_items(vault: Vault, ca: TestCA) -> None:
    op = vault.certificates.create_certificate("p", unknown_policy())
    assert op.csr is not None
    leaf = ca.sign_csr(x509.load_der_x509_csr(op.csr))
    got = vault.certificates.merge_certificate("p", [pem(leaf) + pem(ca.intermediate), base64.b64encode(der(ca.root))])
    assert got.cer == der(leaf)
    value = vault.secrets.get_secret("p").value
    loaded = pkcs12.load_pkcs12(base64.b64decode(value), None)
    assert [c.certificate for c in loaded.additional_certs] == [ca.intermediate, ca.root]


def test_merge_refuses_a_certificate_for_another_key(vault: Vault, ca: TestCA) -> None:
    vault.certificates.create_certificate("m", unknown_policy())
    stranger = ca.issue(ec.generate_private_key(ec.SECP256R1()), "stranger")
    with pytest.raises(InvalidParameterError, match="does not match the pending key"):
        vault.certificates.merge_certificate("m", [der(stranger)])
    with pytest.raises(InvalidParameterError):
        vault.certificates.merge_certificate("m", [b"not a certificate"])
    with pytest.raises(InvalidParameterError):
        vault.certificates.merge_certificate("m", [])
    assert vault.certificates.get_certificate_operation("m").status == "inProgress"
    with pytest.raises(NotFoundError):
        vault.certificates.merge_certificate("nothing-pending", [der(stranger)])


def test_cancel_and_delete_pending_operation(vault: Vault, ca: TestCA) -> None:
    op = vault.certificates.create_certificate("c", unknown_policy())
    cancelled = vault.certificates.cancel_certificate_operation("c")
    assert cancelled.status == "cancelled" and cancelled.cancellation_requested
    assert vault.certificates.get_certificate_operation("c").status == "cancelled"
    assert op.csr is not None
    leaf = ca.sign_csr(x509.load_der_x509_csr(op.csr))
    with pytest.raises(ConflictError):
        vault.certificates.merge_certificate("c", [der(leaf)])
    with pytest.raises(ConflictError):
        vault.certificates.cancel_certificate_operation("c")

    removed = vault.certificates.delete_certificate_operation("c")
    assert removed.status == "cancelled"
    for call in (vault.certificates.get_certificate_operation, vault.certificates.get_certificate_policy):
        with pytest.raises(NotFoundError):
            call("c")
    with pytest.raises(NotFoundError):
        vault.certificates.delete_certificate_operation("c")

    # a new request can start; deleting it while in progress abandons the key
    vault.certificates.create_certificate("c", unknown_policy())
    assert vault.certificates.delete_certificate_operation("c").status == "inProgress"
    with pytest.raises(NotFoundError):
        vault.certificates.get_certificate_operation("c")


def test_pending_renewal_of_an_existing_certificate(vault: Vault, ca: TestCA) -> None:
    """A CSR for an existing certificate keeps the current version usable until the merge."""
    vault.certificates.create_certificate("r", unknown_policy(issuer_name="Self"))
    first = vault.certificates.get_certificate("r").properties.version
    op = vault.certificates.create_certificate("r", unknown_policy())
    assert vault.certificates.get_certificate("r").properties.version == first
    assert vault.secrets.get_secret("r").properties.version == first
    assert op.csr is not None
    merged = vault.certificates.merge_certificate("r", [der(ca.sign_csr(x509.load_der_x509_csr(op.csr)))])
    assert merged.properties.version != first
    versions = [p.version for p in vault.certificates.list_properties_of_certificate_versions("r")]
    assert versions == [first, merged.properties.version]
    # the completed operation does not block deletion; a pending one survives delete/recover
    vault.certificates.create_certificate("r", unknown_policy())
    vault.certificates.delete_certificate("r")
    vault.certificates.recover_deleted_certificate("r")
    assert vault.certificates.get_certificate_operation("r").status == "inProgress"


def test_registered_issuer_leaves_a_pending_request(vault: Vault) -> None:
    vault.certificates.create_issuer("MyCA", "Test")
    op = vault.certificates.create_certificate("i", unknown_policy(issuer_name="MyCA"))
    assert op.status == "inProgress" and op.issuer_name == "MyCA" and op.csr


# -- import ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leaf_bundle(ca: TestCA) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, ca.issue(key, "imported")


def _key_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def test_import_pem_with_chain_round_trip(
    vault: Vault, ca: TestCA, leaf_bundle: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, leaf = leaf_bundle
    data = pem(ca.intermediate) + _key_pem(key, b"pw") + pem(leaf) + pem(ca.root)
    got = vault.certificates.import_certificate("pem", data, password="pw", tags={"k": "v"})
    assert got.cer == der(leaf)
    assert got.properties.tags == {"k": "v"}
    assert got.properties.not_before == leaf.not_valid_before_utc
    assert got.properties.x509_thumbprint == leaf.fingerprint(hashes.SHA1())
    policy = got.policy
    assert policy is not None
    assert policy.issuer_name == "Unknown" and policy.subject == "CN=imported"
    assert policy.content_type is CertificateContentType.pem
    assert policy.san_dns_names == ("imported.example",)

    value = vault.secrets.get_secret("pem").value
    assert vault.secrets.get_secret("pem").properties.content_type == "application/x-pem-file"
    assert "ENCRYPTED" not in value  # stored without the password
    stored_key = serialization.load_pem_private_key(value.encode(), None)
    assert isinstance(stored_key, rsa.RSAPrivateKey)
    assert stored_key.private_numbers() == key.private_numbers()
    assert x509.load_pem_x509_certificates(value.encode()) == [leaf, ca.intermediate, ca.root]


def test_import_pfx_with_chain_round_trip(
    vault: Vault, ca: TestCA, leaf_bundle: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, leaf = leaf_bundle
    pfx = pkcs12.serialize_key_and_certificates(
        b"friendly", key, leaf, [ca.intermediate, ca.root], serialization.BestAvailableEncryption(b"secret")
    )
    got = vault.certificates.import_certificate("pfx", pfx, password=b"secret", enabled=True)
    assert got.cer == der(leaf)
    assert got.policy is not None and got.policy.content_type is CertificateContentType.pkcs12
    value = vault.secrets.get_secret("pfx").value
    loaded = pkcs12.load_pkcs12(base64.b64decode(value), None)  # no password any more
    assert loaded.key is not None and loaded.cert is not None
    assert loaded.cert.certificate == leaf
    assert [c.certificate for c in loaded.additional_certs] == [ca.intermediate, ca.root]
    # base64 of a PFX (Azure's import "value") works too, as a new version
    again = vault.certificates.import_certificate("pfx", base64.b64encode(pfx), password="secret")
    assert again.properties.version != got.properties.version
    # import with a policy that asks for PEM
    as_pem = vault.certificates.import_certificate(
        "pfx2", pfx, password="secret", policy=CertificatePolicy(content_type=CertificateContentType.pem)
    )
    assert as_pem.policy is not None and as_pem.policy.content_type is CertificateContentType.pem
    assert vault.secrets.get_secret("pfx2").value.startswith("-----BEGIN PRIVATE KEY-----")


def test_import_refuses_bad_input(
    vault: Vault, ca: TestCA, leaf_bundle: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, leaf = leaf_bundle
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mismatched = _key_pem(other) + pem(leaf)
    with pytest.raises(InvalidParameterError, match="does not match"):
        vault.certificates.import_certificate("bad", mismatched)
    with pytest.raises(InvalidParameterError):
        vault.certificates.import_certificate("bad", b"\x00garbage\xff" * 10)
    with pytest.raises(InvalidParameterError):
        vault.certificates.import_certificate("bad", pem(leaf))  # no private key
    pfx = pkcs12.serialize_key_and_certificates(None, key, leaf, None, serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(InvalidParameterError) as wrong:
        vault.certificates.import_certificate("bad", pfx, password="wrong")
    assert "wrong" in str(wrong.value) and "pw" not in str(wrong.value).replace("password", "")
    with pytest.raises(InvalidParameterError):
        vault.certificates.import_certificate(
            "bad", _key_pem(key) + pem(leaf), policy=CertificatePolicy(key_type="EC", key_curve_name="P-256")
        )
    with pytest.raises(InvalidParameterError):
        vault.certificates.import_certificate("bad", _key_pem(key) + pem(leaf), password=123)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        vault.certificates.get_certificate("bad")
    with pytest.raises(NotFoundError):
        vault.keys.get_key("bad")


def test_import_while_pending_conflicts(vault: Vault, leaf_bundle: tuple[rsa.RSAPrivateKey, x509.Certificate]) -> None:
    key, leaf = leaf_bundle
    vault.certificates.create_certificate("busy", unknown_policy())
    with pytest.raises(ConflictError):
        vault.certificates.import_certificate("busy", _key_pem(key) + pem(leaf))


def test_imported_certificate_survives_reopen(
    vault: Vault,
    vault_dir: Path,
    cred: RawKeyCredential,
    clock: FakeClock,
    leaf_bundle: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    key, leaf = leaf_bundle
    vault.certificates.import_certificate("keep", _key_pem(key) + pem(leaf))
    vault.close()
    with Vault.open(vault_dir, cred, clock=clock) as reopened:
        assert reopened.certificates.get_certificate("keep").cer == der(leaf)
        assert reopened.certificates.get_certificate("keep").properties.created_on == START
