"""Files the CLI writes (backups, exported secrets, keys, security domains) are 0600 even when
``--force`` overwrites an existing, more open file: the old mode must not survive."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vaultcore.cli._params import open_new_file, write_new_file


def test_forced_overwrite_tightens_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_new_file(str(target), b"secret material", force=True)
    assert target.read_bytes() == b"secret material"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_forced_overwrite_text_tightens_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    os.chmod(target, 0o666)
    with open_new_file(str(target), force=True, text=True) as handle:
        handle.write("event")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_new_file_is_0600(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    write_new_file(str(target), b"x", force=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
