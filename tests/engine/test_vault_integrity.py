"""Integrity: moved, foreign or flipped records and backups fail, never give wrong data (issue 3 §2, §6)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from corehelpers import FakeClock, dump, raw_env
from vaultcore import (
    KDF_TESTING,
    ConflictError,
    ForbiddenError,
    IntegrityError,
    InvalidParameterError,
    RawKeyCredential,
    Vault,
)

# Offsets of a sealed record (see the ``_envelope`` docstring).
FORMAT, TERM, DEK, NONCE, BODY = 0, 1, 5, 45, 57
TAG_SIZE = 16


def _put(path: Path, db: bytes, key: bytes, value: bytes) -> None:
    with raw_env(path) as (env, dbs), env.begin(write=True, db=dbs[db]) as txn:
        txn.put(key, value)


def _version_keys(path: Path) -> dict[str, bytes]:
    """version id (hex) -> store key, for every live version."""
    return {key[17:].hex(): key for key, _ in dump(path, b"versions")}


# -- records moved to another place ---------------------------------------------------------


def test_record_copied_under_another_key_fails(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    with Vault.create(vault_dir, raw_cred) as vault:
        a1 = vault.secrets.set_secret("alpha", "alpha-one").properties.version
        a2 = vault.secrets.set_secret("alpha", "alpha-two").properties.version
        b1 = vault.secrets.set_secret("beta", "beta-one").properties.version
    rows = dict(dump(vault_dir, b"versions"))
    keys = _version_keys(vault_dir)
    original = dict(rows)

    # another secret's record under beta's key
    _put(vault_dir, b"versions", keys[b1], rows[keys[a2]])
    with Vault.open(vault_dir, raw_cred) as vault:
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("beta")
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("beta", b1)
        with pytest.raises(IntegrityError):
            list(vault.secrets.list_properties_of_secrets())
        assert vault.secrets.get_secret("alpha").value == "alpha-two"
    _put(vault_dir, b"versions", keys[b1], original[keys[b1]])

    # an older version of the same secret under its latest version's key (rollback)
    _put(vault_dir, b"versions", keys[a2], rows[keys[a1]])
    with Vault.open(vault_dir, raw_cred) as vault:
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("alpha")
        assert vault.secrets.get_secret("alpha", a1).value == "alpha-one"
        assert vault.secrets.get_secret("beta").value == "beta-one"
    _put(vault_dir, b"versions", keys[a2], original[keys[a2]])

    # a version record used as an object record (another record type, same object)
    objkey = keys[a1][:17]
    _put(vault_dir, b"objects", objkey, rows[keys[a1]])
    with Vault.open(vault_dir, raw_cred) as vault, pytest.raises(IntegrityError):
        vault.secrets.set_secret("alpha", "alpha-three")


def test_record_copied_from_another_vault_fails(tmp_path: Path, raw_cred: RawKeyCredential) -> None:
    # same credential, same name: only the vault differs
    for name in ("a", "b"):
        with Vault.create(tmp_path / name, raw_cred) as vault:
            vault.secrets.set_secret("shared-name", f"value-in-{name}")
    [(key_a, blob_a)] = dump(tmp_path / "a", b"versions")
    [(key_b, _)] = dump(tmp_path / "b", b"versions")
    assert key_a != key_b  # names are hashed with a per-vault key
    _put(tmp_path / "b", b"versions", key_b, blob_a)
    _put(tmp_path / "b", b"versions", key_a, blob_a)  # even under the same store key
    with Vault.open(tmp_path / "b", raw_cred) as vault, pytest.raises(IntegrityError):
        vault.secrets.get_secret("shared-name")


def test_keyring_copied_from_another_vault_fails(tmp_path: Path, raw_cred: RawKeyCredential) -> None:
    for name in ("a", "b"):
        with Vault.create(tmp_path / name, raw_cred) as vault:
            vault.secrets.set_secret("s", name)
    meta_a = dict(dump(tmp_path / "a", b"meta"))
    _put(tmp_path / "b", b"meta", b"keyring", meta_a[b"keyring"])
    with pytest.raises(IntegrityError):
        Vault.open(tmp_path / "b", raw_cred)


# -- flipped bytes in stored records --------------------------------------------------------


def _regions(size: int) -> dict[int, str]:
    names = {}
    for i in range(size):
        if i == FORMAT:
            names[i] = "format"
        elif i < DEK:
            names[i] = "term"
        elif i < NONCE:
            names[i] = "wrapped-dek"
        elif i < BODY:
            names[i] = "nonce"
        elif i < size - TAG_SIZE:
            names[i] = "ciphertext"
        else:
            names[i] = "tag"
    return names


def test_every_flipped_byte_of_a_version_record_fails(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    """One version per byte position: flip byte *i* of version *i*; every read must fail."""
    value = "v" * 40
    with Vault.create(vault_dir, raw_cred) as vault:
        first = vault.secrets.set_secret("target", value, tags={"t": "x"})
        size = len(dump_live(vault))
        versions = [first.properties.version]
        versions += [vault.secrets.set_secret("target", value, tags={"t": "x"}).properties.version for _ in range(size)]
    keys = _version_keys(vault_dir)
    rows = dict(dump(vault_dir, b"versions"))
    assert {len(rows[keys[v]]) for v in versions} == {size}
    regions = _regions(size)
    assert set(regions.values()) == {"format", "term", "wrapped-dek", "nonce", "ciphertext", "tag"}
    with raw_env(vault_dir) as (env, dbs), env.begin(write=True, db=dbs[b"versions"]) as txn:
        for i, version in enumerate(versions[:size]):
            blob = bytearray(rows[keys[version]])
            blob[i] ^= 1 << (i % 8)
            txn.put(keys[version], bytes(blob))
    survivor = versions[size]  # the last version is untouched
    with Vault.open(vault_dir, raw_cred) as vault:
        for i, version in enumerate(versions[:size]):
            with pytest.raises(IntegrityError):
                vault.secrets.get_secret("target", version)
                pytest.fail(f"byte {i} ({regions[i]}) flipped and still read")
        assert vault.secrets.get_secret("target", survivor).value == value
        assert vault.secrets.get_secret("target").value == value


def dump_live(vault: Vault) -> bytes:
    """The sealed bytes of the only stored version (read through the vault's own store)."""
    with vault._ctx.read() as txn:
        [(_, blob)] = list(txn.scan(b"versions"))
    return blob


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b[: BODY + 3],
        lambda b: b[:BODY],
        lambda b: b[:4],
        lambda b: b"",
        lambda b: b[:DEK] + b[NONCE:],
        lambda b: bytes([2]) + b[1:],
        lambda b: b[:TERM] + (7).to_bytes(4, "big") + b[DEK:],
        lambda b: b[:TERM] + b"\xff\xff\xff\xff" + b[DEK:],
    ],
    ids=["cut 1", "append 1", "cut body", "no body", "4 bytes", "empty", "no dek", "format 2", "term 7", "term max"],
)
def test_truncated_or_reshaped_records_fail(vault_dir: Path, raw_cred: RawKeyCredential, damage: object) -> None:
    with Vault.create(vault_dir, raw_cred) as vault:
        vault.secrets.set_secret("target", "value")
    [(key, blob)] = dump(vault_dir, b"versions")
    _put(vault_dir, b"versions", key, damage(blob))  # type: ignore[operator]
    with Vault.open(vault_dir, raw_cred) as vault:
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("target")
        with pytest.raises(IntegrityError):
            list(vault.secrets.list_properties_of_secret_versions("target"))


def test_flipped_object_and_deleted_records_fail(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    with Vault.create(vault_dir, raw_cred) as vault:
        vault.secrets.set_secret("live", "v")
        vault.secrets.set_secret("gone", "v")
        vault.secrets.delete_secret("gone")
    [(okey, oblob)] = dump(vault_dir, b"objects")
    [(dkey, dblob)] = dump(vault_dir, b"deleted")
    _put(vault_dir, b"objects", okey, oblob[:-1] + bytes([oblob[-1] ^ 0x40]))
    _put(vault_dir, b"deleted", dkey, dblob[:60] + bytes([dblob[60] ^ 1]) + dblob[61:])
    with Vault.open(vault_dir, raw_cred) as vault:
        with pytest.raises(IntegrityError):
            vault.secrets.set_secret("live", "w")
        with pytest.raises(IntegrityError):
            vault.secrets.get_deleted_secret("gone")
        with pytest.raises(IntegrityError):
            vault.secrets.recover_deleted_secret("gone")
        assert vault.secrets.get_secret("live").value == "v"


# -- backups --------------------------------------------------------------------------------


@pytest.fixture
def backup_pair(tmp_path: Path, clock: FakeClock) -> tuple[Vault, bytes]:
    vault = Vault.create(tmp_path / "src", RawKeyCredential(b"\x01" * 32), clock=clock)
    vault.secrets.set_secret("backed-up", "first", tags={"a": "1"})
    clock.advance(minutes=1)
    vault.secrets.set_secret("backed-up", "second", content_type="text/plain", enabled=False)
    return vault, vault.secrets.backup_secret("backed-up")


def test_backup_restores_every_version(backup_pair: tuple[Vault, bytes]) -> None:
    vault, blob = backup_pair
    with vault:
        before = [(p.version, p.enabled, p.tags, p.content_type, p.created_on) for p in _versions(vault)]
        with pytest.raises(ConflictError):
            vault.secrets.restore_secret_backup(blob)  # the name exists
        vault.secrets.delete_secret("backed-up")
        with pytest.raises(ConflictError) as exc:
            vault.secrets.restore_secret_backup(blob)  # deleted but recoverable
        assert exc.value.inner_code == "ObjectIsDeletedButRecoverable"
        vault.secrets.purge_deleted_secret("backed-up")
        props = vault.secrets.restore_secret_backup(blob)
        assert props.version == before[-1][0]
        after = [(p.version, p.enabled, p.tags, p.content_type, p.created_on) for p in _versions(vault)]
        assert after == before
        assert vault.secrets.get_secret("backed-up", before[0][0]).value == "first"
        vault.secrets.update_secret_properties("backed-up", enabled=True)
        assert vault.secrets.get_secret("backed-up").value == "second"


def _versions(vault: Vault) -> list:  # type: ignore[type-arg]
    return list(vault.secrets.list_properties_of_secret_versions("backed-up"))


def test_every_flipped_byte_of_a_backup_fails(backup_pair: tuple[Vault, bytes]) -> None:
    vault, blob = backup_pair
    with vault:
        vault.secrets.delete_secret("backed-up")
        vault.secrets.purge_deleted_secret("backed-up")
        outcomes: dict[str, set[int]] = {}
        for i in range(len(blob)):
            damaged = bytearray(blob)
            damaged[i] ^= 1 << (i % 8)
            try:
                vault.secrets.restore_secret_backup(bytes(damaged))
            except IntegrityError:
                outcomes.setdefault("IntegrityError", set()).add(i)
            except ForbiddenError:
                outcomes.setdefault("ForbiddenError", set()).add(i)
            else:
                pytest.fail(f"backup with byte {i} flipped was restored")
        # bytes 5..20 are the security domain id: a changed id is indistinguishable from a
        # genuine backup of another domain (which this vault has no key for): Forbidden.
        assert outcomes.get("ForbiddenError", set()) == set(range(5, 21))
        assert outcomes["IntegrityError"] == set(range(len(blob))) - set(range(5, 21))
        for damaged in (blob[:-1], blob + b"\x00", blob[:21], blob[:60], b"", blob[:4] + blob[5:]):
            with pytest.raises((IntegrityError, ForbiddenError)):
                vault.secrets.restore_secret_backup(damaged)
        with pytest.raises(IntegrityError):
            vault.secrets.restore_secret_backup(blob[:-1])
        assert list(vault.secrets.list_properties_of_secrets()) == []
        vault.secrets.restore_secret_backup(blob)  # the intact blob still restores
        with pytest.raises(InvalidParameterError):
            vault.secrets.restore_secret_backup(base64.b64encode(blob).decode())  # type: ignore[arg-type]


def test_backup_from_another_security_domain_is_forbidden(
    tmp_path: Path, backup_pair: tuple[Vault, bytes], raw_cred: RawKeyCredential
) -> None:
    vault, blob = backup_pair
    vault.close()
    with Vault.create(tmp_path / "stranger", RawKeyCredential(b"\x01" * 32)) as other:
        with pytest.raises(ForbiddenError):
            other.secrets.restore_secret_backup(blob)
        assert list(other.secrets.list_properties_of_secrets()) == []


def test_security_domain_export_and_import(tmp_path: Path, backup_pair: tuple[Vault, bytes]) -> None:
    vault, blob = backup_pair
    with vault:
        domain = vault.export_security_domain("domain passphrase", kdf=KDF_TESTING)
        assert b"domain passphrase" not in domain
        vault.secrets.set_secret("later", "x")
        later_blob = vault.secrets.backup_secret("later")
    with pytest.raises(IntegrityError):
        Vault.create(tmp_path / "wrong", RawKeyCredential(b"\x02" * 32), security_domain=(domain, "wrong"))
    assert not (tmp_path / "wrong").exists()
    for bad in (domain[:-1], domain + b"x", b"VCSD" + domain[4:6]):
        with pytest.raises((InvalidParameterError, IntegrityError)):
            Vault.create(tmp_path / "bad", RawKeyCredential(b"\x02" * 32), security_domain=(bad, "domain passphrase"))
    with Vault.create(
        tmp_path / "b", RawKeyCredential(b"\x02" * 32), security_domain=(domain, "domain passphrase")
    ) as b:
        restored = b.secrets.restore_secret_backup(blob)
        assert restored.name == "backed-up"
        assert len(list(b.secrets.list_properties_of_secret_versions("backed-up"))) == 2
        b.secrets.update_secret_properties("backed-up", enabled=True)
        assert b.secrets.get_secret("backed-up").value == "second"
        b.secrets.restore_secret_backup(later_blob)
        assert b.secrets.get_secret("later").value == "x"
        with pytest.raises(ConflictError):
            b.secrets.restore_secret_backup(blob)
        # and back: B's own backups restore into A's domain too
        b.secrets.set_secret("from-b", "y")
        from_b = b.secrets.backup_secret("from-b")
        # a vault sharing the domain still has its own keys: its stored records do not move
        assert b.vault_url != "" and from_b[5:21] == blob[5:21]
    with Vault.open(tmp_path / "src", RawKeyCredential(b"\x01" * 32)) as a:
        a.secrets.restore_secret_backup(from_b)
        assert a.secrets.get_secret("from-b").value == "y"


# -- names and values are hidden at rest ------------------------------------------------------


def _needles(*texts: str) -> list[bytes]:
    out = []
    for text in texts:
        for variant in (text, text.lower(), text.upper()):
            for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le"):
                out.append(variant.encode(enc))
            out.append(base64.b64encode(variant.encode()))
            out.append(variant.encode().hex().encode())
    return out


def _scan(directory: Path, needles: list[bytes]) -> list[str]:
    found = []
    for root, _, files in os.walk(directory):
        for name in files:
            data = Path(root, name).read_bytes()
            found += [f"{name}: {n!r}" for n in needles if n in data]
    return found


def test_names_values_and_attributes_are_hidden_at_rest(tmp_path: Path, raw_cred: RawKeyCredential) -> None:
    name, value = "Zebra-Quokka-Name-7731", "Aardvark value 9d1c-44e2"
    tag_key, tag_value, content_type = "Wombat-tag-key", "Platypus-tag-value", "application/x-narwhal"
    path = tmp_path / "vault"
    with Vault.create(path, raw_cred) as vault:
        vault.secrets.set_secret(name, value, tags={tag_key: tag_value}, content_type=content_type)
        vault.secrets.get_secret(name.lower())
        vault.secrets.set_secret(name + "-deleted", value + " deleted")
        vault.secrets.delete_secret(name + "-deleted")
        vault.secrets.set_secrets({name + "-bulk": value + " bulk"})
        vault.backup_to(tmp_path / "copy")
        vault.rotate_keyring()
    needles = _needles(name, value, tag_key, tag_value, content_type)
    assert _scan(path, needles) == []
    assert _scan(tmp_path / "copy", needles) == []
    # the scan itself works: the copy opens and holds the values
    with Vault.open(tmp_path / "copy", raw_cred) as copy:
        assert copy.secrets.get_secret(name).value == value
        assert copy.secrets.get_secret(name + "-bulk").value == value + " bulk"


def test_a_plaintext_sentinel_would_be_found(tmp_path: Path) -> None:
    """Guard against a scan that can never match (e.g. reading the wrong directory)."""
    (tmp_path / "f").write_bytes(b"xx" + "Zebra".encode("utf-16-le") + b"yy")
    assert _scan(tmp_path, _needles("Zebra")) != []


def test_purge_then_rotation_makes_leftover_copies_undecryptable(vault_dir: Path, raw_cred: RawKeyCredential) -> None:
    """Purge deletes the records, but LMDB may keep their bytes in free pages (and old disk
    images keep them too). Rotating the keyring destroys the KEK that wrapped their DEKs."""
    with Vault.create(vault_dir, raw_cred) as vault:
        vault.secrets.set_secret("victim", "purged value")
        vault.secrets.set_secret("other", "kept")
    rows = dump(vault_dir, b"versions")
    with Vault.open(vault_dir, raw_cred) as vault:
        victim_version = next(p.version for p in vault.secrets.list_properties_of_secrets() if p.name == "victim")
        vault.secrets.delete_secret("victim")
        vault.secrets.purge_deleted_secret("victim")
    key, blob = next((k, b) for k, b in rows if k[17:].hex() == victim_version)
    # without rotation, a copy of the old record put back under its key would still open
    _put(vault_dir, b"versions", key, blob)
    with Vault.open(vault_dir, raw_cred) as vault:
        assert vault.secrets.get_secret("victim").value == "purged value"
    with raw_env(vault_dir) as (env, dbs), env.begin(write=True, db=dbs[b"versions"]) as txn:
        txn.delete(key)
    with Vault.open(vault_dir, raw_cred) as vault:
        vault.rotate_keyring()
    _put(vault_dir, b"versions", key, blob)
    with Vault.open(vault_dir, raw_cred) as vault:
        with pytest.raises(IntegrityError):
            vault.secrets.get_secret("victim")
        assert vault.secrets.get_secret("other").value == "kept"
