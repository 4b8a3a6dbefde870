"""Keys routes: ``/keys``, ``/deletedkeys``, key operations, rotation and ``/rng``.

Responses carry public key material only (``n, e`` or ``crv, x, y``; nothing for ``oct``):
the Azure SDK's CryptographyClient then does locally what a public key allows (encrypt,
verify, wrap with RSA) and calls the server for the rest.
"""

from __future__ import annotations

from typing import Any

from vaultcore.exceptions import InvalidParameterError, UnsupportedError
from vaultcore.keys._crypto_client import CryptographyClient
from vaultcore.keys._models import DeletedKey, JsonWebKey, KeyProperties, KeyRotationPolicy, KeyVaultKey

from ._wire import (
    Call,
    Reply,
    RouteSpec,
    attributes_json,
    b64u,
    drop_none,
    obj,
    opt_bool,
    opt_int,
    opt_str,
    opt_strings,
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

_PUBLIC_MEMBERS = ("kid", "kty", "key_ops", "n", "e", "crv", "x", "y")


def _jwk(call: Call, key: JsonWebKey) -> dict[str, Any]:
    full = key.to_dict()
    out = {name: full[name] for name in _PUBLIC_MEMBERS if name in full}
    out["kid"] = call.rebase(key.kid)
    return out


def _attributes(p: KeyProperties) -> dict[str, Any]:
    extra: dict[str, Any] = {"exportable": bool(p.exportable)}
    if p.hsm_platform is not None:
        extra["hsmPlatform"] = p.hsm_platform
    return attributes_json(p, **extra)


def _common(p: KeyProperties) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": _attributes(p)}
    if p.tags:
        out["tags"] = dict(p.tags)
    if p.managed:
        out["managed"] = True
    return out


def _item(call: Call, p: KeyProperties, *, versioned: bool = True) -> dict[str, Any]:
    """A KeyItem; latest-version and deleted lists carry unversioned ids, as Azure's do."""
    return {"kid": call.rebase(p.id) if versioned else call.rebase_unversioned(p.id), **_common(p)}


def _bundle(call: Call, key: KeyVaultKey) -> dict[str, Any]:
    return {"key": _jwk(call, key.key), **_common(key.properties)}


def _deleted(call: Call, d: DeletedKey, *, item: bool = False) -> dict[str, Any]:
    out = _item(call, d.properties, versioned=False) if item else _bundle(call, KeyVaultKey(d.properties, d.key))
    out["recoveryId"] = call.url(f"/deletedkeys/{d.name}")
    if d.deleted_date is not None:
        out["deletedDate"] = ts(d.deleted_date)
    if d.scheduled_purge_date is not None:
        out["scheduledPurgeDate"] = ts(d.scheduled_purge_date)
    return out


def _no_release_policy(body: dict[str, Any]) -> None:
    if body.get("release_policy") is not None:
        raise UnsupportedError("key release policies (secure key release) are not supported by vaultcore")


def create_key(call: Call) -> Reply:
    body = call.body
    _no_release_policy(body)
    kty = opt_str(body, "kty")
    if not kty:
        raise InvalidParameterError("kty is required")
    attributes = obj(body, "attributes")
    key = call.vault.keys.create_key(
        call.param("name"),
        kty,
        size=opt_int(body, "key_size"),
        curve=opt_str(body, "crv"),
        key_operations=opt_strings(body, "key_ops"),
        public_exponent=opt_int(body, "public_exponent"),
        enabled=opt_bool(attributes, "enabled"),
        not_before=opt_time(attributes, "nbf"),
        expires_on=opt_time(attributes, "exp"),
        tags=opt_tags(body),
        exportable=opt_bool(attributes, "exportable"),
    )
    return Reply(_bundle(call, key))


def import_key(call: Call) -> Reply:
    body = call.body
    _no_release_policy(body)
    jwk = obj(body, "key")
    if not jwk:
        raise InvalidParameterError("key (a JSON Web Key with its private members) is required")
    attributes = obj(body, "attributes")
    key = call.vault.keys.import_key(
        call.param("name"),
        jwk,
        hardware_protected=bool(opt_bool(body, "Hsm")),
        enabled=opt_bool(attributes, "enabled"),
        not_before=opt_time(attributes, "nbf"),
        expires_on=opt_time(attributes, "exp"),
        tags=opt_tags(body),
        exportable=opt_bool(attributes, "exportable"),
    )
    return Reply(_bundle(call, key))


def get_key(call: Call) -> Reply:
    return Reply(_bundle(call, call.vault.keys.get_key(call.param("name"), call.version())))


def update_key(call: Call) -> Reply:
    body = call.body
    _no_release_policy(body)
    attributes = obj(body, "attributes")
    key = call.vault.keys.update_key_properties(
        call.param("name"),
        call.version(),
        enabled=opt_bool(attributes, "enabled"),
        key_operations=opt_strings(body, "key_ops"),
        tags=opt_tags(body),
        **time_changes(attributes),
    )
    return Reply(_bundle(call, key))


def list_keys(call: Call) -> Reply:
    return page_of(call, call.vault.keys.list_properties_of_keys, sort_key, lambda p: _item(call, p, versioned=False))


def list_versions(call: Call) -> Reply:
    items = list(call.vault.keys.list_properties_of_key_versions(call.param("name")))
    return page(call, items, sort_key, lambda p: _item(call, p))


def delete_key(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.keys.delete_key(call.param("name"))))


def get_deleted(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.keys.get_deleted_key(call.param("name"))))


def list_deleted(call: Call) -> Reply:
    return page_of(
        call,
        call.vault.keys.list_deleted_keys,
        lambda d: sort_key(d.properties),
        lambda d: _deleted(call, d, item=True),
    )


def recover(call: Call) -> Reply:
    return Reply(_bundle(call, call.vault.keys.recover_deleted_key(call.param("name"))))


def purge(call: Call) -> Reply:
    call.vault.keys.purge_deleted_key(call.param("name"))
    return Reply(None, 204)


def backup(call: Call) -> Reply:
    return Reply({"value": b64u(call.vault.keys.backup_key(call.param("name")))})


def restore(call: Call) -> Reply:
    blob = unb64u(call.body.get("value"), "value")
    return Reply(_bundle(call, call.vault.keys.restore_key_backup(blob)))


def rotate(call: Call) -> Reply:
    return Reply(_bundle(call, call.vault.keys.rotate_key(call.param("name"))))


# -- rotation policy ---------------------------------------------------------------------


def _policy(call: Call, policy: KeyRotationPolicy) -> dict[str, Any]:
    actions = []
    for action in policy.lifetime_actions:
        trigger = drop_none(
            {"timeAfterCreate": action.time_after_create, "timeBeforeExpiry": action.time_before_expiry}
        )
        actions.append({"trigger": trigger, "action": {"type": action.action}})
    attributes = drop_none(
        {"expiryTime": policy.expires_in, "created": ts(policy.created_on), "updated": ts(policy.updated_on)}
    )
    return {"id": call.rebase(policy.id), "lifetimeActions": actions, "attributes": attributes}


def get_rotation_policy(call: Call) -> Reply:
    return Reply(_policy(call, call.vault.keys.get_key_rotation_policy(call.param("name"))))


def set_rotation_policy(call: Call) -> Reply:
    body = call.body
    raw_actions = body.get("lifetimeActions") or []
    if not isinstance(raw_actions, list):
        raise InvalidParameterError("lifetimeActions must be a list")
    actions = []
    for raw in raw_actions:
        if not isinstance(raw, dict):
            raise InvalidParameterError("each lifetime action must be a JSON object")
        trigger, action = obj(raw, "trigger"), obj(raw, "action")
        actions.append(
            {
                "action": opt_str(action, "type") or "",
                "time_after_create": opt_str(trigger, "timeAfterCreate"),
                "time_before_expiry": opt_str(trigger, "timeBeforeExpiry"),
            }
        )
    expires_in = opt_str(obj(body, "attributes"), "expiryTime")
    policy = call.vault.keys.update_key_rotation_policy(
        call.param("name"), lifetime_actions=actions, expires_in=expires_in
    )
    return Reply(_policy(call, policy))


# -- cryptographic operations ------------------------------------------------------------


def _alg(body: dict[str, Any]) -> str:
    alg = opt_str(body, "alg")
    if not alg:
        raise InvalidParameterError("alg is required")
    return alg


def _opt_bytes(body: dict[str, Any], key: str) -> bytes | None:
    return None if body.get(key) is None else unb64u(body[key], key)


def _crypto(call: Call) -> CryptographyClient:
    return call.vault.keys.get_cryptography_client(call.param("name"), call.version())


def encrypt(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).encrypt(
        _alg(body),
        unb64u(body.get("value"), "value"),
        iv=_opt_bytes(body, "iv"),
        additional_authenticated_data=_opt_bytes(body, "aad"),
    )
    out = {"kid": call.rebase(result.key_id), "value": b64u(result.ciphertext)}
    for name, data in (
        ("iv", result.iv),
        ("tag", result.authentication_tag),
        ("aad", result.additional_authenticated_data),
    ):
        if data is not None:
            out[name] = b64u(data)
    return Reply(out)


def decrypt(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).decrypt(
        _alg(body),
        unb64u(body.get("value"), "value"),
        iv=_opt_bytes(body, "iv"),
        authentication_tag=_opt_bytes(body, "tag"),
        additional_authenticated_data=_opt_bytes(body, "aad"),
    )
    return Reply({"kid": call.rebase(result.key_id), "value": b64u(result.plaintext)})


def wrap_key(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).wrap_key(_alg(body), unb64u(body.get("value"), "value"))
    return Reply({"kid": call.rebase(result.key_id), "value": b64u(result.encrypted_key)})


def unwrap_key(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).unwrap_key(_alg(body), unb64u(body.get("value"), "value"))
    return Reply({"kid": call.rebase(result.key_id), "value": b64u(result.key)})


def sign(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).sign(_alg(body), unb64u(body.get("value"), "value"))
    return Reply({"kid": call.rebase(result.key_id), "value": b64u(result.signature)})


def verify(call: Call) -> Reply:
    body = call.body
    result = _crypto(call).verify(_alg(body), unb64u(body.get("digest"), "digest"), unb64u(body.get("value"), "value"))
    return Reply({"value": bool(result.is_valid)})


def random_bytes(call: Call) -> Reply:
    count = opt_int(call.body, "count")
    if count is None:
        raise InvalidParameterError("count is required")
    return Reply({"value": b64u(call.vault.keys.get_random_bytes(count))})


R = RouteSpec
ROUTES = [
    R("GET", "/keys", list_keys),
    R("POST", "/keys/restore", restore),
    R("POST", "/rng", random_bytes),
    R("PUT", "/keys/{name}", import_key),
    R("DELETE", "/keys/{name}", delete_key),
    R("GET", "/keys/{name}", get_key),
    R("POST", "/keys/{name}/create", create_key),
    R("POST", "/keys/{name}/rotate", rotate),
    R("POST", "/keys/{name}/backup", backup),
    R("GET", "/keys/{name}/versions", list_versions),
    R("GET", "/keys/{name}/rotationpolicy", get_rotation_policy),
    R("PUT", "/keys/{name}/rotationpolicy", set_rotation_policy),
    R("GET", "/keys/{name}/{version?}", get_key),
    R("PATCH", "/keys/{name}/{version?}", update_key),
    R("POST", "/keys/{name}/{version?}/encrypt", encrypt),
    R("POST", "/keys/{name}/{version?}/decrypt", decrypt),
    R("POST", "/keys/{name}/{version?}/wrapkey", wrap_key),
    R("POST", "/keys/{name}/{version?}/unwrapkey", unwrap_key),
    R("POST", "/keys/{name}/{version?}/sign", sign),
    R("POST", "/keys/{name}/{version?}/verify", verify),
    R("GET", "/deletedkeys", list_deleted),
    R("GET", "/deletedkeys/{name}", get_deleted),
    R("DELETE", "/deletedkeys/{name}", purge),
    R("POST", "/deletedkeys/{name}/recover", recover),
]
