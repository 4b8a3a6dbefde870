"""Checks on the store's files that need no lmdb: a truncated data file, a full disk, fsync.

Used by ``storage._lmdb`` (the owner of lmdb) before it maps a data file and when it names
a failed write. Imports only the standard library and ``vaultcore.exceptions``.
"""

from __future__ import annotations

import os
import struct

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from vaultcore.exceptions import IntegrityError, StorageError

__all__ = ["DATA_FILE", "check_data_file", "fsync_dir", "out_of_room"]

DATA_FILE = "data.mdb"

# LMDB's meta pages (pages 0 and 1): page header (16 bytes), then magic, version, address,
# map size, the free and main database records (48 bytes each), last page number, txn id.
_META = struct.Struct("<II8xQ4s44x48xQQ")
_META_MAGIC = 0xBEEFC0DE


def check_data_file(real: str, shown: str) -> None:
    """Refuse a data file shorter than its own meta page says, before LMDB maps it.

    Reading a mapped page beyond the end of the file kills the process with SIGBUS, so a
    truncated ``data.mdb`` (a cut copy, a disk that filled during a copy) is caught here.
    """
    truncated = f"the vault's data file in {shown!r} is truncated"
    try:
        with open(os.path.join(real, DATA_FILE), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            page = handle.read(16 + _META.size)
            if len(page) < 16 + _META.size:
                raise IntegrityError(f"{truncated} ({size} bytes); restore a backup")
            magic, _version, _mapsize, psize_raw, last, _txnid = _META.unpack_from(page, 16)
            psize = int.from_bytes(psize_raw, "little")
            if magic != _META_MAGIC or psize < 512 or psize & (psize - 1) or psize > 1 << 16:
                return  # not LMDB's layout (or a damaged meta page): mdb_env_open reports it
            needed = (last + 1) * psize
            handle.seek(psize)
            page = handle.read(16 + _META.size)
            if len(page) < 16 + _META.size:
                raise IntegrityError(f"{truncated} ({size} bytes); restore a backup")
            magic, _version, _mapsize, _psize, last, _txnid = _META.unpack_from(page, 16)
            if magic == _META_MAGIC:
                needed = max(needed, (last + 1) * psize)
    except PermissionError:
        raise StorageError(f"permission denied: cannot read the vault's data file in {shown!r}") from None
    except OSError as exc:
        raise StorageError(f"cannot read the vault's data file in {shown!r}: {exc.strerror}") from None
    if size < needed:
        raise IntegrityError(f"{truncated} ({size} of at least {needed} bytes); restore a backup")


def fsync_dir(path: str) -> None:
    """Make a rename in *path* durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def out_of_room(path: str) -> bool:
    """After a short write (LMDB reports EIO): is the file at its size limit or the disk full?"""
    try:
        size = os.path.getsize(os.path.join(path, DATA_FILE))
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else -1
        if limit != getattr(resource, "RLIM_INFINITY", -1) and size >= limit - (64 << 10):
            return True
        fs = os.statvfs(path)
        return fs.f_bavail * fs.f_frsize < (1 << 20)
    except OSError:
        return False
