"""Credentials, the vault header and files on disk (issue 3 §1)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from corehelpers import FakeClock, file_bytes, raw_env
from vaultcore import (
    KDF_DEFAULT,
    KDF_TESTING,
    Credential,
    IntegrityError,
    InvalidParameterError,
    KdfParameters,
    KeyFileCredential,
    NotAVaultError,
    PassphraseCredential,
    RawKeyCredential,
    UnauthorizedError,
    Vault,
    VaultError,
    VaultLockedError,
)
from vaultcore.storage import _lmdb_env


def _make(path: Path, cred: Credential, clock: FakeClock | None = None) -> None:
    with Vault.create(path, cred, clock=clock) as vault:
        vault.secrets.set_secret("s", "value")


def _edit_header(path: Path, edit: Callable[[dict[str, object]], None]) -> None:
    with raw_env(path) as (env, dbs), env.begin(write=True, db=dbs[b"meta"]) as txn:
        header = json.loads(txn.get(b"header"))
        edit(header)
        txn.put(b"header", json.dumps(header, sort_keys=True, separators=(",", ":")).encode())


# -- the three standard credentials ---------------------------------------------------------


def test_passphrase_round_trip(vault_dir: Path) -> None:
    _make(vault_dir, PassphraseCredential("pass phrase \u00e9", kdf=KDF_TESTING))
    with Vault.open(vault_dir, PassphraseCredential("pass phrase \u00e9")) as vault:
        assert vault.secrets.get_secret("s").value == "value"
    with Vault.open(vault_dir, PassphraseCredential("pass phrase \u00e9".encode())) as vault:
        assert vault.tier == "standard"


@pytest.mark.slow
def test_passphrase_with_default_kdf_parameters(vault_dir: Path) -> None:
    _make(vault_dir, PassphraseCredential("a real passphrase", kdf=KDF_DEFAULT))
    with raw_env(vault_dir, write=False) as (env, dbs), env.begin(db=dbs[b"meta"]) as txn:
        root = json.loads(txn.get(b"header"))["root"]
    assert (root["kdf"], root["memory_cost"], root["iterations"], root["lanes"]) == ("argon2id", 65536, 3, 4)
    assert "a real passphrase" not in json.dumps(root)
    # the KDF of an existing vault comes from its header, not from the credential object
    with Vault.open(vault_dir, PassphraseCredential("a real passphrase", kdf=KDF_TESTING)) as vault:
        assert vault.secrets.get_secret("s").value == "value"
    with pytest.raises(UnauthorizedError):
        Vault.open(vault_dir, PassphraseCredential("a real passphrasE"))


def test_key_file(tmp_path: Path, vault_dir: Path) -> None:
    key_path = tmp_path / "vault.key"
    cred = KeyFileCredential.generate(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert len(key_path.read_bytes()) == 32
    with pytest.raises(InvalidParameterError):
        KeyFileCredential.generate(key_path)  # never overwrites a key
    _make(vault_dir, cred)
    with Vault.open(vault_dir, KeyFileCredential(key_path)) as vault:
        assert vault.secrets.get_secret("s").value == "value"
    # the same 32 bytes given directly unlock it too
    with Vault.open(vault_dir, RawKeyCredential(key_path.read_bytes())) as vault:
        assert vault.secrets.get_secret("s").value == "value"
    assert str(key_path) in repr(cred)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_key_file_with_loose_permissions_is_refused(tmp_path: Path, mode: int) -> None:
    key_path = tmp_path / "vault.key"
    KeyFileCredential.generate(key_path)
    key_path.chmod(mode)
    with pytest.raises(InvalidParameterError, match="chmod 600"):
        KeyFileCredential(key_path)


def test_bad_key_files_and_raw_keys(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    long = tmp_path / "long.key"
    long.write_bytes(b"x" * 33)
    long.chmod(0o600)
    link = tmp_path / "link.key"
    link.symlink_to(KeyFileCredential.generate(tmp_path / "real.key")._path)
    for path in (short, long, link, tmp_path / "missing.key", tmp_path):
        with pytest.raises(InvalidParameterError):
            KeyFileCredential(path)
    for key in (b"", b"x" * 31, b"x" * 33, "x" * 32):
        with pytest.raises(InvalidParameterError):
            RawKeyCredential(key)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        PassphraseCredential("")
    with pytest.raises(InvalidParameterError):
        PassphraseCredential("x", kdf=KdfParameters(memory_cost=1 << 30, iterations=1, lanes=1))


def test_credentials_keep_secrets_out_of_repr_and_pickle(tmp_path: Path) -> None:
    import pickle

    for cred in (
        PassphraseCredential("hunter2-passphrase", kdf=KDF_TESTING),
        RawKeyCredential(b"R" * 32),
        KeyFileCredential.generate(tmp_path / "k"),
    ):
        assert "hunter2" not in repr(cred) and "RRRR" not in repr(cred)
        with pytest.raises(TypeError):
            pickle.dumps(cred)


# -- wrong credentials ------------------------------------------------------------------------


WRONG = {
    "other raw key": lambda tmp: RawKeyCredential(b"\x12" * 32),
    "passphrase on key vault": lambda tmp: PassphraseCredential("guess", kdf=KDF_TESTING),
    "other key file": lambda tmp: KeyFileCredential.generate(tmp / "other.key"),
}


@pytest.mark.parametrize("wrong", WRONG.values(), ids=WRONG.keys())
def test_wrong_credential_is_unauthorized_and_touches_nothing(
    tmp_path: Path, vault_dir: Path, raw_cred: RawKeyCredential, wrong: Callable[[Path], Credential]
) -> None:
    # The vault's bytes are data.mdb; lock.mdb is LMDB's run-time table of readers and
    # mutexes, which every open of the environment updates (it holds nothing of the vault).
    _make(vault_dir, raw_cred)
    before = file_bytes(vault_dir)
    with pytest.raises(UnauthorizedError):
        Vault.open(vault_dir, wrong(tmp_path))
    assert file_bytes(vault_dir) == before
    with Vault.open(vault_dir, raw_cred) as vault:
        assert vault.secrets.get_secret("s").value == "value"


@pytest.mark.parametrize(
    "wrong",
    [
        PassphraseCredential("correct horse battery stapler", kdf=KDF_TESTING),
        PassphraseCredential("Correct horse battery staple", kdf=KDF_TESTING),
        RawKeyCredential(b"\x11" * 32),
    ],
    ids=["one more char", "case", "key on passphrase vault"],
)
def test_wrong_passphrase_is_unauthorized_and_touches_nothing(
    vault_dir: Path, pass_cred: PassphraseCredential, wrong: Credential
) -> None:
    _make(vault_dir, pass_cred)
    before = file_bytes(vault_dir)
    with pytest.raises(UnauthorizedError):
        Vault.open(vault_dir, wrong)
    assert file_bytes(vault_dir) == before


def test_change_credential(tmp_path: Path, vault_dir: Path, pass_cred: PassphraseCredential) -> None:
    _make(vault_dir, pass_cred)
    key_cred = KeyFileCredential.generate(tmp_path / "new.key")
    versions_before = dump_versions(vault_dir)
    with Vault.open(vault_dir, pass_cred) as vault:
        generation = vault.keyring_generation
        vault.change_credential(key_cred)
        assert vault.keyring_generation == generation + 1
        vault.secrets.set_secret("after", "change")
        assert vault.secrets.get_secret("s").value == "value"
    with pytest.raises(UnauthorizedError):
        Vault.open(vault_dir, pass_cred)
    with Vault.open(vault_dir, key_cred) as vault:
        assert vault.secrets.get_secret("s").value == "value"
        assert vault.secrets.get_secret("after").value == "change"
        vault.change_credential(PassphraseCredential("third", kdf=KDF_TESTING))
    with pytest.raises(UnauthorizedError):
        Vault.open(vault_dir, key_cred)
    with Vault.open(vault_dir, PassphraseCredential("third")) as vault:
        assert vault.secrets.get_secret("s").value == "value"
    # only the keyring was re-wrapped: the stored version records are unchanged
    assert set(versions_before) <= set(dump_versions(vault_dir))


def dump_versions(path: Path) -> list[tuple[bytes, bytes]]:
    from corehelpers import dump

    return dump(path, b"versions")


def test_change_credential_seen_by_another_open_handle(
    vault_dir: Path, raw_cred: RawKeyCredential, clock: FakeClock
) -> None:
    """A handle opened before a credential change must not report tampering or keep writing."""
    _make(vault_dir, raw_cred, clock)
    first = Vault.open(vault_dir, raw_cred, clock=clock)
    second = Vault.open(vault_dir, raw_cred, clock=clock)
    try:
        first.change_credential(RawKeyCredential(b"\x22" * 32))
        with pytest.raises(UnauthorizedError):
            second.secrets.set_secret("t", "v")
        assert first.secrets.set_secret("t", "v").value == "v"
    finally:
        first.close()
        with contextlib.suppress(UnauthorizedError):
            second.close()  # its queued audit events cannot be committed any more
    with pytest.raises(VaultLockedError):
        second.secrets.get_secret("s")
    assert os.path.realpath(vault_dir) not in _lmdb_env.envs  # the environment was released
    with Vault.open(vault_dir, RawKeyCredential(b"\x22" * 32)) as vault:
        assert vault.secrets.get_secret("t").value == "v"


def test_settings_change_seen_by_another_open_handle(
    vault_dir: Path, raw_cred: RawKeyCredential, clock: FakeClock
) -> None:
    """enable_purge_protection in one handle: another handle keeps working and obeys it."""
    _make(vault_dir, raw_cred, clock)
    first = Vault.open(vault_dir, raw_cred, clock=clock)
    second = Vault.open(vault_dir, raw_cred, clock=clock)
    try:
        second.secrets.delete_secret("s")
        first.enable_purge_protection()
        second.secrets.set_secret("t", "v")  # must not fail with IntegrityError
        with pytest.raises(Exception) as exc:
            second.secrets.purge_deleted_secret("s")
        assert exc.type.__name__ == "ForbiddenError"
        assert second.purge_protection is True
    finally:
        first.close()
        second.close()


# -- hostile or foreign headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"memory_cost": 1 << 40},
        {"memory_cost": (1 << 20) + 1},
        {"iterations": 1 << 31},
        {"iterations": 17},
        {"lanes": 1 << 24},
        {"lanes": 0},
        {"memory_cost": "lots"},
        {"iterations": None},
    ],
)
def test_hostile_kdf_parameters_are_refused_fast(
    vault_dir: Path, pass_cred: PassphraseCredential, params: dict[str, object]
) -> None:
    _make(vault_dir, pass_cred)
    _edit_header(vault_dir, lambda h: h["root"].update(params))  # type: ignore[union-attr]
    started = time.monotonic()
    with pytest.raises(IntegrityError):
        Vault.open(vault_dir, pass_cred)
    assert time.monotonic() - started < 1.0


def test_edited_settings_in_the_header_fail_to_unlock(
    vault_dir: Path, raw_cred: RawKeyCredential, clock: FakeClock
) -> None:
    with Vault.create(vault_dir, raw_cred, clock=clock, purge_protection=True, retention_days=30) as vault:
        vault.secrets.set_secret("s", "v")
        vault.secrets.delete_secret("s")
    for edit in ({"purge_protection": False}, {"retention_days": 7}, {"name": "other"}):
        original = file_bytes(vault_dir)["data.mdb"]
        _edit_header(vault_dir, lambda h, edit=edit: h.update(edit))  # type: ignore[misc]
        with pytest.raises(IntegrityError):
            Vault.open(vault_dir, raw_cred, clock=clock)
        (vault_dir / "data.mdb").write_bytes(original)
    with Vault.open(vault_dir, raw_cred, clock=clock) as vault:
        assert vault.purge_protection is True


def test_newer_format_version_is_a_clear_error(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    _make(vault_dir, raw_cred)
    _edit_header(vault_dir, lambda h: h.update(format_version=99))
    with pytest.raises(NotAVaultError, match=r"format version 99.*upgrade"):
        Vault.open(vault_dir, raw_cred)


@pytest.mark.parametrize("content", [b"", b"{}", b"[1]", b'{"format":"other"}', b"\xff\xfe garbage"])
def test_damaged_header_is_not_a_vault(vault_dir: Path, raw_cred: RawKeyCredential, content: bytes) -> None:
    _make(vault_dir, raw_cred)
    with raw_env(vault_dir) as (env, dbs), env.begin(write=True, db=dbs[b"meta"]) as txn:
        txn.put(b"header", content)
    with pytest.raises(NotAVaultError):
        Vault.open(vault_dir, raw_cred)


def test_paths_that_are_not_vaults(tmp_path: Path, raw_cred: RawKeyCredential) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "data.mdb").write_bytes(os.urandom(64 * 1024))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases: dict[Path, str | None] = {
        tmp_path / "missing": "does not exist",
        empty: "no vault data file",
        other: "no vault data file",
        a_file: "does not exist",
        garbage: None,
    }
    for path, message in cases.items():
        with pytest.raises(NotAVaultError, match=message):
            Vault.open(path, raw_cred)
    assert not (tmp_path / "missing").exists()
    assert os.listdir(empty) == []


def test_a_foreign_lmdb_environment_is_not_a_vault_and_is_left_alone(
    tmp_path: Path, raw_cred: RawKeyCredential
) -> None:
    import lmdb

    foreign = tmp_path / "foreign"
    env = lmdb.open(str(foreign), max_dbs=4)
    with env.begin(write=True) as txn:
        txn.put(b"some", b"data")
    env.close()
    before = file_bytes(foreign)
    with pytest.raises(NotAVaultError):
        Vault.open(foreign, raw_cred)
    assert file_bytes(foreign) == before


# -- files on disk ---------------------------------------------------------------------------


def test_vault_directory_and_file_modes(tmp_path: Path, vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    old = os.umask(0o002)
    try:
        with Vault.create(vault_dir, raw_cred) as vault:
            vault.secrets.set_secret("s", "v")
            vault.backup_to(tmp_path / "copy")
        with Vault.open(tmp_path / "copy", raw_cred) as copy:
            assert copy.secrets.get_secret("s").value == "v"
    finally:
        os.umask(old)
    for directory in (vault_dir, tmp_path / "copy"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        names = os.listdir(directory)
        assert "data.mdb" in names
        for name in names:
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name


def test_errors_form_one_tree() -> None:
    for exc in (UnauthorizedError, IntegrityError, NotAVaultError, InvalidParameterError):
        assert issubclass(exc, VaultError)
    assert issubclass(InvalidParameterError, ValueError)
