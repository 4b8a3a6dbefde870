"""X.509 work for certificates: names, issuance, CSR + merge, import/export, lifetime."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import pickle
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from vaultcore.certificates._policy import (
    CertificateContentType,
    CertificatePolicy,
    CertificatePolicyAction,
    KeyUsageType,
    LifetimeAction,
)
from vaultcore.certificates._x509 import (
    UPN_OID,
    ImportedCertificate,
    add_months,
    build_csr,
    build_self_signed,
    certificate_matches_key,
    check_key_for_policy,
    export_pem,
    export_pkcs12,
    format_subject,
    lifetime_action_due,
    lifetime_action_time,
    merge_chain,
    parse_import,
    parse_subject,
    policy_from_certificate,
    thumbprint,
)
from vaultcore.crypto._jwk import KeyCurveName, KeyType
from vaultcore.exceptions import InvalidParameterError

NOW = dt.datetime(2024, 1, 31, 12, 30, 45, 987654, tzinfo=dt.UTC)
PASSWORD = b"correct horse battery staple"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ec_policy(**kwargs: object) -> CertificatePolicy:
    fields: dict[str, object] = {
        "issuer_name": "Self",
        "subject": "CN=leaf.example.com",
        "key_type": KeyType.ec,
        "key_curve_name": KeyCurveName.p_256,
    }
    fields.update(kwargs)
    return CertificatePolicy(**fields)  # type: ignore[arg-type]


def _ca_cert(
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


class Chain:
    """A root CA, an intermediate CA and a leaf for ``leaf_key``, made in the test."""

    def __init__(self, leaf_key: ec.EllipticCurvePrivateKey) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _ca_cert(self.root_key, "Test Root", self.root_key)
        self.inter = _ca_cert(self.inter_key, "Test Intermediate", self.root_key, self.root.subject)
        self.leaf_key = leaf_key
        self.leaf = self.sign_csr(build_csr(leaf_key, _ec_policy()))

    def sign_csr(self, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        """What an external CA does: copy the subject and the requested extensions."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.inter.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=90))
        )
        for extension in csr.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        return builder.sign(self.inter_key, hashes.SHA256())


@pytest.fixture(scope="module")
def chain(ec_key: ec.EllipticCurvePrivateKey) -> Chain:
    return Chain(ec_key)


def _pem(obj: x509.Certificate) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _same_key(a: object, b: object) -> bool:
    assert isinstance(a, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    assert isinstance(b, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return a.private_numbers() == b.private_numbers()


# --------------------------------------------------------------------------- names


def test_parse_subject_azure_forms() -> None:
    name = parse_subject("CN=example.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US")
    # The string lists the most specific RDN first; the encoding starts at the country.
    assert name.rdns[0].get_attributes_for_oid(NameOID.COUNTRY_NAME)
    assert name.rdns[-1].get_attributes_for_oid(NameOID.COMMON_NAME)
    assert name.rfc4514_string() == "CN=example.com,O=Contoso,OU=IT,L=Redmond,ST=WA,C=US"
    assert parse_subject("CN=a;O=b") == parse_subject("CN=a, O=b")
    assert parse_subject("S=WA") == parse_subject("ST=WA")
    email = parse_subject("E=a@b.com").get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    assert email[0].value == "a@b.com"
    assert parse_subject("emailAddress=a@b.com") == parse_subject("E=a@b.com")
    assert parse_subject("2.5.4.3=x") == parse_subject("cn=x")
    assert parse_subject("OID.2.5.4.3=x") == parse_subject("CN=x")


def test_parse_subject_escapes_quotes_and_multivalued_rdns() -> None:
    name = parse_subject(r'CN=a\,b, O="Contoso, Ltd", OU=x\2Cy, L=\ lead')
    values = {a.oid: a.value for a in name}
    assert values[NameOID.COMMON_NAME] == "a,b"
    assert values[NameOID.ORGANIZATION_NAME] == "Contoso, Ltd"
    assert values[NameOID.ORGANIZATIONAL_UNIT_NAME] == "x,y"
    assert values[NameOID.LOCALITY_NAME] == " lead"
    multi = parse_subject("CN=a+UID=b, O=c")
    assert len(multi.rdns) == 2 and len(multi.rdns[1]) == 2
    assert (
        parse_subject("CN=  spaced   out  ").rdns[0].get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == "spaced   out"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "example.com",
        "CN",
        "CN=",
        "CN=a,",
        "CN=a, ,O=b",
        "XX=y",
        "C=USA",
        'CN="open',
        "CN=a\\q",
        "CN=#0403",
        'CN=a"b',
        "CN=" + "x" * 65,
        "E=é@x.com",
    ],
)
def test_parse_subject_rejects(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="distinguished name"):
        parse_subject(bad)


# 16 characters stay within the 64-byte bound of CN and O whatever their UTF-8 length.
_dn_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16)


@given(cn=_dn_text, org=_dn_text)
def test_format_subject_round_trips(cn: str, org: str) -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    assert parse_subject(format_subject(name)) == name


# --------------------------------------------------------------------------- issuance


def test_self_signed_has_everything_the_policy_asks_for(rsa_key: rsa.RSAPrivateKey) -> None:
    policy = CertificatePolicy(
        "Self",
        subject="CN=example.com, O=Contoso, C=US",
        san_dns_names=["example.com", "*.example.com"],
        san_emails=["admin@example.com"],
        san_user_principal_names=["jürgen@corp.example.com"],
        san_uris=["spiffe://example.com/service"],
        san_ip_addresses=["10.0.0.1", "2001:db8::1"],
        enhanced_key_usage=["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.3"],
        key_usage=[KeyUsageType.digital_signature, KeyUsageType.non_repudiation],
        validity_in_months=7,
    )
    cert = build_self_signed(rsa_key, policy, now=NOW)

    assert cert.version is x509.Version.v3
    assert format_subject(cert.subject) == "CN=example.com, O=Contoso, C=US"
    assert cert.issuer == cert.subject
    assert cert.not_valid_before_utc == NOW.replace(microsecond=0)
    assert cert.not_valid_after_utc == dt.datetime(2024, 8, 31, 12, 30, 45, tzinfo=dt.UTC)
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    rsa_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    cert.verify_directly_issued_by(cert)
    assert 0 < cert.serial_number < 2**159

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["example.com", "*.example.com"]
    assert san.value.get_values_for_type(x509.RFC822Name) == ["admin@example.com"]
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://example.com/service"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    (upn,) = san.value.get_values_for_type(x509.OtherName)
    assert upn.type_id == UPN_OID
    encoded = "jürgen@corp.example.com".encode()
    assert upn.value == b"\x0c" + bytes([len(encoded)]) + encoded  # DER UTF8String

    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature and ku.value.content_commitment
    assert not (ku.value.key_encipherment or ku.value.key_cert_sign or ku.value.crl_sign)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(rsa_key.public_key())
    assert aki.key_identifier == ski.digest


def test_self_signed_with_azure_defaults(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = build_self_signed(rsa_key, CertificatePolicy.get_default(), now=NOW)
    assert cert.subject.rfc4514_string() == "CN=DefaultPolicy"
    assert cert.not_valid_after_utc == dt.datetime(2025, 1, 31, 12, 30, 45, tzinfo=dt.UTC)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.data_encipherment
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize(
    ("curve", "name", "digest"),
    [
        (ec.SECP256R1(), KeyCurveName.p_256, "sha256"),
        (ec.SECP384R1(), KeyCurveName.p_384, "sha384"),
        (ec.SECP521R1(), KeyCurveName.p_521, "sha512"),
        (ec.SECP256K1(), KeyCurveName.p_256_k, "sha256"),
    ],
)
def test_signature_hash_follows_the_curve(curve: ec.EllipticCurve, name: KeyCurveName, digest: str) -> None:
    key = ec.generate_private_key(curve)
    cert = build_self_signed(key, _ec_policy(key_curve_name=name), now=NOW)
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == digest
    cert.verify_directly_issued_by(cert)


def test_serials_are_random_positive_or_as_given(ec_key: ec.EllipticCurvePrivateKey) -> None:
    serials = {build_self_signed(ec_key, _ec_policy(), now=NOW).serial_number for _ in range(4)}
    assert len(serials) == 4
    assert all(0 < s < 2**159 for s in serials)
    assert max(s.bit_length() for s in serials) > 140  # not small counters
    assert build_self_signed(ec_key, _ec_policy(), now=NOW, serial=42).serial_number == 42
    for bad in (0, -1, 2**159):
        with pytest.raises(InvalidParameterError, match="serial"):
            build_self_signed(ec_key, _ec_policy(), now=NOW, serial=bad)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (dt.datetime(2024, 1, 31, tzinfo=dt.UTC), 1, dt.datetime(2024, 2, 29, tzinfo=dt.UTC)),
        (dt.datetime(2023, 1, 31, tzinfo=dt.UTC), 1, dt.datetime(2023, 2, 28, tzinfo=dt.UTC)),
        (dt.datetime(2024, 8, 31, tzinfo=dt.UTC), 6, dt.datetime(2025, 2, 28, tzinfo=dt.UTC)),
        (dt.datetime(2024, 12, 15, tzinfo=dt.UTC), 1, dt.datetime(2025, 1, 15, tzinfo=dt.UTC)),
        (dt.datetime(2024, 2, 29, tzinfo=dt.UTC), 12, dt.datetime(2025, 2, 28, tzinfo=dt.UTC)),
        (dt.datetime(2024, 5, 1, tzinfo=dt.UTC), 1200, dt.datetime(2124, 5, 1, tzinfo=dt.UTC)),
    ],
)
def test_validity_is_calendar_months(
    ec_key: ec.EllipticCurvePrivateKey, start: dt.datetime, months: int, end: dt.datetime
) -> None:
    assert add_months(start, months) == end
    cert = build_self_signed(ec_key, _ec_policy(validity_in_months=months), now=start)
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == end


def test_now_is_converted_to_utc_and_must_be_aware(ec_key: ec.EllipticCurvePrivateKey) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    cert = build_self_signed(ec_key, _ec_policy(), now=dt.datetime(2024, 3, 1, 1, tzinfo=plus_two))
    assert cert.not_valid_before_utc == dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC)
    with pytest.raises(InvalidParameterError, match="timezone-aware"):
        build_self_signed(ec_key, _ec_policy(), now=dt.datetime(2024, 1, 1))


def test_san_only_certificate_has_critical_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = build_self_signed(ec_key, _ec_policy(subject=None, san_dns_names=["only-san.example"]), now=NOW)
    assert len(cert.subject) == 0
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_key_must_fit_the_policy(ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidParameterError, match="RSA"):
        build_self_signed(ec_key, CertificatePolicy.get_default(), now=NOW)
    with pytest.raises(InvalidParameterError, match="not RSA"):
        build_self_signed(rsa_key, _ec_policy(), now=NOW)
    with pytest.raises(InvalidParameterError, match="P-384"):
        check_key_for_policy(ec_key, _ec_policy(key_curve_name="P-384"))
    with pytest.raises(InvalidParameterError, match="3072"):
        check_key_for_policy(rsa_key, CertificatePolicy(subject="CN=a", key_size=3072))
    check_key_for_policy(ec_key, _ec_policy(key_type=KeyType.ec_hsm))
    with pytest.raises(InvalidParameterError, match="RSA or EC"):
        build_self_signed(object(), _ec_policy(), now=NOW)  # type: ignore[arg-type]
    small = ec.generate_private_key(ec.SECP224R1())
    with pytest.raises(InvalidParameterError, match="P-256"):
        build_self_signed(small, _ec_policy(), now=NOW)


def test_thumbprint_is_sha1_of_der(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = build_self_signed(ec_key, _ec_policy(), now=NOW)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert thumbprint(cert) == hashlib.sha1(der).digest()
    assert len(thumbprint(cert)) == 20


def test_certificate_matches_key(
    ec_key: ec.EllipticCurvePrivateKey,
    other_ec_key: ec.EllipticCurvePrivateKey,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    cert = build_self_signed(ec_key, _ec_policy(), now=NOW)
    assert certificate_matches_key(cert, ec_key)
    assert not certificate_matches_key(cert, other_ec_key)
    assert not certificate_matches_key(cert, rsa_key)
    rsa_cert = build_self_signed(rsa_key, CertificatePolicy.get_default(), now=NOW)
    assert certificate_matches_key(rsa_cert, rsa_key)
    assert not certificate_matches_key(rsa_cert, ec_key)


# --------------------------------------------------------------------------- CSR + merge


def test_csr_carries_subject_and_extensions(ec_key: ec.EllipticCurvePrivateKey) -> None:
    policy = _ec_policy(
        issuer_name="Unknown",
        subject="CN=pending.example.com, O=Contoso",
        san_dns_names=["pending.example.com"],
        san_user_principal_names=["svc@corp"],
        san_ip_addresses=["192.0.2.7"],
    )
    csr = build_csr(ec_key, policy)
    assert csr.is_signature_valid
    assert format_subject(csr.subject) == "CN=pending.example.com, O=Contoso"
    assert csr.public_key() == ec_key.public_key()
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["pending.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]
    assert san.get_values_for_type(x509.OtherName)[0].type_id == UPN_OID
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert csr.extensions.get_extension_for_class(x509.KeyUsage).critical


def test_merge_accepts_der_pem_and_base64_and_keeps_order(chain: Chain) -> None:
    der = chain.leaf.public_bytes(serialization.Encoding.DER)
    items = [der, _pem(chain.inter), base64.b64encode(_der(chain.root))]
    leaf, rest = merge_chain(chain.leaf_key, items)
    assert leaf == chain.leaf
    assert rest == [chain.inter, chain.root]
    # One PEM item may hold the whole chain.
    leaf, rest = merge_chain(chain.leaf_key, [_pem(chain.leaf) + _pem(chain.inter)])
    assert (leaf, rest) == (chain.leaf, [chain.inter])
    leaf.verify_directly_issued_by(chain.inter)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_merge_refuses_a_certificate_for_another_key(chain: Chain, other_ec_key: ec.EllipticCurvePrivateKey) -> None:
    foreign = chain.sign_csr(build_csr(other_ec_key, _ec_policy()))
    with pytest.raises(InvalidParameterError, match="does not match the pending key"):
        merge_chain(chain.leaf_key, [_der(foreign), _der(chain.inter)])
    # The leaf must come first.
    with pytest.raises(InvalidParameterError, match="does not match the pending key"):
        merge_chain(chain.leaf_key, [_der(chain.inter), _der(chain.leaf)])


@pytest.mark.parametrize("items", [[], [b"not a certificate"], [b"\x30\x03\x02\x01\x01"]])
def test_merge_refuses_garbage(chain: Chain, items: list[bytes]) -> None:
    with pytest.raises(InvalidParameterError, match="x509_certificates"):
        merge_chain(chain.leaf_key, items)


# --------------------------------------------------------------------------- import


def test_pem_import_in_any_order_keeps_chain_order(chain: Chain) -> None:
    data = _pem(chain.inter) + _key_pem(chain.leaf_key) + _pem(chain.root) + _pem(chain.leaf)
    imported = parse_import(data)
    assert imported.content_type is CertificateContentType.pem
    assert imported.certificate == chain.leaf
    assert imported.chain == (chain.inter, chain.root)
    assert imported.certificates == [chain.leaf, chain.inter, chain.root]
    assert _same_key(imported.private_key, chain.leaf_key)


def test_pem_import_with_encrypted_key(chain: Chain) -> None:
    data = _key_pem(chain.leaf_key, PASSWORD) + _pem(chain.leaf) + _pem(chain.inter)
    imported = parse_import(data, PASSWORD)
    assert _same_key(imported.private_key, chain.leaf_key)
    assert imported.chain == (chain.inter,)
    with pytest.raises(InvalidParameterError, match="password is required") as missing:
        parse_import(data)
    with pytest.raises(InvalidParameterError, match="password is wrong") as wrong:
        parse_import(data, b"wrong")
    for err in (missing, wrong):
        assert "PRIVATE KEY" not in str(err.value) and "wrong\\" not in str(err.value)
    # A password for a key that is not encrypted is ignored, as Azure does.
    plain = _key_pem(chain.leaf_key) + _pem(chain.leaf)
    assert parse_import(plain, PASSWORD).certificate == chain.leaf


@pytest.mark.parametrize("password", [PASSWORD, None])
@pytest.mark.parametrize("encode", [False, True])
def test_pfx_import_round_trip(chain: Chain, password: bytes | None, encode: bool) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    pfx = pkcs12.serialize_key_and_certificates(
        b"friendly", chain.leaf_key, chain.leaf, [chain.inter, chain.root], encryption
    )
    data = base64.b64encode(pfx) if encode else pfx
    imported = parse_import(data, password)
    assert imported.content_type is CertificateContentType.pkcs12
    assert imported.certificate == chain.leaf
    assert imported.chain == (chain.inter, chain.root)
    assert _same_key(imported.private_key, chain.leaf_key)

    # Export strips the password: the stored value opens with no password at all.
    exported = export_pkcs12(imported.private_key, imported.certificate, imported.chain)
    reopened = pkcs12.load_pkcs12(exported, None)
    assert reopened.cert is not None and reopened.cert.certificate == chain.leaf
    assert [c.certificate for c in reopened.additional_certs] == [chain.inter, chain.root]
    assert _same_key(reopened.key, chain.leaf_key)
    again = parse_import(exported)
    assert again.certificates == [chain.leaf, chain.inter, chain.root]


def test_pfx_wrong_password(chain: Chain) -> None:
    pfx = pkcs12.serialize_key_and_certificates(
        None, chain.leaf_key, chain.leaf, None, serialization.BestAvailableEncryption(PASSWORD)
    )
    for password in (b"nope", None):
        with pytest.raises(InvalidParameterError, match="PFX password is wrong") as err:
            parse_import(pfx, password)
        assert "nope" not in str(err.value)


def test_pem_export_order_and_round_trip(chain: Chain) -> None:
    text = export_pem(chain.leaf_key, chain.leaf, [chain.inter, chain.root])
    blocks = [line for line in text.splitlines() if line.startswith("-----BEGIN")]
    assert blocks == ["-----BEGIN PRIVATE KEY-----"] + ["-----BEGIN CERTIFICATE-----"] * 3
    imported = parse_import(text.encode())
    assert imported.certificates == [chain.leaf, chain.inter, chain.root]
    assert _same_key(imported.private_key, chain.leaf_key)


def test_non_exportable_exports_carry_no_private_key(chain: Chain) -> None:
    text = export_pem(None, chain.leaf, [chain.inter])
    assert "PRIVATE KEY" not in text
    assert x509.load_pem_x509_certificates(text.encode()) == [chain.leaf, chain.inter]
    pfx = pkcs12.load_pkcs12(export_pkcs12(None, chain.leaf, [chain.inter]), None)
    assert pfx.key is None
    stored = [c.certificate for c in ([pfx.cert] if pfx.cert else []) + pfx.additional_certs]
    assert stored == [chain.leaf, chain.inter]
    with pytest.raises(InvalidParameterError, match="no private key"):
        parse_import(text.encode())


def test_exports_refuse_a_mismatched_key(chain: Chain, other_ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InvalidParameterError, match="does not match"):
        export_pkcs12(other_ec_key, chain.leaf, [])
    with pytest.raises(InvalidParameterError, match="does not match"):
        export_pem(other_ec_key, chain.leaf, [])


def test_import_refuses_a_key_that_matches_no_certificate(
    chain: Chain, other_ec_key: ec.EllipticCurvePrivateKey
) -> None:
    data = _key_pem(other_ec_key) + _pem(chain.leaf) + _pem(chain.inter)
    with pytest.raises(InvalidParameterError, match="does not match the certificate"):
        parse_import(data)
    pfx = pkcs12.serialize_key_and_certificates(None, other_ec_key, None, [chain.leaf], serialization.NoEncryption())
    with pytest.raises(InvalidParameterError, match="does not match the certificate"):
        parse_import(pfx)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"garbage", "neither PEM nor PKCS#12"),
        (bytes(random.Random(6).randrange(256) for _ in range(300)), "neither PEM nor PKCS#12"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "no complete PEM block"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "malformed"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "unsupported PEM"),
        (b"\x30\x82\x01\x00\x02\x01\x03" + b"\x00" * 40, "PFX password is wrong or"),
    ],
)
def test_import_refuses_garbage(data: bytes, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_import(data)


def test_import_refuses_certificates_without_key(chain: Chain) -> None:
    with pytest.raises(InvalidParameterError, match="no private key"):
        parse_import(_pem(chain.leaf) + _pem(chain.inter))
    with pytest.raises(InvalidParameterError, match="no certificate"):
        parse_import(_key_pem(chain.leaf_key))
    two_keys = _key_pem(chain.leaf_key) + _key_pem(chain.root_key) + _pem(chain.leaf)
    with pytest.raises(InvalidParameterError, match="more than one private key"):
        parse_import(two_keys)
    with pytest.raises(InvalidParameterError, match="bytes"):
        parse_import("text")  # type: ignore[arg-type]


def test_import_refuses_unsupported_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, None)
    )
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + _pem(cert)
    with pytest.raises(InvalidParameterError, match="RSA or EC"):
        parse_import(data)


def test_imported_certificate_hides_its_key(chain: Chain) -> None:
    imported = parse_import(_key_pem(chain.leaf_key) + _pem(chain.leaf))
    assert isinstance(imported, ImportedCertificate)
    assert "private_key" not in repr(imported)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(imported)


# --------------------------------------------------------------------------- policy from cert


def test_policy_from_certificate_reads_everything_back(ec_key: ec.EllipticCurvePrivateKey) -> None:
    issued_policy = _ec_policy(
        subject=r"CN=a\, b, O=Contoso, E=x@example.com",
        san_dns_names=["a.example"],
        san_emails=["x@example.com"],
        san_user_principal_names=["ü@corp"],
        san_uris=["urn:example:a"],
        san_ip_addresses=["::1"],
        key_usage=[KeyUsageType.key_agreement, KeyUsageType.encipher_only],
        validity_in_months=24,
    )
    cert = build_self_signed(ec_key, issued_policy, now=NOW)
    derived = policy_from_certificate(cert, content_type=CertificateContentType.pem)
    assert derived.issuer_name == "Unknown"
    assert derived.subject == r"CN=a\, b, O=Contoso, E=x@example.com"
    assert parse_subject(derived.subject) == cert.subject
    assert derived.san_dns_names == ("a.example",)
    assert derived.san_emails == ("x@example.com",)
    assert derived.san_user_principal_names == ("ü@corp",)
    assert derived.san_uris == ("urn:example:a",)
    assert derived.san_ip_addresses == ("::1",)
    assert derived.key_usage == (KeyUsageType.key_agreement, KeyUsageType.encipher_only)
    assert derived.enhanced_key_usage == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")
    assert derived.validity_in_months == 24
    assert (derived.key_type, derived.key_size, derived.key_curve_name) == ("EC", 256, "P-256")
    assert derived.content_type is CertificateContentType.pem
    assert derived.lifetime_actions == (LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=80),)
    assert derived.with_azure_defaults() == derived


def test_policy_from_a_ca_certificate(chain: Chain, rsa_key: rsa.RSAPrivateKey) -> None:
    derived = policy_from_certificate(chain.root)
    assert derived.key_usage == () and derived.enhanced_key_usage == ()
    assert derived.validity_in_months == 120  # 3650 days, to the nearest month
    rsa_cert = build_self_signed(rsa_key, CertificatePolicy.get_default(), now=NOW)
    rsa_policy = policy_from_certificate(rsa_cert)
    assert (rsa_policy.key_type, rsa_policy.key_size, rsa_policy.key_curve_name) == (
        "RSA",
        2048,
        None,
    )


# --------------------------------------------------------------------------- lifetime actions

NB = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NA = dt.datetime(2024, 4, 10, tzinfo=dt.UTC)  # 100 days later
TICK = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("action", list(CertificatePolicyAction))
def test_lifetime_percentage_boundary(action: CertificatePolicyAction) -> None:
    trigger = LifetimeAction(action, lifetime_percentage=80)
    at = NB + dt.timedelta(days=80)
    assert lifetime_action_time(trigger, NB, NA) == at
    assert not lifetime_action_due(trigger, NB, NA, at - TICK)
    assert lifetime_action_due(trigger, NB, NA, at)
    assert lifetime_action_due(trigger, NB, NA, NA + dt.timedelta(days=1))
    assert not lifetime_action_due(trigger, NB, NA, NB)


@pytest.mark.parametrize("action", list(CertificatePolicyAction))
def test_days_before_expiry_boundary(action: CertificatePolicyAction) -> None:
    trigger = LifetimeAction(action, days_before_expiry=30)
    at = NA - dt.timedelta(days=30)
    assert lifetime_action_time(trigger, NB, NA) == at
    assert not lifetime_action_due(trigger, NB, NA, at - TICK)
    assert lifetime_action_due(trigger, NB, NA, at)


def test_lifetime_extremes_and_timezones() -> None:
    first = LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=1)
    last = LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=99)
    assert lifetime_action_time(first, NB, NA) == NB + dt.timedelta(days=1)
    assert lifetime_action_time(last, NB, NA) == NB + dt.timedelta(days=99)
    # Longer than the certificate lives: due from the start.
    early = LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=365)
    assert lifetime_action_due(early, NB, NA, NB)
    other_zone = NB.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert lifetime_action_due(early, NB, NA, other_zone)
    with pytest.raises(InvalidParameterError, match="timezone-aware"):
        lifetime_action_due(early, NB, NA, dt.datetime(2024, 5, 1))
    with pytest.raises(InvalidParameterError, match="timezone-aware"):
        lifetime_action_time(early, dt.datetime(2024, 1, 1), NA)


def test_lifetime_due_with_a_real_certificate(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = build_self_signed(ec_key, _ec_policy(validity_in_months=12), now=NOW)
    policy = _ec_policy().with_azure_defaults()
    (renew,) = policy.lifetime_actions or ()
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    due_at = lifetime_action_time(renew, nb, na)
    assert nb + (na - nb) * 0.79 < due_at < nb + (na - nb) * 0.81
    assert lifetime_action_due(renew, nb, na, due_at)
    assert not lifetime_action_due(renew, nb, na, due_at - dt.timedelta(seconds=1))
