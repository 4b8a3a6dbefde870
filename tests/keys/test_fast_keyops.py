"""The key operations' fast path (``access._operations.run_fast``): what a call learns on
the decorated path lets the next one with the same algorithm skip it, and it must act and
audit exactly as the decorated path would: every call audited (``audit.verify()`` holds),
a change to the key by this or another ``Vault`` object seen at once, the time windows
checked per call, no fast path for sessions with roles or ``audit="sync"``, and the keyed
C contexts of AxxxKW keys wiped with the vault's other C key material.

The vaults here run on the system clock (a vault clock of its own takes the decorated path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from corehelpers import run_in_child
from vaultcore import KDF_TESTING, ForbiddenError, NotFoundError, RawKeyCredential, Vault
from vaultcore.access import _operations
from vaultcore.crypto import _bindings
from vaultcore.exceptions import VaultError

DIGEST = bytes(range(32))
KEY = b"\x42" * 32
_OPS = {
    "wrap_key": "wrapKey",
    "unwrap_key": "unwrapKey",
    "sign": "sign",
    "verify": "verify",
    "sign_data": "sign_data",
    "verify_data": "verify_data",
}


@pytest.fixture
def vault(tmp_path: Path) -> Any:
    with Vault.create(tmp_path / "v", RawKeyCredential(KEY), allow_software_oct_keys=True, access_kdf=KDF_TESTING) as v:
        yield v


def _count_decorated(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call of the key client's ``_usable`` (the decorated path's read)."""
    seen: list[str] = []
    usable = client._keys._usable

    def counting(name: str, version: str | None, op: str) -> Any:
        seen.append(op)
        return usable(name, version, op)

    monkeypatch.setattr(client._keys, "_usable", counting)
    return seen


def _secret_of(vault: Vault, name: str) -> bytes:
    return vault.keys.export_key(name).key.k  # type: ignore[return-value]


def test_every_operation_learns_and_then_skips_the_decorated_path(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault.keys.create_oct_key("kek", size=256, hardware_protected=False, exportable=True)
    vault.keys.create_ec_key("ec")
    kek = vault.keys.get_cryptography_client("kek")
    ecc = vault.keys.get_cryptography_client("ec")
    dek = os.urandom(32)
    public = vault.keys.get_key("ec").key
    calls: list[tuple[Any, str, tuple[Any, ...]]] = [
        (kek, "wrap_key", ("A256KW", dek)),
        (kek, "unwrap_key", ("A256KW", kek.wrap_key("A256KW", dek).encrypted_key)),
        (ecc, "sign", ("ES256", DIGEST)),
        (ecc, "verify", ("ES256", DIGEST, ecc.sign("ES256", DIGEST).signature)),
        (ecc, "sign_data", ("ES256", b"data")),
        (ecc, "verify_data", ("ES256", b"data", ecc.sign_data("ES256", b"data").signature)),
    ]
    vault.audit.flush()
    before = len(vault.audit.events())
    seen = {id(kek): _count_decorated(kek, monkeypatch), id(ecc): _count_decorated(ecc, monkeypatch)}
    for client, method, args in calls:
        first = getattr(client, method)(*args)
        n = len(seen[id(client)])
        second = getattr(client, method)(*args)
        assert len(seen[id(client)]) == n, f"{method}: the second call took the decorated path"
        assert client._fast[_OPS[method]]
        assert type(second) is type(first) and second.key_id == first.key_id
        assert second.algorithm == first.algorithm
    # what the fast path returned is right
    assert (
        kek.wrap_key("A256KW", dek).encrypted_key
        == vault.keys.get_cryptography_client("kek").wrap_key("A256KW", dek).encrypted_key
    )
    assert aes_key_unwrap(_secret_of(vault, "kek"), kek.wrap_key("A256KW", dek).encrypted_key) == dek
    assert kek.unwrap_key("A256KW", kek.wrap_key("A256KW", dek).encrypted_key).key == dek
    raw = ecc.sign("ES256", DIGEST).signature
    assert public.x is not None and public.y is not None
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(public.x, "big"), int.from_bytes(public.y, "big"), ec.SECP256R1()
    )
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    numbers.public_key().verify(der, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert ecc.verify("ES256", DIGEST, raw).is_valid
    assert ecc.verify("ES256", DIGEST, bytes(64)).is_valid is False
    # every call audited, with the decorated path's object ids
    events = vault.audit.events()[before:]
    ops = [e.operation for e in events if e.operation.startswith("Key")]
    assert ops.count("KeyWrap") == 6 and ops.count("KeyUnwrap") == 3
    assert ops.count("KeySign") == 5 and ops.count("KeyVerify") == 6
    assert all(e.result == "success" for e in events if e.operation.startswith("Key"))
    kek_version = vault.keys.get_key("kek").properties.version
    assert {e.object_id for e in events if e.operation == "KeyWrap"} == {f"/keys/kek/{kek_version}"}
    assert vault.audit.verify().ok
    (context,) = _contexts(vault)  # one keyed C context per key version, wrap and unwrap alike
    assert context.live


def test_a_failure_after_learning_is_raised_and_audited_by_the_decorated_path(vault: Vault) -> None:
    vault.keys.create_oct_key("kek", size=256, hardware_protected=False)
    client = vault.keys.get_cryptography_client("kek")
    client.wrap_key("A256KW", bytes(32))
    assert client._fast["wrapKey"]
    with pytest.raises(VaultError, match="multiples of 8"):  # _keyops' message, not the C core's
        client.wrap_key("A256KW", bytes(20))
    with pytest.raises(VaultError):
        client.unwrap_key("A256KW", bytes(40))  # learns nothing: it fails
    results = [(e.operation, e.result) for e in vault.audit.events() if e.operation in ("KeyWrap", "KeyUnwrap")]
    assert results[0] == ("KeyWrap", "success")
    assert results[1][0] == "KeyWrap" and results[1][1] != "success"
    assert results[2][0] == "KeyUnwrap" and results[2][1] != "success"
    assert vault.audit.verify().ok


def test_changes_by_this_and_another_vault_object_are_seen_at_once(vault: Vault, tmp_path: Path) -> None:
    vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    first = client.sign("ES256", DIGEST).key_id
    client.sign("ES256", DIGEST)
    vault.keys.update_key_properties("k", enabled=False)
    with pytest.raises(ForbiddenError) as info:
        client.sign("ES256", DIGEST)
    assert info.value.inner_code == "KeyDisabled"
    with Vault.open(tmp_path / "v", RawKeyCredential(KEY)) as other:
        other.keys.update_key_properties("k", enabled=True)
        assert client.sign("ES256", DIGEST).key_id == first
        client.sign("ES256", DIGEST)  # fast again
        other.keys.update_key_properties("k", key_operations=["verify"])
        with pytest.raises(ForbiddenError) as info:
            client.sign("ES256", DIGEST)
        assert info.value.inner_code == "KeyOperationForbidden"
        other.keys.update_key_properties("k", key_operations=["sign", "verify"])
        client.sign("ES256", DIGEST)
        other.keys.rotate_key("k")
        rotated = client.sign("ES256", DIGEST).key_id
        assert rotated != first
        client.sign("ES256", DIGEST)
        other.keys.delete_key("k")
    with pytest.raises(NotFoundError):
        client.sign("ES256", DIGEST)
    assert vault.audit.verify().ok


def test_the_time_window_is_checked_on_every_call(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    now = time.time()
    vault.keys.create_ec_key("k", expires_on=datetime.fromtimestamp(now + 100, UTC))
    client = vault.keys.get_cryptography_client("k")
    client.sign("ES256", DIGEST)
    client.sign("ES256", DIGEST)
    assert client._fast["sign"]
    later = now + 200  # the record is unchanged; only the time moved past exp
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(_operations, "_time", lambda: later)
    with pytest.raises(ForbiddenError, match="expired"):
        client.sign("ES256", DIGEST)
    assert client.verify("ES256", DIGEST, bytes(64)).is_valid is False  # verify has no exp


def test_sessions_with_roles_and_sync_audit_take_the_decorated_path(vault: Vault, tmp_path: Path) -> None:
    vault.keys.create_ec_key("k")
    app = vault.access.create_application("app")
    vault.access.assign_role(app.principal.id, "Key Vault Crypto User", "/")
    view = vault.as_principal("app", app.client_secret)
    client = view.keys.get_cryptography_client("k")
    client.sign("ES256", DIGEST)
    client.sign("ES256", DIGEST)
    assert not any(client._fast.values())
    signs = [e for e in vault.audit.events() if e.operation == "KeySign"]
    assert [e.principal for e in signs] == [app.principal.id] * 2

    with Vault.create(tmp_path / "sync", RawKeyCredential(KEY), audit="sync") as durable:
        durable.keys.create_ec_key("k")
        client = durable.keys.get_cryptography_client("k")
        client.sign("ES256", DIGEST)
        client.sign("ES256", DIGEST)
        assert not any(client._fast.values())
        assert len([e for e in durable.audit.events() if e.operation == "KeySign"]) == 2


def test_a_request_id_or_an_enclosing_operation_take_the_decorated_path(vault: Vault) -> None:
    vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    client.sign("ES256", DIGEST)
    token = _operations.current_request_id.set("req-7")
    try:
        client.sign("ES256", DIGEST)
    finally:
        _operations.current_request_id.reset(token)
    (event,) = [e for e in vault.audit.events() if e.operation == "KeySign" and e.request_id == "req-7"]
    assert event.result == "success"


def _contexts(vault: Vault) -> list[_bindings.KwKey]:
    return list(vault._ctx.envelope.key_contexts._live)


def test_keyring_rotation_purge_and_close_wipe_the_keyed_contexts(vault: Vault) -> None:
    vault.keys.create_oct_key("kek", size=256, hardware_protected=False, exportable=True)
    client = vault.keys.get_cryptography_client("kek")
    dek = os.urandom(32)
    wrapped = client.wrap_key("A256KW", dek).encrypted_key
    (context,) = _contexts(vault)
    assert context.live
    vault.rotate_keyring()  # (re-seals the key's record too: the next call reads it again)
    assert not context.live
    assert client.wrap_key("A256KW", dek).encrypted_key == wrapped
    assert [c.live for c in _contexts(vault)] == [True]  # keyed again on use
    client.wrap_key("A256KW", dek)  # fast
    (context,) = _contexts(vault)
    vault.keys.create_ec_key("other")
    vault.keys.delete_key("other")
    vault.keys.purge_deleted_key("other")  # any purge wipes them (as it wipes the DEK cache)
    assert not context.live
    assert client.unwrap_key("A256KW", wrapped).key == dek
    (context,) = _contexts(vault)
    assert context.live
    vault.close()
    assert not context.live and vault._ctx.envelope.key_contexts.closed
    with pytest.raises(VaultError, match="closed"):
        client.wrap_key("A256KW", dek)
    assert not context.live


def test_a_purged_key_is_seen_at_once(vault: Vault) -> None:
    vault.keys.create_oct_key("kek", size=256, hardware_protected=False)
    client = vault.keys.get_cryptography_client("kek")
    client.wrap_key("A256KW", bytes(32))
    client.wrap_key("A256KW", bytes(32))
    vault.keys.delete_key("kek")
    vault.keys.purge_deleted_key("kek")
    with pytest.raises(NotFoundError):
        client.wrap_key("A256KW", bytes(32))
    assert not any(c.live for c in _contexts(vault))
    assert not any(client._fast.values())  # nothing of the purged key is kept for it


def test_a_purge_drops_what_every_clients_fast_path_kept(vault: Vault) -> None:
    vault.keys.create_ec_key("a")
    vault.keys.create_ec_key("b")
    a, b = vault.keys.get_cryptography_client("a"), vault.keys.get_cryptography_client("b")
    for client in (a, b):
        client.sign("ES256", DIGEST)
    assert a._fast["sign"] and b._fast["sign"]
    vault.keys.delete_key("a")
    vault.keys.purge_deleted_key("a")
    assert not a._fast["sign"] and not b._fast["sign"]  # (b learns again on its next call)
    b.sign("ES256", DIGEST)
    assert b._fast["sign"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_cannot_use_the_parents_vault_through_the_fast_path(vault: Vault) -> None:
    vault.keys.create_oct_key("kek", size=256, hardware_protected=False)
    client = vault.keys.get_cryptography_client("kek")
    client.wrap_key("A256KW", bytes(32))
    client.wrap_key("A256KW", bytes(32))

    def in_child() -> str:
        try:
            client.wrap_key("A256KW", bytes(32))
        except VaultError as exc:
            return str(exc)
        return "wrapped"

    assert "fork" in str(run_in_child(in_child))
    assert client.wrap_key("A256KW", bytes(32)).encrypted_key  # the parent carries on
