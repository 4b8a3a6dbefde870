"""vault.certificates: self-signed issuance, backing key and secret, lifecycle, backup, tampering."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from certhelpers import KIND_CERTIFICATE, START, FakeClock, flip_byte
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vaultcore import (
    CertificateContentType,
    CertificatePolicy,
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    KeyUsageType,
    NotFoundError,
    RawKeyCredential,
    SignatureAlgorithm,
    Vault,
)
from vaultcore.certificates._x509 import UPN_OID


def ec_policy(**kwargs: object) -> CertificatePolicy:
    """A fast policy: EC P-256 self-signed."""
    base: dict[str, object] = {
        "issuer_name": "Self",
        "subject": "CN=fast.example",
        "key_type": "EC",
        "key_curve_name": "P-256",
    }
    base.update(kwargs)
    return CertificatePolicy(**base)  # type: ignore[arg-type]


def der_of(vault: Vault, name: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(vault.certificates.get_certificate(name).cer)


# -- issuance -------------------------------------------------------------------------


def test_default_policy_issues_azure_defaults(vault: Vault) -> None:
    op = vault.certificates.create_certificate("web")
    assert op.status == "inProgress"
    assert op.issuer_name == "Self"
    assert op.id is not None and op.id.endswith("/certificates/web/pending")
    done = vault.certificates.get_certificate_operation("web")
    assert done.status == "completed" and done.request_id == op.request_id

    got = vault.certificates.get_certificate("web")
    cert = x509.load_der_x509_certificate(got.cer)
    assert cert.subject.rfc4514_string() == "CN=DefaultPolicy"
    assert cert.issuer == cert.subject
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert cert.not_valid_before_utc == START
    assert cert.not_valid_after_utc == START.replace(year=2031)
    ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(ekus) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign

    policy = got.policy
    assert policy is not None
    assert policy.key_type == "RSA" and policy.key_size == 2048 and policy.exportable is True
    assert policy.content_type is CertificateContentType.pkcs12
    assert policy.validity_in_months == 12
    actions = policy.lifetime_actions or ()
    assert [(a.action.value, a.lifetime_percentage) for a in actions] == [("AutoRenew", 80)]
    assert policy.created_on == START and policy.updated_on == START

    props = got.properties
    assert props.x509_thumbprint == cert.fingerprint(hashes.SHA1())
    assert props.not_before == START and props.expires_on == START.replace(year=2031)
    assert props.enabled and not props.managed


def test_policy_subject_sans_ekus_key_usage_validity(vault: Vault) -> None:
    policy = CertificatePolicy(
        "Self",
        subject="CN=api.example, O=Example Corp, C=US",
        san_dns_names=["api.example", "www.api.example"],
        san_emails=["ops@example.com"],
        san_user_principal_names=["svc@example.com"],
        san_uris=["https://api.example/id"],
        san_ip_addresses=["192.0.2.7", "2001:db8::1"],
        enhanced_key_usage=["1.3.6.1.5.5.7.3.1"],
        key_usage=[KeyUsageType.digital_signature],
        key_type="EC",
        key_curve_name="P-384",
        validity_in_months=3,
    )
    vault.certificates.create_certificate("api", policy, tags={"env": "test"})
    got = vault.certificates.get_certificate("api")
    cert = x509.load_der_x509_certificate(got.cer)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "api.example"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Corp"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example", "www.api.example"]
    assert san.get_values_for_type(x509.RFC822Name) == ["ops@example.com"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://api.example/id"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    assert [o.type_id for o in san.get_values_for_type(x509.OtherName)] == [UPN_OID]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert cert.not_valid_after_utc == START.replace(month=4)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA384()))
    assert got.properties.tags == {"env": "test"}


def test_kid_and_sid_share_the_version(vault: Vault) -> None:
    vault.certificates.create_certificate("c", ec_policy())
    got = vault.certificates.get_certificate("c")
    version = got.properties.version
    assert got.key_id == f"{vault.vault_url}/keys/c/{version}"
    assert got.secret_id == f"{vault.vault_url}/secrets/c/{version}"
    key = vault.keys.get_key("c")
    secret = vault.secrets.get_secret("c")
    assert key.properties.version == version and key.properties.managed
    assert secret.properties.version == version and secret.properties.managed
    assert secret.properties.key_id == got.key_id
    assert key.key_operations == ["sign", "verify"]
    # a second version: all three move together
    vault.certificates.create_certificate("c", ec_policy())
    second = vault.certificates.get_certificate("c").properties.version
    assert second != version
    assert vault.keys.get_key("c").properties.version == second
    assert vault.secrets.get_secret("c").properties.version == second
    assert [p.version for p in vault.certificates.list_properties_of_certificate_versions("c")] == [version, second]


def test_backing_secret_holds_a_pfx_without_password_and_the_key_signs(vault: Vault) -> None:
    vault.certificates.create_certificate("pfx", ec_policy())
    secret = vault.secrets.get_secret("pfx")
    assert secret.properties.content_type == "application/x-pkcs12"
    loaded = pkcs12.load_pkcs12(base64.b64decode(secret.value), None)
    assert loaded.key is not None and loaded.cert is not None
    cert = der_of(vault, "pfx")
    assert loaded.cert.certificate == cert

    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"hello")
    value = digest.finalize()
    signed = vault.keys.get_cryptography_client("pfx").sign(SignatureAlgorithm.es256, value)
    r, s = int.from_bytes(signed.signature[:32], "big"), int.from_bytes(signed.signature[32:], "big")
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(encode_dss_signature(r, s), value, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_pem_content_type_and_rsa_key_usable(vault: Vault) -> None:
    policy = CertificatePolicy("Self", subject="CN=pem", content_type=CertificateContentType.pem)
    vault.certificates.create_certificate("pem", policy)
    secret = vault.secrets.get_secret("pem")
    assert secret.properties.content_type == "application/x-pem-file"
    assert "-----BEGIN PRIVATE KEY-----" in secret.value
    key = serialization.load_pem_private_key(secret.value.encode(), None)
    cert = x509.load_pem_x509_certificate(secret.value.encode())
    assert isinstance(key, rsa.RSAPrivateKey)
    assert cert == der_of(vault, "pem")
    ops = vault.keys.get_key("pem").key_operations
    assert set(ops) == {"sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"}
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"x")
    value = digest.finalize()
    result = vault.keys.get_cryptography_client("pem").sign(SignatureAlgorithm.rs256, value)
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(result.signature, value, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


@pytest.mark.parametrize("content_type", [CertificateContentType.pkcs12, CertificateContentType.pem])
def test_non_exportable_policy_gives_a_secret_without_private_key(
    vault: Vault, content_type: CertificateContentType
) -> None:
    vault.certificates.create_certificate("ne", ec_policy(exportable=False, content_type=content_type))
    value = vault.secrets.get_secret("ne").value
    if content_type is CertificateContentType.pem:
        assert "PRIVATE KEY" not in value
        assert x509.load_pem_x509_certificate(value.encode()) == der_of(vault, "ne")
    else:
        loaded = pkcs12.load_pkcs12(base64.b64decode(value), None)
        assert loaded.key is None
        # without a key, a PFX reader cannot tell the leaf: it lands among the other certificates
        certs = [c.certificate for c in ([loaded.cert] if loaded.cert else []) + loaded.additional_certs]
        assert certs == [der_of(vault, "ne")]
    assert vault.keys.get_key("ne").properties.exportable is False
    # the key still works inside the vault
    vault.keys.get_cryptography_client("ne").sign(SignatureAlgorithm.es256, b"\x00" * 32)


def test_managed_key_and_secret_are_read_only(vault: Vault) -> None:
    vault.certificates.create_certificate("ro", ec_policy())
    with pytest.raises(ForbiddenError):
        vault.secrets.update_secret_properties("ro", enabled=False)
    with pytest.raises(ForbiddenError):
        vault.secrets.delete_secret("ro")
    with pytest.raises(ForbiddenError):
        vault.keys.update_key_properties("ro", enabled=False)
    with pytest.raises(ForbiddenError):
        vault.keys.delete_key("ro")
    with pytest.raises(ConflictError):
        vault.secrets.set_secret("ro", "overwrite")
    # and a plain secret's name cannot become a certificate
    vault.secrets.set_secret("plain", "v")
    with pytest.raises(ConflictError):
        vault.certificates.create_certificate("plain", ec_policy())
    assert vault.certificates.list_properties_of_certificates is not None
    assert [p.name for p in vault.certificates.list_properties_of_certificates()] == ["ro"]


def test_reuse_key(vault: Vault) -> None:
    vault.certificates.create_certificate("rk", ec_policy(reuse_key=True))
    first = der_of(vault, "rk").public_key()
    vault.certificates.create_certificate("rk", ec_policy(reuse_key=True))
    assert der_of(vault, "rk").public_key() == first
    vault.certificates.create_certificate("rk", ec_policy(reuse_key=False))
    assert der_of(vault, "rk").public_key() != first


def test_bad_policies(vault: Vault) -> None:
    with pytest.raises(InvalidParameterError, match="standard tier"):
        vault.certificates.create_certificate("h", ec_policy(key_type="EC-HSM"))
    with pytest.raises(InvalidParameterError):
        vault.certificates.create_certificate("h", CertificatePolicy("Self"))  # no subject, no SAN
    with pytest.raises(InvalidParameterError, match="not registered"):
        vault.certificates.create_certificate("h", ec_policy(issuer_name="NoSuchCA"))
    with pytest.raises(InvalidParameterError):
        vault.certificates.create_certificate("bad name!", ec_policy())
    with pytest.raises(NotFoundError):
        vault.certificates.get_certificate("h")


def test_get_version_update_properties_and_policy(vault: Vault, clock: FakeClock) -> None:
    vault.certificates.create_certificate("up", ec_policy())
    first = vault.certificates.get_certificate("up").properties.version
    vault.certificates.create_certificate("up", ec_policy())
    one = vault.certificates.get_certificate_version("up", first)
    assert one.properties.version == first and one.policy is None

    updated = vault.certificates.update_certificate_properties("up", first, enabled=False, tags={"a": "b"})
    assert not updated.properties.enabled and updated.properties.tags == {"a": "b"}
    assert not next(p for p in vault.keys.list_properties_of_key_versions("up") if p.version == first).enabled
    assert not next(p for p in vault.secrets.list_properties_of_secret_versions("up") if p.version == first).enabled
    assert vault.keys.get_key("up").properties.enabled  # the latest is untouched

    clock.advance(hours=1)
    policy = vault.certificates.update_certificate_policy("up", CertificatePolicy(validity_in_months=6))
    assert policy.validity_in_months == 6 and policy.subject == "CN=fast.example"
    assert policy.created_on == START and policy.updated_on == START + dt.timedelta(hours=1)
    assert vault.certificates.get_certificate_policy("up") == policy
    with pytest.raises(InvalidParameterError):
        vault.certificates.update_certificate_policy("up", CertificatePolicy(key_type="RSA-HSM"))
    vault.certificates.create_certificate("up", vault.certificates.get_certificate_policy("up"))
    assert der_of(vault, "up").not_valid_after_utc == (START + dt.timedelta(hours=1)).replace(month=7)


# -- delete / recover / purge / backup -------------------------------------------------


def test_delete_cascades_and_recover_restores_all_three(vault: Vault) -> None:
    vault.certificates.create_certificate("d", ec_policy())
    version = vault.certificates.get_certificate("d").properties.version
    deleted = vault.certificates.delete_certificate("d")
    assert deleted.recovery_id.endswith("/deletedcertificates/d")
    assert deleted.policy is not None and deleted.deleted_on == START
    for get in (vault.certificates.get_certificate, vault.keys.get_key, vault.secrets.get_secret):
        with pytest.raises(NotFoundError):
            get("d")
    assert vault.keys.get_deleted_key("d").properties.version == version
    assert vault.secrets.get_deleted_secret("d").properties.version == version
    assert [c.name for c in vault.certificates.list_deleted_certificates()] == ["d"]
    assert vault.certificates.get_deleted_certificate("d").properties.version == version
    with pytest.raises(ConflictError):
        vault.certificates.create_certificate("d", ec_policy())

    recovered = vault.certificates.recover_deleted_certificate("d")
    assert recovered.properties.version == version
    assert vault.keys.get_key("d").properties.version == version
    assert vault.secrets.get_secret("d").properties.version == version
    assert list(vault.keys.list_deleted_keys()) == []

    vault.certificates.delete_certificate("d")
    vault.certificates.purge_deleted_certificate("d")
    for get_deleted in (
        vault.certificates.get_deleted_certificate,
        vault.keys.get_deleted_key,
        vault.secrets.get_deleted_secret,
    ):
        with pytest.raises(NotFoundError):
            get_deleted("d")
    vault.certificates.create_certificate("d", ec_policy())  # the name is free again


def test_purge_protection_applies_to_certificates(tmp_path: Path, clock: FakeClock) -> None:
    with Vault.create(tmp_path / "pp", RawKeyCredential(b"\x07" * 32), clock=clock, purge_protection=True) as v:
        v.certificates.create_certificate("p", ec_policy())
        v.certificates.delete_certificate("p")
        with pytest.raises(ForbiddenError):
            v.certificates.purge_deleted_certificate("p")
        assert v.keys.get_deleted_key("p").properties.managed


def test_backup_restore_brings_back_certificate_key_and_secret(vault: Vault) -> None:
    vault.certificates.create_certificate("b", ec_policy())
    vault.certificates.create_certificate("b", ec_policy())
    before = vault.certificates.get_certificate("b")
    secret_before = vault.secrets.get_secret("b").value
    blob = vault.certificates.backup_certificate("b")
    with pytest.raises(ConflictError):
        vault.certificates.restore_certificate_backup(blob)
    vault.certificates.delete_certificate("b")
    vault.certificates.purge_deleted_certificate("b")

    restored = vault.certificates.restore_certificate_backup(blob)
    assert restored.properties.version == before.properties.version
    assert restored.cer == before.cer and restored.policy == before.policy
    assert len(list(vault.certificates.list_properties_of_certificate_versions("b"))) == 2
    assert vault.secrets.get_secret("b").value == secret_before
    assert vault.keys.get_key("b").properties.managed
    vault.keys.get_cryptography_client("b").sign(SignatureAlgorithm.es256, b"\x01" * 32)
    with pytest.raises(InvalidParameterError):
        vault.secrets.restore_secret_backup(blob)  # a certificate blob is not a secret's
    with pytest.raises(NotFoundError):
        vault.certificates.backup_certificate("missing")


# -- tampering ----------------------------------------------------------------------------


def test_tampered_certificate_record_raises_integrity_error(
    vault: Vault, vault_dir: Path, cred: RawKeyCredential, clock: FakeClock
) -> None:
    vault.certificates.create_certificate("t", ec_policy())
    vault.close()
    assert flip_byte(vault_dir, b"versions", lambda k: k[0] == KIND_CERTIFICATE) == 1
    with Vault.open(vault_dir, cred, clock=clock) as reopened:
        with pytest.raises(IntegrityError):
            reopened.certificates.get_certificate("t")
        with pytest.raises(IntegrityError):
            list(reopened.certificates.list_properties_of_certificates())
        reopened.secrets.get_secret("t")  # the other objects are intact


def test_tampered_policy_record_raises_integrity_error(
    vault: Vault, vault_dir: Path, cred: RawKeyCredential, clock: FakeClock
) -> None:
    vault.certificates.create_certificate("t", ec_policy())
    vault.close()
    assert flip_byte(vault_dir, b"objects", lambda k: k[0] == KIND_CERTIFICATE, offset=60) == 1
    with Vault.open(vault_dir, cred, clock=clock) as reopened, pytest.raises(IntegrityError):
        reopened.certificates.get_certificate_policy("t")


def test_records_are_bound_to_their_place(
    vault: Vault, vault_dir: Path, cred: RawKeyCredential, clock: FakeClock
) -> None:
    """A certificate record copied over another certificate's fails authentication."""
    from certhelpers import raw_env

    vault.certificates.create_certificate("one", ec_policy())
    vault.certificates.create_certificate("two", ec_policy())
    vault.close()
    with raw_env(vault_dir) as (env, dbs), env.begin(write=True, db=dbs[b"versions"]) as txn:
        rows = [(bytes(k), bytes(v)) for k, v in txn.cursor() if k[0] == KIND_CERTIFICATE]
        assert len(rows) == 2
        txn.put(rows[1][0], rows[0][1])
    with Vault.open(vault_dir, cred, clock=clock) as reopened:
        failures = 0
        for name in ("one", "two"):
            try:
                reopened.certificates.get_certificate(name)
            except IntegrityError:
                failures += 1
        assert failures == 1


def test_private_key_never_in_repr(vault: Vault) -> None:
    vault.certificates.create_certificate("r", ec_policy())
    secret_value = vault.secrets.get_secret("r").value
    got = vault.certificates.get_certificate("r")
    text = repr(got) + repr(vault.certificates.get_certificate_operation("r"))
    assert secret_value[:40] not in text
    assert "PRIVATE" not in text


def test_edges_of_reads_and_policy_updates(vault: Vault) -> None:
    vault.certificates.create_certificate("e", ec_policy())
    with pytest.raises(InvalidParameterError):
        vault.certificates.get_certificate_version("e", "")
    with pytest.raises(NotFoundError):
        vault.certificates.get_certificate_version("e", "00" * 16)
    with pytest.raises(InvalidParameterError, match="not registered"):
        vault.certificates.update_certificate_policy("e", CertificatePolicy(issuer_name="Nobody"))
    vault.certificates.create_issuer("Somebody", "Prov")
    assert vault.certificates.update_certificate_policy("e", CertificatePolicy(issuer_name="Somebody")).issuer_name
    with pytest.raises(InvalidParameterError):
        vault.certificates.update_certificate_policy("e", {"x509_props": {}})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        vault.certificates.update_certificate_policy("missing", CertificatePolicy(validity_in_months=2))


def test_key_operations_follow_key_usage(vault: Vault) -> None:
    policy = CertificatePolicy(
        "Self", subject="CN=data", key_usage=[KeyUsageType.data_encipherment], enhanced_key_usage=[]
    )
    vault.certificates.create_certificate("data", policy)
    assert vault.keys.get_key("data").key_operations == ["encrypt", "decrypt"]
    cert = der_of(vault, "data")
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.data_encipherment and not usage.digital_signature
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    with pytest.raises(ForbiddenError):
        vault.keys.get_cryptography_client("data").sign(SignatureAlgorithm.rs256, b"\x00" * 32)
