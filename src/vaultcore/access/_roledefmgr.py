"""``vault.access``'s role-definition operations: list, get, set (create/update), delete.

Custom definitions are sealed records (``D`` + the GUID's 16 bytes) in the ``access``
database; each change bumps the access generation, so open sessions re-read their
permissions on the next call. Built-in definitions cannot be changed or deleted; a custom
definition cannot be deleted while an assignment uses it (``ConflictError``
``RoleDefinitionHasAssignments``), and role names are unique (built-in names included).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vaultcore.access._operations import Session, operation
from vaultcore.access._roledefs import (
    BUILTIN_DEFINITIONS,
    Permission,
    RoleDefinition,
    builtin,
    check_scope,
    definition_name,
)
from vaultcore.access._roles import DataAction
from vaultcore.crypto import _bindings
from vaultcore.exceptions import ConflictError, InvalidParameterError, NotFoundError
from vaultcore.storage._interface import ReadTxn, WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["RoleDefinitionOperations"]

MAX_ROLE_NAME = 128
MAX_DESCRIPTION = 1024


def _def_key(name: str) -> bytes:
    return b"D" + uuid.UUID(name).bytes


class RoleDefinitionOperations:
    """Mixed into :class:`~vaultcore.access._principals.AccessManager`."""

    _ctx: VaultContext
    _session: Session

    if TYPE_CHECKING:  # provided by AccessManager (access._principals), which mixes this in

        def _put(self, txn: WriteTxn, key: bytes, doc: dict[str, Any]) -> None: ...

        def _all(self, txn: ReadTxn, prefix: bytes) -> Iterator[tuple[bytes, dict[str, Any]]]: ...

        def _bump(self, txn: WriteTxn) -> None: ...

        def _access_changed(self, txn: WriteTxn) -> None: ...

    # -- lookups (inside a transaction) ------------------------------------------------

    def _custom_definitions(self, txn: ReadTxn) -> list[RoleDefinition]:
        return [RoleDefinition.from_doc(doc) for _, doc in self._all(txn, b"D")]

    def _definition_in(self, txn: ReadTxn, key: str) -> RoleDefinition | None:
        """A definition by GUID, full id or role name (built-in or custom)."""
        try:
            name: str | None = definition_name(key)
        except InvalidParameterError:
            name = None
        found = builtin(name or key)
        if found is not None:
            return found
        for definition in self._custom_definitions(txn):
            if definition.name == name or definition.role_name.lower() == key.lower():
                return definition
        return None

    # -- operations --------------------------------------------------------------------

    @operation("RoleDefinitionList", DataAction.ROLE_DEFINITION_READ)
    def list_role_definitions(self) -> list[RoleDefinition]:
        """Every role definition: the built-in roles, then the custom ones."""
        with self._ctx.read() as txn:
            custom = self._custom_definitions(txn)
        return [*BUILTIN_DEFINITIONS, *sorted(custom, key=lambda d: d.role_name.lower())]

    @operation("RoleDefinitionGet", DataAction.ROLE_DEFINITION_READ)
    def get_role_definition(self, name: str) -> RoleDefinition:
        """A definition by GUID, full definition id or role name."""
        if not isinstance(name, str):
            raise InvalidParameterError("name must be a string")
        with self._ctx.read() as txn:
            found = self._definition_in(txn, name)
        if found is None:
            raise NotFoundError(f"role definition {name} was not found", inner_code="RoleDefinitionNotFound")
        return found

    @operation("RoleDefinitionSet", DataAction.ROLE_DEFINITION_WRITE)
    def set_role_definition(
        self,
        role_name: str,
        *,
        permissions: Sequence[Permission] = (),
        description: str = "",
        assignable_scopes: Iterable[str] | None = None,
        name: str | None = None,
    ) -> RoleDefinition:
        """Create a custom role (new GUID unless *name* is given) or replace the one named *name*."""
        if not isinstance(role_name, str) or not role_name.strip() or len(role_name) > MAX_ROLE_NAME:
            raise InvalidParameterError(f"role_name must be 1-{MAX_ROLE_NAME} characters")
        if any(ord(c) < 32 for c in role_name):
            raise InvalidParameterError("role_name must not hold control characters")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidParameterError(f"description must be a string of at most {MAX_DESCRIPTION} characters")
        if not isinstance(permissions, list | tuple) or not all(isinstance(p, Permission) for p in permissions):
            raise InvalidParameterError("permissions must be a list of Permission")
        if assignable_scopes is not None and (
            isinstance(assignable_scopes, str) or not isinstance(assignable_scopes, Iterable)
        ):
            raise InvalidParameterError("assignable_scopes must be a list of scopes")
        scopes = ("/",) if assignable_scopes is None else tuple(check_scope(s) for s in assignable_scopes)
        if not scopes:
            raise InvalidParameterError("assignable_scopes must name at least one scope")
        guid = definition_name(name) if name is not None else str(uuid.UUID(bytes=self._ctx_random()))
        if builtin(guid) is not None:
            raise InvalidParameterError(f"role definition {guid} is a built-in role and cannot be changed")
        if builtin(role_name) is not None:
            raise ConflictError(f"a built-in role is named {role_name!r}", inner_code="RoleDefinitionExists")
        definition = RoleDefinition(
            name=guid,
            role_name=role_name,
            description=description,
            permissions=tuple(permissions),
            assignable_scopes=scopes,
        )

        def run(txn: WriteTxn) -> RoleDefinition:
            for other in self._custom_definitions(txn):
                if other.name != guid and other.role_name.lower() == role_name.lower():
                    raise ConflictError(f"a role named {role_name!r} exists", inner_code="RoleDefinitionExists")
            assigned = False
            if self._definition_in(txn, guid) is not None:
                # narrowing the assignable scopes must not strand an assignment outside them
                for _, doc in self._all(txn, b"A"):
                    if doc.get("def") == guid:
                        assigned = True
                        if not definition.assignable_at(doc["scope"]):
                            raise ConflictError(
                                f"role definition {guid} is assigned at {doc['scope']}, outside the new "
                                "assignable scopes",
                                inner_code="RoleDefinitionHasAssignments",
                            )
            self._put(txn, _def_key(guid), definition.to_doc())
            if assigned:  # what its holders may do changed
                self._access_changed(txn)
            return definition

        return self._ctx.write(run)

    @operation("RoleDefinitionDelete", DataAction.ROLE_DEFINITION_DELETE)
    def delete_role_definition(self, name: str) -> RoleDefinition:
        """Delete a custom role; refused for built-in roles and while the role is assigned."""
        guid = definition_name(name)
        if builtin(guid) is not None:
            raise InvalidParameterError(f"role definition {guid} is a built-in role and cannot be deleted")
        key = _def_key(guid)

        def run(txn: WriteTxn) -> RoleDefinition:
            found = next((d for d in self._custom_definitions(txn) if d.name == guid), None)
            if found is None:
                raise NotFoundError(f"role definition {guid} was not found", inner_code="RoleDefinitionNotFound")
            if any(doc.get("def") == guid for _, doc in self._all(txn, b"A")):
                raise ConflictError(
                    f"role definition {guid} is assigned; remove its role assignments first",
                    inner_code="RoleDefinitionHasAssignments",
                )
            txn.delete(b"access", key)
            self._bump(txn)
            return found

        return self._ctx.write(run)

    def _ctx_random(self) -> bytes:
        raw = bytearray(_bindings.random_bytes(16))
        raw[6] = (raw[6] & 0x0F) | 0x40  # a version-4 GUID, as Azure's clients make
        raw[8] = (raw[8] & 0x3F) | 0x80
        return bytes(raw)
