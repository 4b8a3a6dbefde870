"""Secrets through the official azure-keyvault-secrets client against the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from serverhelpers import POLL, Server, unique

# long enough that it cannot turn up by chance in random ciphertext
SECOND = "second-value-5b1e9c0d"


def test_secret_lifecycle(srv: Server) -> None:
    name = unique("s")
    with srv.client(SecretClient) as client:
        first = client.set_secret(name, "v1", content_type="text/plain", tags={"env": "test"})
        assert first.value == "v1"
        assert first.id.startswith(f"{srv.url}/secrets/{name}/")
        assert first.properties.content_type == "text/plain"
        assert first.properties.tags == {"env": "test"}
        assert first.properties.enabled is True
        assert first.properties.recovery_level == "Recoverable+Purgeable"
        assert first.properties.recoverable_days == 90
        assert isinstance(first.properties.created_on, datetime)
        second = client.set_secret(name, SECOND)

        assert client.get_secret(name).value == SECOND
        assert client.get_secret(name, first.properties.version).value == "v1"
        assert name in {p.name for p in client.list_properties_of_secrets()}
        versions = {p.version for p in client.list_properties_of_secret_versions(name)}
        assert versions == {first.properties.version, second.properties.version}

        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        updated = client.update_secret_properties(
            name, first.properties.version, enabled=False, expires_on=expires, tags={"a": "b"}
        )
        assert updated.enabled is False and updated.expires_on == expires and updated.tags == {"a": "b"}
        with pytest.raises(HttpResponseError) as disabled:
            client.get_secret(name, first.properties.version)
        assert disabled.value.status_code == 403
        assert disabled.value.error is not None and disabled.value.error.code == "Forbidden"

        deleted = client.begin_delete_secret(name, **POLL).result()
        assert deleted.name == name
        assert deleted.recovery_id == f"{srv.url}/deletedsecrets/{name}"
        assert deleted.deleted_date is not None and deleted.scheduled_purge_date is not None
        assert client.get_deleted_secret(name).name == name
        assert name in {d.name for d in client.list_deleted_secrets()}
        with pytest.raises(ResourceNotFoundError):
            client.get_secret(name)
        with pytest.raises(ResourceExistsError) as conflict:
            client.set_secret(name, "while deleted")
        assert conflict.value.status_code == 409

        recovered = client.begin_recover_deleted_secret(name, **POLL).result()
        assert recovered.name == name
        assert client.get_secret(name).value == SECOND

        backup = client.backup_secret(name)
        assert isinstance(backup, bytes) and SECOND.encode() not in backup
        client.begin_delete_secret(name, **POLL).wait()
        client.purge_deleted_secret(name)
        with pytest.raises(ResourceNotFoundError):
            client.get_deleted_secret(name)
        restored = client.restore_secret_backup(backup)
        assert restored.name == name
        assert client.get_secret(name).value == SECOND
        restored_versions = list(client.list_properties_of_secret_versions(name))
        assert {p.version: p.enabled for p in restored_versions} == {
            first.properties.version: False,
            second.properties.version: True,
        }
    # the vault itself sees what the SDK did
    assert srv.vault.secrets.get_secret(name).value == SECOND


def test_list_pages_follow_absolute_next_links(srv: Server) -> None:
    prefix = unique("page")
    names = {f"{prefix}-{i}" for i in range(7)}
    srv.vault.secrets.set_secrets(dict.fromkeys(names, "x"))
    with srv.client(SecretClient) as client:
        pages = list(client.list_properties_of_secrets(max_page_size=3).by_page())
        seen = [p.name for page in pages for p in page]
    assert len(pages) >= 3
    assert names <= set(seen)
    assert len(seen) == len(set(seen))  # no item twice across pages
    raw = srv.request("GET", "/secrets?maxresults=2")
    assert raw.status == 200 and len(raw.body["value"]) == 2
    assert raw.body["nextLink"].startswith(f"{srv.url}/secrets?")
    assert all("value" not in item for item in raw.body["value"])  # list items carry no value


def test_missing_and_bad_requests_map_to_sdk_errors(srv: Server) -> None:
    with srv.client(SecretClient) as client:
        with pytest.raises(ResourceNotFoundError) as missing:
            client.get_secret(unique("missing"))
        assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"
        with pytest.raises(ResourceNotFoundError):
            client.begin_delete_secret(unique("missing"), **POLL)
        with pytest.raises(HttpResponseError) as bad:
            client.set_secret("bad_name!", "x")
        assert bad.value.status_code == 400
        with pytest.raises(HttpResponseError) as too_big:
            client.set_secret(unique("big"), "x" * (26 * 1024))
        assert too_big.value.status_code == 400 and too_big.value.error.code == "BadParameter"


def test_secrets_user_reads_but_cannot_set(srv: Server) -> None:
    name = unique("ro")
    srv.vault.secrets.set_secret(name, "readable")
    with srv.client(SecretClient, "reader") as client:
        assert client.get_secret(name).value == "readable"
        with pytest.raises(HttpResponseError) as denied:
            client.set_secret(name, "nope")
        assert denied.value.status_code == 403
        assert denied.value.error is not None and denied.value.error.code == "Forbidden"
    assert srv.vault.secrets.get_secret(name).value == "readable"
    events = srv.vault.audit.events(principal="app:reader", operation="SecretSet")
    assert events and events[-1].result == "Forbidden"
    assert events[-1].caller.get("remote") == "127.0.0.1"
