"""The TLS directory holds the server's private key: it is 0700 even if it already existed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vaultcore.server._tls import ensure_local_tls


def test_existing_tls_dir_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    folder.mkdir()
    os.chmod(folder, 0o755)
    files = ensure_local_tls(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.key_path.stat().st_mode) == 0o600
