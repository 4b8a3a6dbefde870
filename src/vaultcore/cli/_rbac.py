"""``vaultcore access ...``: principals and role assignments (Azure's built-in Key Vault roles)."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from vaultcore.access._roles import BUILTIN_ROLES

from . import _render as r
from ._state import State, output_option, pass_state

__all__ = ["COMMANDS"]


def _principal(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "display_name": p.display_name,
        "created_on": r.iso(p.created_on),
        "secret_rotated_on": r.iso(p.secret_rotated_on),
    }


def _assignment(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "principal_id": a.principal_id,
        "role": a.role,
        "scope": a.scope,
        "role_definition_id": a.role_definition_id,
    }


def _emit_new_app(state: State, new: Any) -> None:
    data = {**_principal(new.principal), "client_id": new.client_id}
    if new.client_secret:
        data["client_secret"] = new.client_secret
    state.emit(data, r.fields_table(data))
    if new.client_secret:
        state.note("The client secret is shown only once: store it now (e.g. in VAULTCORE_CLIENT_SECRET).")


def _os_user_principal(state: State, user: str) -> str:
    """``uid:N`` for an OS user name or uid, creating its principal if there is none yet."""
    import pwd

    from vaultcore.exceptions import ConflictError

    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        if not user.isdigit():
            raise click.BadParameter(f"no OS user {user!r}", param_hint="--os-user") from None
        uid, name = int(user), ""
    else:
        uid, name = entry.pw_uid, entry.pw_name
    vault = state.vault()
    with contextlib.suppress(ConflictError):  # it exists already
        vault.access.create_os_user(uid, display_name=name)
    return f"uid:{uid}"


@click.group(
    "access",
    epilog="""\b
Examples:
  vaultcore access principal create-app ci-deployer
  vaultcore access role assign app:ci-deployer "Key Vault Secrets User" --scope /secrets/db-password
  vaultcore access role assign --os-user alice "Key Vault Secrets User"
  vaultcore access principal create-app deployer --certificate deployer-cert.pem
  VAULTCORE_CLIENT_ID=ci-deployer VAULTCORE_CLIENT_SECRET=... vaultcore secret get db-password
""",
)
def access() -> None:
    """Access control: principals and role assignments."""


@access.group("principal")
def principal() -> None:
    """Application and OS-user principals."""


@principal.command("create-app")
@click.argument("client_id")
@click.option("--display-name", default="", help="A label for humans.")
@click.option(
    "--certificate",
    type=click.File("rb"),
    help="Authenticate with this certificate (PEM/DER, RSA) instead of a client secret.",
)
@output_option
@pass_state
def create_app(state: State, client_id: str, display_name: str, certificate: Any) -> None:
    """Create application principal CLIENT_ID; prints its client secret once (none with --certificate)."""
    cert = certificate.read() if certificate is not None else None
    _emit_new_app(
        state, state.vault().access.create_application(client_id, display_name=display_name, certificate=cert)
    )


@principal.command("create-user")
@click.argument("uid", type=click.IntRange(0))
@click.option("--display-name", default="", help="A label for humans.")
@output_option
@pass_state
def create_user(state: State, uid: int, display_name: str) -> None:
    """Create a principal for OS user UID (its managed identity on `vaultcore serve`)."""
    data = _principal(state.vault().access.create_os_user(uid, display_name=display_name))
    state.emit(data, r.fields_table(data))


@principal.command("rotate-secret")
@click.argument("client_id")
@output_option
@pass_state
def rotate_secret(state: State, client_id: str) -> None:
    """Give application CLIENT_ID a new client secret (the old one stops working)."""
    _emit_new_app(state, state.vault().access.rotate_secret(client_id))


@principal.command("list")
@output_option
@pass_state
def list_principals(state: State) -> None:
    """List principals."""
    data = [_principal(p) for p in sorted(state.vault().access.list_principals(), key=lambda p: p.id)]
    state.emit(data, r.rows_table(("id", "kind", "display_name", "created_on"), data))


@principal.command("delete")
@click.argument("principal_id")
@output_option
@pass_state
def delete_principal(state: State, principal_id: str) -> None:
    """Delete PRINCIPAL_ID (app:<client id> or uid:<n>) and its role assignments."""
    state.vault().access.delete_principal(principal_id)
    state.emit({"id": principal_id, "deleted": True}, f"Deleted principal {principal_id}.")


@access.group("role")
def role() -> None:
    """Role assignments on the vault or on one object."""


@role.command("assign")
@click.argument("args", metavar="[PRINCIPAL_ID] ROLE", nargs=-1, required=True)
@click.option("--os-user", help="The OS user (name or uid) instead of PRINCIPAL_ID; its principal is created.")
@click.option(
    "--scope", default="/", show_default=True, help="/, /secrets, /secrets/NAME (keys and certificates alike)."
)
@output_option
@pass_state
def assign(state: State, args: tuple[str, ...], os_user: str | None, scope: str) -> None:
    """Grant ROLE (a built-in or custom role's name, GUID or id) to PRINCIPAL_ID (or to
    --os-user USER) on SCOPE."""
    if len(args) != (1 if os_user else 2):
        raise click.UsageError("give PRINCIPAL_ID ROLE, or --os-user USER ROLE")
    role_name = args[-1]
    principal_id = _os_user_principal(state, os_user) if os_user else args[0]
    data = _assignment(state.vault().access.assign_role(principal_id, role_name, scope))
    state.emit(data, r.fields_table(data))


@role.command("list")
@click.option("--principal", "principal_id", help="Only this principal's assignments.")
@output_option
@pass_state
def list_assignments(state: State, principal_id: str | None) -> None:
    """List role assignments."""
    items = state.vault().access.list_role_assignments(principal_id)
    data = [_assignment(a) for a in sorted(items, key=lambda a: (a.principal_id, a.scope, a.role))]
    state.emit(data, r.rows_table(("id", "principal_id", "role", "scope"), data))


@role.command("remove")
@click.argument("assignment_id")
@output_option
@pass_state
def remove(state: State, assignment_id: str) -> None:
    """Remove role assignment ASSIGNMENT_ID."""
    state.vault().access.remove_role(assignment_id)
    state.emit({"id": assignment_id, "removed": True}, f"Removed role assignment {assignment_id}.")


@role.command("definitions")
@output_option
@pass_state
def definitions(state: State) -> None:
    """List the built-in roles and the actions they allow."""
    data = [{"role": name, "actions": [str(a) for a in actions]} for name, actions in BUILTIN_ROLES.items()]
    state.emit(data, r.rows_table(("role", "actions"), data))


COMMANDS: tuple[click.Command, ...] = (access,)
