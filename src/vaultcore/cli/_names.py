"""Object names for shell completion, from a cache: a Tab never opens the vault.

``secret|key|cert list`` (unfiltered), ``list-deleted`` and ``cert issuer list`` remember the
names they printed, and ``set``/``create``/``import``/``delete``/``recover``/``purge`` keep
them current, in ``<runtime dir>/names-<vault hash>.json`` (mode 0600, in the private
runtime directory of :mod:`._runtime`, a tmpfs emptied at logout on most systems). Completion
reads that file only: no credential, no unlock, no audit event per Tab. Names not listed yet
in this login session do not complete. ``VAULTCORE_NAME_CACHE=0`` turns the cache off (names
are then never written outside the vault, where they are stored as keyed hashes).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from typing import Any

import click

from . import _state
from ._runtime import UnsafeRuntimeDir, runtime_dir

__all__ = ["ENV_NAME_CACHE", "cached_names", "remember_names", "track_names"]

ENV_NAME_CACHE = "VAULTCORE_NAME_CACHE"


def _path(vault_path: str, create: bool) -> str | None:
    if os.environ.get(ENV_NAME_CACHE, "1") == "0":
        return None
    import hashlib  # loaded on use: the --version and help paths never need it

    digest = hashlib.sha256(os.path.realpath(vault_path).encode()).hexdigest()[:24]
    try:
        directory = runtime_dir() if create else _existing_runtime_dir()
    except (OSError, UnsafeRuntimeDir):
        return None
    return None if directory is None else os.path.join(directory, f"names-{digest}.json")


def _existing_runtime_dir() -> str | None:
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "vaultcore") if base and os.path.isdir(base) else f"/tmp/vaultcore-{os.getuid()}"
    return runtime_dir() if os.path.isdir(path) else None


def _load(path: str) -> dict[str, list[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember_names(vault_path: str, kind: str, names: Iterable[str]) -> None:
    """Replace the cached names of *kind* for the vault at *vault_path* (best effort)."""
    path = _path(vault_path, create=True)
    if path is None:
        return
    data = _load(path)
    data[kind] = sorted(set(names), key=str.lower)
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)


def cached_names(vault_path: str, kind: str) -> list[str]:
    """The cached names of *kind* (empty when none were listed in this session)."""
    path = _path(vault_path, create=False)
    if path is None:
        return []
    names = _load(path).get(kind, [])
    return [n for n in names if isinstance(n, str)]


#: Commands that change which names exist: path -> (kind, what happens to NAME).
_KINDS = {"secret": "secret", "key": "key", "cert": "certificate"}
_EFFECTS = {"set": "add", "create": "add", "import": "add", "delete": "delete", "recover": "recover", "purge": "purge"}


def _update(vault_path: str, kind: str, name: str, effect: str) -> None:
    path = _path(vault_path, create=True)
    if path is None:
        return
    data = _load(path)
    live = {n for n in data.get(kind, []) if n.lower() != name.lower()}
    deleted = {n for n in data.get(f"deleted-{kind}", []) if n.lower() != name.lower()}
    if effect in ("add", "recover"):
        live.add(name)
    elif effect == "delete":
        deleted.add(name)
    remember_names(vault_path, kind, live)
    remember_names(vault_path, f"deleted-{kind}", deleted)


def track_names(command: click.Command, path: str) -> None:
    """Keep the name cache current after *command* (at *path*) adds, deletes, recovers or
    purges an object NAME: a name just created completes without a ``list`` first."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            track_names(sub, f"{path} {name}")
        return
    group, _, leaf = path.partition(" ")
    kind, effect = _KINDS.get(group), _EFFECTS.get(leaf)
    callback = command.callback
    if kind is None or effect is None or callback is None or getattr(callback, "_tracks_names", False):
        return

    def tracked(*args: Any, **kwargs: Any) -> Any:
        result = callback(*args, **kwargs)
        name = kwargs.get("name")
        state = click.get_current_context().find_object(_state.State)
        if isinstance(name, str) and state is not None:
            _update(state.vault_path, kind, name, effect)
        return result

    tracked._tracks_names = True  # type: ignore[attr-defined]
    command.callback = tracked
