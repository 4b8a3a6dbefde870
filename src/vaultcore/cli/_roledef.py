"""``vaultcore access role-definition ...``: custom roles (create, update, show, list, delete).

Registered on the ``access`` group of :mod:`._rbac`. Built-in roles (Key Vault's and
Managed HSM's) are listed and shown but cannot be changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from vaultcore.access._roledefs import Permission, RoleDefinition

from . import _render as r
from ._rbac import access
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]

F = TypeVar("F", bound=Callable[..., Any])


def _definition(d: RoleDefinition) -> dict[str, Any]:
    perms = d.permissions[0] if len(d.permissions) == 1 else None
    out: dict[str, Any] = {
        "name": d.name,
        "id": d.id,
        "role_name": d.role_name,
        "type": d.role_type,
        "description": d.description,
        "assignable_scopes": list(d.assignable_scopes),
        "permissions": [
            {
                "actions": list(p.actions),
                "not_actions": list(p.not_actions),
                "data_actions": list(p.data_actions),
                "not_data_actions": list(p.not_data_actions),
            }
            for p in d.permissions
        ],
    }
    if perms is not None:
        out["data_actions"] = ", ".join(perms.data_actions)
    return out


def _permission_options(fn: F) -> F:
    for option in reversed(
        (
            click.option("--data-action", "data_actions", multiple=True, help="A granted data action (repeatable)."),
            click.option(
                "--not-data-action", "not_data_actions", multiple=True, help="A data action taken away (repeatable)."
            ),
            click.option("--action", "actions", multiple=True, help="A control-plane action (kept, not checked)."),
            click.option("--not-action", "not_actions", multiple=True, help="A control-plane action taken away."),
            click.option(
                "--assignable-scope", "scopes", multiple=True, help="Where it may be assigned (repeatable; default /)."
            ),
            click.option("--description", default="", help="What the role is for."),
        )
    ):
        fn = option(fn)
    return fn


def _set(state: State, role_name: str, name: str | None, options: dict[str, Any]) -> None:
    permission = Permission.build(
        actions=options["actions"],
        not_actions=options["not_actions"],
        data_actions=options["data_actions"],
        not_data_actions=options["not_data_actions"],
    )
    definition = state.vault().access.set_role_definition(
        role_name,
        permissions=[permission],
        description=options["description"],
        assignable_scopes=options["scopes"] or None,
        name=name,
    )
    data = _definition(definition)
    state.emit(data, r.fields_table({k: v for k, v in data.items() if k != "permissions"}))


@access.group(
    "role-definition",
    epilog="""\b
Examples:
  vaultcore access role-definition create "DB password reader" \\
      --data-action Microsoft.KeyVault/vaults/secrets/getSecret/action
  vaultcore access role assign app:billing "DB password reader" --scope /secrets/db-password
  vaultcore access role-definition list
""",
)
def role_definition() -> None:
    """Role definitions: Azure's and Managed HSM's built-in roles, and custom roles."""


@role_definition.command("create")
@click.argument("role_name")
@_permission_options
@output_option
@pass_state
def create(state: State, /, role_name: str, **options: Any) -> None:
    """Create custom role ROLE_NAME (wildcards: * matches any run of characters)."""
    _set(state, role_name, None, options)


@role_definition.command("update")
@click.argument("name")
@click.option("--role-name", required=True, help="The role's (new) name.")
@_permission_options
@output_option
@pass_state
def update(state: State, /, name: str, role_name: str, **options: Any) -> None:
    """Replace custom role NAME (its GUID) with the given name and permissions."""
    _set(state, role_name, name, options)


@role_definition.command("show")
@click.argument("name")
@output_option
@pass_state
def show(state: State, name: str) -> None:
    """Show a role definition by GUID, id or role name."""
    data = _definition(state.vault().access.get_role_definition(name))
    state.emit(data, r.fields_table({k: v for k, v in data.items() if k != "permissions"}))


@role_definition.command("list")
@click.option("--custom", is_flag=True, help="Only custom roles.")
@output_option
@pass_state
def list_definitions(state: State, custom: bool) -> None:
    """List role definitions (built-in first)."""
    items = [d for d in state.vault().access.list_role_definitions() if not (custom and d.is_builtin)]
    data = [_definition(d) for d in items]
    state.emit(data, r.rows_table(("name", "role_name", "type"), data))


@role_definition.command("delete")
@click.argument("name")
@output_option
@pass_state
def delete(state: State, name: str) -> None:
    """Delete custom role NAME (refused while it is assigned)."""
    gone = state.vault().access.delete_role_definition(name)
    state.emit({**_definition(gone), "deleted": True}, f"Deleted role definition {gone.role_name} ({gone.name}).")


COMMANDS: tuple[click.Command, ...] = ()
