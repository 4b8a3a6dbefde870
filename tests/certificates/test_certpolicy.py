"""Certificate policy model: Azure defaults, validation, REST JSON shape."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultcore.certificates._policy import (
    AdministratorContact,
    CertificateContact,
    CertificateContentType,
    CertificateIssuer,
    CertificateOperation,
    CertificateOperationError,
    CertificateOperationStatus,
    CertificatePolicy,
    CertificatePolicyAction,
    IssuerProperties,
    KeyUsageType,
    LifetimeAction,
    WellKnownIssuerNames,
)
from vaultcore.crypto._jwk import KeyCurveName, KeyType
from vaultcore.exceptions import InvalidParameterError

CREATED = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
UPDATED = dt.datetime(2024, 6, 1, 8, 0, tzinfo=dt.UTC)

# What the service answers for a policy created from {"x509_props": {"subject": "CN=x"}}.
AZURE_DEFAULT_JSON: dict[str, Any] = {
    "key_props": {"exportable": True, "kty": "RSA", "key_size": 2048, "reuse_key": False},
    "secret_props": {"contentType": "application/x-pkcs12"},
    "x509_props": {
        "subject": "CN=x",
        "ekus": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
        "key_usage": ["digitalSignature", "keyEncipherment"],
        "validity_months": 12,
    },
    "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
    "issuer": {"name": "Self"},
    "attributes": {"enabled": True},
}


def _full_policy() -> CertificatePolicy:
    return CertificatePolicy(
        "Unknown",
        subject="CN=full.example.com, O=Contoso",
        san_emails=["a@example.com"],
        san_dns_names=["full.example.com", "www.full.example.com"],
        san_user_principal_names=["svc@corp.example.com"],
        san_uris=["https://full.example.com/id"],
        san_ip_addresses=["192.0.2.1", "2001:db8::2"],
        exportable=False,
        key_type=KeyType.ec_hsm,
        key_size=384,
        reuse_key=True,
        key_curve_name=KeyCurveName.p_384,
        enhanced_key_usage=["1.3.6.1.5.5.7.3.2"],
        key_usage=[KeyUsageType.digital_signature, KeyUsageType.key_agreement],
        content_type=CertificateContentType.pem,
        validity_in_months=24,
        lifetime_actions=[
            LifetimeAction(CertificatePolicyAction.email_contacts, days_before_expiry=30),
            LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=75),
        ],
        certificate_type="OV-SSL",
        certificate_transparency=False,
        enabled=True,
        created_on=CREATED,
        updated_on=UPDATED,
    )


# --------------------------------------------------------------------------- defaults


def test_azure_defaults_for_an_empty_policy() -> None:
    policy = CertificatePolicy(subject="CN=x").with_azure_defaults()
    assert policy.issuer_name == "Self"
    assert policy.key_type is KeyType.rsa
    assert policy.key_size == 2048
    assert policy.key_curve_name is None
    assert policy.exportable is True
    assert policy.reuse_key is False
    assert policy.content_type is CertificateContentType.pkcs12
    assert policy.enhanced_key_usage == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")
    assert policy.key_usage == (KeyUsageType.digital_signature, KeyUsageType.key_encipherment)
    assert policy.validity_in_months == 12
    assert policy.lifetime_actions == (LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=80),)
    assert policy.enabled is True
    assert policy.to_dict() == AZURE_DEFAULT_JSON
    # Filling twice changes nothing.
    assert policy.with_azure_defaults() == policy


def test_get_default_is_the_sdk_default() -> None:
    default = CertificatePolicy.get_default()
    assert default.issuer_name == WellKnownIssuerNames.Self
    assert default.subject == "CN=DefaultPolicy"
    assert default.key_type is None  # filled by with_azure_defaults, like the service
    assert default.with_azure_defaults().key_size == 2048


def test_a_policy_needs_a_subject_or_a_san() -> None:
    with pytest.raises(InvalidParameterError, match="subject or at least one subject"):
        CertificatePolicy().with_azure_defaults()
    for san in ("san_dns_names", "san_emails", "san_user_principal_names", "san_uris"):
        value = {"san_emails": "a@b.c", "san_user_principal_names": "u@d"}.get(san, "x.y")
        if san == "san_uris":
            value = "https://x.y"
        policy = CertificatePolicy(**{san: [value]}).with_azure_defaults()  # type: ignore[arg-type]
        assert policy.subject is None and policy.has_sans
    assert CertificatePolicy(san_ip_addresses=["10.1.2.3"]).with_azure_defaults().has_sans


def test_unknown_issuer_defaults_to_email_contacts() -> None:
    policy = CertificatePolicy("unknown", subject="CN=x").with_azure_defaults()
    assert policy.issuer_name == "Unknown"
    assert policy.lifetime_actions == (LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=80),)
    # An explicitly empty list of actions stays empty.
    none = CertificatePolicy(subject="CN=x", lifetime_actions=[]).with_azure_defaults()
    assert none.lifetime_actions == ()


def test_ec_keys_take_curve_and_size_from_each_other() -> None:
    by_curve = CertificatePolicy(subject="CN=x", key_type="EC", key_curve_name="P-521")  # type: ignore[arg-type]
    assert by_curve.with_azure_defaults().key_size == 521
    by_size = CertificatePolicy(subject="CN=x", key_type=KeyType.ec, key_size=384)
    assert by_size.with_azure_defaults().key_curve_name is KeyCurveName.p_384
    k1 = CertificatePolicy(subject="CN=x", key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256_k)
    assert k1.with_azure_defaults().key_size == 256
    assert k1.with_azure_defaults().to_dict()["key_props"]["crv"] == "P-256K"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key_type": KeyType.ec}, "needs key_curve_name"),
        ({"key_type": KeyType.ec, "key_size": 2048}, "no EC curve has key_size 2048"),
        ({"key_type": KeyType.ec, "key_size": 256, "key_curve_name": "P-384"}, "does not match"),
        ({"key_size": 1024}, "RSA key_size must be 2048, 3072 or 4096"),
        ({"key_curve_name": "P-256"}, "only to EC keys"),
        ({"subject": "not a name"}, "distinguished name"),
        ({"subject": "CN=x, Q=y"}, "unknown attribute"),
        (
            {
                "validity_in_months": 2,
                "lifetime_actions": [LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=55)],
            },
            "at most validity_in_months \\* 27 = 54",
        ),
        ({"key_usage": ["encipherOnly"]}, "need keyAgreement"),
    ],
)
def test_cross_field_validation(fields: dict[str, Any], message: str) -> None:
    fields.setdefault("subject", "CN=x")
    with pytest.raises(InvalidParameterError, match=message):
        CertificatePolicy(**fields).with_azure_defaults()


def test_days_before_expiry_at_the_bound_is_accepted() -> None:
    action = LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=54)
    policy = CertificatePolicy(subject="CN=x", validity_in_months=2, lifetime_actions=[action])
    assert policy.with_azure_defaults().lifetime_actions == (action,)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"validity_in_months": 0}, "between 1 and 1200"),
        ({"validity_in_months": 1201}, "between 1 and 1200"),
        ({"validity_in_months": "12"}, "must be an integer"),
        ({"validity_in_months": True}, "must be an integer"),
        ({"key_type": "oct"}, "RSA, RSA-HSM, EC or EC-HSM"),
        ({"key_type": "DSA"}, "key_type must be one of"),
        ({"key_curve_name": "P-192"}, "key_curve_name must be one of"),
        ({"content_type": "text/plain"}, "application/x-pkcs12, application/x-pem-file"),
        ({"key_usage": ["sign"]}, "key_usage must be one of"),
        ({"key_usage": "digitalSignature"}, "list of key usage names"),
        ({"enhanced_key_usage": ["serverAuth"]}, "not a dotted OID"),
        ({"enhanced_key_usage": "1.2.3"}, "list of strings"),
        ({"exportable": "true"}, "true or false"),
        ({"san_ip_addresses": ["300.1.1.1"]}, "not an IP address"),
        ({"san_emails": ["no-at-sign"]}, "not an email address"),
        ({"san_emails": ["é@example.com"]}, "ASCII"),
        ({"san_dns_names": ["bad name.example"]}, "ASCII without spaces"),
        ({"san_dns_names": ["a..b"]}, "not a DNS name"),
        ({"san_dns_names": [""]}, "non-empty strings"),
        ({"san_uris": ["relative/path"]}, "not an absolute URI"),
        ({"san_user_principal_names": ["nobody"]}, "not a user principal name"),
        ({"subject": ""}, "non-empty X.500 name"),
        ({"issuer_name": " "}, "issuer_name must be a non-empty string"),
        ({"created_on": dt.datetime(2024, 1, 1)}, "timezone-aware"),
        ({"lifetime_actions": [{"action": "AutoRenew"}]}, "list of LifetimeAction"),
        (
            {
                "lifetime_actions": [
                    LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=10),
                    LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=10),
                ]
            },
            "only once",
        ),
    ],
)
def test_field_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        CertificatePolicy(**fields)


def test_invalid_parameter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="between 1 and 1200"):
        CertificatePolicy(validity_in_months=0)


def test_normalisation() -> None:
    policy = CertificatePolicy(
        "self",
        subject="CN=x",
        key_type="rsa",  # type: ignore[arg-type]
        content_type="APPLICATION/X-PEM-FILE",  # type: ignore[arg-type]
        key_usage=["digitalSignature", "digitalSignature", "cRLSign"],  # type: ignore[list-item]
        enhanced_key_usage=["1.2.3", "1.2.3"],
        san_ip_addresses=["::0001", " 10.0.0.1 "],
        created_on=dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    assert policy.issuer_name == "Self"
    assert policy.key_type is KeyType.rsa
    assert policy.content_type is CertificateContentType.pem
    assert policy.key_usage == (KeyUsageType.digital_signature, KeyUsageType.crl_sign)
    assert policy.enhanced_key_usage == ("1.2.3",)
    assert policy.san_ip_addresses == ("::1", "10.0.0.1")
    assert policy.created_on == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    # Frozen and hashable.
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.subject = "CN=y"  # type: ignore[misc]
    assert hash(policy) == hash(dataclasses.replace(policy))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "exactly one trigger"),
        ({"lifetime_percentage": 50, "days_before_expiry": 5}, "exactly one trigger"),
        ({"lifetime_percentage": 0}, "between 1 and 99"),
        ({"lifetime_percentage": 100}, "between 1 and 99"),
        ({"days_before_expiry": 0}, "at least 1"),
    ],
)
def test_lifetime_action_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        LifetimeAction(CertificatePolicyAction.auto_renew, **fields)


def test_lifetime_action_bounds_and_coercion() -> None:
    assert LifetimeAction("autorenew", lifetime_percentage=1).action is CertificatePolicyAction.auto_renew  # type: ignore[arg-type]
    assert LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=99)
    with pytest.raises(InvalidParameterError, match="AutoRenew"):
        LifetimeAction("Renew", lifetime_percentage=50)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- update


def test_updated_with_replaces_only_what_is_set() -> None:
    base = CertificatePolicy(subject="CN=a").with_azure_defaults()
    merged = base.updated_with(CertificatePolicy(validity_in_months=6, san_dns_names=["a.b"]))
    assert merged.validity_in_months == 6
    assert merged.san_dns_names == ("a.b",)
    assert merged.subject == "CN=a" and merged.key_size == 2048
    to_ec = base.updated_with(CertificatePolicy(key_type=KeyType.ec, key_curve_name="P-384"))  # type: ignore[arg-type]
    assert to_ec.key_size is None and to_ec.key_curve_name is KeyCurveName.p_384
    assert to_ec.with_azure_defaults().key_size == 384


# --------------------------------------------------------------------------- JSON


def test_to_dict_uses_the_exact_rest_names() -> None:
    data = _full_policy().to_dict()
    assert data == {
        "key_props": {
            "exportable": False,
            "kty": "EC-HSM",
            "key_size": 384,
            "reuse_key": True,
            "crv": "P-384",
        },
        "secret_props": {"contentType": "application/x-pem-file"},
        "x509_props": {
            "subject": "CN=full.example.com, O=Contoso",
            "sans": {
                "emails": ["a@example.com"],
                "dns_names": ["full.example.com", "www.full.example.com"],
                "upns": ["svc@corp.example.com"],
                "uris": ["https://full.example.com/id"],
                "ipAddresses": ["192.0.2.1", "2001:db8::2"],
            },
            "ekus": ["1.3.6.1.5.5.7.3.2"],
            "key_usage": ["digitalSignature", "keyAgreement"],
            "validity_months": 24,
        },
        "lifetime_actions": [
            {"trigger": {"days_before_expiry": 30}, "action": {"action_type": "EmailContacts"}},
            {"trigger": {"lifetime_percentage": 75}, "action": {"action_type": "AutoRenew"}},
        ],
        "issuer": {"name": "Unknown", "cty": "OV-SSL", "cert_transparency": False},
        "attributes": {"enabled": True, "created": 1714550400, "updated": 1717228800},
    }


def test_to_dict_from_dict_round_trip() -> None:
    policy = _full_policy()
    assert CertificatePolicy.from_dict(policy.to_dict()) == policy
    assert CertificatePolicy.from_dict(AZURE_DEFAULT_JSON).to_dict() == AZURE_DEFAULT_JSON
    assert CertificatePolicy.from_dict({}) == CertificatePolicy()
    assert CertificatePolicy().to_dict() == {}


def test_from_dict_reads_a_service_response() -> None:
    response = {
        "id": "https://myvault.vault.azure.net/certificates/c1/policy",
        "key_props": {"exportable": True, "kty": "RSA", "key_size": 4096, "reuse_key": False},
        "secret_props": {"contentType": "application/x-pem-file"},
        "x509_props": {
            "subject": "CN=c1.example.com",
            "sans": {"dns_names": ["c1.example.com"]},
            "ekus": ["1.3.6.1.5.5.7.3.1"],
            "key_usage": ["digitalSignature", "keyEncipherment"],
            "validity_months": 3,
            "basic_constraints": {"ca": False},
        },
        "lifetime_actions": [{"trigger": {"days_before_expiry": 10}, "action": {"action_type": "AutoRenew"}}],
        "issuer": {"name": "Self"},
        "attributes": {"enabled": True, "created": 1714550400, "updated": 1714550400},
    }
    policy = CertificatePolicy.from_dict(response)
    assert policy.key_size == 4096
    assert policy.san_dns_names == ("c1.example.com",)
    assert policy.lifetime_actions == (LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=10),)
    assert policy.created_on == CREATED
    assert policy.with_azure_defaults() == policy


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "policy must be a JSON object"),
        ({"key_props": []}, "key_props must be a JSON object"),
        ({"x509_props": {"ekus": "1.2.3"}}, "ekus must be a JSON array"),
        ({"x509_props": {"sans": {"dns_names": "a.b"}}}, "dns_names must be a JSON array"),
        ({"key_props": {"exportable": "yes"}}, "true or false"),
        ({"lifetime_actions": [{"trigger": {"lifetime_percentage": 80}}]}, "action_type"),
        ({"lifetime_actions": [{"action": {"action_type": "AutoRenew"}}]}, "exactly one trigger"),
        ({"attributes": {"created": "yesterday"}}, "Unix timestamp"),
        ({"attributes": {"created": 10**20}}, "out of range"),
    ],
)
def test_from_dict_rejects_bad_json(data: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        CertificatePolicy.from_dict(data)


_names = st.lists(st.from_regex(r"[a-z]{1,10}\.(com|net)", fullmatch=True), max_size=3)
_actions = st.one_of(
    st.builds(
        LifetimeAction,
        st.sampled_from(CertificatePolicyAction),
        lifetime_percentage=st.integers(1, 99),
    ),
    st.builds(
        LifetimeAction,
        st.sampled_from(CertificatePolicyAction),
        days_before_expiry=st.integers(1, 27),
    ),
)
_policies = st.builds(
    CertificatePolicy,
    st.sampled_from([None, "Self", "Unknown", "my-issuer"]),
    subject=st.sampled_from([None, "CN=a", "CN=b, O=c"]),
    san_dns_names=st.none() | _names,
    san_ip_addresses=st.none() | st.lists(st.ip_addresses().map(str), max_size=2),
    exportable=st.none() | st.booleans(),
    reuse_key=st.none() | st.booleans(),
    key_size=st.none() | st.sampled_from([2048, 3072, 4096]),
    key_usage=st.none() | st.lists(st.sampled_from(KeyUsageType), max_size=3),
    content_type=st.none() | st.sampled_from(CertificateContentType),
    validity_in_months=st.none() | st.integers(1, 1200),
    lifetime_actions=st.none() | st.lists(_actions, max_size=2, unique_by=lambda action: action.action),
    enabled=st.none() | st.booleans(),
)


@given(_policies)
def test_any_policy_round_trips_through_json(policy: CertificatePolicy) -> None:
    assert CertificatePolicy.from_dict(policy.to_dict()) == policy


# --------------------------------------------------------------------------- contacts, issuers


def test_contacts() -> None:
    contact = CertificateContact(email="ops@example.com", name="Ops", phone="+1 555 0100")
    assert contact.to_dict() == {"email": "ops@example.com", "name": "Ops", "phone": "+1 555 0100"}
    assert CertificateContact.from_dict(contact.to_dict()) == contact
    assert CertificateContact(email="a@b.c").to_dict() == {"email": "a@b.c"}
    with pytest.raises(InvalidParameterError, match="needs an email"):
        CertificateContact()
    with pytest.raises(InvalidParameterError, match="not an email address"):
        CertificateContact(email="nobody")


def test_issuer_keeps_its_password_private() -> None:
    issuer = CertificateIssuer(
        "my-ca",
        "DigiCert",
        account_id="acct-1",
        password="hunter2-secret",
        organization_id="org-9",
        admin_contacts=[AdministratorContact(first_name="Ada", last_name="L", email="ada@example.com", phone="1")],
        enabled=True,
        created_on=CREATED,
        updated_on=UPDATED,
    )
    assert "hunter2-secret" not in repr(issuer)
    public = issuer.to_dict()
    assert public == {
        "provider": "DigiCert",
        "credentials": {"account_id": "acct-1"},
        "org_details": {
            "id": "org-9",
            "admin_details": [{"first_name": "Ada", "last_name": "L", "email": "ada@example.com", "phone": "1"}],
        },
        "attributes": {"enabled": True, "created": 1714550400, "updated": 1717228800},
    }
    stored = issuer.to_dict(include_password=True)
    assert stored["credentials"] == {"account_id": "acct-1", "pwd": "hunter2-secret"}
    assert CertificateIssuer.from_dict("my-ca", stored) == issuer
    assert issuer.properties == IssuerProperties(name="my-ca", provider="DigiCert")
    assert IssuerProperties("my-ca", "DigiCert", id="https://v/certificates/issuers/my-ca").to_dict() == {
        "id": "https://v/certificates/issuers/my-ca",
        "provider": "DigiCert",
    }


def test_issuer_validation() -> None:
    with pytest.raises(InvalidParameterError, match="needs a provider"):
        CertificateIssuer.from_dict("x", {})
    with pytest.raises(InvalidParameterError, match="provider"):
        CertificateIssuer("x", "")
    with pytest.raises(InvalidParameterError, match="AdministratorContact"):
        CertificateIssuer("x", "p", admin_contacts=[{"email": "a@b.c"}])  # type: ignore[list-item]
    with pytest.raises(InvalidParameterError, match="not an email address"):
        AdministratorContact(email="nope")


# --------------------------------------------------------------------------- operations


def test_certificate_operation_round_trip() -> None:
    operation = CertificateOperation(
        "c1",
        issuer_name="Unknown",
        csr=b"\x30\x82\x01\x00DER",
        status="inProgress",
        status_details="Pending certificate created. Please merge.",
        request_id="8f1e",
        id="https://localhost:8443/certificates/c1/pending",
    )
    data = operation.to_dict()
    assert data == {
        "id": "https://localhost:8443/certificates/c1/pending",
        "issuer": {"name": "Unknown"},
        "csr": "MIIBAERFUg==",
        "cancellation_requested": False,
        "status": "inProgress",
        "status_details": "Pending certificate created. Please merge.",
        "request_id": "8f1e",
    }
    assert CertificateOperation.from_dict(data) == operation
    assert CertificateOperation.from_dict(data).name == "c1"


def test_certificate_operation_states_and_errors() -> None:
    failed = CertificateOperation(
        "c2",
        status=CertificateOperationStatus.failed,
        error=CertificateOperationError("BadParameter", "bad", CertificateOperationError("Inner", None)),
        cancellation_requested=True,
        target="https://v/certificates/c2",
    )
    data = failed.to_dict()
    assert data["error"] == {"code": "BadParameter", "message": "bad", "innererror": {"code": "Inner"}}
    assert CertificateOperation.from_dict(data, name="c2") == failed
    assert CertificateOperation("c3").status == "inProgress"
    assert CertificateOperation("c3", status="Completed").status is CertificateOperationStatus.completed
    with pytest.raises(InvalidParameterError, match="status must be one of"):
        CertificateOperation("c4", status="done")
    with pytest.raises(InvalidParameterError, match="needs a name or an id"):
        CertificateOperation.from_dict({"status": "completed"})
    with pytest.raises(InvalidParameterError, match="not valid base64"):
        CertificateOperation.from_dict({"csr": "!!"}, name="c5")
    with pytest.raises(InvalidParameterError, match="true or false"):
        CertificateOperation.from_dict({"cancellation_requested": "yes"}, name="c6")
