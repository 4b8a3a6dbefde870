"""Tampering with the audit log is detected: ``verify()`` names the first bad event.

Attacks without the vault credential edit the LMDB file directly (:class:`RawStore`): flip a
byte, delete, reorder, truncate. Attacks by a key holder (someone with the vault open) re-seal
edited or moved records with the vault's own envelope, so only the HMAC chain can catch them.

Events are stored in sealed segments (one per transaction). ``make_log`` uses ``audit="sync"``
so that every event is its own segment and each attack hits exactly the event it names; the
segment tests at the end cover group-committed batches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from accesshelpers import RawStore, grant, new_vault, seq_key

from vaultcore import NotFoundError, RawKeyCredential, Vault
from vaultcore.crypto._envelope import RecordType


@pytest.fixture
def vault_path(vault_path_on_both: Path) -> Path:
    """These tests run on LMDB and on PostgreSQL (rows edited with SQL there)."""
    return vault_path_on_both


EVENTS = 20  # events written by make_log(), VaultCreate included


def make_log(path: Path) -> RawKeyCredential:
    """A closed vault with exactly EVENTS audit events (one per segment), reads and denials included."""
    vault, cred = new_vault(path, audit="sync")
    try:
        vault.secrets.set_secret("s", "v")  # 2
        reader = grant(vault, "Key Vault Reader")  # 3, 4 (principal, assignment)
        for i in range(5):  # 5..14
            vault.secrets.set_secret(f"x{i}", "v")
            vault.secrets.get_secret(f"x{i}")
        with pytest.raises(NotFoundError):
            vault.secrets.get_secret("missing")  # 15
        list(reader.secrets.list_properties_of_secrets())  # 16
        vault.secrets.delete_secret("x0")  # 17
        vault.secrets.get_secret("s")  # 18
        vault.keys.create_ec_key("k")  # 19
        vault.keys.get_key("k")  # 20
    finally:
        vault.close()
    rows = RawStore(path)
    try:
        assert len(rows.audit_rows()) == EVENTS
    finally:
        rows.close()
    return cred


def verify_after(path: Path, cred: RawKeyCredential) -> tuple[bool, int | None, str]:
    vault = Vault.open(path, cred, audit="sync")
    try:
        result = vault.audit.verify()
    finally:
        vault.close()
    return result.ok, result.first_bad_seq, result.reason


def tamper(path: Path, edit: Callable[[RawStore], None]) -> None:
    raw = RawStore(path)
    try:
        edit(raw)
    finally:
        raw.close()


def _flip(seq: int, offset: int) -> Callable[[RawStore], None]:
    def edit(raw: RawStore) -> None:
        blob = bytearray(dict(raw.audit_rows())[seq_key(seq)])
        blob[offset % len(blob)] ^= 0x01
        raw.put_audit(seq_key(seq), bytes(blob))

    return edit


def _swap(a: int, b: int) -> Callable[[RawStore], None]:
    def edit(raw: RawStore) -> None:
        rows = dict(raw.audit_rows())
        raw.put_audit(seq_key(a), rows[seq_key(b)])
        raw.put_audit(seq_key(b), rows[seq_key(a)])

    return edit


def _delete(*seqs: int) -> Callable[[RawStore], None]:
    return lambda raw: raw.delete_audit(*(seq_key(s) for s in seqs))


ATTACKS: dict[str, tuple[Callable[[RawStore], None], int]] = {
    "flip a ciphertext byte": (_flip(9, -30), 9),
    "flip the GCM tag": (_flip(12, -1), 12),
    "flip the wrapped DEK": (_flip(5, 10), 5),
    "flip the term id": (_flip(7, 4), 7),
    "delete one event": (_delete(8), 8),
    "delete the first event": (_delete(1), 1),
    "reorder two events": (_swap(6, 11), 6),
    "reorder neighbours": (_swap(15, 16), 15),
    "truncate the tail": (_delete(*range(14, EVENTS + 1)), 14),
    "truncate the last event": (_delete(EVENTS), EVENTS),
    "truncate mid-chain": (_delete(*range(4, 10)), 4),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_file_level_tampering_is_detected(vault_path: Path, attack: str) -> None:
    cred = make_log(vault_path)
    assert verify_after(vault_path, cred)[0]
    edit, first_bad = ATTACKS[attack]
    tamper(vault_path, edit)
    ok, bad, reason = verify_after(vault_path, cred)
    assert not ok
    assert bad == first_bad, reason


@pytest.mark.parametrize("attack", ["truncate the tail", "truncate mid-chain", "delete one event"])
def test_tampering_stays_detected_after_new_events(vault_path: Path, attack: str) -> None:
    """The vault keeps appending after the damage; the gap must not be papered over."""
    cred = make_log(vault_path)
    edit, first_bad = ATTACKS[attack]
    tamper(vault_path, edit)
    vault = Vault.open(vault_path, cred)
    try:
        for i in range(5):
            vault.secrets.set_secret(f"after{i}", "v")
        result = vault.audit.verify()
    finally:
        vault.close()
    assert (result.ok, result.first_bad_seq) == (False, first_bad), result.reason


def test_deleting_the_chain_head_is_detected_and_nothing_is_overwritten(vault_path: Path) -> None:
    cred = make_log(vault_path)
    before = dict(RawStore_rows(vault_path))
    tamper(vault_path, lambda raw: raw.delete_meta(b"audit_head"))
    vault = Vault.open(vault_path, cred)
    try:
        vault.secrets.set_secret("after", "v")
        result = vault.audit.verify()
        operations = [e.operation for e in vault.audit.events()]
    finally:
        vault.close()
    assert not result.ok and result.first_bad_seq == EVENTS + 1, result.reason
    after = dict(RawStore_rows(vault_path))
    assert all(after[k] == v for k, v in before.items()), "old events were overwritten"
    assert operations[0] == "VaultCreate"


@pytest.mark.parametrize("append", [True, False])
def test_rolling_back_the_chain_head_is_detected_and_nothing_is_overwritten(vault_path: Path, append: bool) -> None:
    """An old copy of the head put back (a rollback of the tail) makes the vault keep appending
    after the newest stored event, never over it."""
    vault, cred = new_vault(vault_path, audit="off")
    vault.secrets.set_secret("early", "v")
    vault.close()
    raw = RawStore(vault_path)
    stored = raw.get_meta(b"audit_head")
    assert stored is not None
    old_head = bytes(stored)
    raw.close()
    old_seq = int.from_bytes(old_head[:8], "big")
    vault = Vault.open(vault_path, cred)
    for i in range(4):
        vault.secrets.set_secret(f"later{i}", "v")
    vault.close()
    before = dict(RawStore_rows(vault_path))
    raw = RawStore(vault_path)
    raw.put_meta(b"audit_head", old_head)
    raw.close()
    vault = Vault.open(vault_path, cred, audit="off")  # "off": no VaultOpen event is appended
    try:
        if append:
            vault.secrets.set_secret("after", "v")
        result = vault.audit.verify()
    finally:
        vault.close()
    after = dict(RawStore_rows(vault_path))
    assert all(after[k] == v for k, v in before.items()), "old events were overwritten"
    # docs/access.md: an older head put back is reported at the first event it no longer
    # covers, also after new events were appended behind it (issue 13 §11)
    assert not result.ok and result.first_bad_seq == old_seq + 1, result.reason


def test_wiping_the_whole_log_is_detected(vault_path: Path) -> None:
    cred = make_log(vault_path)

    def wipe(raw: RawStore) -> None:
        raw.delete_audit(*(key for key, _ in raw.audit_rows()))
        raw.delete_meta(b"audit_head")

    tamper(vault_path, wipe)
    ok, bad, reason = verify_after(vault_path, cred)
    assert not ok and bad == 1, reason


def RawStore_rows(path: Path) -> list[tuple[bytes, bytes]]:
    raw = RawStore(path)
    try:
        return raw.audit_rows()
    finally:
        raw.close()


# -- a key holder's edits: records re-sealed with the vault's own envelope ---------------


def _reseal(vault: Vault, seq: int, edit: Callable[[bytes], bytes]) -> None:
    key = seq_key(seq)
    envelope = vault._ctx.envelope

    def run(txn: object) -> None:
        blob = txn.get(b"audit", key)  # type: ignore[attr-defined]
        plain = envelope.open(RecordType.AUDIT, key, blob)
        txn.put(b"audit", key, envelope.seal(RecordType.AUDIT, key, edit(plain)))  # type: ignore[attr-defined]

    vault._ctx.store.write(run)


def test_key_holder_edit_of_an_event_is_detected(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    reader = grant(vault, "Key Vault Reader")
    with pytest.raises(Exception, match="getSecret"):
        reader.secrets.get_secret("s")
    vault.audit.flush()
    target = next(e.seq for e in vault.audit.events() if e.result == "Forbidden")
    for n in range(3):
        vault.secrets.set_secret(f"later{n}", "v")
    assert vault.audit.verify().ok

    # turn the denial into a success, same length, properly sealed
    _reseal(vault, target, lambda plain: plain.replace(b'"Forbidden"', b'"success__"'))
    result = vault.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, target), result.reason


def test_key_holder_reorder_is_detected(vault: Vault) -> None:
    for n in range(6):
        vault.secrets.set_secret(f"s{n}", "v")
    assert vault.audit.verify().ok
    a, b = seq_key(3), seq_key(5)
    envelope = vault._ctx.envelope

    def swap(txn: object) -> None:
        plain_a = envelope.open(RecordType.AUDIT, a, txn.get(b"audit", a))  # type: ignore[attr-defined]
        plain_b = envelope.open(RecordType.AUDIT, b, txn.get(b"audit", b))  # type: ignore[attr-defined]
        txn.put(b"audit", a, envelope.seal(RecordType.AUDIT, a, plain_b))  # type: ignore[attr-defined]
        txn.put(b"audit", b, envelope.seal(RecordType.AUDIT, b, plain_a))  # type: ignore[attr-defined]

    vault._ctx.store.write(swap)
    result = vault.audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3), result.reason


# -- keyring rotation --------------------------------------------------------------------


def test_keyring_rotation_keeps_old_chains_verifiable(vault_path: Path) -> None:
    vault, cred = new_vault(vault_path)
    try:
        for n in range(5):
            vault.secrets.set_secret(f"s{n}", "v")
            vault.secrets.get_secret(f"s{n}")
        terms_before = {e.term for e in vault.audit.events()}
        vault.rotate_keyring()
        vault.secrets.set_secret("after-first", "v")
        vault.rotate_keyring()
        vault.secrets.get_secret("after-first")
        result = vault.audit.verify()
        assert result.ok, result.reason
        terms_after = {e.term for e in vault.audit.events()}
        assert len(terms_after) == 3 and terms_before < terms_after
        assert [e.operation for e in vault.audit.events(operation="VaultKeyringRotate")] == ["VaultKeyringRotate"] * 2
    finally:
        vault.close()
    assert verify_after(vault_path, cred)[0]

    # and an old event edited after the rotation is still caught
    tamper(vault_path, _delete(4))
    ok, bad, _ = verify_after(vault_path, cred)
    assert (ok, bad) == (False, 4)


# -- group-committed segments ------------------------------------------------------------


def make_segments(path: Path, reads: int = 10, max_batch: int = 512) -> tuple[RawKeyCredential, list[int]]:
    """Events 1-2 alone, then *reads* group-committed reads, then one mutation; returns the
    credential and the stored segment keys (the last seq of each segment)."""
    vault, cred = new_vault(path)
    log = vault._ctx.audit
    log._max_delay, log._max_batch = 3600.0, 1 << 30  # nothing flushes on its own meanwhile
    try:
        vault.secrets.set_secret("s", "v")  # 2
        for _ in range(reads):  # 3 .. reads + 2, in one flush
            vault.secrets.get_secret("s")
        log._max_batch = max_batch  # the segment size of the flush below
        log.flush()
        vault.secrets.set_secret("t", "v")  # reads + 3
    finally:
        vault.close()
    return cred, [int.from_bytes(k, "big") for k, _ in RawStore_rows(path)]


def test_a_flush_stores_its_reads_as_one_segment(vault_path: Path) -> None:
    cred, keys = make_segments(vault_path)
    assert keys == [1, 2, 12, 13]
    assert verify_after(vault_path, cred)[0]
    vault = Vault.open(vault_path, cred, audit="off")
    try:
        events = vault.audit.events()
    finally:
        vault.close()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.operation for e in events[:13]] == ["VaultCreate", "SecretSet", *["SecretGet"] * 10, "SecretSet"]
    assert len({e.mac for e in events}) == len(events)


def test_segments_are_split_at_the_batch_size(vault_path: Path) -> None:
    cred, keys = make_segments(vault_path, reads=10, max_batch=4)
    assert keys == [1, 2, 6, 10, 12, 13]
    assert verify_after(vault_path, cred)[0]


@pytest.mark.parametrize(
    ("attack", "first_bad"),
    [
        (_flip(12, -40), 3),  # a damaged segment is reported at its first event
        (_delete(12), 3),
        (_swap(12, 13), 3),
        (_delete(13), 13),
    ],
    ids=["flip", "delete", "swap", "truncate"],
)
def test_segment_tampering_is_reported_at_its_first_event(
    vault_path: Path, attack: Callable[[RawStore], None], first_bad: int
) -> None:
    cred, _ = make_segments(vault_path)
    tamper(vault_path, attack)
    ok, bad, reason = verify_after(vault_path, cred)
    assert (ok, bad) == (False, first_bad), reason


def test_key_holder_edit_inside_a_segment_is_reported_at_that_event(vault_path: Path) -> None:
    cred, _ = make_segments(vault_path)
    vault = Vault.open(vault_path, cred, audit="off")
    try:
        victim = vault.audit.events()[6]  # seq 7, inside the segment of events 3..12
        assert victim.seq == 7 and victim.operation == "SecretGet"
        request = victim.request_id.encode()
        forged = b"0" * len(request)
        _reseal(vault, 12, lambda plain: plain.replace(request, forged))
        result = vault.audit.verify()
    finally:
        vault.close()
    assert (result.ok, result.first_bad_seq) == (False, 7), result.reason
