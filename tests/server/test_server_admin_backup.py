"""Full backup and restore over REST (``KeyVaultBackupClient``), sync and async.

The official backup/restore sample backs up to a container and restores the folder it got
into the same vault; the end-to-end test takes a full backup of a populated vault over REST
and restores it into a fresh vault of the same security domain.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.keyvault.administration import KeyVaultBackupClient
from azure.keyvault.administration.aio import KeyVaultBackupClient as AsyncBackupClient
from serverhelpers import POLL, Server

from vaultcore import KDF_TESTING, CertificateContact, CertificatePolicy, Permission, RawKeyCredential, Vault
from vaultcore.server import AsyncServerCredential, BackgroundServer, ensure_local_tls
from vaultcore.testing import AkvServer

CONTAINER_URL = "https://acct.blob.core.windows.net/backups"


def _vault(path: Path, **kwargs: object) -> Vault:
    return Vault.create(path, RawKeyCredential(os.urandom(32)), access_kdf=KDF_TESTING, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def empty(tmp_path: Path, tls_dir: Path) -> Iterator[Server]:
    """A served vault with one administrator principal and no objects, with a backup dir."""
    vault = _vault(tmp_path / "vault", name="sample")
    app = vault.access.create_application("ci")
    vault.access.assign_role(app.principal.id, "Key Vault Administrator")
    server = BackgroundServer(vault, ensure_local_tls(tls_dir), backup_dir=tmp_path / "backups").start()
    try:
        yield Server(server, vault, {"ci": app.client_secret})
    finally:
        server.stop()
        vault.close()


def test_sample_backup_restore_sync(empty: Server, tmp_path: Path) -> None:
    with empty.client(KeyVaultBackupClient) as client:
        backup_result = client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL).result()
        folder_url = backup_result.folder_url
        assert folder_url and folder_url.startswith(CONTAINER_URL + "/mhsm-sample-")
        client.begin_restore(folder_url, use_managed_identity=True, **POLL).wait()
    folder = tmp_path / "backups" / "backups" / folder_url.rsplit("/", 1)[1]
    blob = folder / "vaultcore-full-backup.bin"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700  # the container directory too
    operations = {e.operation for e in empty.vault.audit.events(principal="app:ci")}
    assert {"VaultFullBackup", "VaultFullRestore", "BackupStatusGet", "RestoreStatusGet"} <= operations


def test_sample_backup_restore_async(empty: Server) -> None:
    async def run() -> None:
        credential = AsyncServerCredential(empty.url, "ci", empty.secrets["ci"], ca_path=empty.ca_path)
        client = AsyncBackupClient(empty.url, credential, **empty.server.client_kwargs)
        backup_poller = await client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL)
        backup_result = await backup_poller.result()
        assert backup_result.folder_url
        restore_poller = await client.begin_restore(backup_result.folder_url, use_managed_identity=True, **POLL)
        await restore_poller.wait()
        await credential.close()
        await client.close()

    asyncio.run(run())


def test_polling_details_continuation_and_host(empty: Server) -> None:
    with empty.client(KeyVaultBackupClient) as client:
        poller = client.begin_backup(CONTAINER_URL, "sv=2020&sig=ignored", **POLL)
        first = poller.result()
        assert first.folder_url
        # A rehydrated poller first GETs /backup/{id}/pending?api-version=...: the finished job
        # is still there. (azure-core 1.41 cannot rehydrate an LRO that has already finished:
        # its token response has no body; that is the client's limitation, not the wire's.)
        status_url = poller.polling_method()._operation.get_polling_url()
        job = status_url.split("/")[-2]
        rehydrated = empty.request("GET", f"/backup/{job}/pending")
        assert rehydrated.status == 200 and rehydrated.body["azureStorageBlobContainerUri"] == first.folder_url
        client.begin_pre_backup(CONTAINER_URL, use_managed_identity=True, **POLL).wait()
        client.begin_pre_restore(first.folder_url, use_managed_identity=True, **POLL).wait()
    # Azure-AsyncOperation is built from the Host the client used
    started = empty.request(
        "POST",
        "/backup",
        {"storageResourceUri": CONTAINER_URL, "useManagedIdentity": True},
        headers={"Host": f"127.0.0.1:{empty.server.port}"},
    )
    assert started.status == 202 and started.body["status"] == "InProgress"
    link = started.headers["azure-asyncoperation"]
    assert link == f"https://127.0.0.1:{empty.server.port}/backup/{started.body['jobId']}/pending"
    polled = empty.request("GET", link.split(str(empty.server.port), 1)[1], api_version=None)
    assert polled.status == 200 and polled.body["status"] == "Succeeded" and polled.body["endTime"]
    missing = empty.request("GET", "/restore/nosuchjob/pending", api_version=None)
    assert missing.status == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.blob.core.windows.net/../outside",
        "https://acct.blob.core.windows.net/a/./b",
        "https://acct.blob.core.windows.net/",
        "file:///etc",
        "not a url",
    ],
)
def test_container_urls_outside_the_backup_dir_are_refused(empty: Server, url: str) -> None:
    refused = empty.request("POST", "/backup", {"storageResourceUri": url, "useManagedIdentity": True})
    assert refused.status == 400 and refused.body["error"]["code"] == "BadParameter"
    escaped = empty.request(
        "PUT",
        "/restore",
        {"sasTokenParameters": {"storageResourceUri": CONTAINER_URL}, "folderToRestore": "../../etc"},
    )
    assert escaped.status == 400


def test_restore_needs_an_empty_vault_of_the_same_domain(empty: Server, tmp_path: Path, tls_dir: Path) -> None:
    with empty.client(KeyVaultBackupClient) as client:
        folder_url = client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL).result().folder_url
        empty.vault.secrets.set_secret("now-not-empty", "x")
        with pytest.raises(ResourceExistsError):
            client.begin_restore(folder_url, use_managed_identity=True, **POLL)
    other = _vault(tmp_path / "other", name="other")
    server = BackgroundServer(other, ensure_local_tls(tls_dir), backup_dir=tmp_path / "backups").start()
    try:
        with KeyVaultBackupClient(server.url, server.admin_credential(), **server.client_kwargs) as client:
            with pytest.raises(HttpResponseError) as refused:
                client.begin_restore(folder_url, use_managed_identity=True, **POLL)
            assert refused.value.status_code == 403
    finally:
        server.stop()
        other.close()


def test_no_backup_dir_means_no_backups(tmp_path: Path, tls_dir: Path) -> None:
    vault = _vault(tmp_path / "v")
    server = BackgroundServer(vault, ensure_local_tls(tls_dir)).start()
    try:
        raw = Server(server, vault, {})
        refused = raw.request("POST", "/backup", {"storageResourceUri": CONTAINER_URL}, token=server.admin_token())
        assert refused.status == 400 and "--backup-dir" in refused.body["error"]["message"]
    finally:
        server.stop()
        vault.close()


def _populate(vault: Vault) -> dict[str, object]:
    vault.secrets.set_secret("db-password", "one")
    vault.secrets.set_secret("db-password", "two")
    vault.secrets.set_secret("api-token", "t")
    vault.keys.create_rsa_key("signing")
    vault.keys.create_ec_key("ec-key")
    vault.certificates.create_certificate("web", CertificatePolicy.get_default())
    vault.certificates.set_contacts([CertificateContact(email="ops@example.com", name="Ops")])
    vault.certificates.create_issuer("my-ca", "Test", account_id="acct", password="issuer-pw")
    role = vault.access.set_role_definition(
        "db reader", permissions=[Permission.build(data_actions=["Microsoft.KeyVault/vaults/secrets/getSecret/action"])]
    )
    app = vault.access.create_application("billing")
    vault.access.assign_role(app.principal.id, role.id, "/secrets/db-password")
    vault.access.assign_role(app.principal.id, "Key Vault Reader", "/keys")
    return {"secret": app.client_secret}


def test_full_backup_over_rest_restores_into_a_fresh_vault_of_the_same_domain(tmp_path: Path, tls_dir: Path) -> None:
    source = _vault(tmp_path / "source", name="source")
    made = _populate(source)
    domain = source.export_security_domain("domain passphrase", kdf=KDF_TESTING)
    backups = tmp_path / "backups"
    server = BackgroundServer(source, ensure_local_tls(tls_dir), backup_dir=backups).start()
    try:
        with KeyVaultBackupClient(server.url, server.admin_credential(), **server.client_kwargs) as client:
            folder_url = client.begin_backup(CONTAINER_URL, "sas-token", **POLL).result().folder_url
    finally:
        server.stop()

    fresh = _vault(tmp_path / "fresh", name="fresh", security_domain=(domain, "domain passphrase"))
    server = BackgroundServer(fresh, ensure_local_tls(tls_dir), backup_dir=backups).start()
    try:
        with KeyVaultBackupClient(server.url, server.admin_credential(), **server.client_kwargs) as client:
            client.begin_restore(folder_url, "sas-token", **POLL).wait()
    finally:
        server.stop()

    def versions(vault: Vault, name: str) -> list[str]:
        return sorted(p.version for p in vault.secrets.list_properties_of_secret_versions(name))

    assert {p.name for p in fresh.secrets.list_properties_of_secrets()} == {
        p.name for p in source.secrets.list_properties_of_secrets()
    }
    assert fresh.secrets.get_secret("db-password").value == "two"
    assert versions(fresh, "db-password") == versions(source, "db-password")
    for key in ("signing", "ec-key"):
        restored, original = fresh.keys.get_key(key), source.keys.get_key(key)
        assert restored.properties.version == original.properties.version
        assert (restored.key.n, restored.key.x) == (original.key.n, original.key.x)
    message = b"signed before, verified after"
    digest = hashlib.sha256(message).digest()
    signature = source.keys.get_cryptography_client("signing").sign("RS256", digest).signature
    assert fresh.keys.get_cryptography_client("signing").verify("RS256", digest, signature).is_valid
    assert fresh.certificates.get_certificate("web").cer == source.certificates.get_certificate("web").cer
    assert fresh.certificates.get_contacts() == source.certificates.get_contacts()
    assert fresh.certificates.get_issuer("my-ca").account_id == "acct"

    def assignments(vault: Vault) -> set[tuple[str, str, str, str]]:
        return {(a.id, a.principal_id, a.role_definition_id, a.scope) for a in vault.access.list_role_assignments()}

    assert assignments(fresh) == assignments(source) and len(assignments(fresh)) == 2
    assert [d.role_name for d in fresh.access.list_role_definitions() if not d.is_builtin] == ["db reader"]
    billing = fresh.as_principal("billing", str(made["secret"]))
    assert billing.secrets.get_secret("db-password").value == "two"
    fresh.close()
    source.close()


def test_selective_key_restore(empty: Server) -> None:
    empty.vault.keys.create_rsa_key("picked")
    empty.vault.secrets.set_secret("other", "x")
    with empty.client(KeyVaultBackupClient) as client:
        folder_url = client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL).result().folder_url
        original = empty.vault.keys.get_key("picked").key
        empty.vault.keys.delete_key("picked")
        empty.vault.keys.purge_deleted_key("picked")
        client.begin_restore(folder_url, use_managed_identity=True, key_name="picked", **POLL).wait()
        assert empty.vault.keys.get_key("picked").key == original
        with pytest.raises(ResourceExistsError):
            client.begin_restore(folder_url, use_managed_identity=True, key_name="picked", **POLL)


def test_akv_server_fixture_serves_backups(akv_server: AkvServer) -> None:
    assert akv_server.backup_dir is not None
    with KeyVaultBackupClient(akv_server.url, akv_server.credential, **akv_server.client_kwargs) as client:
        folder_url = client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL).result().folder_url
        client.begin_restore(folder_url, use_managed_identity=True, **POLL).wait()
    assert any(Path(akv_server.backup_dir, "backups").iterdir())


def test_an_unwritable_backup_dir_fails_the_job_with_an_error(tmp_path: Path, tls_dir: Path) -> None:
    vault = _vault(tmp_path / "v")
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    server = BackgroundServer(vault, ensure_local_tls(tls_dir), backup_dir=blocked).start()
    try:
        with KeyVaultBackupClient(server.url, server.admin_credential(), **server.client_kwargs) as client:
            poller = client.begin_backup(CONTAINER_URL, use_managed_identity=True, **POLL)
            with pytest.raises(HttpResponseError) as failed:
                poller.result()
            assert failed.value.error is not None and failed.value.error.code == "StorageError"
            assert poller.status().lower() == "failed"
    finally:
        server.stop()
        vault.close()
