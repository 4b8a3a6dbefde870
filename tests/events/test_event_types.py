"""The ten Azure Key Vault event types fire as Azure's rules say, under a fake clock.

NewVersionCreated with every new version (in the creating transaction); NearExpiry 30 days
before ``exp`` of the current version (keys: their rotation policy's Notify time, default 30
days); Expired at ``exp``; each once per version and condition; VaultAccessPolicyChanged
when role assignments change. Payloads carry Azure's ``data`` fields spelt as Azure spells them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from eventhelpers import short

from corehelpers import FakeClock
from vaultcore import CertificatePolicy, CertificatePolicyAction, ConflictError, LifetimeAction, Vault
from vaultcore.events import EVENT_TYPES, Event

DAY = dt.timedelta(days=1)


def collect(vault: Vault) -> list[Event]:
    return vault.events.read()


def test_the_ten_types_are_azures() -> None:
    kinds = ("Secret", "Key", "Certificate")
    expected = {f"Microsoft.KeyVault.{k}{w}" for k in kinds for w in ("NewVersionCreated", "NearExpiry", "Expired")}
    assert set(EVENT_TYPES) == expected | {"Microsoft.KeyVault.VaultAccessPolicyChanged"}
    assert len(EVENT_TYPES) == 10


def test_secret_events_once_per_version_and_condition(vault: Vault, clock: FakeClock) -> None:
    secret = vault.secrets.set_secret("db", "v1", expires_on=clock.now + 40 * DAY, not_before=clock.now)
    assert short(collect(vault)) == ["SecretNewVersionCreated"]
    vault.run_maintenance()
    clock.advance(days=9)  # 31 days before exp: not yet near
    vault.run_maintenance()
    assert short(collect(vault)) == ["SecretNewVersionCreated"]
    clock.advance(days=1, seconds=1)  # inside the 30 days
    vault.run_maintenance()
    vault.run_maintenance()
    assert short(collect(vault)) == ["SecretNewVersionCreated", "SecretNearExpiry"]
    clock.advance(days=30)
    vault.run_maintenance()
    vault.run_maintenance()
    events = collect(vault)
    assert short(events) == ["SecretNewVersionCreated", "SecretNearExpiry", "SecretExpired"]
    for ev in events:
        assert ev.data == {
            "Id": f"{vault.vault_url}/secrets/db/{secret.properties.version}",
            "VaultName": vault.name,
            "ObjectType": "Secret",
            "ObjectName": "db",
            "Version": secret.properties.version,
            "NBF": int(secret.properties.not_before.timestamp()),
            "EXP": int(secret.properties.expires_on.timestamp()),
        }
    assert len({ev.id for ev in events}) == 3
    assert [ev.seq for ev in events] == [1, 2, 3]


def test_a_new_version_gets_its_own_expiry_events(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("s", "v1", expires_on=clock.now + 10 * DAY)
    vault.run_maintenance()
    v2 = vault.secrets.set_secret("s", "v2", expires_on=clock.now + 20 * DAY)
    vault.run_maintenance()
    events = collect(vault)
    assert short(events) == ["SecretNewVersionCreated", "SecretNearExpiry"] * 2
    assert events[-1].version == v2.properties.version
    clock.advance(days=15)  # v1's exp passed, but v1 is no longer the current version
    vault.run_maintenance()
    assert short(collect(vault))[-1] == "SecretNearExpiry"
    clock.advance(days=6)
    vault.run_maintenance()
    last = collect(vault)[-1]
    assert last.short_type == "SecretExpired" and last.version == v2.properties.version


def test_no_expiry_events_without_exp_or_for_deleted_objects(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("forever", "x")
    vault.secrets.set_secret("gone", "x", expires_on=clock.now + 5 * DAY)
    vault.secrets.delete_secret("gone")
    clock.advance(days=10)
    vault.run_maintenance()
    assert short(collect(vault)) == ["SecretNewVersionCreated", "SecretNewVersionCreated"]


def test_a_version_first_seen_expired_gets_only_expired(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("late", "x", expires_on=clock.now + 5 * DAY)
    clock.advance(days=6)
    vault.run_maintenance()
    assert short(collect(vault)) == ["SecretNewVersionCreated", "SecretExpired"]


def test_key_events_follow_the_rotation_policy_notify(vault: Vault, clock: FakeClock) -> None:
    key = vault.keys.create_ec_key("k", expires_on=clock.now + 60 * DAY)
    other = vault.keys.create_ec_key("n", expires_on=clock.now + 60 * DAY)
    vault.keys.update_key_rotation_policy("n", lifetime_actions=[{"action": "Notify", "time_before_expiry": "P10D"}])
    clock.advance(days=31)  # default policy: Notify 30 days before expiry
    vault.run_maintenance()
    vault.run_maintenance()
    near = [e for e in collect(vault) if e.short_type == "KeyNearExpiry"]
    assert [e.object_name for e in near] == ["k"]
    assert near[0].data["Id"] == key.id and near[0].data["ObjectType"] == "Key"
    clock.advance(days=20)  # 9 days before exp: n's policy notifies now
    vault.run_maintenance()
    near = [e for e in collect(vault) if e.short_type == "KeyNearExpiry"]
    assert [e.object_name for e in near] == ["k", "n"] and near[1].version == other.properties.version
    clock.advance(days=10)
    vault.run_maintenance()
    vault.run_maintenance()
    assert sorted(e.object_name for e in collect(vault) if e.short_type == "KeyExpired") == ["k", "n"]
    assert short(collect(vault)).count("KeyNewVersionCreated") == 2


def test_key_rotation_fires_new_version(vault: Vault) -> None:
    vault.keys.create_rsa_key("r", size=2048)
    rotated = vault.keys.rotate_key("r")
    events = [e for e in collect(vault) if e.short_type == "KeyNewVersionCreated"]
    assert len(events) == 2 and events[1].version == rotated.properties.version


def _policy() -> CertificatePolicy:
    email = LifetimeAction(CertificatePolicyAction.email_contacts, days_before_expiry=1)  # no AutoRenew
    return CertificatePolicy(
        issuer_name="Self",
        subject="CN=ev.example",
        key_type="EC",
        key_curve_name="P-256",
        validity_in_months=3,
        lifetime_actions=[email],
    )


def test_certificate_events(vault: Vault, clock: FakeClock) -> None:
    vault.certificates.create_certificate("web", _policy())
    cert = vault.certificates.get_certificate("web")
    created = [e for e in collect(vault) if e.object_type == "Certificate"]
    assert short(created) == ["CertificateNewVersionCreated"]
    assert created[0].data["Id"] == cert.id and created[0].version == cert.properties.version
    assert created[0].data["EXP"] == int(cert.properties.expires_on.timestamp())
    # the managed key and secret are new versions of their own objects too
    assert {e.short_type for e in collect(vault)} >= {"KeyNewVersionCreated", "SecretNewVersionCreated"}
    exp = cert.properties.expires_on
    clock.set(exp - 31 * DAY)
    vault.run_maintenance()
    assert "CertificateNearExpiry" not in short(collect(vault))
    clock.set(exp - 29 * DAY)
    vault.run_maintenance()
    clock.set(exp + DAY)
    vault.run_maintenance()
    vault.run_maintenance()
    cert_events = [e.short_type for e in collect(vault) if e.object_type == "Certificate"]
    assert cert_events[-2:] == ["CertificateNearExpiry", "CertificateExpired"]
    assert cert_events.count("CertificateNearExpiry") == 1 and cert_events.count("CertificateExpired") == 1
    # managed objects do not repeat their certificate's expiry events
    assert not [e for e in collect(vault) if e.object_type != "Certificate" and "Expir" in e.short_type]


def test_access_policy_changed(vault: Vault) -> None:
    vault.access.create_application("ci")
    assert collect(vault) == []  # a principal without roles changes no access
    assignment = vault.access.assign_role("app:ci", "Key Vault Secrets User")
    vault.access.assign_role("app:ci", "Key Vault Secrets User")  # already there: no change
    vault.access.remove_role(assignment.id)
    vault.access.assign_role("app:ci", "Key Vault Reader")
    vault.access.delete_principal("app:ci")
    events = collect(vault)
    assert short(events) == ["VaultAccessPolicyChanged"] * 4
    assert events[0].data == {
        "Id": vault.vault_url,
        "VaultName": vault.name,
        "ObjectType": "Vault",
        "ObjectName": vault.name,
        "Version": None,
        "NBF": None,
        "EXP": None,
    }


def test_changing_an_assigned_custom_role_changes_access(vault: Vault) -> None:
    from vaultcore import Permission

    read = Permission(data_actions=("Microsoft.KeyVault/vaults/secrets/getSecret/action",))
    role = vault.access.set_role_definition("Reader of values", permissions=[read])
    vault.access.set_role_definition("Reader of values", name=role.name, permissions=[read], description="x")
    assert collect(vault) == []  # not assigned to anyone: nobody's access changed
    vault.access.create_application("ci")
    vault.access.assign_role("app:ci", role.name)
    vault.access.set_role_definition("Reader of values", name=role.name, permissions=[])
    assert short(collect(vault)) == ["VaultAccessPolicyChanged"] * 2  # the assignment, then the change


def test_event_grid_and_cloudevents_schemas(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("s", "x")
    ev = collect(vault)[0]
    grid = ev.to_event_grid()
    assert set(grid) == {"id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion", "metadataVersion"}
    assert grid["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated" and grid["subject"] == "s"
    assert grid["topic"].endswith(f"/providers/Microsoft.KeyVault/vaults/{vault.name}")
    assert grid["eventTime"] == "2030-01-01T12:00:00.000000Z"
    cloud = ev.to_cloudevent()
    assert cloud["specversion"] == "1.0" and cloud["type"] == grid["eventType"] and cloud["source"] == grid["topic"]
    assert cloud["id"] == grid["id"] and cloud["data"] == grid["data"] and cloud["time"] == grid["eventTime"]


def test_an_aborted_change_emits_nothing(vault: Vault) -> None:
    vault.secrets.set_secret("s", "x")
    vault.secrets.delete_secret("s")
    with pytest.raises(ConflictError):
        vault.secrets.set_secret("s", "y")  # deleted but recoverable: the transaction aborts
    assert short(collect(vault)) == ["SecretNewVersionCreated"]


def test_bulk_set_fires_one_event_per_secret(vault: Vault) -> None:
    vault.secrets.set_secrets({"a": "1", "b": "2", "c": "3"})
    assert sorted(e.object_name for e in collect(vault)) == ["a", "b", "c"]
