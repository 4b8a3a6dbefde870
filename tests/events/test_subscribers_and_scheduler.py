"""In-process subscribers, the listen iterator, the scheduler (fake clock, job leases,
background thread), and subscriptions as vault objects (roles, audit, backup)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from eventhelpers import short

from corehelpers import FakeClock
from vaultcore import KDF_TESTING, ForbiddenError, RawKeyCredential, Vault
from vaultcore.events import Event

DAY = dt.timedelta(days=1)


def test_subscribe_callback_with_type_filter(vault: Vault, clock: FakeClock) -> None:
    everything: list[Event] = []
    expired: list[Event] = []
    vault.events.subscribe(everything.append)
    sub = vault.events.subscribe(expired.append, types=["SecretExpired", "Microsoft.KeyVault.KeyExpired"])
    vault.secrets.set_secret("s", "x", expires_on=clock.now + DAY)
    assert short(everything) == ["SecretNewVersionCreated"] and expired == []  # right after the commit
    clock.advance(days=2)
    vault.run_maintenance()
    assert short(expired) == ["SecretExpired"]
    sub.close()
    vault.keys.create_ec_key("k", expires_on=clock.now + DAY)
    clock.advance(days=2)
    vault.run_maintenance()
    assert short(expired) == ["SecretExpired"]
    assert short(everything)[-1] == "KeyExpired"


def test_a_failing_callback_gets_the_event_again(vault: Vault) -> None:
    seen: list[str] = []

    def flaky(event: Event) -> None:
        seen.append(event.object_name)
        if len(seen) == 1:
            raise RuntimeError("not now")

    vault.events.subscribe(flaky)
    vault.secrets.set_secret("a", "x")
    assert seen == ["a"]
    vault.secrets.set_secret("b", "x")  # the next pump retries a, then b, in order
    assert seen == ["a", "a", "b"]


def test_a_callback_may_write_to_the_vault(vault: Vault) -> None:
    names: list[str] = []

    def mirror(event: Event) -> None:
        names.append(event.object_name)
        if not event.object_name.startswith("copy-"):
            vault.secrets.set_secret("copy-" + event.object_name, "x")

    vault.events.subscribe(mirror)
    vault.secrets.set_secret("a", "x")
    assert names == ["a", "copy-a"]
    sets = [e.object_id for e in vault.audit.events(operation="SecretSet")]
    assert [i.split("/")[2] for i in sets] == ["a", "copy-a"]  # the callback's write is audited too


def test_listen_iterator(vault: Vault) -> None:
    vault.secrets.set_secret("old", "x")
    it = vault.events.listen(types="SecretNewVersionCreated", follow=False)
    vault.keys.create_ec_key("k")
    vault.secrets.set_secret("new", "x")
    assert [e.object_name for e in it] == ["new"]
    everything = vault.events.listen(after=0, follow=False)
    assert [e.object_name for e in everything] == ["old", "k", "new"]
    assert [e.object_name for e in vault.events] == ["old", "k", "new"]


def test_listen_follow_sees_another_thread(vault: Vault) -> None:
    it = vault.events.listen(follow=True, timeout=30, poll=0.01)
    threading.Thread(target=lambda: vault.secrets.set_secret("later", "x")).start()
    assert next(it).object_name == "later"


def test_scheduler_run_once_with_a_fake_clock(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("s", "x", expires_on=clock.now + 40 * DAY)
    vault.secrets.set_secret("gone", "x")
    vault.secrets.delete_secret("gone")
    scheduler = vault.start_scheduler(interval=3600, start=False)
    assert vault.start_scheduler(start=False) is scheduler
    ran = scheduler.run_once()
    assert set(ran) == {"purge", "rotation", "lifetime", "expiry", "delivery", "subscribers", "prune"}
    assert all(ran.values()) and all(err is None for err in scheduler.errors.values())
    assert "SecretNearExpiry" not in short(vault.events.read())
    clock.advance(days=91)  # past the purge date of "gone" and past the exp of "s"
    scheduler.run_once()
    assert short(vault.events.read())[-1] == "SecretExpired"
    assert list(vault.secrets.list_deleted_secrets()) == []


def test_scheduler_near_expiry_then_expired(vault: Vault, clock: FakeClock) -> None:
    got: list[Event] = []
    vault.events.subscribe(got.append)
    vault.secrets.set_secret("s", "x", expires_on=clock.now + 40 * DAY)
    scheduler = vault.start_scheduler(start=False)
    clock.advance(days=15)
    scheduler.run_once()
    scheduler.run_once()
    clock.advance(days=30)
    scheduler.run_once()
    assert short(got) == ["SecretNewVersionCreated", "SecretNearExpiry", "SecretExpired"]
    assert short(vault.events.read()) == short(got)  # pruning keeps the newest 10,000 events


@pytest.mark.parametrize("both_backends", ["lmdb"])  # opens the vault directory itself
def test_one_process_runs_each_job_at_a_time(vault: Vault, vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    """Two handles with their own schedulers (as two processes would): a job whose lease the
    other holds is skipped, and runs again once the lease is released."""
    other = Vault.open(vault_dir, raw_cred)
    try:
        first = vault.start_scheduler(start=False)
        second = other.start_scheduler(start=False)
        inside: list[dict[str, bool]] = []
        first.jobs["purge"] = lambda: inside.append(second.run_once())
        first.run_once()
        assert inside[0]["purge"] is False  # held by the first scheduler meanwhile
        assert all(ran for job, ran in inside[0].items() if job != "purge")
        assert all(second.run_once().values())  # released afterwards
    finally:
        other.close()


@pytest.mark.parametrize("both_backends", ["lmdb"])  # opens the vault directory itself
def test_a_stale_lease_of_a_dead_process_expires(vault: Vault, vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    other = Vault.open(vault_dir, raw_cred)
    try:
        first = vault.start_scheduler(start=False)
        first.lease_seconds = 0.0  # a lease already expired when the other looks
        second = other.start_scheduler(start=False)
        first.jobs["purge"] = lambda: inside.append(second.run_once()["purge"])
        inside: list[bool] = []
        first.run_once()
        assert inside == [True]
    finally:
        other.close()


def test_background_thread_and_close(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    clock = FakeClock()
    vault = Vault.create(vault_dir, raw_cred, clock=clock)
    got = threading.Event()
    vault.events.subscribe(lambda e: got.set(), types="SecretNearExpiry")
    vault.secrets.set_secret("s", "x", expires_on=clock.now + 10 * DAY)
    scheduler = vault.start_scheduler(interval=0.05)
    assert scheduler.running
    assert got.wait(60)
    vault.close()
    assert not scheduler.running


def test_bad_interval(vault: Vault) -> None:
    from vaultcore import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        vault.start_scheduler(interval=0)


# -- subscriptions are vault objects ----------------------------------------------------------


def test_roles_protect_events(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    vault = Vault.create(vault_dir, raw_cred, access_kdf=KDF_TESTING)
    try:
        users = {}
        for role in ("Key Vault Reader", "Key Vault Secrets Officer", "Key Vault Administrator"):
            cid = role.lower().replace(" ", "-")
            app = vault.access.create_application(cid)
            vault.access.assign_role(f"app:{cid}", role)
            users[role] = vault.as_principal(cid, app.client_secret)
        reader, officer, admin = users.values()
        assert len(reader.events.read()) == 3  # Reader: */read covers events/read
        assert reader.events.list_subscriptions() == []
        with pytest.raises(ForbiddenError, match="eventSubscriptions/write"):
            reader.events.create_subscription("https://127.0.0.1:9/x", validate=False)
        with pytest.raises(ForbiddenError, match="events/read"):
            officer.events.read()
        with pytest.raises(ForbiddenError, match="events/read"):
            officer.events.subscribe(print)
        sub = admin.events.create_subscription("https://127.0.0.1:9/x", validate=False)
        with pytest.raises(ForbiddenError):
            reader.events.delete_subscription(sub.id)
        admin.events.delete_subscription(sub.id)
        ops = [(e.principal, e.operation, e.result) for e in vault.audit.events() if e.operation.startswith("Event")]
        assert ("app:key-vault-administrator", "EventSubscriptionCreate", "success") in ops
        assert ("app:key-vault-reader", "EventSubscriptionCreate", "Forbidden") in ops
        assert ("app:key-vault-administrator", "EventSubscriptionDelete", "success") in ops
    finally:
        vault.close()


def test_subscriptions_are_backed_up_and_survive_keyring_rotation(
    vault: Vault, tmp_path: Path, raw_cred: RawKeyCredential
) -> None:
    sub = vault.events.create_subscription("https://127.0.0.1:9/x", ["SecretExpired"], validate=False)
    vault.secrets.set_secret("s", "x")
    vault.rotate_keyring()
    assert [s.id for s in vault.events.list_subscriptions()] == [sub.id]
    vault.backup_to(tmp_path / "copy")
    with Vault.open(tmp_path / "copy", raw_cred) as copy:
        [restored] = copy.events.list_subscriptions()
        assert restored.id == sub.id and restored.types == ("Microsoft.KeyVault.SecretExpired",)
        assert [e.object_name for e in copy.events.read()] == ["s"]


@pytest.mark.parametrize("both_backends", ["lmdb"])  # opens the vault directory itself
def test_no_secret_in_reprs_or_at_rest(vault: Vault, vault_dir: Path) -> None:
    sub = vault.events.create_subscription("https://127.0.0.1:9/hook-path", validate=False)
    vault.secrets.set_secret("very-visible-name", "x")
    assert sub.secret not in repr(sub) and sub.secret not in repr(vault.events.list_subscriptions())
    vault.close()
    raw = b"".join(p.read_bytes() for p in vault_dir.iterdir() if p.is_file())
    assert bytes.fromhex(sub.secret) not in raw and sub.secret.encode() not in raw
    assert b"hook-path" not in raw and b"very-visible-name" not in raw


def test_prune_keeps_what_a_subscription_still_needs(vault: Vault, clock: FakeClock) -> None:
    vault.secrets.set_secret("a", "x")
    sub = vault.events.create_subscription("https://127.0.0.1:9/x", validate=False)
    vault.secrets.set_secret("b", "x")
    clock.advance(days=8)
    scheduler = vault.start_scheduler(start=False, keep_events=0)
    scheduler.run_once()  # delivery fails (nothing listens on :9)
    assert [e.object_name for e in vault.events.read()] == ["b"]  # a pruned, b kept for the subscription
    vault.events.delete_subscription(sub.id)
    scheduler.run_once()
    assert vault.events.read() == [] and vault.events.head() == 2
    vault.secrets.set_secret("c", "x")
    assert [e.seq for e in vault.events.read()] == [3]  # seqs are never reused


def test_prune_keeps_the_newest_events(vault: Vault, clock: FakeClock) -> None:
    for i in range(5):
        vault.secrets.set_secret(f"s{i}", "x")
    vault.secrets.set_secrets({"b1": "x", "b2": "x"})  # one transaction: one segment, kept whole
    clock.advance(days=8)
    vault.start_scheduler(start=False, keep_events=3).run_once()
    assert [e.object_name for e in vault.events.read()] == ["s4", "b1", "b2"]
    assert [e.seq for e in vault.events.read(after=5)] == [6, 7] and vault.events.read(after=7) == []
