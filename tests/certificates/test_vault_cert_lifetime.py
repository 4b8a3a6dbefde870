"""vault.certificates: lifetime actions in run_maintenance (time travel), contacts, issuers, vault kinds, RBAC."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from certhelpers import START, FakeClock, flip_byte
from cryptography import x509

from vaultcore import (
    AdministratorContact,
    CertificateContact,
    CertificatePolicy,
    CertificatePolicyAction,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    LifetimeAction,
    NotFoundError,
    RawKeyCredential,
    Vault,
)


def policy(*actions: LifetimeAction, **kwargs: object) -> CertificatePolicy:
    base: dict[str, object] = {
        "issuer_name": "Self",
        "subject": "CN=renew.example",
        "key_type": "EC",
        "key_curve_name": "P-256",
        "validity_in_months": 12,
    }
    base.update(kwargs)
    if actions:
        base["lifetime_actions"] = list(actions)
    return CertificatePolicy(**base)  # type: ignore[arg-type]


def versions(vault: Vault, name: str) -> list[str]:
    return [p.version for p in vault.certificates.list_properties_of_certificate_versions(name)]


# -- lifetime actions -----------------------------------------------------------------


def test_auto_renew_at_80_percent(vault: Vault, clock: FakeClock) -> None:
    vault.certificates.create_certificate("ar", policy())  # Azure default: AutoRenew at 80 %
    first = versions(vault, "ar")
    assert vault.run_maintenance().events == ()

    clock.advance(days=290)  # 79 % of 365 days
    assert vault.run_maintenance().events == ()
    clock.advance(days=5)  # past 80 %
    report = vault.run_maintenance()
    assert [e["event"] for e in report.events] == ["CertificateRenewed"]
    after = versions(vault, "ar")
    assert len(after) == 2 and after[0] == first[0]
    assert report.events[0]["version"] == after[1] and report.events[0]["previous"] == first[0]
    renewed = x509.load_der_x509_certificate(vault.certificates.get_certificate("ar").cer)
    assert renewed.not_valid_before_utc == clock.now
    assert vault.keys.get_key("ar").properties.version == after[1]
    assert vault.secrets.get_secret("ar").properties.version == after[1]
    # fires once per version
    assert vault.run_maintenance().events == ()
    assert versions(vault, "ar") == after
    audit = [e.operation for e in vault.audit.events()]
    assert "CertificateRenewed" in audit


def test_auto_renew_days_before_expiry_and_reuse_key(vault: Vault, clock: FakeClock) -> None:
    renew = LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=30)
    vault.certificates.create_certificate("rk", policy(renew, reuse_key=True))
    key_before = x509.load_der_x509_certificate(vault.certificates.get_certificate("rk").cer).public_key()
    clock.advance(days=365 - 31)
    assert vault.run_maintenance().events == ()
    clock.advance(days=2)
    assert [e["event"] for e in vault.run_maintenance().events] == ["CertificateRenewed"]
    key_after = x509.load_der_x509_certificate(vault.certificates.get_certificate("rk").cer).public_key()
    assert key_after == key_before
    assert len(versions(vault, "rk")) == 2


def test_email_contacts_records_an_event_once(vault: Vault, clock: FakeClock) -> None:
    vault.certificates.set_contacts([CertificateContact(email="ops@example.com", name="Ops")])
    email = LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=50)
    vault.certificates.create_certificate("ec", policy(email))
    version = versions(vault, "ec")[0]
    clock.advance(days=200)
    report = vault.run_maintenance()
    assert len(report.events) == 1
    event = report.events[0]
    assert event["event"] == "CertificateNearExpiry" and event["version"] == version
    assert event["contacts"] == ["ops@example.com"]
    assert vault.run_maintenance().events == ()  # once per version
    assert versions(vault, "ec") == [version]  # no renewal
    ops = [(e.operation, e.object_id) for e in vault.audit.events()]
    assert ("CertificateNearExpiry", f"/certificates/ec/{version}") in ops


def test_unknown_issuer_auto_renew_starts_a_csr(vault: Vault, clock: FakeClock) -> None:
    renew = LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=10)
    vault.certificates.create_certificate("u", policy(renew))
    vault.certificates.update_certificate_policy("u", CertificatePolicy(issuer_name="Unknown"))
    clock.advance(days=60)
    report = vault.run_maintenance()
    assert [e["event"] for e in report.events] == ["CertificateRenewalRequested"]
    op = vault.certificates.get_certificate_operation("u")
    assert op.status == "inProgress" and op.csr is not None
    assert vault.run_maintenance().events == ()
    assert len(versions(vault, "u")) == 1


def test_disabled_certificates_are_not_renewed(vault: Vault, clock: FakeClock) -> None:
    vault.certificates.create_certificate("off", policy())
    vault.certificates.update_certificate_properties("off", enabled=False)
    assert not next(iter(vault.keys.list_properties_of_key_versions("off"))).enabled
    clock.advance(days=330)
    assert vault.run_maintenance().events == ()


# -- contacts ------------------------------------------------------------------------


def test_contacts_crud(vault: Vault) -> None:
    with pytest.raises(NotFoundError):
        vault.certificates.get_contacts()
    contacts = [CertificateContact(email="a@example.com"), CertificateContact(name="B", phone="555")]
    assert vault.certificates.set_contacts(contacts) == contacts
    assert vault.certificates.get_contacts() == contacts
    assert vault.certificates.set_contacts(contacts[:1]) == contacts[:1]
    assert vault.certificates.get_contacts() == contacts[:1]
    assert vault.certificates.delete_contacts() == contacts[:1]
    with pytest.raises(NotFoundError):
        vault.certificates.get_contacts()
    with pytest.raises(NotFoundError):
        vault.certificates.delete_contacts()
    with pytest.raises(InvalidParameterError):
        vault.certificates.set_contacts([])
    with pytest.raises(InvalidParameterError):
        vault.certificates.set_contacts(["a@example.com"])  # type: ignore[list-item]


# -- issuers -------------------------------------------------------------------------


def test_issuers_crud_never_returns_the_password(vault: Vault, clock: FakeClock) -> None:
    admin = AdministratorContact(first_name="Ada", last_name="L", email="ada@example.com")
    created = vault.certificates.create_issuer(
        "DigiTest", "DigiCert", account_id="acct", password="hunter2", organization_id="org", admin_contacts=[admin]
    )
    assert created.name == "DigiTest" and created.provider == "DigiCert" and created.account_id == "acct"
    assert created.password is None and created.enabled is True
    assert created.id == f"{vault.vault_url}/certificates/issuers/DigiTest"
    assert created.created_on == START and created.admin_contacts == (admin,)
    assert "hunter2" not in repr(created)

    got = vault.certificates.get_issuer("digitest")  # case-insensitive
    assert got.password is None and got.organization_id == "org"

    clock.advance(minutes=5)
    updated = vault.certificates.update_issuer("DigiTest", enabled=False, account_id="acct2")
    assert updated.enabled is False and updated.account_id == "acct2" and updated.provider == "DigiCert"
    assert updated.created_on == START and updated.updated_on == START + dt.timedelta(minutes=5)

    vault.certificates.create_issuer("Other", "GlobalSign")
    listed = list(vault.certificates.list_properties_of_issuers())
    assert [(p.name, p.provider) for p in listed] == [("DigiTest", "DigiCert"), ("Other", "GlobalSign")]

    deleted = vault.certificates.delete_issuer("Other")
    assert deleted.name == "Other" and deleted.password is None
    with pytest.raises(NotFoundError):
        vault.certificates.get_issuer("Other")
    with pytest.raises(NotFoundError):
        vault.certificates.update_issuer("Other", provider="x")
    with pytest.raises(InvalidParameterError):
        vault.certificates.create_issuer("Self", "x")
    with pytest.raises(InvalidParameterError):
        vault.certificates.create_issuer("bad name", "x")


def test_issuer_records_are_sealed_and_hide_names(
    vault: Vault, vault_dir: Path, cred: RawKeyCredential, clock: FakeClock
) -> None:
    vault.certificates.create_issuer("VisibleName", "Provider", password="pw-value")
    vault.certificates.set_contacts([CertificateContact(email="hidden@example.com")])
    vault.close()
    raw = (vault_dir / "data.mdb").read_bytes()
    for needle in (b"VisibleName", b"visiblename", b"pw-value", b"hidden@example.com"):
        assert needle not in raw
    assert flip_byte(vault_dir, b"certmeta", lambda k: k.startswith(b"issuer/")) == 1
    with Vault.open(vault_dir, cred, clock=clock) as reopened:
        with pytest.raises(IntegrityError):
            reopened.certificates.get_issuer("VisibleName")
        assert reopened.certificates.get_contacts()[0].email == "hidden@example.com"


def test_keyring_rotation_rewraps_certificate_metadata(vault: Vault) -> None:
    vault.certificates.create_issuer("Rot", "P")
    vault.certificates.set_contacts([CertificateContact(email="r@example.com")])
    vault.certificates.create_certificate("rot", policy())
    vault.rotate_keyring()
    assert vault.certificates.get_issuer("Rot").provider == "P"
    assert vault.certificates.get_contacts()[0].email == "r@example.com"
    assert vault.certificates.get_certificate("rot").policy is not None


# -- vault kinds and access ------------------------------------------------------------


def test_premium_hsm_key_types_are_unsupported(vault: Vault) -> None:
    """Premium certificates with -HSM keys are out of scope; a standard vault says BadParameter."""
    from vaultcore import UnsupportedError

    with pytest.raises(InvalidParameterError) as info:
        vault.certificates.create_certificate("h", policy(key_type="RSA-HSM", key_curve_name=None))
    assert not isinstance(info.value, UnsupportedError)
    ctx = vault.certificates._ctx
    settings = ctx.settings
    ctx.settings = settings.evolve(tier="premium")  # what a PKCS#11-rooted vault reports
    try:
        with pytest.raises(UnsupportedError, match="PKCS#11"):
            vault.certificates.create_certificate("h", policy(key_type="EC-HSM"))
        vault.certificates.create_certificate("h", policy())  # software keys are fine in premium
    finally:
        ctx.settings = settings


def test_managed_hsm_refuses_certificates(vault: Vault) -> None:
    ctx = vault.certificates._ctx
    settings = ctx.settings
    ctx.settings = settings.evolve(kind="managed_hsm")  # a managed HSM needs a token to create
    try:
        with pytest.raises(ForbiddenError):
            vault.certificates.create_certificate("x", policy())
        with pytest.raises(ForbiddenError):
            vault.certificates.get_contacts()
        assert vault.certificates.run_lifetime_actions() == []
    finally:
        ctx.settings = settings


def test_roles_and_audit(vault: Vault) -> None:
    vault.certificates.create_certificate("rb", policy())
    app = vault.access.create_application("reader")
    vault.access.assign_role(app.principal.id, "Key Vault Reader")
    view = vault.as_principal("reader", app.client_secret)
    assert view.certificates.get_certificate("rb").name == "rb"
    with pytest.raises(ForbiddenError):
        view.certificates.create_certificate("nope", policy())
    with pytest.raises(ForbiddenError):
        view.certificates.delete_certificate("rb")
    vault.audit.flush()
    names = [(e.operation, e.result) for e in vault.audit.events()]
    assert ("CertificateCreate", "Forbidden") in names
    assert ("CertificateDelete", "Forbidden") in names
    assert ("CertificateGet", "success") in names


def test_auto_renew_waits_while_a_request_is_pending(vault: Vault, clock: FakeClock) -> None:
    renew = LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=10)
    vault.certificates.create_certificate("w", policy(renew))
    with pytest.raises(NotFoundError):
        vault.certificates.delete_certificate_operation("never")
    vault.certificates.create_certificate("w", policy(renew, issuer_name="Unknown"))  # a CSR now waits
    clock.advance(days=60)
    assert vault.run_maintenance().events == ()
    assert len(versions(vault, "w")) == 1
    vault.certificates.delete_certificate_operation("w")
    assert vault.certificates.get_certificate("w").name == "w"  # versions survive the operation's removal
    assert [e["event"] for e in vault.run_maintenance().events] == ["CertificateRenewalRequested"]
