"""The user's private runtime directory: session agent sockets and the completion name cache.

``$XDG_RUNTIME_DIR/vaultcore`` (a per-login tmpfs, emptied at logout) when it exists, else
``/tmp/vaultcore-<uid>``; created 0700 and refused unless it is a real directory of this user
with no group or other access.
"""

from __future__ import annotations

import contextlib
import os
import stat

__all__ = ["UnsafeRuntimeDir", "runtime_dir"]


class UnsafeRuntimeDir(RuntimeError):
    """The runtime directory exists but is not private to this user."""


def runtime_dir() -> str:
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "vaultcore") if base and os.path.isdir(base) else f"/tmp/vaultcore-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeRuntimeDir(f"{path} is not a private directory of this user")
    return path
