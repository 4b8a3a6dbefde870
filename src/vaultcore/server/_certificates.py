"""Certificates routes: ``/certificates`` (+ policy, pending, contacts, issuers) and ``/deletedcertificates``.

``create`` answers **202** with the CertificateOperation (``inProgress``); for issuer
``Self`` the vault has already issued the version, so the SDK poller's first
``GET .../pending`` says ``completed``. ``merge`` answers **201**. ``cer``, ``csr`` and
``x5c`` are standard base64; the import ``value`` is base64 of a PFX or a PEM.
"""

from __future__ import annotations

from typing import Any

from vaultcore.certificates._models import CertificateProperties, DeletedCertificate, KeyVaultCertificate
from vaultcore.certificates._policy import (
    AdministratorContact,
    CertificateContact,
    CertificateIssuer,
    CertificateOperation,
    CertificatePolicy,
)
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
    page,
    page_of,
    query_bool,
    sort_key,
    ts,
    unb64,
    unb64u,
)

__all__ = ["ROUTES"]


def _policy_json(call: Call, name: str, policy: CertificatePolicy) -> dict[str, Any]:
    return {"id": call.url(f"/certificates/{name}/policy"), **policy.to_dict()}


def _item(call: Call, p: CertificateProperties, *, versioned: bool = True) -> dict[str, Any]:
    """A CertificateItem; latest-version and deleted lists carry unversioned ids, as Azure's do."""
    ident = call.rebase(p.id) if versioned else call.rebase_unversioned(p.id)
    out: dict[str, Any] = {"id": ident, "attributes": attributes_json(p)}
    if p.tags:
        out["tags"] = dict(p.tags)
    if p.x509_thumbprint is not None:
        out["x5t"] = b64u(p.x509_thumbprint)
    return out


def _bundle(call: Call, cert: KeyVaultCertificate | DeletedCertificate) -> dict[str, Any]:
    import base64

    out = _item(call, cert.properties)
    out["kid"] = call.rebase(cert.key_id)
    out["sid"] = call.rebase(cert.secret_id)
    out["cer"] = base64.b64encode(cert.cer).decode("ascii")
    if cert.properties.preserve_order is not None:
        out["preserveCertOrder"] = cert.properties.preserve_order
    if cert.policy is not None:
        out["policy"] = _policy_json(call, cert.name, cert.policy)
        if cert.policy.content_type is not None:
            out["contentType"] = str(cert.policy.content_type)
    return out


def _deleted(call: Call, d: DeletedCertificate, *, item: bool = False) -> dict[str, Any]:
    out = _item(call, d.properties, versioned=False) if item else _bundle(call, d)
    out["recoveryId"] = call.url(f"/deletedcertificates/{d.name}")
    if d.deleted_on is not None:
        out["deletedDate"] = ts(d.deleted_on)
    if d.scheduled_purge_date is not None:
        out["scheduledPurgeDate"] = ts(d.scheduled_purge_date)
    return out


def _operation(call: Call, op: CertificateOperation) -> dict[str, Any]:
    out = op.to_dict()
    out["id"] = call.url(f"/certificates/{op.name}/pending")
    if op.target is not None:
        out["target"] = call.rebase(op.target)
    return out


def _opt_policy(body: dict[str, Any]) -> CertificatePolicy | None:
    raw = body.get("policy")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParameterError("policy must be a JSON object")
    return CertificatePolicy.from_dict(raw)


# -- certificates ------------------------------------------------------------------------


def create(call: Call) -> Reply:
    body = call.body
    name = call.param("name")
    op = call.vault.certificates.create_certificate(
        name,
        _opt_policy(body),
        enabled=opt_bool(obj(body, "attributes"), "enabled"),
        tags=opt_tags(body),
    )
    location = call.url(f"/certificates/{op.name}/pending")
    return Reply(_operation(call, op), 202, {"Location": location, "Retry-After": "0"})


def import_certificate(call: Call) -> Reply:
    body = call.body
    value = opt_str(body, "value")
    if not value:
        raise InvalidParameterError("value (the base64 PFX or PEM) is required")
    cert = call.vault.certificates.import_certificate(
        call.param("name"),
        value.encode("ascii", "replace"),
        password=opt_str(body, "pwd"),
        policy=_opt_policy(body),
        enabled=opt_bool(obj(body, "attributes"), "enabled"),
        tags=opt_tags(body),
        preserve_order=opt_bool(body, "preserveCertOrder"),
    )
    return Reply(_bundle(call, cert))


def get_certificate(call: Call) -> Reply:
    certs, name, version = call.vault.certificates, call.param("name"), call.version()
    cert = certs.get_certificate(name) if version is None else certs.get_certificate_version(name, version)
    return Reply(_bundle(call, cert))


def update_certificate(call: Call) -> Reply:
    body = call.body
    certs, name = call.vault.certificates, call.param("name")
    policy = _opt_policy(body)
    if policy is not None:
        certs.update_certificate_policy(name, policy)
    cert = certs.update_certificate_properties(
        name, call.version(), enabled=opt_bool(obj(body, "attributes"), "enabled"), tags=opt_tags(body)
    )
    return Reply(_bundle(call, cert))


def list_certificates(call: Call) -> Reply:
    certs = call.vault.certificates
    if query_bool(call, "includePending"):
        # Pending-only certificates are not in the engine's version scan: this list is paged
        # in memory (O(N) per page), the default one by the scan window (O(page size)).
        pending = list(certs.list_properties_of_certificates(include_pending=True))
        return page(call, pending, sort_key, lambda p: _item(call, p, versioned=False))
    return page_of(call, certs.list_properties_of_certificates, sort_key, lambda p: _item(call, p, versioned=False))


def list_versions(call: Call) -> Reply:
    items = list(call.vault.certificates.list_properties_of_certificate_versions(call.param("name")))
    return page(call, items, sort_key, lambda p: _item(call, p))


def get_policy(call: Call) -> Reply:
    name = call.param("name")
    return Reply(_policy_json(call, name, call.vault.certificates.get_certificate_policy(name)))


def update_policy(call: Call) -> Reply:
    name = call.param("name")
    policy = CertificatePolicy.from_dict(call.body)
    return Reply(_policy_json(call, name, call.vault.certificates.update_certificate_policy(name, policy)))


def delete(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.certificates.delete_certificate(call.param("name"))))


def get_deleted(call: Call) -> Reply:
    return Reply(_deleted(call, call.vault.certificates.get_deleted_certificate(call.param("name"))))


def list_deleted(call: Call) -> Reply:
    return page_of(
        call,
        call.vault.certificates.list_deleted_certificates,
        lambda d: sort_key(d.properties),
        lambda d: _deleted(call, d, item=True),
    )


def recover(call: Call) -> Reply:
    return Reply(_bundle(call, call.vault.certificates.recover_deleted_certificate(call.param("name"))))


def purge(call: Call) -> Reply:
    call.vault.certificates.purge_deleted_certificate(call.param("name"))
    return Reply(None, 204)


def backup(call: Call) -> Reply:
    return Reply({"value": b64u(call.vault.certificates.backup_certificate(call.param("name")))})


def restore(call: Call) -> Reply:
    blob = unb64u(call.body.get("value"), "value")
    return Reply(_bundle(call, call.vault.certificates.restore_certificate_backup(blob)))


# -- pending operations ------------------------------------------------------------------


def get_operation(call: Call) -> Reply:
    return Reply(_operation(call, call.vault.certificates.get_certificate_operation(call.param("name"))))


def update_operation(call: Call) -> Reply:
    certs, name = call.vault.certificates, call.param("name")
    requested = opt_bool(call.body, "cancellation_requested")
    if requested is None:
        raise InvalidParameterError("cancellation_requested is required")
    op = certs.cancel_certificate_operation(name) if requested else certs.get_certificate_operation(name)
    return Reply(_operation(call, op))


def delete_operation(call: Call) -> Reply:
    return Reply(_operation(call, call.vault.certificates.delete_certificate_operation(call.param("name"))))


def merge(call: Call) -> Reply:
    body = call.body
    x5c = body.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise InvalidParameterError("x5c must be a non-empty list of base64 certificates")
    ders = [unb64(item, f"x5c[{i}]") for i, item in enumerate(x5c)]
    cert = call.vault.certificates.merge_certificate(
        call.param("name"), ders, enabled=opt_bool(obj(body, "attributes"), "enabled"), tags=opt_tags(body)
    )
    return Reply(_bundle(call, cert), 201)


# -- contacts ----------------------------------------------------------------------------


def _contacts(call: Call, contacts: list[CertificateContact]) -> dict[str, Any]:
    return {"id": call.url("/certificates/contacts"), "contacts": [c.to_dict() for c in contacts]}


def set_contacts(call: Call) -> Reply:
    raw = call.body.get("contacts")
    if not isinstance(raw, list):
        raise InvalidParameterError("contacts must be a list")
    contacts = [CertificateContact.from_dict(c) for c in raw]
    return Reply(_contacts(call, call.vault.certificates.set_contacts(contacts)))


def get_contacts(call: Call) -> Reply:
    return Reply(_contacts(call, call.vault.certificates.get_contacts()))


def delete_contacts(call: Call) -> Reply:
    return Reply(_contacts(call, call.vault.certificates.delete_contacts()))


# -- issuers -----------------------------------------------------------------------------


def _issuer(call: Call, issuer: CertificateIssuer) -> dict[str, Any]:
    out = issuer.to_dict()
    out["id"] = call.url(f"/certificates/issuers/{issuer.name}")
    return out


def _issuer_fields(body: dict[str, Any]) -> dict[str, Any]:
    credentials, org = obj(body, "credentials"), obj(body, "org_details")
    admins = org.get("admin_details")
    if admins is not None and not isinstance(admins, list):
        raise InvalidParameterError("org_details.admin_details must be a list")
    return {
        "enabled": opt_bool(obj(body, "attributes"), "enabled"),
        "account_id": opt_str(credentials, "account_id"),
        "password": opt_str(credentials, "pwd"),
        "organization_id": opt_str(org, "id"),
        "admin_contacts": None if admins is None else [AdministratorContact.from_dict(a) for a in admins],
    }


def set_issuer(call: Call) -> Reply:
    body = call.body
    provider = opt_str(body, "provider")
    if not provider:
        raise InvalidParameterError("provider is required")
    issuer = call.vault.certificates.create_issuer(call.param("issuer"), provider, **_issuer_fields(body))
    return Reply(_issuer(call, issuer))


def update_issuer(call: Call) -> Reply:
    body = call.body
    issuer = call.vault.certificates.update_issuer(
        call.param("issuer"), provider=opt_str(body, "provider"), **_issuer_fields(body)
    )
    return Reply(_issuer(call, issuer))


def get_issuer(call: Call) -> Reply:
    return Reply(_issuer(call, call.vault.certificates.get_issuer(call.param("issuer"))))


def delete_issuer(call: Call) -> Reply:
    return Reply(_issuer(call, call.vault.certificates.delete_issuer(call.param("issuer"))))


def list_issuers(call: Call) -> Reply:
    items = list(call.vault.certificates.list_properties_of_issuers())
    return page(
        call,
        items,
        lambda p: p.name.lower(),
        lambda p: {"id": call.url(f"/certificates/issuers/{p.name}"), "provider": p.provider},
    )


R = RouteSpec
ROUTES = [
    R("GET", "/certificates", list_certificates),
    R("POST", "/certificates/restore", restore),
    R("GET", "/certificates/contacts", get_contacts),
    R("PUT", "/certificates/contacts", set_contacts),
    R("DELETE", "/certificates/contacts", delete_contacts),
    R("GET", "/certificates/issuers", list_issuers),
    R("GET", "/certificates/issuers/{issuer}", get_issuer),
    R("PUT", "/certificates/issuers/{issuer}", set_issuer),
    R("PATCH", "/certificates/issuers/{issuer}", update_issuer),
    R("DELETE", "/certificates/issuers/{issuer}", delete_issuer),
    R("GET", "/certificates/{name}", get_certificate),
    R("DELETE", "/certificates/{name}", delete),
    R("POST", "/certificates/{name}/create", create),
    R("POST", "/certificates/{name}/import", import_certificate),
    R("POST", "/certificates/{name}/backup", backup),
    R("GET", "/certificates/{name}/versions", list_versions),
    R("GET", "/certificates/{name}/policy", get_policy),
    R("PATCH", "/certificates/{name}/policy", update_policy),
    R("GET", "/certificates/{name}/pending", get_operation),
    R("PATCH", "/certificates/{name}/pending", update_operation),
    R("DELETE", "/certificates/{name}/pending", delete_operation),
    R("POST", "/certificates/{name}/pending/merge", merge),
    R("GET", "/certificates/{name}/{version?}", get_certificate),
    R("PATCH", "/certificates/{name}/{version?}", update_certificate),
    R("GET", "/deletedcertificates", list_deleted),
    R("GET", "/deletedcertificates/{name}", get_deleted),
    R("DELETE", "/deletedcertificates/{name}", purge),
    R("POST", "/deletedcertificates/{name}/recover", recover),
]
