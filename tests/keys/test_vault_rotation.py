"""Key rotation: ``rotate_key``, rotation policies (get / update / validation) and their
evaluation by ``vault.run_maintenance()`` with a fake clock (no sleeping)."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from vaultkeyhelpers import snapshot

from vaultcore import (
    InvalidParameterError,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    MaintenanceReport,
    NotFoundError,
    RawKeyCredential,
    Vault,
)
from vaultcore.testing import FakeClock

DIGEST = hashlib.sha256(b"rotate me").digest()


def _versions(vault: Vault, name: str) -> list[str]:
    return [p.version for p in vault.keys.list_properties_of_key_versions(name)]


def _policy(vault: Vault, name: str) -> list[tuple[str, str | None, str | None]]:
    return [
        (a.action, a.time_after_create, a.time_before_expiry)
        for a in vault.keys.get_key_rotation_policy(name).lifetime_actions
    ]


# -- rotate_key --------------------------------------------------------------------------------------


def test_rotate_keeps_type_size_ops_and_exportability(vault: Vault) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("rsa", {"key_type": "RSA", "size": 2048, "key_operations": ["sign", "verify"], "exportable": True}),
        ("ec", {"key_type": "EC", "curve": "P-521", "tags": {"owner": "team-a"}}),
        ("k1", {"key_type": "EC", "curve": "P-256K", "exportable": True}),
        ("aes", {"key_type": "oct", "size": 192, "key_operations": ["wrapKey", "unwrapKey"]}),
    ]
    for name, params in cases:
        first = vault.keys.create_key(name, **params)
        rotated = vault.keys.rotate_key(name)
        assert rotated.properties.version != first.properties.version
        assert rotated.properties.version > first.properties.version  # creation order
        assert _versions(vault, name) == [first.properties.version, rotated.properties.version]
        assert vault.keys.get_key(name).id == rotated.id
        assert rotated.key_type == first.key_type
        assert rotated.key_operations == first.key_operations
        assert rotated.properties.exportable == first.properties.exportable
        assert rotated.properties.tags == first.properties.tags
        assert rotated.key.crv == first.key.crv
        if first.key.n is not None:
            assert rotated.key.n is not None and len(rotated.key.n) == len(first.key.n)
            assert rotated.key.e == first.key.e and rotated.key.n != first.key.n
        if first.key.x is not None:
            assert rotated.key.x != first.key.x
    assert vault.keys.export_key("k1").key.d is not None
    assert len(vault.keys.export_key("rsa").key.to_dict()["n"]) == len(
        vault.keys.export_key("rsa", _versions(vault, "rsa")[0]).key.to_dict()["n"]
    )


def test_old_version_stays_usable_by_its_id(vault: Vault) -> None:
    old = vault.keys.create_ec_key("k", curve="P-384")
    old_client = vault.keys.get_cryptography_client("k", old.properties.version)
    old_signature = old_client.sign("ES384", bytes(48)).signature
    new = vault.keys.rotate_key("k")
    latest = vault.keys.get_cryptography_client("k")
    assert latest.sign("ES384", bytes(48)).key_id == new.id
    # a signature of the old version verifies with the old version only
    assert old_client.verify("ES384", bytes(48), old_signature).is_valid
    assert not latest.verify("ES384", bytes(48), old_signature).is_valid
    assert old_client.sign("ES384", bytes(48)).key_id == old.id
    assert vault.keys.get_key("k", old.properties.version).key.x == old.key.x


def test_rotate_a_missing_or_deleted_key(vault: Vault) -> None:
    with pytest.raises(NotFoundError):
        vault.keys.rotate_key("nothing")
    vault.keys.create_ec_key("k")
    vault.keys.delete_key("k")
    with pytest.raises(NotFoundError):
        vault.keys.rotate_key("k")


def test_rotate_oct_needs_nothing_but_the_key(vault: Vault) -> None:
    vault.keys.create_oct_key("aes", size=128)
    before = vault.keys.get_cryptography_client("aes", _versions(vault, "aes")[0])
    wrapped = before.wrap_key("A128KW", bytes(16)).encrypted_key
    vault.keys.rotate_key("aes")
    latest = vault.keys.get_cryptography_client("aes")
    assert latest.wrap_key("A128KW", bytes(16)).encrypted_key != wrapped
    assert before.unwrap_key("A128KW", wrapped).key == bytes(16)


# -- the policy object -------------------------------------------------------------------------------


def test_default_policy_is_notify_30_days_before_expiry(vault: Vault) -> None:
    vault.keys.create_ec_key("k")
    policy = vault.keys.get_key_rotation_policy("k")
    assert policy.id is not None and policy.id.endswith("/keys/k/rotationpolicy")
    assert _policy(vault, "k") == [("Notify", None, "P30D")]
    assert policy.expires_in is None
    with pytest.raises(NotFoundError):
        vault.keys.get_key_rotation_policy("missing")


def test_update_and_get_policy(vault: Vault, clock: FakeClock, credential: RawKeyCredential) -> None:
    vault.keys.create_ec_key("k")
    updated = vault.keys.update_key_rotation_policy(
        "k",
        KeyRotationPolicy(
            lifetime_actions=[
                KeyRotationLifetimeAction("Rotate", time_after_create="P90D"),
                KeyRotationLifetimeAction("Notify", time_before_expiry="P7D"),
            ],
            expires_in="P1Y",
        ),
    )
    assert updated.expires_in == "P1Y"
    assert updated.created_on == clock() and updated.updated_on == clock()
    assert _policy(vault, "k") == [("Rotate", "P90D", None), ("Notify", None, "P7D")]
    # mappings, lower-case action names and spacing are accepted and stored normalised
    clock.advance(days=1)
    again = vault.keys.update_key_rotation_policy(
        "k", lifetime_actions=[{"action": "rotate", "time_before_expiry": " p30d "}], expires_in="p90d"
    )
    assert [(a.action, a.time_before_expiry) for a in again.lifetime_actions] == [("Rotate", "P30D")]
    assert again.expires_in == "P90D"
    assert again.updated_on == clock() and again.created_on == clock() - timedelta(days=1)
    # the policy is stored with the key
    path = vault.path
    vault.close()
    with Vault.open(path, credential, clock=clock) as reopened:
        assert _policy(reopened, "k") == [("Rotate", None, "P30D")]
        assert reopened.keys.get_key_rotation_policy("k").expires_in == "P90D"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "30D"}]}, r"'30D' is not an ISO-8601"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "P0D"}]}, r"must not be zero"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "-P1D"}]}, r"not an ISO-8601"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "P1.5D"}]}, r"not an ISO-8601"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "PT"}]}, r"not an ISO-8601"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": 30}]}, r"ISO-8601 duration"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "P101Y"}]}, r"longer than 100 years"),
        ({"lifetime_actions": [{"action": "Rotate", "time_after_create": "P99999999999D"}]}, r"longer than 100"),
        ({"lifetime_actions": [{"action": "Notify", "time_before_expiry": "P"}]}, r"not an ISO-8601"),
        ({"expires_in": "ninety days"}, r"expires_in 'ninety days' is not an ISO-8601"),
        ({"expires_in": "P0Y"}, r"must not be zero"),
        (
            {
                "lifetime_actions": [
                    KeyRotationLifetimeAction("Rotate", time_after_create="P30D"),
                    KeyRotationLifetimeAction("Rotate", time_before_expiry="P30D"),
                ]
            },
            r"at most one Rotate and one Notify",
        ),
        (
            {
                "lifetime_actions": [
                    {"action": "Notify", "time_before_expiry": "P30D"},
                    {"action": "Notify", "time_before_expiry": "P7D"},
                ]
            },
            r"at most one Rotate and one Notify",
        ),
        (
            {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P30D", "time_before_expiry": "P7D"}]},
            r"exactly one of time_after_create or time_before_expiry",
        ),
        ({"lifetime_actions": [{"action": "Rotate"}]}, r"exactly one of time_after_create or time_before_expiry"),
        ({"lifetime_actions": [{"action": "Delete", "time_after_create": "P1D"}]}, r"'Rotate' or 'Notify'"),
        ({"lifetime_actions": ["Rotate"]}, r"KeyRotationLifetimeAction or a mapping, not str"),
        ({"lifetime_actions": "Rotate"}, r"must be a list of lifetime actions"),
        (
            {"lifetime_actions": [{"action": "Rotate", "time_before_expiry": "P30D"}], "expires_in": "P30D"},
            r"time_before_expiry \(P30D\) must be shorter than expires_in \(P30D\)",
        ),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(vault: Vault, kwargs: dict[str, Any], message: str) -> None:
    vault.keys.create_ec_key("k")
    vault.keys.update_key_rotation_policy("k", lifetime_actions=[{"action": "Rotate", "time_after_create": "P60D"}])
    before = snapshot(vault)
    with pytest.raises(InvalidParameterError, match=message):
        vault.keys.update_key_rotation_policy("k", **kwargs)
    assert snapshot(vault) == before


# -- evaluation by run_maintenance --------------------------------------------------------------------


def test_rotate_after_create(vault: Vault, clock: FakeClock) -> None:
    first = vault.keys.create_ec_key("k", key_operations=["sign", "verify"], tags={"app": "x"})
    vault.keys.create_ec_key("other")  # no policy: never rotated
    vault.keys.update_key_rotation_policy("k", lifetime_actions=[{"action": "Rotate", "time_after_create": "P30D"}])
    clock.advance(days=29, hours=23)
    assert vault.run_maintenance().events == ()
    clock.advance(hours=1)
    report = vault.run_maintenance()
    second = vault.keys.get_key("k")
    assert report.events == (
        {"event": "KeyRotated", "key": "k", "version": second.properties.version, "previous": first.properties.version},
    )
    assert second.properties.created_on == clock()
    assert (second.key_operations, second.properties.tags, second.key.crv) == (
        ["sign", "verify"],
        {"app": "x"},
        "P-256",
    )
    assert vault.run_maintenance().events == ()  # the new version is 0 days old
    clock.advance(days=30)
    assert [e["event"] for e in vault.run_maintenance().events] == ["KeyRotated"]
    assert len(_versions(vault, "k")) == 3
    assert len(_versions(vault, "other")) == 1
    # each rotation is an audit event naming the new version
    rotated = list(vault.audit.events(operation="KeyRotated"))
    assert [e.object_id for e in rotated] == [f"/keys/k/{v}" for v in _versions(vault, "k")[1:]]


def test_rotate_before_expiry_and_expires_in_on_new_versions(vault: Vault, clock: FakeClock) -> None:
    start = clock()
    first = vault.keys.create_rsa_key("k", expires_on=start + timedelta(days=60))
    first_client = vault.keys.get_cryptography_client("k", first.properties.version)
    ciphertext = first_client.encrypt("RSA-OAEP-256", b"protected").ciphertext
    vault.keys.update_key_rotation_policy(
        "k", lifetime_actions=[{"action": "Rotate", "time_before_expiry": "P10D"}], expires_in="P60D"
    )
    clock.advance(days=49)
    assert vault.run_maintenance().events == ()
    clock.advance(days=1)  # 10 days before expiry
    events = vault.run_maintenance().events
    assert [(e["event"], e["previous"]) for e in events] == [("KeyRotated", first.properties.version)]
    second = vault.keys.get_key("k")
    assert second.properties.expires_on == clock() + timedelta(days=60)  # expires_in applied
    assert vault.run_maintenance().events == ()
    clock.advance(days=49)
    assert vault.run_maintenance().events == ()
    # the first version, expired now, still decrypts what it protected
    assert first_client.decrypt("RSA-OAEP-256", ciphertext).plaintext == b"protected"
    clock.advance(days=1)
    assert [e["event"] for e in vault.run_maintenance().events] == ["KeyRotated"]
    assert len(_versions(vault, "k")) == 3


def test_expires_in_applies_to_manual_rotation_and_new_versions(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_ec_key("k")
    vault.keys.update_key_rotation_policy("k", expires_in="P3M")
    rotated = vault.keys.rotate_key("k")
    assert rotated.properties.expires_on == clock() + timedelta(days=90)  # 2030-01-01 + 3 months
    created = vault.keys.create_ec_key("k")
    assert created.properties.expires_on == clock() + timedelta(days=90)
    explicit = vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=5))
    assert explicit.properties.expires_on == clock() + timedelta(days=5)


def test_notify_once_per_version(vault: Vault, clock: FakeClock) -> None:
    """The default policy (Notify 30 days before expiry) fires once for each version."""
    first = vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=40))
    vault.keys.create_ec_key("forever")  # no expiry: nothing to notify
    clock.advance(days=9)
    assert vault.run_maintenance().events == ()
    clock.advance(days=1)
    notified = {"event": "KeyNearExpiry", "key": "k", "version": first.properties.version}
    assert vault.run_maintenance().events == (notified,)
    clock.advance(days=1)
    assert vault.run_maintenance().events == ()
    clock.advance(days=60)  # expired: still notified only once
    assert vault.run_maintenance().events == ()
    # a new version with its own expiry is notified once in its turn
    second = vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=31))
    assert vault.run_maintenance().events == ()
    clock.advance(days=1)
    assert vault.run_maintenance().events == (
        {"event": "KeyNearExpiry", "key": "k", "version": second.properties.version},
    )
    assert vault.run_maintenance().events == ()
    audited = list(vault.audit.events(operation="KeyNearExpiry"))
    assert [e.object_id for e in audited] == [
        f"/keys/k/{first.properties.version}",
        f"/keys/k/{second.properties.version}",
    ]
    assert all(e.principal == "admin" and e.result == "success" for e in audited)


def test_notify_and_rotate_in_one_policy(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=60))
    vault.keys.update_key_rotation_policy(
        "k",
        lifetime_actions=[
            {"action": "Notify", "time_before_expiry": "P30D"},
            {"action": "Rotate", "time_before_expiry": "P7D"},
        ],
        expires_in="P60D",
    )
    clock.advance(days=30)
    assert [e["event"] for e in vault.run_maintenance().events] == ["KeyNearExpiry"]
    clock.advance(days=23)
    assert [e["event"] for e in vault.run_maintenance().events] == ["KeyRotated"]
    assert vault.run_maintenance().events == ()


def test_deleted_keys_are_not_rotated(vault: Vault, clock: FakeClock) -> None:
    vault.keys.create_ec_key("k")
    vault.keys.update_key_rotation_policy("k", lifetime_actions=[{"action": "Rotate", "time_after_create": "P1D"}])
    vault.keys.delete_key("k")
    clock.advance(days=2)
    assert vault.run_maintenance().events == ()
    vault.keys.recover_deleted_key("k")
    assert [e["event"] for e in vault.run_maintenance().events] == ["KeyRotated"]


# -- concurrent maintenance ----------------------------------------------------------------------------


def _twice_in_parallel(vault: Vault) -> list[MaintenanceReport]:
    reports: list[MaintenanceReport] = []
    threads = [threading.Thread(target=lambda: reports.append(vault.run_maintenance())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(reports) == 2
    return reports


def test_concurrent_maintenance_rotates_a_version_once(
    vault: Vault, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs (threads here; processes alike) that both find the key due rotate it once."""
    vault.keys.create_ec_key("k")
    vault.keys.update_key_rotation_policy("k", lifetime_actions=[{"action": "Rotate", "time_after_create": "P1D"}])
    clock.advance(days=2)
    barrier = threading.Barrier(2, timeout=10)
    generate = vault.keys._generate

    def both_generate_first(*args: Any, **kwargs: Any) -> Any:
        out = generate(*args, **kwargs)
        barrier.wait()  # both runs have decided to rotate and made key material
        return out

    monkeypatch.setattr(vault.keys, "_generate", both_generate_first)
    reports = _twice_in_parallel(vault)
    assert sorted(len(r.events) for r in reports) == [0, 1]
    assert len(_versions(vault, "k")) == 2


def test_concurrent_maintenance_notifies_once(vault: Vault, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=10))
    barrier = threading.Barrier(2, timeout=10)
    get_object = vault.keys._engine.get_object

    def both_read_first(*args: Any, **kwargs: Any) -> Any:
        out = get_object(*args, **kwargs)
        barrier.wait()  # both runs have seen "not notified yet"
        return out

    monkeypatch.setattr(vault.keys._engine, "get_object", both_read_first)
    reports = _twice_in_parallel(vault)
    assert sorted(len(r.events) for r in reports) == [0, 1]
    monkeypatch.undo()
    assert len(list(vault.audit.events(operation="KeyNearExpiry"))) == 1


def test_key_deleted_while_being_rotated(vault: Vault, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key deleted during a maintenance run is skipped; the run goes on with the others."""
    for name in ("k", "other"):
        vault.keys.create_ec_key(name)
        vault.keys.update_key_rotation_policy(name, lifetime_actions=[{"action": "Rotate", "time_after_create": "P1D"}])
    clock.advance(days=2)
    generate = vault.keys._generate

    def delete_k_meanwhile(*args: Any, **kwargs: Any) -> Any:
        out = generate(*args, **kwargs)
        if not list(vault.keys.list_deleted_keys()):
            vault.keys.delete_key("k")  # during the first rotation, whichever key it is for
        return out

    monkeypatch.setattr(vault.keys, "_generate", delete_k_meanwhile)
    events = vault.run_maintenance().events
    assert [e["key"] for e in events] == ["other"]
    assert len(_versions(vault, "other")) == 2
    vault.keys.recover_deleted_key("k")
    assert len(_versions(vault, "k")) == 1
