"""Stable JSON shapes and human tables for results (documented in docs/cli.md).

JSON field names follow the Python API (snake_case); times are UTC ISO 8601 strings with a
``Z`` suffix, absent times are ``null``. Fields are only ever added, never renamed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: rendering a secret must not load X.509 or rich tables
    from rich.table import Table
    from rich.text import Text

    from vaultcore import (
        AdministratorContact,
        CertificateContact,
        CertificateIssuer,
        CertificateProperties,
        DeletedCertificate,
        DeletedKey,
        DeletedSecret,
        IssuerProperties,
        KeyProperties,
        KeyVaultCertificate,
        KeyVaultKey,
        KeyVaultSecret,
        SecretProperties,
        Vault,
    )
    from vaultcore.engine._models import ObjectProperties

__all__ = [
    "administrator_contact",
    "certificate",
    "certificate_contact",
    "certificate_issuer",
    "certificate_properties",
    "certificate_summary",
    "deleted_certificate",
    "deleted_key",
    "deleted_secret",
    "fields_table",
    "iso",
    "issuer_properties",
    "issuer_summary",
    "key",
    "key_properties",
    "key_summary",
    "object_properties",
    "rows_table",
    "secret",
    "secret_properties",
    "vault_info",
]


def iso(value: datetime | None) -> str | None:
    """``2026-01-31T12:00:00Z`` (or ``None``)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_properties(p: ObjectProperties) -> dict[str, Any]:
    """Attributes every object version has."""
    return {
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "enabled": p.enabled,
        "not_before": iso(p.not_before),
        "expires_on": iso(p.expires_on),
        "created_on": iso(p.created_on),
        "updated_on": iso(p.updated_on),
        "recovery_level": p.recovery_level,
        "recoverable_days": p.recoverable_days,
        "tags": dict(p.tags),
        "managed": p.managed,
    }


def secret_properties(p: SecretProperties) -> dict[str, Any]:
    return {**object_properties(p), "content_type": p.content_type, "key_id": p.key_id}


def secret(s: KeyVaultSecret) -> dict[str, Any]:
    return {**secret_properties(s.properties), "value": s.value}


def deleted_secret(d: DeletedSecret) -> dict[str, Any]:
    return {
        **secret_properties(d.properties),
        "recovery_id": d.recovery_id,
        "deleted_date": iso(d.deleted_date),
        "scheduled_purge_date": iso(d.scheduled_purge_date),
    }


def key_properties(p: KeyProperties) -> dict[str, Any]:
    return {**object_properties(p), "exportable": p.exportable, "hsm_platform": p.hsm_platform}


def key(k: KeyVaultKey) -> dict[str, Any]:
    """Properties plus the JWK (public members, or private ones from ``key export``)."""
    return {**key_properties(k.properties), "key": k.key.to_dict()}


def deleted_key(d: DeletedKey) -> dict[str, Any]:
    return {
        **key_properties(d.properties),
        "key": d.key.to_dict(),
        "recovery_id": d.recovery_id,
        "deleted_date": iso(d.deleted_date),
        "scheduled_purge_date": iso(d.scheduled_purge_date),
    }


def certificate_properties(p: CertificateProperties) -> dict[str, Any]:
    thumbprint = p.x509_thumbprint.hex().upper() if p.x509_thumbprint else None
    return {**object_properties(p), "x509_thumbprint": thumbprint}


def certificate(c: KeyVaultCertificate) -> dict[str, Any]:
    """Properties, backing key/secret ids, the DER certificate (base64) and the REST-shaped policy."""
    return {
        **certificate_properties(c.properties),
        "key_id": c.key_id,
        "secret_id": c.secret_id,
        "cer": base64.b64encode(c.cer).decode("ascii"),
        "policy": None if c.policy is None else c.policy.to_dict(),
    }


def deleted_certificate(d: DeletedCertificate) -> dict[str, Any]:
    return {
        **certificate_properties(d.properties),
        "key_id": d.key_id,
        "secret_id": d.secret_id,
        "recovery_id": d.recovery_id,
        "deleted_date": iso(d.deleted_on),
        "scheduled_purge_date": iso(d.scheduled_purge_date),
    }


def certificate_summary(data: dict[str, Any]) -> dict[str, Any]:
    """A certificate's JSON shape for a table: no DER, the policy reduced to subject and issuer."""
    policy = data.get("policy") or {}
    out = {k: v for k, v in data.items() if k not in ("cer", "policy")}
    out["subject"] = policy.get("x509_props", {}).get("subject")
    out["issuer"] = policy.get("issuer", {}).get("name")
    return out


def certificate_contact(c: CertificateContact) -> dict[str, Any]:
    """``email``, ``name``, ``phone`` (absent ones ``null``)."""
    return {"email": c.email, "name": c.name, "phone": c.phone}


def administrator_contact(a: AdministratorContact) -> dict[str, Any]:
    return {"email": a.email, "first_name": a.first_name, "last_name": a.last_name, "phone": a.phone}


def certificate_issuer(i: CertificateIssuer) -> dict[str, Any]:
    """An issuer as the vault returns it: never its password (the vault does not give it back)."""
    return {
        "name": i.name,
        "id": i.id,
        "provider": i.provider,
        "account_id": i.account_id,
        "organization_id": i.organization_id,
        "admin_contacts": [administrator_contact(a) for a in i.admin_contacts or ()],
        "enabled": i.enabled,
        "created_on": iso(i.created_on),
        "updated_on": iso(i.updated_on),
    }


def issuer_properties(p: IssuerProperties) -> dict[str, Any]:
    return {"name": p.name, "id": p.id, "provider": p.provider}


def issuer_summary(data: dict[str, Any]) -> dict[str, Any]:
    """An issuer's JSON shape for a table: one ``First Last <email> phone`` item per administrator."""
    return {**data, "admin_contacts": [_admin_line(a) for a in data.get("admin_contacts", [])]}


def _admin_line(admin: dict[str, Any]) -> str:
    email = admin.get("email")
    words = (admin.get("first_name"), admin.get("last_name"), f"<{email}>" if email else None, admin.get("phone"))
    return " ".join(str(w) for w in words if w)


def key_summary(data: dict[str, Any]) -> dict[str, Any]:
    """A key's JSON shape for a table: the JWK reduced to type, operations and curve."""
    jwk = data.get("key", {})
    out = {k: v for k, v in data.items() if k != "key"}
    out.update(key_type=jwk.get("kty"), key_ops=jwk.get("key_ops"), curve=jwk.get("crv"))
    return out


def vault_info(v: Vault) -> dict[str, Any]:
    return {
        "name": v.name,
        "vault_id": v.vault_id,
        "vault_url": v.vault_url,
        "path": v.path,
        "kind": v.kind,
        "tier": v.tier,
        "retention_days": v.retention_days,
        "purge_protection": v.purge_protection,
        "keyring_generation": v.keyring_generation,
    }


# -- human rendering -------------------------------------------------------------------


def _cell(value: Any) -> Text:
    from rich.text import Text

    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, dict):
        return Text(", ".join(f"{k}={v}" for k, v in value.items()) or "-")
    if isinstance(value, list):
        return Text(", ".join(str(v) for v in value) or "-")
    return Text(str(value))


def fields_table(data: dict[str, Any]) -> Table:
    """A two-column field/value table of one JSON-shaped result."""
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(Text(key.replace("_", " ")), _cell(value))
    return table


def rows_table(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Table:
    """One row per JSON-shaped result, showing *columns*."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    return table
