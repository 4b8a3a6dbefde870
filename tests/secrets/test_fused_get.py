"""get_secret's one native call (``vc_reader_get`` through ``fast_get``; on PostgreSQL the
record is read first and ``vc_reader_open`` through ``fast_open`` does the rest): when it
serves a read, what it queues in the audit log, and that everything else takes the audited
operation with the same result and the same events as before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vaultcore import ForbiddenError, IntegrityError, InvalidParameterError, NotFoundError, RawKeyCredential, Vault
from vaultcore.access._audit_read import open_segment
from vaultcore.access._operations import current_request_id, read_event
from vaultcore.engine._lifecycle import NewVersion
from vaultcore.engine._models import FusedSecret
from vaultcore.engine._records import Kind

KEY = b"\x24" * 32


@pytest.fixture
def vault(vault_location: str) -> Any:
    """A vault on the system clock (the shared fixture's fake clock turns the fused path
    off), on LMDB and on PostgreSQL (where the record is read first, then opened in C)."""
    with Vault.create(vault_location, RawKeyCredential(KEY)) as v:
        yield v


def _count_operations(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Calls of the decorated (general) get_secret operation."""
    client = vault.secrets
    calls: list[tuple[Any, ...]] = []
    general = client._get_secret  # type: ignore[attr-defined]

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return general(*args, **kwargs)

    monkeypatch.setattr(client, "_get_secret", spy)
    return calls


def _reads(vault: Vault) -> list[Any]:
    return [e for e in vault.audit.events() if e.operation == "SecretGet"]


def test_the_latest_version_is_served_in_one_native_call(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.secrets.set_secret("Db-Password", "first")
    made = vault.secrets.set_secret("Db-Password", "s3cret ✓", tags={"env": "ci"}, content_type="text/plain")
    calls = _count_operations(vault, monkeypatch)
    got = vault.secrets.get_secret("db-password")
    assert calls == []
    assert got.value == "s3cret ✓"
    assert got.name == "Db-Password" and got.id == made.id
    assert got.properties == made.properties
    assert got == made and repr(got) == repr(made)


def test_its_audit_event_is_the_one_the_operation_writes(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    made = vault.secrets.set_secret("Api-Key", "v")
    before = datetime.now(UTC)
    vault.secrets.get_secret("api-key")  # fused
    _count_operations(vault, monkeypatch)
    vault.secrets.get_secret("api-key", made.properties.version)  # the decorated operation
    fused, general = _reads(vault)[-2:]
    assert fused.object_id == general.object_id == f"/secrets/Api-Key/{made.properties.version}"
    for e in (fused, general):
        assert (e.principal, e.result, e.caller) == ("admin", "success", general.caller)
        assert before.timestamp() - 1 <= e.time.timestamp() <= datetime.now(UTC).timestamp() + 1
    assert fused.request_id != general.request_id
    assert vault.audit.verify().ok


def test_fused_events_are_canonical_json_with_unique_request_ids(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    for _ in range(300):
        vault.secrets.get_secret("s")
    vault.audit.flush()
    seen = set()
    with vault._ctx.read() as txn:
        rows = list(txn.scan(b"audit"))
    bodies = [body for key, blob in rows for _, body in open_segment(vault._ctx, key, blob)[3]]
    reads = [b for b in bodies if b'"o":"SecretGet"' in b]
    assert len(reads) == 300
    for body in reads:
        doc = json.loads(body)
        head = json.dumps({k: v for k, v in doc.items() if k != "t"}, sort_keys=True, separators=(",", ":"))
        assert body.startswith(head[:-1].encode() + b',"t":')  # sorted keys, no spaces, ASCII
        assert re.fullmatch(rb'.*,"t":\d{10}\.\d{6}}', body)  # seconds with microseconds
        seen.add(doc["q"])
    assert len(seen) == 300


def test_events_keep_their_order_with_those_recorded_in_python(vault: Vault) -> None:
    vault.secrets.set_secret("s", "v")
    vault.secrets.get_secret("s")  # queued in C
    with pytest.raises(NotFoundError):
        vault.secrets.get_secret("absent")  # queued from Python
    vault.secrets.get_secret("s")
    got = [(e.object_id.split("/")[2], e.result) for e in _reads(vault)]
    assert got == [("s", "success"), ("absent", "NotFound"), ("s", "success")]
    assert vault.audit.verify().ok


@pytest.mark.parametrize(
    ("setup", "error", "code"),
    [
        (lambda v: v.secrets.update_secret_properties("s", enabled=False), ForbiddenError, "Forbidden"),
        (lambda v: v.secrets.delete_secret("s"), NotFoundError, "NotFound"),
    ],
)
def test_what_the_native_call_refuses_fails_as_before(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, setup: Any, error: type[Exception], code: str
) -> None:
    vault.secrets.set_secret("s", "v")
    setup(vault)
    calls = _count_operations(vault, monkeypatch)
    with pytest.raises(error):
        vault.secrets.get_secret("s")
    assert len(calls) == 1
    assert _reads(vault)[-1].result == code
    assert all(e.result != "success" for e in _reads(vault))


def test_an_invalid_name_is_refused_and_audited_once(vault: Vault) -> None:
    for bad in ("bad name!", "x" * 200, ""):
        with pytest.raises(InvalidParameterError):
            vault.secrets.get_secret(bad)
    events = _reads(vault)
    assert len(events) == 3 and all(e.result != "success" for e in events)
    with pytest.raises((InvalidParameterError, TypeError)):
        vault.secrets.get_secret(b"bytes-name")  # type: ignore[arg-type]


def test_a_value_that_is_not_utf8_is_an_integrity_error(vault: Vault) -> None:
    engine = vault.secrets._engine  # type: ignore[attr-defined]
    engine.add_version(Kind.SECRET, "raw", NewVersion(payload=b"ok \xff\xfe"))
    assert engine.read_latest(Kind.SECRET, "raw", 0, repr, "") is None  # the C check refuses it
    with pytest.raises(IntegrityError):
        vault.secrets.get_secret("raw")
    assert [e.result for e in _reads(vault)] == ["IntegrityError"]


@pytest.mark.parametrize("value", ["", "é" * 600, "x" * 25_000, "\U0001f511 key"])
def test_values_of_every_size_and_script(vault: Vault, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    vault.secrets.set_secret("s", value)
    calls = _count_operations(vault, monkeypatch)
    assert vault.secrets.get_secret("s").value == value
    assert calls == []


def test_the_decorated_operation_serves_what_must_run_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Vault.create(tmp_path / "sync", RawKeyCredential(KEY), audit="sync") as v:
        v.secrets.set_secret("s", "v")
        calls = _count_operations(v, monkeypatch)
        assert v.secrets.get_secret("s").value == "v"
        assert len(calls) == 1  # sync: the event commits before the read returns
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY)) as v:
        made = v.secrets.set_secret("s", "v")
        calls = _count_operations(v, monkeypatch)
        v.secrets.get_secret("s", made.properties.version)
        token = current_request_id.set("req-from-a-front-end")
        try:
            v.secrets.get_secret("s")
        finally:
            current_request_id.reset(token)
        assert len(calls) == 2
        assert _reads(v)[-1].request_id == "req-from-a-front-end"


def test_audit_off_records_no_read_but_still_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), audit="off") as v:
        v.secrets.set_secret("s", "v")
        calls = _count_operations(v, monkeypatch)
        assert v.secrets.get_secret("s").value == "v"
        assert calls == [] and _reads(v) == []
        with pytest.raises(NotFoundError):
            v.secrets.get_secret("absent")
        assert [e.result for e in _reads(v)] == ["NotFound"]


def test_a_closed_vault_wipes_the_readers_key_and_refuses(tmp_path: Path) -> None:
    v = Vault.create(tmp_path / "v", RawKeyCredential(KEY))
    v.secrets.set_secret("s", "v")
    v.secrets.get_secret("s")
    engine = v.secrets._engine  # type: ignore[attr-defined]
    reader = engine._bound[3]
    okey = engine.objkey(Kind.SECRET, "s")
    assert reader.get(okey, "s", 0, FusedSecret, repr, "") is not None
    v.close()
    assert reader.get(okey, "s", 0, FusedSecret, repr, "") is None  # the KEK copy is wiped: nothing opens
    with pytest.raises(Exception, match=r"(?i)closed|locked"):
        v.secrets.get_secret("s")


def test_keyring_rotation_rebinds_the_reader(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.secrets.set_secret("s", "old")
    vault.secrets.get_secret("s")
    first = vault.secrets._engine._bound[3]  # type: ignore[attr-defined]
    vault.rotate_keyring()
    vault.secrets.set_secret("s", "new")
    calls = _count_operations(vault, monkeypatch)
    assert vault.secrets.get_secret("s").value == "new"
    assert calls == [] and vault.secrets._engine._bound[3] is not first  # type: ignore[attr-defined]
    assert vault.audit.verify().ok


def test_a_failed_flush_keeps_every_event_in_order(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.secrets.set_secret("s", "v")
    for _ in range(5):
        vault.secrets.get_secret("s")
    ctx = vault._ctx
    real = ctx.write

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk gone")

    monkeypatch.setattr(ctx, "write", broken)
    if hasattr(ctx.store, "commit_audit"):  # LMDB commits the queue in one native call
        monkeypatch.setattr(ctx.store, "commit_audit", broken)
    with pytest.raises(OSError):
        vault.audit.flush()
    monkeypatch.setattr(ctx, "write", real)
    monkeypatch.undo()
    assert vault._ctx.audit._queue.pending()[0] == 5
    assert len(_reads(vault)) == 5
    assert vault.audit.verify().ok


def test_a_lagging_flusher_makes_readers_flush(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    audit = vault._ctx.audit
    monkeypatch.setattr(audit, "_max_batch", 4)
    monkeypatch.setattr(audit, "_start_flusher", lambda: None)  # no flusher thread
    vault.secrets.set_secret("s", "v")
    for _ in range(16 * 4 + 10):
        vault.secrets.get_secret("s")
    assert audit._queue.pending()[0] < 16 * 4  # the reader committed the backlog itself
    monkeypatch.undo()
    assert len(_reads(vault)) == 16 * 4 + 10
    assert vault.audit.verify().ok


def test_threads_making_the_first_read_at_once_share_one_template(tmp_path: Path) -> None:
    """Regression: two threads that both found no template made one each, and the second
    replaced (and freed) the first while the first thread's read was still queuing on it."""
    import threading

    for round_ in range(5):
        with Vault.create(tmp_path / f"v{round_}", RawKeyCredential(KEY)) as v:
            v.secrets.set_secret("s", "v")
            start = threading.Barrier(6)
            errors: list[BaseException] = []

            def work(v: Vault, start: threading.Barrier, errors: list[BaseException]) -> None:
                start.wait()
                try:
                    for _ in range(100):
                        assert v.secrets.get_secret("s").value == "v"
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(v, start, errors)) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert errors == []
            assert len(v._ctx.audit._templates) == 1
            assert len(_reads(v)) == 600
            assert v.audit.verify().ok


def test_what_a_client_keeps_between_reads_never_bypasses_a_check(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template and native call a client keeps after its first fused read: every later
    read still checks the audit mode, the request id, the clock and an enclosing operation."""
    vault.secrets.set_secret("s", "v")
    for _ in range(2):  # fused: the first read makes the template, the second keeps it
        assert vault.secrets.get_secret("s").value == "v"
    assert vault.secrets._known_event[0] is not None  # type: ignore[attr-defined]
    calls = _count_operations(vault, monkeypatch)
    audit = vault._ctx.audit  # type: ignore[attr-defined]
    audit.mode = "sync"
    vault.secrets.get_secret("s")
    audit.mode = "group"
    token = current_request_id.set("req-1")
    try:
        vault.secrets.get_secret("s")
    finally:
        current_request_id.reset(token)
    ctx = vault._ctx  # type: ignore[attr-defined]
    clock = ctx.clock
    ctx.clock = lambda: datetime.now(UTC)
    vault.secrets.get_secret("s")
    ctx.clock = clock
    audit._local.event = object()  # an enclosing operation
    try:
        vault.secrets.get_secret("s")
    finally:
        audit._local.event = None
    assert len(calls) == 4
    vault.secrets.get_secret("s")
    assert len(calls) == 4  # fused again


def test_a_read_in_a_new_thread_is_fused(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that never ran an operation has no pending event in the log's thread state."""
    import threading

    vault.secrets.set_secret("s", "v")
    calls = _count_operations(vault, monkeypatch)
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(vault.secrets.get_secret("s").value))
    thread.start()
    thread.join(30)
    assert got == ["v"] and calls == []
    assert [e.result for e in _reads(vault)] == ["success"]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_reads_with_its_own_template(vault: Vault) -> None:
    """The template a client keeps belongs to the log's table of templates, which a fork
    replaces (with the queue): in the child the client is given the child's template."""
    from corehelpers import run_in_child

    vault.secrets.set_secret("s", "v")
    vault.secrets.get_secret("s")
    vault.secrets.get_secret("s")
    audit = vault._ctx.audit  # type: ignore[attr-defined]
    parent = vault.secrets._known_event[0]  # type: ignore[attr-defined]
    assert parent[0] is audit._templates

    def child() -> list[object]:  # (the vault itself refuses use in a child: open it again)
        known = vault.secrets._known_event  # type: ignore[attr-defined]
        made = read_event(vault.secrets, "SecretGet", "/secrets/", known)  # made in the child
        kept = read_event(vault.secrets, "SecretGet", "/secrets/", known)
        return [
            made is kept is audit._templates[(vault.secrets._session, "SecretGet")],  # type: ignore[attr-defined]
            made is not parent[1] and known[0] == (audit._templates, made),
            audit._templates is not parent[0],
        ]

    assert run_in_child(child) == [True, True, True]
    assert vault.secrets._known_event[0] is parent  # type: ignore[attr-defined]
