"""Full backup, full restore and selective key restore as long-running operations.

``KeyVaultBackupClient``'s wire format: ``POST /backup``, ``PUT /restore``,
``PUT /keys/{name}/restore``, ``POST /prebackup``, ``PUT /prerestore`` answer 202 with an
``InProgress`` status body and an ``Azure-AsyncOperation`` URL built from the request's
``Host`` (``/backup/{jobId}/pending`` or ``/restore/{jobId}/pending``); polling that URL
(with or without ``api-version``) returns the job's final status. Jobs run to completion
inside the request, so the first poll already sees ``Succeeded`` (or ``Failed`` with an
``error``); a refused request (no role, bad URL, other domain, non-empty vault) fails at
once with a 4xx error. Job records live in memory (the last 1000) for this server process.

Azure writes to a blob container named by URL (plus a SAS token or the managed identity);
here ``serve --backup-dir DIR`` maps the container URL's *path* into ``DIR``:
``https://acct.blob.core.windows.net/backups`` is ``DIR/backups`` and a backup goes to
``DIR/backups/mhsm-<vault>-<UTC time>/vaultcore-full-backup.bin``. The host part is not
used, ``..`` and other escapes are refused, the SAS token and ``useManagedIdentity`` are
accepted and ignored. Without ``--backup-dir`` these routes answer 400.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vaultcore.exceptions import ConflictError, InvalidParameterError, NotFoundError, UnsupportedError

from ._errors import error_body
from ._wire import Call, Reply, RouteSpec, obj, opt_bool, opt_str

__all__ = ["BLOB_NAME", "routes"]

BLOB_NAME = "vaultcore-full-backup.bin"
MAX_JOBS = 1000
_BAD_SEGMENTS = {"", ".", ".."}

log = logging.getLogger("vaultcore.server")


class _Jobs:
    """Job status records, kept after completion so pollers (and rehydrated pollers) find them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, job_id: str, status: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id] = status
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._jobs.get(job_id)


def _segments(path: str, what: str) -> list[str]:
    parts = path.strip("/").split("/")
    if any(p in _BAD_SEGMENTS or "\\" in p or "\0" in p or p.startswith("~") for p in parts):
        raise InvalidParameterError(f"{what} must be a plain path (no empty, '.' or '..' segments)")
    return parts


class _Storage:
    """Maps container URLs into the backup directory."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root).resolve() if root is not None else None

    def container(self, url: object) -> Path:
        if self.root is None:
            raise UnsupportedError("this server was started without --backup-dir: backup and restore are off")
        if not isinstance(url, str) or not url:
            raise InvalidParameterError("storageResourceUri must be the blob container's URL")
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise InvalidParameterError("storageResourceUri must be an https URL")
        return self.inside(self.root.joinpath(*_segments(parts.path, "the container URL's path")))

    def inside(self, path: Path) -> Path:
        assert self.root is not None
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidParameterError("the URL maps outside the server's backup directory")
        return resolved


def _sas(body: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The storage parameters (``token`` and ``useManagedIdentity`` are checked and ignored)."""
    params = obj(body, key) if key else body
    opt_str(params, "token")
    opt_bool(params, "useManagedIdentity")
    return params


def _folder_name(vault_name: str, container: Path) -> str:
    now = datetime.now(UTC)
    for extra in range(100):
        name = f"mhsm-{vault_name}-{now:%Y%m%d%H%M%S}{(now.microsecond // 10000 + extra) % 100:02d}"
        if not (container / name).exists():
            return name
    raise ConflictError("too many backups in the same second")


def _make_dirs(root: Path, target: Path) -> None:
    """Create *target* under *root*, every new level 0700 (``mkdir(parents=True)`` would not)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        try:
            current.mkdir(mode=0o700)
        except FileExistsError:
            if not current.is_dir():
                raise


def _write_blob(root: Path, folder: Path, blob: bytes) -> None:
    _make_dirs(root, folder.parent)
    folder.mkdir(mode=0o700)
    tmp = folder / (BLOB_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, folder / BLOB_NAME)


def _read_blob(folder: Path) -> bytes:
    target = folder / BLOB_NAME
    try:
        return target.read_bytes()
    except FileNotFoundError:
        raise NotFoundError("there is no vaultcore backup in that folder", inner_code="BackupNotFound") from None
    except OSError:
        raise InvalidParameterError("the backup folder cannot be read") from None


def routes(backup_dir: str | os.PathLike[str] | None) -> list[RouteSpec]:
    """The backup/restore routes, writing under *backup_dir* (``None``: refused)."""
    storage = _Storage(backup_dir)
    jobs = _Jobs()

    def start(call: Call, kind: str, run: Any) -> Reply:
        """Run *run* (returns the container URL field or None) as a job of *kind*."""
        job_id = uuid.uuid4().hex
        started = int(time.time())
        status: dict[str, Any] = {
            "status": "InProgress",
            "statusDetails": None,
            "error": None,
            "startTime": started,
            "endTime": None,
            "jobId": job_id,
        }
        if kind == "backup":
            status["azureStorageBlobContainerUri"] = None
        initial = dict(status)
        try:
            folder_url = run()  # a refusal (role, domain, non-empty vault, bad input) fails the request
        except OSError:
            log.exception("%s job %s could not use the backup directory", kind, job_id)
            failed = error_body("StorageError", "the backup directory could not be written or read")
            status.update(status="Failed", error=failed["error"], endTime=int(time.time()))
        else:
            status.update(status="Succeeded", endTime=int(time.time()))
            if kind == "backup":
                status["azureStorageBlobContainerUri"] = folder_url
        jobs.put(job_id, status)
        headers = {"Azure-AsyncOperation": call.url(f"/{kind}/{job_id}/pending"), "Retry-After": "1"}
        return Reply(initial, status=202, headers=headers)

    def backup(call: Call) -> Reply:
        params = _sas(call.body, None)
        container = storage.container(params.get("storageResourceUri"))
        url = str(params["storageResourceUri"]).rstrip("/")

        def run() -> str:
            blob = call.vault.full_backup()
            name = _folder_name(call.vault.name, container)
            assert storage.root is not None
            _write_blob(storage.root, storage.inside(container / name), blob)
            return f"{url}/{name}"

        return start(call, "backup", run)

    def prebackup(call: Call) -> Reply:
        params = _sas(call.body, None)
        storage.container(params.get("storageResourceUri"))

        def run() -> None:
            call.vault.full_backup_precheck()

        return start(call, "backup", run)

    def _restore_source(call: Call, folder_key: str) -> bytes:
        params = _sas(call.body, "sasTokenParameters")
        container = storage.container(params.get("storageResourceUri"))
        folder = call.body.get(folder_key)
        if not isinstance(folder, str) or not folder:
            raise InvalidParameterError(f"{folder_key} must name the backup folder")
        return _read_blob(storage.inside(container.joinpath(*_segments(folder, folder_key))))

    def restore(call: Call) -> Reply:
        blob = _restore_source(call, "folderToRestore")

        def run() -> None:
            call.vault.full_restore(blob)

        return start(call, "restore", run)

    def prerestore(call: Call) -> Reply:
        blob = _restore_source(call, "folderToRestore")

        def run() -> None:
            call.vault.full_restore_precheck(blob)

        return start(call, "restore", run)

    def restore_key(call: Call) -> Reply:
        blob = _restore_source(call, "folder")

        def run() -> None:
            call.vault.restore_key_from_full_backup(blob, call.param("name"))

        return start(call, "restore", run)

    def status_of(kind: str) -> Any:
        def handler(call: Call) -> Reply:
            if kind == "backup":
                call.vault.check_backup_status_access()
            else:
                call.vault.check_restore_status_access()
            found = jobs.get(call.param("job"))
            if found is None:
                raise NotFoundError(f"there is no {kind} job {call.param('job')}", inner_code="JobNotFound")
            return Reply(dict(found))

        return handler

    return [
        RouteSpec("POST", "/backup", backup),
        RouteSpec("POST", "/prebackup", prebackup),
        RouteSpec("PUT", "/restore", restore),
        RouteSpec("PUT", "/prerestore", prerestore),
        RouteSpec("PUT", "/keys/{name}/restore", restore_key),
        RouteSpec("GET", "/backup/{job}/pending", status_of("backup")),
        RouteSpec("GET", "/restore/{job}/pending", status_of("restore")),
    ]
