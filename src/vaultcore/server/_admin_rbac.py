"""Role definitions and role assignments: ``/{scope}/providers/Microsoft.Authorization/...``.

``KeyVaultAccessControlClient``'s wire format (Managed HSM local RBAC): scope ``/`` is the
bare prefix, ``/keys`` and ``/keys/NAME`` (secrets and certificates alike) come before it.
PUT answers 201, DELETE 200 with the deleted item's JSON, a missing item 404
(``RoleDefinitionNotFound``/``RoleAssignmentNotFound``, which the SDK's deletes swallow).
A definition may be addressed by its GUID or by its full id, URL-encoded (the server sees
it decoded, so that form gets a route of its own). Every call runs as the caller's view
(roles apply) and is audited by the library operation it calls.
"""

from __future__ import annotations

import re
from typing import Any

from vaultcore.access._principals import RoleAssignment
from vaultcore.access._roledefs import Permission, RoleDefinition, check_scope, definition_name
from vaultcore.exceptions import InvalidParameterError

from ._wire import Call, Reply, RouteSpec, obj, opt_str, opt_strings

__all__ = ["ROUTES"]

_AUTH = "/providers/Microsoft.Authorization"
_DEFS = _AUTH + "/roleDefinitions"
_ASSIGN = _AUTH + "/roleAssignments"
_FULL_DEF_ID = "/Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{rdname}"
_PRINCIPAL_FILTER = re.compile(r"\s*principalId\s+eq\s+'([^']{1,200})'\s*", re.IGNORECASE)
_ROLE_NAME_FILTER = re.compile(r"\s*roleName\s+eq\s+'([^']{1,200})'\s*", re.IGNORECASE)
_AT_SCOPE = re.compile(r"\s*atScope\(\)\s*", re.IGNORECASE)
_AT_AND_BELOW = re.compile(r"\s*atScopeAndBelow\(\)\s*", re.IGNORECASE)


def _scope(call: Call) -> str:
    coll, name = call.params.get("coll"), call.params.get("obj")
    if coll is None:
        return "/"
    return check_scope(f"/{coll}" if name is None else f"/{coll}/{name}")


def _principal_id(value: str) -> str:
    """A principal id as sent: ``app:ID``/``uid:N``, or a bare client id meaning ``app:ID``."""
    return value if ":" in value else f"app:{value}"


# -- role definitions ---------------------------------------------------------------------


def definition_json(d: RoleDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": d.role_name,
            "description": d.description,
            "type": d.role_type,
            "permissions": [
                {
                    "actions": list(p.actions),
                    "notActions": list(p.not_actions),
                    "dataActions": list(p.data_actions),
                    "notDataActions": list(p.not_data_actions),
                }
                for p in d.permissions
            ],
            "assignableScopes": list(d.assignable_scopes),
        },
    }


def list_definitions(call: Call) -> Reply:
    _scope(call)
    items = call.vault.access.list_role_definitions()
    text = call.query.get("$filter")
    if text:
        by_name = _ROLE_NAME_FILTER.fullmatch(text)
        if by_name:
            items = [d for d in items if d.role_name.lower() == by_name.group(1).lower()]
        elif not _AT_AND_BELOW.fullmatch(text):
            raise InvalidParameterError("$filter supports atScopeAndBelow() and roleName eq '<name>'")
    return Reply({"value": [definition_json(d) for d in items], "nextLink": None})


def get_definition(call: Call) -> Reply:
    _scope(call)
    return Reply(definition_json(call.vault.access.get_role_definition(definition_name(call.param("rdname")))))


def _permission(value: object) -> Permission:
    if not isinstance(value, dict):
        raise InvalidParameterError("each permission must be a JSON object")
    return Permission.build(
        actions=opt_strings(value, "actions"),
        not_actions=opt_strings(value, "notActions"),
        data_actions=opt_strings(value, "dataActions"),
        not_data_actions=opt_strings(value, "notDataActions"),
    )


def set_definition(call: Call) -> Reply:
    _scope(call)
    name = definition_name(call.param("rdname"))
    props = obj(call.body, "properties")
    role_type = opt_str(props, "type")
    if role_type is not None and role_type.lower() != "customrole":
        raise InvalidParameterError("only custom roles (type CustomRole) can be created or updated")
    perms = props.get("permissions")
    if perms is not None and not isinstance(perms, list):
        raise InvalidParameterError("permissions must be a list")
    definition = call.vault.access.set_role_definition(
        opt_str(props, "roleName") or name,
        permissions=[_permission(p) for p in perms or []],
        description=opt_str(props, "description") or "",
        assignable_scopes=opt_strings(props, "assignableScopes"),
        name=name,
    )
    return Reply(definition_json(definition), status=201)


def delete_definition(call: Call) -> Reply:
    _scope(call)
    return Reply(definition_json(call.vault.access.delete_role_definition(call.param("rdname"))))


# -- role assignments ---------------------------------------------------------------------


def assignment_json(a: RoleAssignment) -> dict[str, Any]:
    return {
        "id": f"{_ASSIGN}/{a.id}",
        "name": a.id,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {"scope": a.scope, "roleDefinitionId": a.role_definition_id, "principalId": a.principal_id},
    }


def _related(scope: str, other: str, *, above_only: bool) -> bool:
    """At or above *scope* (``/`` is above everything), or also below it."""
    above = other == "/" or scope == other or scope.startswith(other + "/")
    below = scope == "/" or other.startswith(scope + "/")
    return above or (not above_only and below)


def list_assignments(call: Call) -> Reply:
    scope = _scope(call)
    items = call.vault.access.list_role_assignments()
    text = call.query.get("$filter")
    above_only = False
    if text:
        by_principal = _PRINCIPAL_FILTER.fullmatch(text)
        if by_principal:
            wanted = _principal_id(by_principal.group(1)).lower()
            items = [a for a in items if a.principal_id.lower() == wanted]
        elif _AT_SCOPE.fullmatch(text):
            above_only = True
        else:
            raise InvalidParameterError("$filter supports atScope() and principalId eq '<id>'")
    shown = [a for a in items if _related(scope, a.scope, above_only=above_only)]
    return Reply({"value": [assignment_json(a) for a in shown], "nextLink": None})


def get_assignment(call: Call) -> Reply:
    _scope(call)
    return Reply(assignment_json(call.vault.access.get_role_assignment(call.param("raname"))))


def create_assignment(call: Call) -> Reply:
    scope = _scope(call)
    props = obj(call.body, "properties")
    principal = props.get("principalId")
    definition = props.get("roleDefinitionId")
    if not isinstance(principal, str) or not principal:
        raise InvalidParameterError("properties.principalId is required")
    if not isinstance(definition, str) or not definition:
        raise InvalidParameterError("properties.roleDefinitionId is required")
    created = call.vault.access.assign_role(
        _principal_id(principal), definition_name(definition), scope, name=call.param("raname")
    )
    return Reply(assignment_json(created), status=201)


def delete_assignment(call: Call) -> Reply:
    _scope(call)
    return Reply(assignment_json(call.vault.access.remove_role(call.param("raname"))))


def _routes() -> list[RouteSpec]:
    out = []
    # "//" + "/providers": scope "/" as the JavaScript SDK writes it (``///providers/...``)
    for prefix in ("", "//", "/{coll}", "/{coll}/{obj}"):
        out += [
            RouteSpec("GET", prefix + _DEFS, list_definitions),
            RouteSpec("GET", prefix + _DEFS + "/{rdname}", get_definition),
            RouteSpec("PUT", prefix + _DEFS + "/{rdname}", set_definition),
            RouteSpec("DELETE", prefix + _DEFS + "/{rdname}", delete_definition),
            RouteSpec("GET", prefix + _ASSIGN, list_assignments),
            RouteSpec("GET", prefix + _ASSIGN + "/{raname}", get_assignment),
            RouteSpec("PUT", prefix + _ASSIGN + "/{raname}", create_assignment),
            RouteSpec("DELETE", prefix + _ASSIGN + "/{raname}", delete_assignment),
        ]
    # a definition addressed by its full id, URL-encoded by the client, decoded by the server
    out += [
        RouteSpec("GET", _DEFS + _FULL_DEF_ID, get_definition),
        RouteSpec("DELETE", _DEFS + _FULL_DEF_ID, delete_definition),
    ]
    return out


ROUTES = _routes()
