"""The whole secrets lifecycle, with time travel through an injectable clock (issue 3 §4-5)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from corehelpers import START, FakeClock, dump, file_bytes
from vaultcore import (
    ConflictError,
    DeletedSecret,
    ForbiddenError,
    InvalidParameterError,
    NotFoundError,
    RawKeyCredential,
    Vault,
    VaultLockedError,
)

DAY = timedelta(days=1)


# -- set / get / versions / properties ---------------------------------------------------


def test_set_get_versions_and_properties(vault: Vault, clock: FakeClock) -> None:
    s1 = vault.secrets.set_secret("db-password", "hunter2", tags={"env": "dev"}, content_type="text/plain")
    assert s1.value == "hunter2"
    assert re.fullmatch(r"[0-9a-f]{32}", s1.properties.version)
    assert s1.properties.created_on == START
    assert s1.properties.updated_on == START
    assert s1.properties.enabled is True
    assert s1.properties.tags == {"env": "dev"}
    assert s1.properties.content_type == "text/plain"
    assert s1.properties.managed is False
    assert s1.id == f"{vault.vault_url}/secrets/db-password/{s1.properties.version}"

    clock.advance(hours=1)
    s2 = vault.secrets.set_secret("db-password", "correct horse")
    assert s2.properties.version != s1.properties.version
    assert s2.properties.created_on == START + timedelta(hours=1)
    assert s2.properties.tags == {}  # tags belong to a version, not the object

    latest = vault.secrets.get_secret("db-password")
    assert (latest.value, latest.properties.version) == ("correct horse", s2.properties.version)
    old = vault.secrets.get_secret("db-password", s1.properties.version)
    assert (old.value, old.properties.tags) == ("hunter2", {"env": "dev"})

    versions = list(vault.secrets.list_properties_of_secret_versions("db-password"))
    assert [v.version for v in versions] == [s1.properties.version, s2.properties.version]

    listed = list(vault.secrets.list_properties_of_secrets())
    assert [(p.name, p.version) for p in listed] == [("db-password", s2.properties.version)]
    assert not hasattr(listed[0], "value")

    clock.advance(hours=1)
    props = vault.secrets.update_secret_properties(
        "db-password", s1.properties.version, tags={"env": "prod"}, content_type="application/json"
    )
    assert props.tags == {"env": "prod"}
    assert props.content_type == "application/json"
    assert props.updated_on == START + timedelta(hours=2)
    assert props.created_on == START
    # the value is immutable; only attributes change
    assert vault.secrets.get_secret("db-password", s1.properties.version).value == "hunter2"
    # update without a version changes the latest; unspecified attributes are kept
    props = vault.secrets.update_secret_properties("db-password", enabled=False)
    assert props.version == s2.properties.version and props.enabled is False
    assert vault.secrets.update_secret_properties("db-password", s1.properties.version).tags == {"env": "prod"}


def test_version_ids_increase_even_if_the_clock_goes_back(vault: Vault, clock: FakeClock) -> None:
    ids = [vault.secrets.set_secret("s", str(i)).properties.version for i in range(3)]
    clock.advance(days=-3)
    ids.append(vault.secrets.set_secret("s", "3").properties.version)
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert vault.secrets.get_secret("s").value == "3"


def test_names_are_case_insensitive(vault: Vault) -> None:
    first = vault.secrets.set_secret("MySecret", "one")
    vault.secrets.set_secret("MYSECRET", "two")
    assert vault.secrets.get_secret("mysecret").value == "two"
    got = vault.secrets.get_secret("mYsEcReT", first.properties.version)
    assert got.value == "one" and got.name == "MySecret"  # the original spelling is kept
    assert len(list(vault.secrets.list_properties_of_secret_versions("MYSECRET"))) == 2
    assert len(list(vault.secrets.list_properties_of_secrets())) == 1
    vault.secrets.delete_secret("mysecret")
    with pytest.raises(ConflictError):
        vault.secrets.set_secret("MySeCrEt", "three")
    assert vault.secrets.get_deleted_secret("MYSECRET").name == "MySecret"


def test_not_found(vault: Vault) -> None:
    with pytest.raises(NotFoundError) as e:
        vault.secrets.get_secret("nope")
    assert e.value.inner_code == "SecretNotFound"
    s = vault.secrets.set_secret("yes", "v")
    for version in ("0" * 32, "zz", "ab", s.properties.version[:-2]):
        with pytest.raises(NotFoundError):
            vault.secrets.get_secret("yes", version)
    for call in (
        lambda: vault.secrets.list_properties_of_secret_versions("nope"),
        lambda: vault.secrets.update_secret_properties("nope", enabled=False),
        lambda: vault.secrets.delete_secret("nope"),
        lambda: vault.secrets.get_deleted_secret("yes"),
        lambda: vault.secrets.recover_deleted_secret("yes"),
        lambda: vault.secrets.purge_deleted_secret("yes"),
        lambda: vault.secrets.backup_secret("nope"),
    ):
        with pytest.raises(NotFoundError):
            call()


# -- attributes that forbid reading --------------------------------------------------------


def test_disabled_is_refused_but_not_yet_valid_and_expired_are_readable(vault: Vault, clock: FakeClock) -> None:
    # Azure: "a secret's get operation will work for not-yet-valid and expired secrets".
    vault.secrets.set_secret("off", "v", enabled=False)
    vault.secrets.set_secret("later", "v", not_before=START + DAY)
    vault.secrets.set_secret("soon-gone", "v", expires_on=START + DAY)
    vault.secrets.set_secret("window", "v", not_before=START + DAY, expires_on=START + 2 * DAY)

    def readable(name: str) -> bool | str:
        try:
            return vault.secrets.get_secret(name).value == "v"
        except ForbiddenError as exc:
            return exc.inner_code or "forbidden"

    assert readable("off") == "SecretDisabled"
    assert readable("later") is True
    assert readable("soon-gone") is True
    assert readable("window") is True
    # the dates are returned for the application to act on
    assert vault.secrets.get_secret("later").properties.not_before == START + DAY
    listed = {p.name: p for p in vault.secrets.list_properties_of_secrets()}
    assert listed.keys() == {"off", "later", "soon-gone", "window"}
    assert listed["off"].enabled is False
    assert listed["later"].not_before == START + DAY
    assert listed["soon-gone"].expires_on == START + DAY

    clock.set(START + 3 * DAY)  # all windows are over
    assert readable("soon-gone") is True
    assert readable("window") is True
    assert vault.secrets.get_secret("soon-gone").properties.expires_on == START + DAY
    assert readable("off") == "SecretDisabled"
    assert len(list(vault.secrets.list_properties_of_secret_versions("window"))) == 1

    # re-enabling and clearing dates makes the versions readable again
    vault.secrets.update_secret_properties("off", enabled=True)
    vault.secrets.update_secret_properties("window", expires_on=None)
    assert readable("off") is True
    assert readable("window") is True


def test_an_unreadable_latest_does_not_hide_older_versions(vault: Vault) -> None:
    old = vault.secrets.set_secret("s", "old")
    vault.secrets.set_secret("s", "new", enabled=False)
    with pytest.raises(ForbiddenError):
        vault.secrets.get_secret("s")
    assert vault.secrets.get_secret("s", old.properties.version).value == "old"


# -- limits ---------------------------------------------------------------------------------


BAD_SETS = {
    "empty name": lambda v: v.secrets.set_secret("", "x"),
    "name 128": lambda v: v.secrets.set_secret("a" * 128, "x"),
    "underscore": lambda v: v.secrets.set_secret("a_b", "x"),
    "space": lambda v: v.secrets.set_secret("a b", "x"),
    "dot": lambda v: v.secrets.set_secret("a.b", "x"),
    "slash": lambda v: v.secrets.set_secret("a/b", "x"),
    "non-ascii": lambda v: v.secrets.set_secret("caf\u00e9", "x"),
    "arabic digit": lambda v: v.secrets.set_secret("a\u0663", "x"),
    "newline": lambda v: v.secrets.set_secret("a\n", "x"),
    "name not str": lambda v: v.secrets.set_secret(b"abc", "x"),
    "16 tags": lambda v: v.secrets.set_secret("t", "x", tags={f"k{i}": "v" for i in range(16)}),
    "tag value 513": lambda v: v.secrets.set_secret("t", "x", tags={"k": "v" * 513}),
    "tag name 513": lambda v: v.secrets.set_secret("t", "x", tags={"k" * 513: "v"}),
    "empty tag name": lambda v: v.secrets.set_secret("t", "x", tags={"": "v"}),
    "tag not str": lambda v: v.secrets.set_secret("t", "x", tags={"k": 1}),
    "content type 256": lambda v: v.secrets.set_secret("t", "x", content_type="c" * 256),
    "value 25 KiB + 1": lambda v: v.secrets.set_secret("t", "x" * (25 * 1024 + 1)),
    "value multibyte": lambda v: v.secrets.set_secret("t", "\u00e9" * (25 * 512 + 1)),
    "value bytes": lambda v: v.secrets.set_secret("t", b"x"),
    "naive nbf": lambda v: v.secrets.set_secret("t", "x", not_before=datetime(2030, 1, 1)),
    "enabled not bool": lambda v: v.secrets.set_secret("t", "x", enabled=1),
    "bulk bad name": lambda v: v.secrets.set_secrets({"ok-1": "a", "bad_name": "b", "ok-2": "c"}),
    "bulk big value": lambda v: v.secrets.set_secrets({"ok-1": "a", "ok-2": "x" * 30000}),
    "update 16 tags": lambda v: v.secrets.update_secret_properties("keep", tags={str(i): "" for i in range(16)}),
    "update content type": lambda v: v.secrets.update_secret_properties("keep", content_type="c" * 256),
    "update naive exp": lambda v: v.secrets.update_secret_properties("keep", expires_on=datetime(2031, 1, 1)),
    "get bad name": lambda v: v.secrets.get_secret("bad_name"),
    "delete bad name": lambda v: v.secrets.delete_secret("-" * 200),
}


@pytest.mark.parametrize("call", BAD_SETS.values(), ids=BAD_SETS.keys())
def test_limits_raise_invalid_parameter_and_leave_the_vault_unchanged(vault: Vault, call: object) -> None:
    vault.secrets.set_secret("keep", "value", tags={"a": "b"})
    before = file_bytes(vault.path)
    listed = list(vault.secrets.list_properties_of_secrets())
    with pytest.raises(InvalidParameterError) as exc:
        call(vault)  # type: ignore[operator]
    assert isinstance(exc.value, ValueError)
    assert file_bytes(vault.path) == before
    assert list(vault.secrets.list_properties_of_secrets()) == listed


def test_limits_at_the_boundary_are_accepted(vault: Vault) -> None:
    vault.secrets.set_secret("a" * 127, "x")
    vault.secrets.set_secret("0-Z-z-9", "x")
    vault.secrets.set_secret("-", "x")
    vault.secrets.set_secret("t", "x" * 25 * 1024, tags={f"k{i}": "v" * 512 for i in range(15)}, content_type="c" * 255)
    vault.secrets.set_secret("multibyte", "\u00e9" * (25 * 512))
    vault.secrets.set_secret("empty", "")
    assert vault.secrets.get_secret("t").value == "x" * 25 * 1024
    assert vault.secrets.get_secret("multibyte").value == "\u00e9" * (25 * 512)
    assert vault.secrets.get_secret("empty").value == ""
    assert vault.secrets.get_secret("A" * 127).value == "x"


def test_bulk_set_is_atomic_and_refuses_deleted_names(vault: Vault) -> None:
    vault.secrets.set_secret("gone", "x")
    vault.secrets.delete_secret("gone")
    with pytest.raises(ConflictError):
        vault.secrets.set_secrets({"new-1": "a", "gone": "b", "new-2": "c"})
    assert list(vault.secrets.list_properties_of_secrets()) == []
    props = vault.secrets.set_secrets({"new-1": "a", "NEW-1": "b", "new-2": "c"})
    assert [p.name for p in props] == ["new-1", "new-1", "new-2"]
    assert vault.secrets.get_secret("new-1").value == "b"
    assert len(list(vault.secrets.list_properties_of_secret_versions("new-1"))) == 2


# -- soft delete / recover / purge ---------------------------------------------------------


def test_delete_recover_purge(vault: Vault, vault_location: str, clock: FakeClock) -> None:
    v1 = vault.secrets.set_secret("api-key", "one")
    v2 = vault.secrets.set_secret("api-key", "two")
    vault.secrets.set_secret("other", "x")
    clock.advance(hours=5)
    deleted = vault.secrets.delete_secret("api-key")
    assert isinstance(deleted, DeletedSecret)
    assert deleted.name == "api-key"
    assert deleted.deleted_date == clock.now
    assert deleted.scheduled_purge_date == clock.now + timedelta(days=90)
    assert deleted.recovery_id == f"{vault.vault_url}/deletedsecrets/api-key"
    assert deleted.properties.version == v2.properties.version
    assert not hasattr(deleted, "value")

    with pytest.raises(NotFoundError):
        vault.secrets.get_secret("api-key")
    assert [p.name for p in vault.secrets.list_properties_of_secrets()] == ["other"]
    assert [d.name for d in vault.secrets.list_deleted_secrets()] == ["api-key"]
    assert vault.secrets.get_deleted_secret("API-KEY").scheduled_purge_date == deleted.scheduled_purge_date

    with pytest.raises(ConflictError) as conflict:
        vault.secrets.set_secret("api-key", "three")
    assert conflict.value.inner_code == "ObjectIsDeletedButRecoverable"
    vault.secrets.delete_secret("other")
    with pytest.raises(NotFoundError):  # already deleted: no live object of that name
        vault.secrets.delete_secret("other")
    vault.secrets.recover_deleted_secret("other")

    props = vault.secrets.recover_deleted_secret("api-key")
    assert props.version == v2.properties.version
    assert vault.secrets.get_secret("api-key").value == "two"
    assert vault.secrets.get_secret("api-key", v1.properties.version).value == "one"
    assert list(vault.secrets.list_deleted_secrets()) == []

    vault.secrets.delete_secret("api-key")
    vault.secrets.purge_deleted_secret("api-key")
    with pytest.raises(NotFoundError):
        vault.secrets.get_deleted_secret("api-key")
    with pytest.raises(NotFoundError):
        vault.secrets.recover_deleted_secret("api-key")
    fresh = vault.secrets.set_secret("api-key", "four")
    assert [p.version for p in vault.secrets.list_properties_of_secret_versions("api-key")] == [
        fresh.properties.version
    ]

    # purge is crypto-erase: nothing of the purged object is left in the store
    vault.secrets.delete_secret("other")
    vault.secrets.purge_deleted_secret("other")
    vault.close()
    for db in (b"deleted", b"dversions", b"purgeq"):
        assert dump(vault_location, db) == []
    assert len(dump(vault_location, b"versions")) == 1
    assert len(dump(vault_location, b"objects")) == 1


def test_sweep_purges_after_retention_at_open_and_in_maintenance(
    vault_location: str, raw_cred: RawKeyCredential, clock: FakeClock
) -> None:
    with Vault.create(vault_location, raw_cred, clock=clock, retention_days=7) as vault:
        vault.secrets.set_secret("a", "1")
        vault.secrets.set_secret("b", "2")
        vault.secrets.delete_secret("a")
        clock.advance(days=1)
        vault.secrets.delete_secret("b")
        clock.advance(days=6, seconds=-1)
        assert vault.run_maintenance().purged == 0
        clock.advance(seconds=1)  # exactly a's scheduled purge date
        assert vault.run_maintenance().purged == 1
        assert [d.name for d in vault.secrets.list_deleted_secrets()] == ["b"]
        vault.secrets.set_secret("a", "reused")
    clock.advance(days=1)
    with Vault.open(vault_location, raw_cred, clock=clock) as vault:  # the sweep runs at open
        assert list(vault.secrets.list_deleted_secrets()) == []
        vault.secrets.set_secret("b", "reused")
        assert vault.run_maintenance().purged == 0
    assert dump(vault_location, b"purgeq") == []


def test_purge_protection(vault_location: str, raw_cred: RawKeyCredential, clock: FakeClock) -> None:
    with Vault.create(vault_location, raw_cred, clock=clock, retention_days=7, purge_protection=True) as vault:
        vault.secrets.set_secret("locked", "v")
        vault.secrets.set_secret("later", "v")
        vault.secrets.set_secret("swept", "v")
        vault.secrets.delete_secret("swept")
        deleted = vault.secrets.delete_secret("locked")
        assert deleted.scheduled_purge_date == START + 7 * DAY
        vault.secrets.delete_secret("later")
        with pytest.raises(ForbiddenError) as exc:
            vault.secrets.purge_deleted_secret("locked")
        assert exc.value.status == 403
        clock.set(START + 7 * DAY - timedelta(seconds=1))
        with pytest.raises(ForbiddenError):
            vault.secrets.purge_deleted_secret("locked")
        with pytest.raises(ConflictError):
            vault.secrets.set_secret("locked", "again")
        assert vault.run_maintenance().purged == 0
        # recover is always allowed
        vault.secrets.recover_deleted_secret("later")
        vault.secrets.delete_secret("later")  # scheduled 7 days from now
        clock.set(START + 7 * DAY)
        vault.secrets.purge_deleted_secret("locked")  # allowed on the scheduled date
        assert vault.run_maintenance().purged == 1  # and the sweep purges the other one
        assert [d.name for d in vault.secrets.list_deleted_secrets()] == ["later"]
        vault.secrets.set_secret("locked", "again")
    clock.advance(days=7)
    with Vault.open(vault_location, raw_cred, clock=clock) as vault:
        assert list(vault.secrets.list_deleted_secrets()) == []
        assert vault.secrets.get_secret("locked").value == "again"


@pytest.mark.parametrize(
    ("retention", "protected", "level"),
    [
        (90, False, "Recoverable+Purgeable"),
        (90, True, "Recoverable"),
        (30, False, "CustomizedRecoverable+Purgeable"),
        (7, True, "CustomizedRecoverable"),
        (89, True, "CustomizedRecoverable"),
    ],
)
def test_recovery_level(
    tmp_path: Path, raw_cred: RawKeyCredential, clock: FakeClock, retention: int, protected: bool, level: str
) -> None:
    with Vault.create(
        tmp_path / "v", raw_cred, clock=clock, retention_days=retention, purge_protection=protected
    ) as vault:
        props = vault.secrets.set_secret("s", "v").properties
        assert (props.recovery_level, props.recoverable_days) == (level, retention)
        deleted = vault.secrets.delete_secret("s")
        assert deleted.properties.recovery_level == level
        assert deleted.scheduled_purge_date == START + timedelta(days=retention)
    with Vault.open(tmp_path / "v", raw_cred, clock=clock) as vault:
        assert vault.secrets.get_deleted_secret("s").properties.recovery_level == level


def test_enable_purge_protection_is_permanent(
    vault_location: str, raw_cred: RawKeyCredential, clock: FakeClock
) -> None:
    with Vault.create(vault_location, raw_cred, clock=clock) as vault:
        vault.secrets.set_secret("s", "v")
        vault.enable_purge_protection()
        assert vault.purge_protection is True
        assert vault.secrets.get_secret("s").properties.recovery_level == "Recoverable"
        vault.secrets.delete_secret("s")
        with pytest.raises(ForbiddenError):
            vault.secrets.purge_deleted_secret("s")
    with Vault.open(vault_location, raw_cred, clock=clock) as vault:
        assert vault.purge_protection is True
        with pytest.raises(ForbiddenError):
            vault.secrets.purge_deleted_secret("s")


@pytest.mark.parametrize("days", [0, 6, 91, -1])
def test_retention_days_bounds(tmp_path: Path, raw_cred: RawKeyCredential, days: int) -> None:
    with pytest.raises(InvalidParameterError):
        Vault.create(tmp_path / "v", raw_cred, retention_days=days)


def test_closed_vault_refuses_use(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    vault.close()
    vault.close()  # idempotent
    for call in (
        lambda: vault.secrets.get_secret("s"),
        lambda: vault.secrets.set_secret("s", "w"),
        lambda: list(vault.secrets.list_properties_of_secrets()),
        vault.run_maintenance,
        vault.rotate_keyring,
    ):
        with pytest.raises(VaultLockedError):
            call()


def test_create_over_an_existing_vault_conflicts(vault: Vault, vault_location: str, raw_cred: RawKeyCredential) -> None:
    vault.secrets.set_secret("s", "v")
    with pytest.raises(ConflictError):
        Vault.create(vault_location, raw_cred)
    assert vault.secrets.get_secret("s").value == "v"


def test_naive_clock_is_refused(tmp_path: Path, raw_cred: RawKeyCredential) -> None:
    with pytest.raises(InvalidParameterError):
        Vault.create(tmp_path / "v", raw_cred, clock=lambda: datetime(2030, 1, 1))


def test_backup_to_a_bad_destination_is_a_storage_error(vault: Vault, tmp_path: Path) -> None:
    from vaultcore import StorageError

    vault.secrets.set_secret("s", "v")
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "not-empty").mkdir()
    (tmp_path / "not-empty" / "x").write_text("x")
    for dest in (tmp_path / "a-file", tmp_path / "not-empty", tmp_path / "a-file" / "below"):
        with pytest.raises(StorageError):
            vault.backup_to(dest)
    assert (tmp_path / "a-file").read_text() == "x"
    assert vault.secrets.get_secret("s").value == "v"


def test_a_backup_that_is_returned_can_be_restored(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """backup_secret must not hand out a blob that restore_secret_backup refuses as too large."""
    from vaultcore.engine import _backup

    monkeypatch.setattr(_backup, "_MAX_BACKUP", 8 * 1024)
    vault.secrets.set_secret("small", "x" * 1000)
    small = vault.secrets.backup_secret("small")
    for _ in range(4):
        vault.secrets.set_secret("big", "y" * 3000)
    try:
        big: bytes | None = vault.secrets.backup_secret("big")
    except InvalidParameterError as exc:
        assert "too large" in str(exc)
        big = None
    for name, blob in (("small", small), ("big", big)):
        if blob is None:
            continue
        vault.secrets.delete_secret(name)
        vault.secrets.purge_deleted_secret(name)
        assert vault.secrets.restore_secret_backup(blob).name == name
