"""Secrets routes: ``/secrets``, ``/deletedsecrets`` (SecretBundle, SecretItem, DeletedSecretBundle)."""

from __future__ import annotations

from typing import Any

from vaultcore.engine._models import DeletedSecret, KeyVaultSecret, SecretProperties
from vaultcore.exceptions import InvalidParameterError

from ._wire import (
    Call,
    Reply,
    RouteSpec,
    attributes_json,
    b64u,
    obj,
    opt_bool,
    opt_str,
    opt_tags,
    opt_time,
    page,
    page_of,
    sort_key,
    time_changes,
    ts,
    unb64u,
)

__all__ = ["ROUTES"]


def _props(call: Call, p: SecretProperties, *, item: bool = False, versioned: bool = True) -> dict[str, Any]:
    ident = call.rebase(p.id) if versioned else call.rebase_unversioned(p.id)
    out: dict[str, Any] = {"id": ident, "attributes": attributes_json(p)}
    if p.content_type is not None:
        out["contentType"] = p.content_type
    if p.tags:
        out["tags"] = dict(p.tags)
    if p.key_id and not item:
        out["kid"] = call.rebase(p.key_id)
    if p.managed:
        out["managed"] = True
    return out


def _bundle(call: Call, secret: KeyVaultSecret) -> dict[str, Any]:
    return {"value": secret.value, **_props(call, secret.properties)}


def _deleted(call: Call, d: DeletedSecret, *, item: bool = False) -> dict[str, Any]:
    out = _props(call, d.properties, item=item, versioned=not item)
    out["recoveryId"] = call.url(f"/deletedsecrets/{d.name}")
    if d.deleted_date is not None:
        out["deletedDate"] = ts(d.deleted_date)
    if d.scheduled_purge_date is not None:
        out["scheduledPurgeDate"] = ts(d.scheduled_purge_date)
    return out


def set_secret(call: Call) -> Reply:
    body = call.body
    value = body.get("value")
    if not isinstance(value, str):
        raise InvalidParameterError("value must be a string")
    attributes = obj(body, "attributes")
    secret = call.vault.secrets.set_secret(
        call.param("name"),
        value,
        enabled=opt_bool(attributes, "enabled"),
        tags=opt_tags(body),
        content_type=opt_str(body, "contentType"),
        not_before=opt_time(attributes, "nbf"),
        expires_on=opt_time(attributes, "exp"),
    )
    return Reply(_bundle(call, secret))


def get_secret(call: Call) -> Reply:
    out = call.query.get("outContentType") or None
    return Reply(_bundle(call, call.vault.secrets.get_secret(call.param("name"), call.version(), out_content_type=out)))


def update_secret(call: Call) -> Reply:
    body = call.body
    attributes = obj(body, "attributes")
    kwargs: dict[str, Any] = time_changes(attributes)
    if "contentType" in body:
        kwargs["content_type"] = opt_str(body, "contentType")
    props = call.vault.secrets.update_secret_properties(
        call.param("name"),
        call.version(),
        enabled=opt_bool(attributes, "enabled"),
        tags=opt_tags(body),
        **kwargs,
    )
    return Reply(_props(call, props))


def list_secrets(call: Call) -> Reply:
    return page_of(
        call,
        call.vault.secrets.list_properties_of_secrets,
        sort_key,
        lambda p: _props(call, p, item=True, versioned=False),
    )


def list_versions(call: Call) -> Reply:
    items = list(call.vault.secrets.list_properties_of_secret_versions(call.param("name")))
    return page(call, items, sort_key, lambda p: _props(call, p, item=True))


def delete_secret(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.secrets.delete_secret(call.param("name"))))


def get_deleted(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.secrets.get_deleted_secret(call.param("name"))))


def list_deleted(call: Call) -> Reply:
    return page_of(
        call,
        call.vault.secrets.list_deleted_secrets,
        lambda d: sort_key(d.properties),
        lambda d: _deleted(call, d, item=True),
    )


def recover(call: Call) -> Reply:
    props = call.vault.secrets.recover_deleted_secret(call.param("name"))
    return Reply(_props(call, props))


def purge(call: Call) -> Reply:
    call.vault.secrets.purge_deleted_secret(call.param("name"))
    return Reply(None, 204)


def backup(call: Call) -> Reply:
    return Reply({"value": b64u(call.vault.secrets.backup_secret(call.param("name")))})


def restore(call: Call) -> Reply:
    blob = unb64u(call.body.get("value"), "value")
    return Reply(_props(call, call.vault.secrets.restore_secret_backup(blob)))


R = RouteSpec
ROUTES = [
    R("GET", "/secrets", list_secrets),
    R("POST", "/secrets/restore", restore),
    R("PUT", "/secrets/{name}", set_secret),
    R("DELETE", "/secrets/{name}", delete_secret),
    R("GET", "/secrets/{name}", get_secret),
    R("GET", "/secrets/{name}/versions", list_versions),
    R("POST", "/secrets/{name}/backup", backup),
    R("GET", "/secrets/{name}/{version?}", get_secret),
    R("PATCH", "/secrets/{name}/{version?}", update_secret),
    R("GET", "/deletedsecrets", list_deleted),
    R("GET", "/deletedsecrets/{name}", get_deleted),
    R("DELETE", "/deletedsecrets/{name}", purge),
    R("POST", "/deletedsecrets/{name}/recover", recover),
]
