"""Key operations are pure (``operation(..., pure=True)``): for an administrator on the
system clock their success event is built and queued in C; failures, other sessions and
``audit="sync"`` record as every operation does. The log must read the same either way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vaultcore import InvalidParameterError, RawKeyCredential, Vault
from vaultcore.access._operations import current_request_id
from vaultcore.crypto import _bindings

KEY = b"\x35" * 32


def _events(vault: Vault, operation: str) -> list[Any]:
    return [e for e in vault.audit.events() if e.operation == operation]


@pytest.fixture
def vault(tmp_path: Path) -> Any:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), allow_software_oct_keys=True) as v:  # the system clock
        yield v


def test_a_successful_operation_is_queued_in_c_with_the_operations_fields(vault: Vault) -> None:
    key = vault.keys.create_oct_key("Wrapper", size=256, hardware_protected=False)
    client = vault.keys.get_cryptography_client("Wrapper")
    client.wrap_key("A256KW", os.urandom(32))
    vault._ctx.audit.flush()
    assert vault._ctx.audit._templates  # the C template was used
    (event,) = _events(vault, "KeyWrap")
    assert event.object_id == f"/keys/Wrapper/{key.properties.version}"
    assert (event.principal, event.result) == ("admin", "success")
    token = current_request_id.set("req-1")  # a front end's request: the decorated path
    try:
        client.wrap_key("A256KW", os.urandom(32))
    finally:
        current_request_id.reset(token)
    first, second = _events(vault, "KeyWrap")
    assert second.object_id == first.object_id and second.request_id == "req-1"
    assert first.caller == second.caller
    assert vault.audit.verify().ok


def test_a_failure_is_recorded_with_its_code_and_the_call_raises(vault: Vault) -> None:
    vault.keys.create_oct_key("Wrapper", size=256, hardware_protected=False)
    client = vault.keys.get_cryptography_client("Wrapper")
    with pytest.raises(InvalidParameterError):
        client.wrap_key("A256KW", b"short")  # not a multiple of 8 bytes
    client.wrap_key("A256KW", os.urandom(32))
    got = [(e.result, e.object_id.count("/")) for e in _events(vault, "KeyWrap")]
    assert got[0][0] != "success" and got[1] == ("success", 3)
    assert vault.audit.verify().ok


def test_sign_and_verify_are_audited_in_order(vault: Vault) -> None:
    vault.keys.create_ec_key("Signer", curve="P-256", hardware_protected=False)
    client = vault.keys.get_cryptography_client("Signer")
    digest = os.urandom(32)
    signed = client.sign("ES256", digest)
    assert client.verify("ES256", digest, signed.signature).is_valid
    ops = [e.operation for e in vault.audit.events() if e.operation.startswith("KeyS") or e.operation == "KeyVerify"]
    assert ops == ["KeySign", "KeyVerify"]


def test_audit_off_records_failures_only(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), audit="off", allow_software_oct_keys=True) as v:
        v.keys.create_oct_key("Wrapper", size=256, hardware_protected=False)
        client = v.keys.get_cryptography_client("Wrapper")
        client.wrap_key("A256KW", os.urandom(32))
        with pytest.raises(InvalidParameterError):
            client.wrap_key("A256KW", b"short")
        assert [e.result for e in _events(v, "KeyWrap")] != [] and all(
            e.result != "success" for e in _events(v, "KeyWrap")
        )


def test_sync_mode_commits_each_event_before_returning(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), audit="sync", allow_software_oct_keys=True) as v:
        v.keys.create_oct_key("Wrapper", size=256, hardware_protected=False)
        v.keys.get_cryptography_client("Wrapper").wrap_key("A256KW", os.urandom(32))
        assert v._ctx.audit._queue.pending()[0] == 0  # nothing queued: it is committed
        assert [e.result for e in _events(v, "KeyWrap")] == ["success"]


def test_the_c_template_refuses_an_object_id_that_would_need_escaping(vault: Vault) -> None:
    vault.keys.create_oct_key("Wrapper", size=256, hardware_protected=False)
    vault.keys.get_cryptography_client("Wrapper").wrap_key("A256KW", os.urandom(32))
    template = next(iter(vault._ctx.audit._templates.values()))
    before = vault._ctx.audit._queue.pending()[0]
    for bad in ('/keys/a"b', "/keys/a\\b", "/keys/\u00e9", "/keys/a\nb", "/keys/\ud800", "x" * 2000):
        assert template.push(bad) is None
    assert vault._ctx.audit._queue.pending()[0] == before
    assert template.push("/keys/ok/1") == before + 1
    assert _bindings.NO_EVENT.address == 0
    assert vault.audit.verify().ok
