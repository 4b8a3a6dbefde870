"""When audit events reach the disk: mutations in their own transaction, reads group-committed
(bounded delay, batch size, close), ``audit="sync"`` before returning, ``audit="off"``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from accesshelpers import grant, new_vault

from vaultcore import ForbiddenError, NotFoundError, RawKeyCredential, Vault


@pytest.fixture
def vault_path(vault_path_on_both: Path) -> Path:
    """These tests run on LMDB and on PostgreSQL (rows edited with SQL there)."""
    return vault_path_on_both


T = TypeVar("T")


def stored_operations(path: Path | str, cred: RawKeyCredential) -> list[tuple[str, str]]:
    """(operation, result) of every event *on disk*, read through a second handle.

    The second handle's own queue holds only its VaultOpen event; it never flushes the first
    handle's queue, so what it sees is what the first handle has committed.
    """
    other = Vault.open(path, cred, audit="off")
    try:
        return [(e.operation, e.result) for e in other.audit.events()]
    finally:
        other.close()


def test_mutation_event_survives_a_retried_write_transaction(vault: Vault) -> None:
    """The store may run a write function twice (it retries after growing the map)."""
    store = vault._ctx.store
    original = store.write

    class Retry(Exception):
        pass

    def write_twice(fn: Callable[[Any], T], **options: Any) -> T:
        def first_attempt(txn: Any) -> T:
            fn(txn)
            raise Retry  # what a full map does: the attempt is aborted and run again

        with contextlib.suppress(Retry):
            original(first_attempt, **options)
        return original(fn, **options)

    store.write = write_twice  # type: ignore[method-assign]
    try:
        made = vault.secrets.set_secret("retried", "value")
    finally:
        store.write = original  # type: ignore[method-assign]
    events = vault.audit.events(operation="SecretSet")
    assert [e.object_id for e in events] == [f"/secrets/retried/{made.properties.version}"]
    assert vault.audit.verify().ok


def test_vault_creation_is_the_first_event(vault: Vault) -> None:
    first = vault.audit.events()[0]
    assert (first.seq, first.operation, first.principal, first.result) == (1, "VaultCreate", "admin", "success")


def test_reads_are_flushed_within_the_bounded_delay(vault_and_cred: tuple[Vault, RawKeyCredential]) -> None:
    vault, cred = vault_and_cred
    vault.secrets.set_secret("s", "v")
    vault.secrets.get_secret("s")
    deadline = time.monotonic() + 5.0
    while ("SecretGet", "success") not in stored_operations(vault.path, cred):
        assert time.monotonic() < deadline, "the read was not flushed within 5 s (max_delay is 50 ms)"
        time.sleep(0.02)


def test_a_full_batch_is_flushed_without_waiting_for_the_delay(
    vault_and_cred: tuple[Vault, RawKeyCredential],
) -> None:
    vault, cred = vault_and_cred
    log = vault._ctx.audit
    log._max_delay = 3600.0  # only the batch size can trigger the flush now
    vault.secrets.set_secret("s", "v")
    assert 1 <= log.flush_batch <= log._max_batch
    for _ in range(log.flush_batch):
        vault.secrets.get_secret("s")
    deadline = time.monotonic() + 5.0
    while stored_operations(vault.path, cred).count(("SecretGet", "success")) < log.flush_batch:
        assert time.monotonic() < deadline, "a full batch was not flushed"
        time.sleep(0.02)


def test_close_flushes_queued_reads(vault_path: Path) -> None:
    vault, cred = new_vault(vault_path)
    vault._ctx.audit._max_delay = 3600.0
    vault.secrets.set_secret("s", "v")
    vault.secrets.get_secret("s")
    with pytest.raises(NotFoundError):
        vault.secrets.get_secret("missing")
    assert ("SecretGet", "success") not in stored_operations(vault_path, cred)  # still queued
    vault.close()
    stored = stored_operations(vault_path, cred)
    assert ("SecretGet", "success") in stored
    assert ("SecretGet", "NotFound") in stored


def test_sync_audit_commits_before_returning(vault_path: Path) -> None:
    vault, cred = new_vault(vault_path, audit="sync")
    try:
        vault.secrets.set_secret("s", "v")
        vault.secrets.get_secret("s")
        assert ("SecretGet", "success") in stored_operations(vault_path, cred)
        with pytest.raises(NotFoundError):
            vault.secrets.get_secret("missing")
        assert ("SecretGet", "NotFound") in stored_operations(vault_path, cred)
    finally:
        vault.close()


def test_audit_off_records_mutations_and_failures_but_no_reads(vault_path: Path) -> None:
    vault, cred = new_vault(vault_path, audit="off")
    try:
        vault.secrets.set_secret("s", "v")
        vault.secrets.get_secret("s")
        list(vault.secrets.list_properties_of_secrets())
        with pytest.raises(NotFoundError):
            vault.secrets.get_secret("missing")
        reader = grant(vault, "Key Vault Reader")
        with pytest.raises(ForbiddenError):
            reader.secrets.get_secret("s")
        vault.secrets.delete_secret("s")
        operations = [(e.operation, e.result) for e in vault.audit.events()]
    finally:
        vault.close()
    assert ("VaultCreate", "success") in operations
    assert ("SecretSet", "success") in operations
    assert ("SecretDelete", "success") in operations
    assert ("PrincipalCreate", "success") in operations
    assert ("SecretGet", "NotFound") in operations
    assert ("SecretGet", "Forbidden") in operations
    assert ("SecretGet", "success") not in operations
    assert ("SecretList", "success") not in operations
    assert ("VaultCreate", "success") in stored_operations(vault_path, cred)


def test_maintenance_mutations_are_durable_even_with_audit_off(vault_path: Path) -> None:
    from vaultcore import KeyRotationLifetimeAction
    from vaultcore.testing import FakeClock

    clock = FakeClock()
    vault, cred = new_vault(vault_path, audit="off", clock=clock)
    try:
        vault.keys.create_ec_key("rotating")
        vault.keys.update_key_rotation_policy(
            "rotating", lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P1D")]
        )
        clock.advance(days=2)
        report = vault.run_maintenance()
        assert [e["event"] for e in report.events] == ["KeyRotated"]
    finally:
        vault.close()
    assert ("KeyRotated", "success") in stored_operations(vault_path, cred)


def test_unknown_audit_mode_is_refused(tmp_path: Path) -> None:
    from vaultcore import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        new_vault(tmp_path / "v", audit="sometimes")


def test_caller_information_that_is_not_json_is_kept_as_text(vault: Vault) -> None:
    vault.access.create_os_user(42)
    vault.access.assign_role("uid:42", "Key Vault Reader")
    view = vault.as_os_user(42, caller={"peer": b"\x00\xff", "addr": ("127.0.0.1", 4242)})
    list(view.secrets.list_properties_of_secrets())
    event = vault.audit.events(principal="uid:42")[-1]
    assert event.caller["peer"] == "b'\\x00\\xff'" and event.caller["addr"] == ["127.0.0.1", 4242]
    assert vault.audit.verify().ok


def test_a_failed_flush_keeps_its_events_for_the_next_one(vault: Vault) -> None:
    from vaultcore import StorageError

    log = vault._ctx.audit
    log._max_delay = 3600.0
    vault.secrets.set_secret("s", "v")
    for _ in range(3):
        vault.secrets.get_secret("s")
    original = vault._ctx.write

    def failing(fn: Callable[[Any], T], **kwargs: Any) -> T:
        raise StorageError("disk full")

    def failing_commit(*args: Any) -> int:
        raise StorageError("disk full")

    store = vault._ctx.store
    native = getattr(store, "commit_audit", None)  # LMDB commits the queue in one native call
    vault._ctx.write = failing  # type: ignore[method-assign]
    if native is not None:
        store.commit_audit = failing_commit  # type: ignore[method-assign]
    try:
        with pytest.raises(StorageError):
            log.flush()
    finally:
        vault._ctx.write = original  # type: ignore[method-assign]
        if native is not None:
            del store.commit_audit
    events = vault.audit.events()
    assert len([e for e in events if e.operation == "SecretGet"]) == 3
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert vault.audit.verify().ok
