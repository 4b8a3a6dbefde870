"""Lifecycle commands every object kind shares, written once (the vault has one lifecycle engine).

``add_lifecycle_commands(group, spec)`` adds ``list``, ``versions``, ``delete``,
``list-deleted``, ``show-deleted``, ``recover``, ``purge``, ``backup`` and ``restore`` to a
kind's group. The client methods follow the Azure SDK's naming, so the spec only names the
kind: ``list_properties_of_{kind}s``, ``delete_{kind}``, ``restore_{kind}_backup``, ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vaultcore import Vault

from . import _render as r
from ._names import remember_names
from ._params import CLEAR, TagType, WhenType, complete_names, write_new_file
from ._state import State, output_option, pass_state

__all__ = ["KindSpec", "add_lifecycle_commands", "attribute_changes", "attribute_options"]

Render = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class KindSpec:
    """How to reach and render one object kind."""

    kind: str  # "secret", "key", "certificate": the Azure SDK method-name stem
    label: str  # the word shown to users
    client: Callable[[Vault], Any]
    properties: Render  # properties (list/versions) -> JSON
    deleted: Render  # Deleted* -> JSON
    recovered: Render  # what recover / restore return -> JSON
    list_columns: Sequence[str]
    version_columns: Sequence[str]
    deleted_columns: Sequence[str] = ("name", "deleted_date", "scheduled_purge_date")

    def call(self, vault: Vault, method: str, *args: Any) -> Any:
        return getattr(self.client(vault), method.format(kind=self.kind))(*args)

    def name_argument(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The NAME argument, completed from the vault's object names."""
        return click.argument("name", shell_complete=complete_names(self.kind))

    def deleted_name_argument(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return click.argument("name", shell_complete=complete_names(f"deleted-{self.kind}"))


def attribute_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--enable/--disable``, ``--tag``, ``--clear-tags``, ``--not-before``, ``--expires`` for ``update``."""
    for option in reversed(
        (
            click.option("--enable/--disable", "enabled", default=None, help="Enable or disable the version."),
            click.option("-t", "--tag", "tags", type=TagType(), multiple=True, help="Replace the tags (repeatable)."),
            click.option("--clear-tags", is_flag=True, help="Remove every tag."),
            click.option("--not-before", type=WhenType(clearable=True), help="New not-before time ('none' clears)."),
            click.option("--expires", type=WhenType(clearable=True), help="New expiry ('none' clears)."),
        )
    ):
        fn = option(fn)
    return fn


def attribute_changes(
    enabled: bool | None,
    tags: tuple[tuple[str, str], ...],
    clear_tags: bool,
    not_before: Any,
    expires: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``update_*_properties`` for :func:`attribute_options`, plus *extra*."""
    if tags and clear_tags:
        raise click.UsageError("--tag and --clear-tags cannot be combined")
    changes: dict[str, Any] = dict(extra or {})
    if enabled is not None:
        changes["enabled"] = enabled
    if tags or clear_tags:
        changes["tags"] = dict(tags)
    if not_before is not None:
        changes["not_before"] = None if not_before == CLEAR else not_before
    if expires is not None:
        changes["expires_on"] = None if expires == CLEAR else expires
    if not changes:
        raise click.UsageError("nothing to update: give at least one attribute option")
    return changes


def _by_name(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda item: str(item.name).lower())


def add_lifecycle_commands(group: click.Group, spec: KindSpec) -> None:
    """Add the shared lifecycle commands for *spec* to *group*."""
    label = spec.label

    @group.command(
        "list",
        help=f"List {label}s (latest version of each).",
        epilog=f"""\b
Examples:
  vaultcore {group.name} list
  vaultcore {group.name} list --prefix app- --tag env=prod -o json
  vaultcore {group.name} list --query "[].name" -o tsv
""",
    )
    @click.option("--prefix", default="", help="Only names starting with this (case-insensitive).")
    @click.option(
        "-t", "--tag", "tags", type=TagType(), multiple=True, help="Only with this tag k=v (repeatable: all)."
    )
    @click.option("--maxresults", type=click.IntRange(1), help="At most this many (the first by name).")
    @output_option
    @pass_state
    def list_(state: State, prefix: str, tags: tuple[tuple[str, str], ...], maxresults: int | None) -> None:
        items = _by_name(spec.call(state.vault(), "list_properties_of_{kind}s"))
        if not (prefix or tags or maxresults):
            remember_names(state.vault_path, spec.kind, (p.name for p in items))
        wanted = [
            p for p in items if p.name.lower().startswith(prefix.lower()) and all(p.tags.get(k) == v for k, v in tags)
        ]
        data = [spec.properties(p) for p in wanted[:maxresults]]
        state.emit(data, r.rows_table(spec.list_columns, data))

    @group.command("versions", help=f"List the versions of {label} NAME, oldest first.")
    @spec.name_argument()
    @output_option
    @pass_state
    def versions(state: State, name: str) -> None:
        items = spec.call(state.vault(), "list_properties_of_{kind}_versions", name)
        data = [spec.properties(p) for p in items]
        state.emit(data, r.rows_table(spec.version_columns, data))

    @group.command("delete", help=f"Soft-delete {label} NAME and all its versions (recoverable until purged).")
    @spec.name_argument()
    @output_option
    @pass_state
    def delete(state: State, name: str) -> None:
        data = spec.deleted(spec.call(state.vault(), "delete_{kind}", name))
        state.emit(
            data,
            f"Deleted {label} {data['name']!r}; recoverable until {data['scheduled_purge_date']} "
            f"('vaultcore {group.name} recover {data['name']}').",
        )

    @group.command("list-deleted", help=f"List soft-deleted {label}s.")
    @output_option
    @pass_state
    def list_deleted(state: State) -> None:
        deleted = _by_name(spec.call(state.vault(), "list_deleted_{kind}s"))
        remember_names(state.vault_path, f"deleted-{spec.kind}", (d.name for d in deleted))
        data = [spec.deleted(d) for d in deleted]
        state.emit(data, r.rows_table(spec.deleted_columns, data))

    @group.command("show-deleted", help=f"Show soft-deleted {label} NAME.")
    @spec.deleted_name_argument()
    @output_option
    @pass_state
    def show_deleted(state: State, name: str) -> None:
        data = spec.deleted(spec.call(state.vault(), "get_deleted_{kind}", name))
        state.emit(data, r.fields_table(data))

    @group.command("recover", help=f"Bring soft-deleted {label} NAME back, with all its versions.")
    @spec.deleted_name_argument()
    @output_option
    @pass_state
    def recover(state: State, name: str) -> None:
        data = spec.recovered(spec.call(state.vault(), "recover_deleted_{kind}", name))
        state.emit(data, f"Recovered {label} {data['name']!r}.")

    @group.command("purge", help=f"Erase soft-deleted {label} NAME for good (refused under purge protection).")
    @spec.deleted_name_argument()
    @output_option
    @pass_state
    def purge(state: State, name: str) -> None:
        spec.call(state.vault(), "purge_deleted_{kind}", name)
        state.emit({"name": name, "purged": True}, f"Purged {label} {name!r}.")

    @group.command(
        "backup",
        help=f"Write every version of {label} NAME to an encrypted blob (restorable within the security domain).",
        epilog=f"\b\nExample:\n  vaultcore {group.name} backup NAME -f NAME.vcbak",
    )
    @spec.name_argument()
    @click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help="Blob file to write.")
    @click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
    @output_option
    @pass_state
    def backup(state: State, name: str, path: str, force: bool) -> None:
        blob: bytes = spec.call(state.vault(), "backup_{kind}", name)
        write_new_file(path, blob, force=force)
        state.emit({"name": name, "file": path, "bytes": len(blob)}, f"Backed up {label} {name!r} to {path}.")

    @group.command("restore", help=f"Restore a {label} from a backup blob (the name must be free).")
    @click.option(
        "-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False), help="Blob file."
    )
    @output_option
    @pass_state
    def restore(state: State, path: str) -> None:
        with open(path, "rb") as handle:
            blob = handle.read()
        data = spec.recovered(spec.call(state.vault(), "restore_{kind}_backup", blob))
        state.emit(data, f"Restored {label} {data['name']!r}.")
