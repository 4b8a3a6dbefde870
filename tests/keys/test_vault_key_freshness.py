"""What the cryptography client caches and why every change is still seen on the next call.

A key operation re-reads its version on every call: with LMDB through a record watch (one C
call comparing the stored key and sealed bytes with the ones opened before), elsewhere by
finding the record and comparing. Only unchanged bytes reuse the opened record and what is
derived from it (the nbf/exp/key_ops windows, the key id, the handle). These tests change
the stored record from this process and from another one and expect the very next call to
act on the change; and they pin the windows to the rule they stand for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultcore import ForbiddenError, IntegrityError, NotFoundError, RawKeyCredential, Vault
from vaultcore.engine._records import VersionRecord
from vaultcore.keys._models import (
    DecryptResult,
    SignResult,
    UnwrapResult,
    VerifyResult,
    WrapResult,
    new_decrypt_result,
    new_sign_result,
    new_unwrap_result,
    new_verify_result,
    new_wrap_result,
)
from vaultcore.keys._rules import check_operation, operation_windows
from vaultcore.testing import FakeClock

DIGEST = bytes(range(32))
KEYS_TESTS = str(Path(__file__).resolve().parent)


def _other_process(path: Path, credential: bytes, code: str) -> None:
    """Run *code* against the vault at *path* in a fresh interpreter (``vault`` is open)."""
    from corehelpers import spawn_script

    script = (
        "import sys\n"
        f"sys.path.insert(0, {KEYS_TESTS!r})\n"
        "from vaultcore import RawKeyCredential, Vault\n"
        "vault = Vault.open(sys.argv[1], RawKeyCredential(bytes.fromhex(sys.argv[2])))\n"
        f"{code}\n"
        "vault.close()\n"
        "print('done')\n"
    )
    child = spawn_script(script, str(path), credential.hex())
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and out.strip() == "done", err


@pytest.fixture
def shared(tmp_path: Path) -> Any:
    key = bytes(range(32))
    path = tmp_path / "vault"
    with Vault.create(path, RawKeyCredential(key), allow_software_oct_keys=True) as vault:
        yield vault, path, key


def test_a_change_made_by_another_process_is_seen_on_the_next_call(shared: Any) -> None:
    vault, path, key = shared
    vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    first = client.sign("ES256", DIGEST).key_id
    assert client.sign("ES256", DIGEST).key_id == first  # cached: nothing changed

    _other_process(path, key, "vault.keys.update_key_properties('k', enabled=False)")
    with pytest.raises(ForbiddenError) as info:
        client.sign("ES256", DIGEST)
    assert info.value.inner_code == "KeyDisabled"

    _other_process(path, key, "vault.keys.update_key_properties('k', enabled=True, key_operations=['verify'])")
    with pytest.raises(ForbiddenError) as info:
        client.sign("ES256", DIGEST)
    assert info.value.inner_code == "KeyOperationForbidden"

    _other_process(
        path, key, "vault.keys.update_key_properties('k', key_operations=['sign'])\nvault.keys.rotate_key('k')"
    )
    second = client.sign("ES256", DIGEST).key_id
    assert second != first and second.startswith(first.rsplit("/", 1)[0])

    _other_process(path, key, "vault.keys.delete_key('k')")
    with pytest.raises(NotFoundError):
        client.sign("ES256", DIGEST)


def test_a_stored_record_tampered_by_another_process_fails_the_next_call(shared: Any) -> None:
    """Same length, one bit: the watch sees other bytes, so the record is opened again and
    does not authenticate (the record opened before is not used)."""
    vault, path, key = shared
    version = vault.keys.create_oct_key("kek", size=256).properties.version
    client = vault.keys.get_cryptography_client("kek")
    pinned = vault.keys.get_cryptography_client("kek", version)
    wrapped = client.wrap_key("A256KW", bytes(32)).encrypted_key
    assert pinned.unwrap_key("A256KW", wrapped).key == bytes(32)
    _other_process(
        path, key, f"from vaultkeyhelpers import flip_version_byte\nflip_version_byte(sys.argv[1], {version!r}, -5)"
    )
    with pytest.raises(IntegrityError):
        client.wrap_key("A256KW", bytes(32))
    with pytest.raises(IntegrityError):
        pinned.unwrap_key("A256KW", wrapped)


def test_an_unchanged_record_is_reused_and_a_changed_one_replaced(tmp_path: Path) -> None:
    """White-box: the engine hands back the very record object while the bytes are the same."""
    clock = FakeClock()
    with Vault.create(tmp_path / "v", RawKeyCredential(bytes(32)), clock=clock) as vault:
        vault.keys.create_ec_key("k", expires_on=clock() + timedelta(days=1))
        client = vault.keys.get_cryptography_client("k")
        client.sign("ES256", DIGEST)
        first = vault.keys._resolve("k", None)
        assert vault.keys._resolve("k", None) is first
        assert any(hit.watch is not None for hit in vault.keys._records.values())  # LMDB watches
        vault.keys.update_key_properties("k", tags={"t": "1"})
        second = vault.keys._resolve("k", None)
        assert second is not first and second.tags == {"t": "1"}
        client.sign("ES256", DIGEST)
        clock.advance(days=1)  # the windows compare the time of each call
        with pytest.raises(ForbiddenError, match="expired"):
            client.sign("ES256", DIGEST)
        assert client.verify("ES256", DIGEST, bytes(64)).is_valid is False
        vault.keys.update_key_properties("k", expires_on=None)
        assert client.sign("ES256", DIGEST).signature


def test_a_closed_vault_refuses_a_cached_key(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "v", RawKeyCredential(bytes(32)))
    vault.keys.create_ec_key("k")
    client = vault.keys.get_cryptography_client("k")
    client.sign("ES256", DIGEST)
    vault.close()
    with pytest.raises(Exception, match="closed"):
        client.sign("ES256", DIGEST)


OPS = ["encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "import"]
TIMES = st.one_of(st.none(), st.integers(min_value=0, max_value=40))


@given(
    enabled=st.booleans(),
    nbf=TIMES,
    exp=TIMES,
    ops=st.lists(st.sampled_from(OPS[:6]), unique=True),
    now=st.integers(min_value=-5, max_value=45),
    op=st.sampled_from(OPS),
)
def test_the_windows_allow_exactly_what_check_operation_allows(
    enabled: bool, nbf: int | None, exp: int | None, ops: list[str], now: int, op: str
) -> None:
    rec = VersionRecord("k", "0" * 32, enabled, nbf, exp, 0, 0, extra={"ops": ops})
    lo, hi = operation_windows(rec).get(op, (1, 0))
    try:
        check_operation(rec, op, now)
        allowed = True
    except ForbiddenError:
        allowed = False
    assert (lo <= now < hi) == allowed


@pytest.mark.parametrize(
    ("cls", "make", "value"),
    [
        (WrapResult, new_wrap_result, b"wrapped"),
        (UnwrapResult, new_unwrap_result, b"key"),
        (SignResult, new_sign_result, b"sig"),
        (VerifyResult, new_verify_result, True),
        (DecryptResult, new_decrypt_result, b"plain"),
    ],
)
def test_results_made_on_the_hot_path_are_the_dataclasses_themselves(cls: Any, make: Any, value: object) -> None:
    made, built = make("https://v/keys/k/1", "ALG", value), cls("https://v/keys/k/1", "ALG", value)
    assert type(made) is cls and made == built and hash(made) == hash(built) and repr(made) == repr(built)
    with pytest.raises(AttributeError):
        made.key_id = "other"


def test_purge_drops_the_derived_views_too(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "v", RawKeyCredential(bytes(32))) as vault:
        vault.keys.create_ec_key("k")
        vault.keys.get_cryptography_client("k").sign("ES256", DIGEST)
        assert vault.keys._views and vault.keys._records
        vault.keys.delete_key("k")
        vault.keys.purge_deleted_key("k")
        assert not vault.keys._views and not vault.keys._records
