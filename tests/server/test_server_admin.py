"""The administration plane over REST with the official azure-keyvault-administration clients.

Each ``test_sample_*`` runs the operations of one official 4.7.2 sample (access control,
backup/restore, settings; sync and async) in the sample's order, changing only what the
issue allows: the vault URL, the credential, the CA and ``verify_challenge_resource=False``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSetting,
    KeyVaultSettingsClient,
    KeyVaultSettingType,
)
from azure.keyvault.administration.aio import KeyVaultAccessControlClient as AsyncAccessControlClient
from azure.keyvault.administration.aio import KeyVaultSettingsClient as AsyncSettingsClient
from serverhelpers import POLL

from vaultcore import KDF_TESTING, RawKeyCredential, Vault
from vaultcore.server import AsyncServerCredential, BackgroundServer, ServerCredential, ensure_local_tls

CONTAINER_URL = "https://acct.blob.core.windows.net/backups"


@dataclass
class Admin:
    server: BackgroundServer
    vault: Vault
    secret: str
    backup_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def credential(self) -> ServerCredential:
        return self.server.credential("ci", self.secret)

    def async_credential(self) -> AsyncServerCredential:
        return AsyncServerCredential(self.url, "ci", self.secret, ca_path=self.server.ca_path)

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.server.client_kwargs


@pytest.fixture(scope="module")
def adm(tmp_path_factory: pytest.TempPathFactory, tls_dir: Path) -> Iterator[Admin]:
    root = tmp_path_factory.mktemp("admin-plane")
    vault = Vault.create(root / "vault", RawKeyCredential(os.urandom(32)), access_kdf=KDF_TESTING, name="adm")
    app = vault.access.create_application("ci")
    vault.access.assign_role(app.principal.id, "Key Vault Administrator")
    server = BackgroundServer(vault, ensure_local_tls(tls_dir), backup_dir=root / "backups").start()
    try:
        yield Admin(server, vault, app.client_secret, root / "backups")
    finally:
        server.stop()
        vault.close()


# -- access control ----------------------------------------------------------------------


def test_sample_access_control_sync(adm: Admin) -> None:
    with KeyVaultAccessControlClient(adm.url, adm.credential(), **adm.kwargs) as client:
        definitions = list(client.list_role_definitions(scope=KeyVaultRoleScope.GLOBAL))
        names = {d.role_name for d in definitions}
        assert {"Key Vault Administrator", "Managed HSM Crypto User"} <= names
        assert all(d.role_type == "AKVBuiltInRole" for d in definitions)

        permissions = [KeyVaultPermission(data_actions=[KeyVaultDataAction.CREATE_HSM_KEY])]
        created = client.set_role_definition(
            scope=KeyVaultRoleScope.GLOBAL, role_name="customRole", permissions=permissions
        )
        assert created.role_type == "CustomRole" and created.assignable_scopes == [KeyVaultRoleScope.GLOBAL]
        assert created.permissions[0].data_actions == [KeyVaultDataAction.CREATE_HSM_KEY]
        assert created.permissions[0].not_data_actions == []

        new_permissions = [
            KeyVaultPermission(
                data_actions=[KeyVaultDataAction.READ_HSM_KEY], not_data_actions=[KeyVaultDataAction.CREATE_HSM_KEY]
            )
        ]
        updated = client.set_role_definition(
            scope=KeyVaultRoleScope.GLOBAL, permissions=new_permissions, role_name="customRole", name=created.name
        )
        assert updated.id == created.id
        got = client.get_role_definition(scope=KeyVaultRoleScope.GLOBAL, name=created.name)
        assert got.permissions[0].not_data_actions == [KeyVaultDataAction.CREATE_HSM_KEY]
        assert [d.id for d in client.list_role_definitions("/")].count(created.id) == 1

        assignments = list(client.list_role_assignments(KeyVaultRoleScope.GLOBAL))
        assert all(a.properties for a in assignments) and assignments

        assignment = client.create_role_assignment(KeyVaultRoleScope.GLOBAL, updated.id, "ci")
        assert assignment.properties.role_definition_id == updated.id
        assert assignment.properties.scope == KeyVaultRoleScope.GLOBAL
        got_assignment = client.get_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
        assert got_assignment.role_assignment_id == assignment.role_assignment_id

        # a role in use cannot be deleted
        with pytest.raises(ResourceExistsError):
            client.delete_role_definition(KeyVaultRoleScope.GLOBAL, name=updated.name)
        client.delete_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
        assert assignment.name not in {a.name for a in client.list_role_assignments("/")}
        client.delete_role_definition(KeyVaultRoleScope.GLOBAL, name=updated.name)
        assert created.id not in {d.id for d in client.list_role_definitions("/")}
    kinds = {e.operation for e in adm.vault.audit.events(principal="app:ci")}
    assert {"RoleDefinitionSet", "RoleDefinitionDelete", "RoleAssignmentCreate", "RoleAssignmentDelete"} <= kinds


def test_sample_access_control_async(adm: Admin) -> None:
    async def run() -> None:
        credential = adm.async_credential()
        client = AsyncAccessControlClient(adm.url, credential, **adm.kwargs)
        permissions = [KeyVaultPermission(data_actions=[KeyVaultDataAction.CREATE_HSM_KEY])]
        definition = await client.set_role_definition(KeyVaultRoleScope.GLOBAL, permissions=permissions)
        new_permissions = [
            KeyVaultPermission(
                data_actions=[KeyVaultDataAction.READ_HSM_KEY], not_data_actions=[KeyVaultDataAction.CREATE_HSM_KEY]
            )
        ]
        definition = await client.set_role_definition(
            KeyVaultRoleScope.GLOBAL, permissions=new_permissions, name=definition.name
        )
        assignment = await client.create_role_assignment(KeyVaultRoleScope.GLOBAL, definition.id, "ci")
        await client.delete_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
        # the sample passes the full id: the server gets it URL-decoded and deletes the role
        await client.delete_role_definition(KeyVaultRoleScope.GLOBAL, definition.id)
        ids = [d.id async for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)]
        assert definition.id not in ids
        await credential.close()
        await client.close()

    asyncio.run(run())


def test_custom_role_with_one_data_action_over_rest(adm: Admin) -> None:
    adm.vault.secrets.set_secret("rbac-one", "v")
    app = adm.vault.access.create_application("one-action")
    with KeyVaultAccessControlClient(adm.url, adm.credential(), **adm.kwargs) as client:
        role = client.set_role_definition(
            "/",
            role_name="secret getter",
            permissions=[KeyVaultPermission(data_actions=["Microsoft.KeyVault/vaults/secrets/getSecret/action"])],
        )
        assignment = client.create_role_assignment("/secrets/rbac-one", role.id, "app:one-action")
        assert assignment.properties.scope == "/secrets/rbac-one"
        at_scope = list(client.list_role_assignments("/secrets/rbac-one", filter="atScope()"))
        assert assignment.name in {a.name for a in at_scope}
    from azure.keyvault.secrets import SecretClient

    credential = adm.server.credential("one-action", app.client_secret)
    with SecretClient(adm.url, credential, **adm.kwargs) as secrets:
        assert secrets.get_secret("rbac-one").value == "v"
        with pytest.raises(HttpResponseError) as denied:
            list(secrets.list_properties_of_secrets())
        assert denied.value.status_code == 403


def test_raw_status_codes_and_error_shapes(adm: Admin) -> None:
    import uuid

    from serverhelpers import Server

    raw = Server(adm.server, adm.vault, {"ci": adm.secret})
    name = str(uuid.uuid4())
    path = f"/providers/Microsoft.Authorization/roleDefinitions/{name}"
    body = {"properties": {"roleName": f"raw-{name[:8]}", "permissions": [{"dataActions": ["*"]}]}}
    created = raw.request("PUT", path, body)
    assert created.status == 201
    assert created.body["id"] == f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{name}"
    perms = created.body["properties"]["permissions"][0]
    assert perms == {"actions": [], "notActions": [], "dataActions": ["*"], "notDataActions": []}
    builtin = raw.request("PUT", "/providers/Microsoft.Authorization/roleDefinitions/" + _ADMIN_GUID, body)
    assert builtin.status == 400 and builtin.body["error"]["code"] == "BadParameter"
    deleted = raw.request("DELETE", path)
    assert deleted.status == 200 and deleted.body["name"] == name
    missing = raw.request("DELETE", path)
    assert missing.status == 404 and missing.body["error"]["code"] == "RoleDefinitionNotFound"
    gone = raw.request("GET", "/providers/Microsoft.Authorization/roleAssignments/" + str(uuid.uuid4()))
    assert gone.status == 404 and gone.body["error"]["code"] == "RoleAssignmentNotFound"
    bad_scope = raw.request("GET", "/vaults/providers/Microsoft.Authorization/roleAssignments")
    assert bad_scope.status == 400
    js_style = raw.request("GET", "///providers/Microsoft.Authorization/roleDefinitions")
    assert js_style.status == 200 and len(js_style.body["value"]) >= 19
    reader = raw.request("GET", "/keys/providers/Microsoft.Authorization/roleAssignments", token=None)
    assert reader.status == 401


_ADMIN_GUID = "00482a5a-887f-4fb3-b363-3b7fe8e74483"


# -- settings -----------------------------------------------------------------------------


def test_sample_settings_sync(adm: Admin) -> None:
    with KeyVaultSettingsClient(adm.url, adm.credential(), **adm.kwargs) as client:
        boolean_setting = None
        setting = None
        for setting in client.list_settings():
            if setting.setting_type == KeyVaultSettingType.BOOLEAN:
                boolean_setting = setting
        assert boolean_setting is not None and setting is not None
        assert boolean_setting.name == "AllowKeyManagementOperationsThroughARM"
        opposite = KeyVaultSetting(name=boolean_setting.name, value=not setting.getboolean())
        updated = client.update_setting(opposite)
        assert updated.getboolean() is not boolean_setting.getboolean()
        assert client.get_setting(boolean_setting.name).value == updated.value
        restored = client.update_setting(boolean_setting)
        assert restored.value == boolean_setting.value
        with pytest.raises(ResourceNotFoundError):
            client.get_setting("NoSuchSetting")


def test_settings_type_checks_and_meaning(adm: Admin) -> None:
    from serverhelpers import Server

    raw = Server(adm.server, adm.vault, {"ci": adm.secret})
    assert raw.request("PATCH", "/settings/PurgeProtection", {"value": 1}).status == 400
    assert raw.request("PATCH", "/settings/PurgeProtection", {"value": "yes"}).status == 400
    audit = raw.request("PATCH", "/settings/AuditSynchronousReads", {"value": "true"})
    assert audit.status == 200 and audit.body == {"name": "AuditSynchronousReads", "value": "true", "type": "boolean"}
    assert adm.vault._ctx.audit.mode == "sync"
    assert raw.request("PATCH", "/settings/AuditSynchronousReads", {"value": "false"}).body["value"] == "false"
    assert adm.vault._ctx.audit.mode == "group"


def test_sample_settings_async(adm: Admin) -> None:
    async def run() -> None:
        credential = adm.async_credential()
        client = AsyncSettingsClient(adm.url, credential, **adm.kwargs)
        boolean_setting = None
        setting = None
        async for setting in client.list_settings():
            if setting.setting_type == KeyVaultSettingType.BOOLEAN:
                boolean_setting = setting
        assert boolean_setting is not None and setting is not None
        opposite = KeyVaultSetting(name=boolean_setting.name, value=not setting.getboolean())
        await client.update_setting(opposite)
        restored = await client.update_setting(boolean_setting)
        assert restored.value == boolean_setting.value
        await credential.close()
        await client.close()

    asyncio.run(run())


def test_roles_apply_to_the_administration_routes(adm: Admin) -> None:
    app = adm.vault.access.create_application("monitor")
    adm.vault.access.assign_role(app.principal.id, "Key Vault Reader")
    credential = adm.server.credential("monitor", app.client_secret)
    with KeyVaultSettingsClient(adm.url, credential, **adm.kwargs) as settings:
        assert len(list(settings.list_settings())) == 3  # settings/read matches the Reader's */read
        with pytest.raises(HttpResponseError) as denied:
            settings.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value=True))
        assert denied.value.status_code == 403
    with KeyVaultAccessControlClient(adm.url, credential, **adm.kwargs) as rbac:
        assert list(rbac.list_role_definitions("/"))
        with pytest.raises(HttpResponseError) as denied:
            rbac.set_role_definition("/", role_name="escalate", permissions=[KeyVaultPermission(data_actions=["*"])])
        assert denied.value.status_code == 403
    with KeyVaultBackupClient(adm.url, credential, **adm.kwargs) as backups:
        with pytest.raises(HttpResponseError) as denied:
            backups.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL)
        assert denied.value.status_code == 403
    results = {(e.operation, e.result) for e in adm.vault.audit.events(principal="app:monitor")}
    assert {("SettingsList", "success"), ("SettingUpdate", "Forbidden")} <= results
    assert {("RoleDefinitionSet", "Forbidden"), ("VaultFullBackup", "Forbidden")} <= results
