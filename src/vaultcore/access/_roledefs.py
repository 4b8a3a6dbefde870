"""Role definitions: Azure's permission model, the built-in roles and custom roles.

A role definition holds permission blocks of ``actions``/``notActions`` (control plane) and
``dataActions``/``notDataActions`` (data plane) with Azure's wildcard rule (``*`` matches any
run of characters, case-insensitively). A block grants a data action when one of its
``dataActions`` matches it and none of its ``notDataActions`` does; a role grants what any of
its blocks grants. vaultcore checks data actions only: ``actions``/``notActions`` are kept
and returned (Azure evaluates them in ARM, which a local vault does not have).

Built-in roles are read-only: the ten Key Vault roles (vaultcore's own role table, with
Azure's role GUIDs) and Managed HSM's local RBAC roles (Azure's GUIDs, names and
``Microsoft.KeyVault/managedHsm/...`` data actions). A Managed HSM data action grants the
vaultcore operation it names: :func:`aliases` maps each ``vaults/`` action an operation
checks to its ``managedHsm/`` spelling, so both families are evaluated by one engine.
Custom roles are stored sealed in the vault's ``access`` database (``D`` + GUID).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vaultcore.access._roles import BUILTIN_ROLES, DataAction, pattern_matches
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "BUILTIN_DEFINITIONS",
    "DEFINITION_ID_PREFIX",
    "Permission",
    "RoleDefinition",
    "aliases",
    "check_scope",
    "definition_name",
]

DEFINITION_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
BUILTIN = "AKVBuiltInRole"
CUSTOM = "CustomRole"
MAX_PATTERNS = 100
_ACTION = re.compile(r"\*|[Mm]icrosoft\.[A-Za-z0-9./*_-]{1,240}")
_SCOPE = re.compile(r"/|/(secrets|keys|certificates)(/[0-9A-Za-z-]{1,127})?")
_M = "Microsoft.KeyVault/managedHsm/"
_V = "Microsoft.KeyVault/vaults/"


@dataclass(frozen=True)
class Permission:
    """One permission block of a role definition."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def grants(self, action: str) -> bool:
        names = (action, *aliases(action))
        if not any(pattern_matches(p, n) for p in self.data_actions for n in names):
            return False
        return not any(pattern_matches(p, n) for p in self.not_data_actions for n in names)

    @classmethod
    def build(
        cls,
        *,
        actions: Iterable[str] | None = None,
        not_actions: Iterable[str] | None = None,
        data_actions: Iterable[str] | None = None,
        not_data_actions: Iterable[str] | None = None,
    ) -> Permission:
        """A checked permission block (each pattern ``*`` or ``Microsoft.…``)."""
        return cls(
            _patterns(actions, "actions"),
            _patterns(not_actions, "notActions"),
            _patterns(data_actions, "dataActions"),
            _patterns(not_data_actions, "notDataActions"),
        )


@dataclass(frozen=True)
class RoleDefinition:
    """A role: ``name`` is its GUID, ``id`` Azure's definition id, ``role_type`` built-in or custom."""

    name: str
    role_name: str
    description: str = ""
    role_type: str = CUSTOM
    permissions: tuple[Permission, ...] = ()
    assignable_scopes: tuple[str, ...] = ("/",)
    id: str = field(init=False)
    # action -> decision; a definition is immutable and actions are few (a dozen dozen)
    _decisions: dict[str, bool] = field(init=False, default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", DEFINITION_ID_PREFIX + self.name)

    @property
    def is_builtin(self) -> bool:
        return self.role_type == BUILTIN

    def grants(self, action: str) -> bool:
        decided = self._decisions.get(action)
        if decided is None:
            decided = any(p.grants(action) for p in self.permissions)
            if len(self._decisions) < 1024:
                self._decisions[action] = decided
        return decided

    def assignable_at(self, scope: str) -> bool:
        target = scope.lower()
        return any(s == "/" or target == s or target.startswith(s + "/") for s in self.assignable_scopes)

    def to_doc(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role_name": self.role_name,
            "description": self.description,
            "permissions": [
                [list(p.actions), list(p.not_actions), list(p.data_actions), list(p.not_data_actions)]
                for p in self.permissions
            ],
            "scopes": list(self.assignable_scopes),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> RoleDefinition:
        perms = doc.get("permissions") or []
        assert isinstance(perms, list)
        scopes = doc.get("scopes") or ["/"]
        assert isinstance(scopes, list)
        return cls(
            name=str(doc["name"]),
            role_name=str(doc["role_name"]),
            description=str(doc.get("description", "")),
            role_type=CUSTOM,
            permissions=tuple(Permission(*(tuple(x) for x in p)) for p in perms),
            assignable_scopes=tuple(str(s) for s in scopes),
        )


def _patterns(values: Iterable[str] | None, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidParameterError(f"{what} must be a list of strings")
    out = []
    for value in values:
        if not isinstance(value, str) or not _ACTION.fullmatch(value):
            raise InvalidParameterError(f"{what} entries must be '*' or an action name starting with 'Microsoft.'")
        out.append(value)
    if len(out) > MAX_PATTERNS:
        raise InvalidParameterError(f"{what} may hold at most {MAX_PATTERNS} entries")
    return tuple(out)


def check_scope(scope: object) -> str:
    """A role scope (``/``, ``/keys``, ``/keys/NAME``, secrets/certificates alike), lower-cased."""
    if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
        raise InvalidParameterError(
            "scope must be '/', '/secrets', '/keys', '/certificates' or '/secrets/NAME', '/keys/NAME', "
            "'/certificates/NAME'"
        )
    return scope.lower()


def definition_name(value: object) -> str:
    """The GUID of a role definition given as a GUID or a (URL-decoded) full definition id."""
    if not isinstance(value, str):
        raise InvalidParameterError("a role definition name must be a GUID")
    tail = value.rstrip("/").rsplit("/", 1)[-1]
    try:
        return str(uuid.UUID(tail))
    except ValueError:
        raise InvalidParameterError("a role definition name must be a GUID") from None


# -- Managed HSM spellings of the actions vaultcore checks --------------------------------

_MHSM_ALIASES: dict[str, tuple[str, ...]] = {
    DataAction.KEY_READ: (_M + "keys/read/action", _M + "keys/deletedKeys/read/action"),
    DataAction.KEY_CREATE: (_M + "keys/create",),
    DataAction.KEY_IMPORT: (_M + "keys/import/action",),
    DataAction.KEY_UPDATE: (_M + "keys/write/action",),
    DataAction.KEY_ROTATE: (_M + "keys/write/action",),
    DataAction.KEY_DELETE: (_M + "keys/delete",),
    DataAction.KEY_BACKUP: (_M + "keys/backup/action",),
    DataAction.KEY_RESTORE: (_M + "keys/restore/action",),
    DataAction.KEY_EXPORT: (_M + "keys/export/action", _M + "keys/release/action"),
    DataAction.KEY_ENCRYPT: (_M + "keys/encrypt/action",),
    DataAction.KEY_DECRYPT: (_M + "keys/decrypt/action",),
    DataAction.KEY_WRAP: (_M + "keys/wrap/action",),
    DataAction.KEY_UNWRAP: (_M + "keys/unwrap/action",),
    DataAction.KEY_SIGN: (_M + "keys/sign/action",),
    DataAction.KEY_VERIFY: (_M + "keys/verify/action",),
    DataAction.KEY_ROTATION_POLICY_READ: (_M + "keys/read/action",),
    DataAction.KEY_ROTATION_POLICY_WRITE: (_M + "keys/write/action",),
    DataAction.DELETED_KEY_RECOVER: (_M + "keys/deletedKeys/recover/action",),
    DataAction.DELETED_KEY_PURGE: (_M + "keys/deletedKeys/delete",),
    DataAction.RNG: (_M + "rng/action",),
    DataAction.ROLE_READ: (_M + "roleAssignments/read/action",),
    DataAction.ROLE_WRITE: (_M + "roleAssignments/write/action",),
    DataAction.ROLE_DEFINITION_READ: (_M + "roleDefinitions/read/action",),
    DataAction.ROLE_DEFINITION_WRITE: (_M + "roleDefinitions/write/action",),
    DataAction.ROLE_DEFINITION_DELETE: (_M + "roleDefinitions/delete/action",),
    DataAction.FULL_BACKUP: (_M + "backup/start/action",),
    DataAction.FULL_RESTORE: (_M + "restore/start/action",),
    DataAction.BACKUP_STATUS: (_M + "backup/status/action",),
    DataAction.RESTORE_STATUS: (_M + "restore/status/action",),
}


def aliases(action: str) -> tuple[str, ...]:
    """The Managed HSM data actions that grant the vaultcore action *action*."""
    return _MHSM_ALIASES.get(action, ())


# -- built-in roles ------------------------------------------------------------------------

# Azure's GUIDs of the Key Vault built-in roles (Azure built-in roles reference).
_KV_GUIDS = {
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Certificates Officer": "a4417e6f-fecd-4de8-b567-7b0420556985",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Key Vault Purge Operator": "a68e7c17-0ab2-4c09-9a58-125dae29748c",
}

_ROLE_ADMIN = tuple(_M + f"roleAssignments/{a}/action" for a in ("delete", "read", "write")) + tuple(
    _M + f"roleDefinitions/{a}/action" for a in ("read", "write", "delete")
)
_MHSM_ROLES: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "a290e904-7015-4bba-90c8-60543313cdb4",
        "Managed HSM Administrator",
        _ROLE_ADMIN
        + tuple(
            _M + f"securitydomain/{a}"
            for a in ("download/action", "download/read", "upload/action", "upload/read", "transferkey/read")
        )
        + tuple(_M + a for a in ("backup/start/action", "restore/start/action", "backup/status/action"))
        + (_M + "restore/status/action",),
    ),
    (
        "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        "Managed HSM Crypto Officer",
        _ROLE_ADMIN
        + tuple(
            _M + f"keys/{a}"
            for a in ("deletedKeys/read/action", "deletedKeys/delete", "deletedKeys/recover/action", "export/action")
        ),
    ),
    (
        "21dbd100-6940-42c2-9190-5d6cb909625b",
        "Managed HSM Crypto User",
        (
            _M + "roleDefinitions/read/action",
            _M + "roleAssignments/read/action",
            _M + "rng/action",
            *(
                _M + f"keys/{a}"
                for a in (
                    "read/action",
                    "write/action",
                    "delete",
                    "create",
                    "import/action",
                    "release/action",
                    "backup/action",
                    "restore/action",
                    "encrypt/action",
                    "decrypt/action",
                    "wrap/action",
                    "unwrap/action",
                    "sign/action",
                    "verify/action",
                )
            ),
        ),
    ),
    (
        "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        "Managed HSM Policy Administrator",
        _ROLE_ADMIN,
    ),
    (
        "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        "Managed HSM Crypto Auditor",
        (
            _M + "roleAssignments/read/action",
            _M + "roleDefinitions/read/action",
            _M + "keys/read/action",
            _M + "keys/deletedKeys/read/action",
        ),
    ),
    (
        "33413926-3206-4cdd-b39a-83574fe37a17",
        "Managed HSM Crypto Service Encryption User",
        (_M + "keys/read/action", _M + "keys/wrap/action", _M + "keys/unwrap/action"),
    ),
    (
        "21dbd100-6940-42c2-9190-5d6cb909625c",
        "Managed HSM Crypto Service Release User",
        (_M + "keys/release/action",),
    ),
    (
        "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
        "Managed HSM Backup User",
        (_M + "backup/start/action", _M + "backup/status/action", _M + "keys/backup/action"),
    ),
    (
        "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        "Managed HSM Restore",
        (_M + "restore/start/action", _M + "restore/status/action", _M + "keys/restore/action"),
    ),
]


def _builtin(name: str, role_name: str, data_actions: Sequence[str]) -> RoleDefinition:
    return RoleDefinition(
        name=name,
        role_name=role_name,
        role_type=BUILTIN,
        permissions=(Permission(data_actions=tuple(data_actions)),),
    )


BUILTIN_DEFINITIONS: tuple[RoleDefinition, ...] = tuple(
    _builtin(_KV_GUIDS[role], role, actions) for role, actions in BUILTIN_ROLES.items()
) + tuple(_builtin(guid, role, actions) for guid, role, actions in _MHSM_ROLES)

_BY_NAME = {d.name: d for d in BUILTIN_DEFINITIONS}
_BY_ROLE_NAME = {d.role_name.lower(): d for d in BUILTIN_DEFINITIONS}


def builtin(key: str) -> RoleDefinition | None:
    """The built-in definition with GUID or role name *key* (case-insensitive), if any."""
    return _BY_NAME.get(key.lower()) or _BY_ROLE_NAME.get(key.lower())
