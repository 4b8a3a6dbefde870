"""Fault injection for the store (issue 13 §7-9): each fault gets its documented error, the
vault still opens afterwards and no acknowledged write is lost.

Faults that can kill a process (a truncated map: SIGBUS) or that change process limits
(``RLIMIT_FSIZE``, a dropped uid) run in a child interpreter started from the installed
package (no ``PYTHONPATH``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corehelpers import run_in_child
from vaultcore import RawKeyCredential, Vault
from vaultcore.exceptions import IntegrityError, StorageError
from vaultcore.storage import _lmdb
from vaultcore.storage._mdb import MdbError, mdb_codes

KEY = b"\x11" * 32
PAGE_HEADER = 16
META = struct.Struct("<II8xQ4s44x48xQQ")  # LMDB's meta page after the page header


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys, json\nfrom vaultcore import RawKeyCredential, Vault\nKEY = bytes([0x11]) * 32\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _filled(path: Path, count: int = 120) -> dict[str, str]:
    values = {f"s{i}": f"value-{i}-" + "x" * 2000 for i in range(count)}
    with Vault.create(path, RawKeyCredential(KEY)) as vault:
        vault.secrets.set_secrets(values)
    return values


def _assert_intact(path: Path, values: dict[str, str]) -> None:
    with Vault.open(path, RawKeyCredential(KEY)) as vault:
        for name, value in values.items():
            assert vault.secrets.get_secret(name).value == value
        assert vault.audit.verify().ok


OPEN_AND_REPORT = """
from vaultcore.exceptions import VaultError
try:
    with Vault.open(sys.argv[1], RawKeyCredential(KEY)) as vault:
        names = list(vault.secrets.list_properties_of_secrets())
    print(json.dumps({"ok": len(names)}))
except VaultError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def test_truncated_data_file_is_reported_not_a_crash(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    values = _filled(vault)
    cut = tmp_path / "cut"
    shutil.copytree(vault, cut)
    data = cut / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    child = _run(OPEN_AND_REPORT, str(cut))
    assert child.returncode == 0, f"the process died (signal {-child.returncode}): {child.stderr[-400:]}"
    report = json.loads(child.stdout)
    assert report["error"] == "IntegrityError"
    assert "truncated" in report["message"]
    _assert_intact(vault, values)  # the original is untouched


def _main_root_page(data: Path) -> tuple[int, int]:
    """(page size, page number of the main database's root) from the newest meta page."""
    raw = data.read_bytes()[: 2 * 65536]
    psize = int.from_bytes(META.unpack_from(raw, PAGE_HEADER)[3], "little")
    txnids = [META.unpack_from(raw, n * psize + PAGE_HEADER)[5] for n in (0, 1)]
    newest = txnids.index(max(txnids))
    # the main database record follows the free one (offset 72 in the meta); md_root is its last field
    (root,) = struct.unpack_from("<Q", raw, newest * psize + PAGE_HEADER + 72 + 40)
    return psize, root


def test_damaged_page_is_an_integrity_error_not_an_lmdb_error(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    values = _filled(vault)
    damaged = tmp_path / "damaged"
    shutil.copytree(vault, damaged)
    psize, root = _main_root_page(damaged / "data.mdb")
    with open(damaged / "data.mdb", "r+b") as handle:  # the main database's root: leaf -> not a leaf
        handle.seek(root * psize + 10)
        byte = handle.read(1)[0]
        handle.seek(root * psize + 10)
        handle.write(bytes([byte ^ 0x02]))
    with pytest.raises(IntegrityError, match="damaged") as caught:
        Vault.open(damaged, RawKeyCredential(KEY))
    assert caught.value.__cause__ is None
    _assert_intact(vault, values)


def test_a_damaged_database_record_at_open_is_not_an_lmdb_error(tmp_path: Path) -> None:
    """The exact escape of issue 13: ``open_db`` in ``Vault.open`` raised ``lmdb.*`` itself."""
    vault = tmp_path / "vault"
    values = _filled(vault, 5)
    damaged = tmp_path / "damaged"
    shutil.copytree(vault, damaged)
    psize, root = _main_root_page(damaged / "data.mdb")
    with open(damaged / "data.mdb", "r+b") as handle:
        handle.seek(root * psize)
        page = handle.read(psize)
        key = page.find(b"objects")  # the leaf node naming the "objects" database
        assert key > 8
        handle.seek(root * psize + key - 4)  # the node's flags: no longer F_SUBDATA
        handle.write(b"\x00\x00")
    with pytest.raises(IntegrityError, match="damaged"):
        Vault.open(damaged, RawKeyCredential(KEY))
    _assert_intact(vault, values)


FLIP_SWEEP = """
import os, shutil
from vaultcore.exceptions import VaultError
vault, work = sys.argv[1], sys.argv[2]
size = os.path.getsize(vault + "/data.mdb")
seen = {}
for n, offset in enumerate(range(4096 * 2, size, 4096)):
    copy = f"{work}/flip{n}"
    shutil.copytree(vault, copy)
    with open(copy + "/data.mdb", "r+b") as handle:
        handle.seek(offset + 10)  # the page's flags
        byte = handle.read(1)[0]
        handle.seek(offset + 10)
        handle.write(bytes([byte ^ 0x02]))
        # and a byte near the page's end (where LMDB packs node data): LMDB 0.9.24 (Debian
        # 12's) checks page flags less than newer releases, the envelope catches this.
        handle.seek(offset + 4000)
        byte = handle.read(1)[0]
        handle.seek(offset + 4000)
        handle.write(bytes([byte ^ 0x10]))
    try:
        with Vault.open(copy, RawKeyCredential(KEY)) as opened:
            for props in opened.secrets.list_properties_of_secrets():
                opened.secrets.get_secret(props.name)
        outcome = "ok"
    except VaultError as exc:
        outcome = type(exc).__name__
    except Exception as exc:
        outcome = "escaped " + type(exc).__module__ + "." + type(exc).__name__
    seen[outcome] = seen.get(outcome, 0) + 1
print(json.dumps(seen))
"""


def test_flipped_page_flags_give_vault_errors_only(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    _filled(vault, 40)
    child = _run(FLIP_SWEEP, str(vault), str(tmp_path))
    assert child.returncode == 0, f"the process died (signal {-child.returncode}): {child.stderr[-400:]}"
    seen = json.loads(child.stdout)
    assert not [outcome for outcome in seen if outcome.startswith("escaped")], seen
    assert set(seen) - {"ok"}, f"no flip was detected: the test damaged nothing ({seen})"


FILL_UNTIL_FULL = """
import resource
path = sys.argv[1]
vault = Vault.open(path, RawKeyCredential(KEY))
size = __import__("os").path.getsize(path + "/data.mdb")
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 16384, resource.RLIM_INFINITY))
acked, error = [], None
try:
    for i in range(2000):
        vault.secrets.set_secret(f"n{i}", f"new-{i}-" + "y" * 3000)
        acked.append(i)
except Exception as exc:
    error = {"type": type(exc).__name__, "message": str(exc)}
try:
    vault.close()
    closed = "ok"
except Exception as exc:
    closed = type(exc).__name__
print(json.dumps({"acked": acked, "error": error, "closed": closed}))
"""


def test_file_size_limit_is_no_space_and_loses_no_acknowledged_write(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    values = _filled(vault, 20)
    child = _run(FILL_UNTIL_FULL, str(vault))
    assert child.returncode == 0, child.stderr[-400:]
    report = json.loads(child.stdout)
    assert report["error"] is not None, "the limit was never reached"
    assert report["error"]["type"] == "StorageError"
    assert "no space" in report["error"]["message"]
    assert report["closed"] == "ok"  # close() after a failed write does not raise
    values.update({f"n{i}": f"new-{i}-" + "y" * 3000 for i in report["acked"]})
    _assert_intact(vault, values)
    with Vault.open(vault, RawKeyCredential(KEY)) as reopened:  # and it takes writes again
        reopened.secrets.set_secret("after", "1")


def test_disk_errors_translate_by_errno() -> None:
    nospace = _lmdb._translate(MdbError(errno.ENOSPC, "mdb_txn_commit"), "write failed")
    assert isinstance(nospace, StorageError) and "no space" in str(nospace)
    toolarge = _lmdb._translate(MdbError(errno.EFBIG, "mdb_txn_commit"), "write failed")
    assert isinstance(toolarge, StorageError) and "no space" in str(toolarge)
    damaged = _lmdb._translate(MdbError(-30797, "mdb_get"), "read failed")  # MDB_PAGE_NOTFOUND
    assert isinstance(damaged, IntegrityError) and "MDB_PAGE_NOTFOUND" in str(damaged)
    full = _lmdb._translate(MdbError(mdb_codes()["MAP_FULL"], "mdb_put"), "write failed")
    assert type(full) is StorageError and "map is full" in str(full)


BACKUP_UNDER_LIMIT = """
import resource
vault = Vault.open(sys.argv[1], RawKeyCredential(KEY))
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))
try:
    vault.backup_to(sys.argv[2])
    print(json.dumps({"error": None}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def test_interrupted_backup_leaves_no_data_file_under_the_final_name(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    values = _filled(vault, 120)
    dest = tmp_path / "backup"
    child = _run(BACKUP_UNDER_LIMIT, str(vault), str(dest))
    assert child.returncode == 0, child.stderr[-400:]
    report = json.loads(child.stdout)
    assert report["error"] == "StorageError"
    assert "no space" in report["message"]
    assert not (dest / "data.mdb").exists()
    assert os.listdir(dest) == []  # the partial file is removed too
    with Vault.open(vault, RawKeyCredential(KEY)) as opened:
        opened.backup_to(tmp_path / "backup2")
    _assert_intact(tmp_path / "backup2", values)


OPEN_AS_NOBODY = (
    """
import os
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
"""
    + OPEN_AND_REPORT
)


def test_another_users_vault_is_permission_denied(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    values = _filled(vault, 5)
    if os.geteuid() != 0:
        os.chmod(vault, 0o000)
    try:
        child = _run(OPEN_AS_NOBODY, str(vault))
    finally:
        os.chmod(vault, 0o700)
    assert child.returncode == 0, child.stderr[-400:]
    report = json.loads(child.stdout)
    assert report["error"] == "StorageError"
    assert "permission denied" in report["message"]
    _assert_intact(vault, values)


def test_vault_used_in_a_forked_child_says_open_it_again(tmp_path: Path) -> None:
    vault_dir = tmp_path / "vault"
    values = _filled(vault_dir, 5)
    vault = Vault.open(vault_dir, RawKeyCredential(KEY))

    def in_child() -> dict[str, object]:
        result: dict[str, object] = {}
        try:
            vault.secrets.get_secret("s1")
            result["use"] = "no error"
        except StorageError as exc:
            result["use"] = str(exc)
        try:
            vault.close()
            result["close"] = "ok"
        except Exception as exc:
            result["close"] = type(exc).__name__
        with Vault.open(vault_dir, RawKeyCredential(KEY)) as again:
            result["reopened"] = again.secrets.get_secret("s1").value
            again.secrets.set_secret("from-child", "c")
        return result

    try:
        result = run_in_child(in_child)
        assert isinstance(result, dict)
        assert "open the vault again in the child" in str(result["use"]), result
        assert result["close"] == "ok"
        assert result["reopened"] == values["s1"]
        vault.secrets.set_secret("from-parent", "p")  # the parent's handle is unaffected
        assert vault.secrets.get_secret("from-child").value == "c"
    finally:
        vault.close()
    _assert_intact(vault_dir, {**values, "from-parent": "p", "from-child": "c"})


CHANGE_CREDENTIAL = """
with Vault.open(sys.argv[1], RawKeyCredential(KEY)) as vault:
    vault.change_credential(RawKeyCredential(bytes([0x22]) * 32))
"""


def test_close_after_another_process_changed_the_credential_does_not_raise(tmp_path: Path) -> None:
    vault_dir = tmp_path / "vault"
    values = _filled(vault_dir, 5)
    vault = Vault.open(vault_dir, RawKeyCredential(KEY))
    vault.secrets.get_secret("s1")  # a read whose audit event is queued
    child = _run(CHANGE_CREDENTIAL, str(vault_dir))
    assert child.returncode == 0, child.stderr[-400:]
    vault.secrets.get_secret("s2")
    vault.close()  # must not raise
    with Vault.open(vault_dir, RawKeyCredential(b"\x22" * 32)) as reopened:
        for name, value in values.items():
            assert reopened.secrets.get_secret(name).value == value
