"""Custom role definitions: Azure's wildcard and notDataActions rules, assignable scopes,
read-only built-ins, refusal to delete an assigned role, storage, audit."""

from __future__ import annotations

import uuid

import pytest
from accesshelpers import RawStore, grant, new_vault

from vaultcore import ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, Vault
from vaultcore.access._roledefs import BUILTIN_DEFINITIONS, Permission, RoleDefinition

P = "Microsoft.KeyVault/vaults/"
M = "Microsoft.KeyVault/managedHsm/"


def _role(vault: Vault, name: str, data: list[str], not_data: list[str] | None = None, **kw: object) -> RoleDefinition:
    perm = Permission.build(data_actions=data, not_data_actions=not_data)
    return vault.access.set_role_definition(name, permissions=[perm], **kw)  # type: ignore[arg-type]


def test_wildcards_and_not_data_actions_follow_azure(vault: Vault) -> None:
    vault.secrets.set_secret("a", "1")
    _role(vault, "all secrets but purge", [P + "secrets/*"], [P + "secrets/purge/action", P + "*/delete"])
    view = grant(vault, "all secrets but purge")
    view.secrets.set_secret("b", "2")  # secrets/setSecret/action matches secrets/*
    assert view.secrets.get_secret("a").value == "1"
    with pytest.raises(ForbiddenError, match="secrets/delete"):
        view.secrets.delete_secret("a")  # */delete subtracts across the wildcard
    with pytest.raises(ForbiddenError):
        view.keys.create_rsa_key("k")  # not a secret action


def test_wildcard_is_case_insensitive_and_anchored(vault: Vault) -> None:
    vault.secrets.set_secret("c", "1")
    _role(vault, "case", ["microsoft.keyvault/VAULTS/secrets/getsecret/*"])
    view = grant(vault, "case")
    assert view.secrets.get_secret("c").value == "1"
    _role(vault, "prefix only", [P + "secrets/get"])
    with pytest.raises(ForbiddenError):
        grant(vault, "prefix only").secrets.get_secret("c")


def test_managed_hsm_data_actions_grant_the_matching_operations(vault: Vault) -> None:
    vault.keys.create_rsa_key("hsm-style")
    view = grant(vault, "Managed HSM Crypto User")
    assert view.keys.get_key("hsm-style").name == "hsm-style"
    view.keys.create_ec_key("made-by-hsm-user")
    with pytest.raises(ForbiddenError):
        view.secrets.list_properties_of_secrets()
    auditor = grant(vault, "Managed HSM Crypto Auditor")
    assert auditor.keys.get_key("hsm-style")
    with pytest.raises(ForbiddenError):
        auditor.keys.create_rsa_key("no")


def test_builtins_are_listed_read_only_with_azure_guids(vault: Vault) -> None:
    listed = vault.access.list_role_definitions()
    by_name = {d.role_name: d for d in listed}
    assert by_name["Key Vault Administrator"].name == "00482a5a-887f-4fb3-b363-3b7fe8e74483"
    assert by_name["Managed HSM Administrator"].name == "a290e904-7015-4bba-90c8-60543313cdb4"
    assert all(d.is_builtin for d in BUILTIN_DEFINITIONS) and len(BUILTIN_DEFINITIONS) == 19
    admin_guid = by_name["Key Vault Administrator"].name
    with pytest.raises(InvalidParameterError, match="built-in"):
        vault.access.set_role_definition("mine", name=admin_guid)
    with pytest.raises(InvalidParameterError, match="built-in"):
        vault.access.delete_role_definition(admin_guid)
    with pytest.raises(ConflictError):
        vault.access.set_role_definition("Key Vault Reader")
    assert vault.access.get_role_definition(admin_guid).role_name == "Key Vault Administrator"
    assert vault.access.get_role_definition(by_name["Key Vault Administrator"].id).name == admin_guid


def test_create_update_delete_and_refusal_while_assigned(vault: Vault) -> None:
    role = _role(vault, "one", [P + "secrets/getSecret/action"], description="first")
    assert role.role_type == "CustomRole" and role.assignable_scopes == ("/",)
    uuid.UUID(role.name)
    with pytest.raises(ConflictError):
        _role(vault, "ONE", [P + "keys/read"])  # names are unique, case-insensitively
    updated = vault.access.set_role_definition(
        "one renamed", permissions=[Permission.build(data_actions=[P + "keys/read"])], name=role.name
    )
    assert updated.name == role.name and vault.access.get_role_definition(role.name).role_name == "one renamed"
    assert updated.description == ""  # a set replaces the whole definition
    app = vault.access.create_application("holder")
    assignment = vault.access.assign_role(app.principal.id, role.name)
    assert assignment.role == "one renamed" and assignment.role_definition_id == role.id
    with pytest.raises(ConflictError) as refused:
        vault.access.delete_role_definition(role.name)
    assert refused.value.inner_code == "RoleDefinitionHasAssignments"
    vault.access.remove_role(assignment.id)
    gone = vault.access.delete_role_definition(role.id)
    assert gone.name == role.name
    with pytest.raises(NotFoundError):
        vault.access.get_role_definition(role.name)
    with pytest.raises(NotFoundError):
        vault.access.delete_role_definition(role.name)


def test_assignable_scopes_limit_where_a_role_is_assigned(vault: Vault) -> None:
    role = _role(vault, "keys only", [P + "keys/read"], assignable_scopes=["/keys"])
    app = vault.access.create_application("scoped-holder")
    vault.access.assign_role(app.principal.id, role.name, "/keys/one")
    vault.access.assign_role(app.principal.id, role.name, "/keys")
    with pytest.raises(InvalidParameterError, match="assignable scopes"):
        vault.access.assign_role(app.principal.id, role.name, "/")
    with pytest.raises(InvalidParameterError, match="assignable scopes"):
        vault.access.assign_role(app.principal.id, role.name, "/secrets/x")
    with pytest.raises(ConflictError):  # narrowing would strand the /keys assignments
        vault.access.set_role_definition("keys only", name=role.name, assignable_scopes=["/keys/one"])


def test_role_changes_take_effect_at_once(vault: Vault) -> None:
    vault.secrets.set_secret("live", "1")
    role = _role(vault, "changing", [P + "secrets/getSecret/action"])
    view = grant(vault, "changing")
    assert view.secrets.get_secret("live").value == "1"
    vault.access.set_role_definition("changing", name=role.name, permissions=[])
    with pytest.raises(ForbiddenError):
        view.secrets.get_secret("live")


def test_bad_definitions_are_refused(vault: Vault) -> None:
    for bad in (["secrets/*"], ["Microsoft.KeyVault/vaults/secrets get"], "not a list"):
        with pytest.raises(InvalidParameterError):
            Permission.build(data_actions=bad)  # type: ignore[arg-type]
    for name in ("", "x" * 129, "tab\there"):
        with pytest.raises(InvalidParameterError):
            vault.access.set_role_definition(name)
    with pytest.raises(InvalidParameterError):
        vault.access.set_role_definition("ok", name="not-a-guid")
    with pytest.raises(InvalidParameterError):
        vault.access.set_role_definition("ok", assignable_scopes=["/vaults"])
    with pytest.raises(InvalidParameterError):
        vault.access.set_role_definition("ok", assignable_scopes="/keys")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        vault.access.set_role_definition("ok", permissions=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        Permission.build(data_actions=5)  # type: ignore[arg-type]
    assert [d.role_name for d in vault.access.list_role_definitions() if not d.is_builtin] == []


def test_role_management_needs_its_permissions_and_is_audited(vault: Vault) -> None:
    reader = grant(vault, "Key Vault Reader")
    assert reader.access.list_role_definitions()  # */read grants roleDefinitions/read
    with pytest.raises(ForbiddenError, match="roleDefinitions/write"):
        reader.access.set_role_definition("sneaky", permissions=[Permission.build(data_actions=["*"])])
    hsm_admin = grant(vault, "Managed HSM Policy Administrator")
    made = hsm_admin.access.set_role_definition("policy made")
    hsm_admin.access.delete_role_definition(made.name)
    events = vault.audit.events(principal=hsm_admin.principal)
    assert [e.operation for e in events] == ["RoleDefinitionSet", "RoleDefinitionDelete"]
    denied = vault.audit.events(principal=reader.principal, operation="RoleDefinitionSet")
    assert denied[-1].result == "Forbidden"


def test_custom_roles_are_sealed_at_rest(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "sealed"
    vault, _ = new_vault(path)
    _role(vault, "very-distinctive-role-name", [P + "secrets/getSecret/action"])
    vault.close()
    store = RawStore(path)
    with store.env.begin() as txn:
        access = store.env.open_db(b"access", txn=txn, create=False)
        blobs = [bytes(v) for _, v in txn.cursor(db=access)]
    assert blobs and not any(b"very-distinctive" in blob or b"getSecret" in blob for blob in blobs)


def test_custom_roles_survive_keyring_rotation_and_reopen(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "rotated"
    vault, cred = new_vault(path)
    vault.secrets.set_secret("kept", "1")
    role = _role(vault, "kept role", [P + "secrets/getSecret/action"])
    app = vault.access.create_application("kept-app")
    vault.access.assign_role(app.principal.id, role.name, "/secrets/kept")
    vault.rotate_keyring()
    vault.close()
    reopened = Vault.open(path, cred)
    try:
        assert reopened.access.get_role_definition(role.name) == role
        view = reopened.as_principal("kept-app", app.client_secret)
        assert view.secrets.get_secret("kept").value == "1"
    finally:
        reopened.close()
