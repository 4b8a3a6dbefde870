"""Certificate contacts, issuers and pending operations, in Azure Key Vault's model.

``CertificateContact``, ``AdministratorContact``, ``IssuerProperties``,
``CertificateIssuer`` (metadata only: vaultcore never calls a CA; the account password
stays out of ``repr``), ``CertificateOperationError`` and ``CertificateOperation``, each a
frozen dataclass with REST ``to_dict`` / ``from_dict``. Re-exported by
:mod:`vaultcore.certificates._policy`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from vaultcore.certificates._policy_enums import CertificateOperationStatus
from vaultcore.certificates._policy_fields import (
    _check_email,
    _drop_none,
    _enum,
    _from_ts,
    _list,
    _obj,
    _opt_bool,
    _opt_str,
    _opt_strings,
    _opt_time,
    _root,
    _set,
    _ts,
)
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "AdministratorContact",
    "CertificateContact",
    "CertificateIssuer",
    "CertificateOperation",
    "CertificateOperationError",
    "IssuerProperties",
]

# --------------------------------------------------------------------------- contacts


@dataclasses.dataclass(frozen=True)
class CertificateContact:
    """A person told about certificate events (EmailContacts lifetime actions)."""

    email: str | None = None
    name: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        if self.email is not None:
            _opt_strings([self.email], "contact email", _check_email)
        _opt_str(self.name, "contact name")
        _opt_str(self.phone, "contact phone")
        if self.email is None and self.name is None and self.phone is None:
            raise InvalidParameterError("a contact needs an email, a name or a phone")

    def to_dict(self) -> dict[str, Any]:
        """REST shape ``{"email", "name", "phone"}``."""
        return _drop_none({"email": self.email, "name": self.name, "phone": self.phone})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertificateContact:
        """Parse the REST shape."""
        data = _root(data, "contact")
        return cls(email=data.get("email"), name=data.get("name"), phone=data.get("phone"))


@dataclasses.dataclass(frozen=True)
class AdministratorContact:
    """An administrator of the organization registered with a certificate issuer."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        for name in ("first_name", "last_name", "phone"):
            _opt_str(getattr(self, name), name)
        if self.email is not None:
            _opt_strings([self.email], "administrator email", _check_email)

    def to_dict(self) -> dict[str, Any]:
        """REST shape ``{"first_name", "last_name", "email", "phone"}``."""
        return _drop_none(
            {
                "first_name": self.first_name,
                "last_name": self.last_name,
                "email": self.email,
                "phone": self.phone,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdministratorContact:
        """Parse the REST shape."""
        data = _root(data, "admin_details item")
        return cls(
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            email=data.get("email"),
            phone=data.get("phone"),
        )


# --------------------------------------------------------------------------- issuers


@dataclasses.dataclass(frozen=True)
class IssuerProperties:
    """What a list of issuers shows: name and provider (``id`` set by the server)."""

    name: str
    provider: str | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """REST list-item shape ``{"id", "provider"}``."""
        return _drop_none({"id": self.id, "provider": self.provider})


@dataclasses.dataclass(frozen=True)
class CertificateIssuer:
    """A certificate issuer: metadata only (vaultcore never calls a CA).

    ``password`` is the issuer account's secret; it stays out of ``repr`` and out of
    ``to_dict()`` unless asked for (the vault stores it encrypted).
    """

    name: str
    provider: str
    _: dataclasses.KW_ONLY
    account_id: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    organization_id: str | None = None
    admin_contacts: Sequence[AdministratorContact] | None = None
    enabled: bool | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        _opt_str(self.name, "issuer name")
        _opt_str(self.provider, "provider")
        _opt_str(self.account_id, "account_id")
        if self.password is not None and not isinstance(self.password, str):
            raise InvalidParameterError("password must be a string")
        _opt_str(self.organization_id, "organization_id")
        admins = self.admin_contacts
        if admins is not None:
            admins = tuple(admins)
            if not all(isinstance(admin, AdministratorContact) for admin in admins):
                raise InvalidParameterError("admin_contacts must be AdministratorContact items")
        _set(self, "admin_contacts", admins)
        _opt_bool(self.enabled, "enabled")
        _set(self, "created_on", _opt_time(self.created_on, "created_on"))
        _set(self, "updated_on", _opt_time(self.updated_on, "updated_on"))

    @property
    def properties(self) -> IssuerProperties:
        """The list-item view of this issuer."""
        return IssuerProperties(name=self.name, provider=self.provider, id=self.id)

    def to_dict(self, *, include_password: bool = False) -> dict[str, Any]:
        """REST shape (IssuerBundle); the password only when ``include_password``."""
        out: dict[str, Any] = _drop_none({"id": self.id, "provider": self.provider})
        credentials = _drop_none(
            {
                "account_id": self.account_id,
                "pwd": self.password if include_password else None,
            }
        )
        if credentials:
            out["credentials"] = credentials
        admins = self.admin_contacts
        org = _drop_none(
            {
                "id": self.organization_id,
                "admin_details": None if admins is None else [a.to_dict() for a in admins],
            }
        )
        if org:
            out["org_details"] = org
        attributes = _drop_none(
            {
                "enabled": self.enabled,
                "created": _ts(self.created_on),
                "updated": _ts(self.updated_on),
            }
        )
        if attributes:
            out["attributes"] = attributes
        return out

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> CertificateIssuer:
        """Parse the REST shape; ``name`` comes from the URL, not the body."""
        data = _root(data, "issuer")
        credentials = _obj(data, "credentials")
        org = _obj(data, "org_details")
        attributes = _obj(data, "attributes")
        admins = _list(org, "admin_details")
        provider = data.get("provider")
        if not isinstance(provider, str):
            raise InvalidParameterError("an issuer needs a provider")
        return cls(
            name,
            provider,
            account_id=credentials.get("account_id"),
            password=credentials.get("pwd"),
            organization_id=org.get("id"),
            admin_contacts=(None if admins is None else [AdministratorContact.from_dict(a) for a in admins]),
            enabled=attributes.get("enabled"),
            created_on=_from_ts(attributes.get("created"), "attributes.created"),
            updated_on=_from_ts(attributes.get("updated"), "attributes.updated"),
            id=data.get("id"),
        )


# --------------------------------------------------------------------------- operations


@dataclasses.dataclass(frozen=True)
class CertificateOperationError:
    """Why a certificate operation failed (REST ``{"code", "message", "innererror"}``)."""

    code: str | None = None
    message: str | None = None
    inner_error: CertificateOperationError | None = None

    def to_dict(self) -> dict[str, Any]:
        """REST shape."""
        inner = None if self.inner_error is None else self.inner_error.to_dict()
        return _drop_none({"code": self.code, "message": self.message, "innererror": inner})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertificateOperationError:
        """Parse the REST shape."""
        data = _root(data, "error")
        inner = data.get("innererror")
        return cls(
            code=data.get("code"),
            message=data.get("message"),
            inner_error=None if inner is None else cls.from_dict(inner),
        )


@dataclasses.dataclass(frozen=True)
class CertificateOperation:
    """A pending certificate creation (``GET /certificates/{name}/pending``).

    ``csr`` is DER (standard base64 on the wire). ``id`` depends on the host the client
    used, so the vault stores the operation without it and the server sets it.
    """

    name: str
    _: dataclasses.KW_ONLY
    issuer_name: str | None = None
    certificate_type: str | None = None
    certificate_transparency: bool | None = None
    csr: bytes | None = dataclasses.field(default=None, repr=False)
    cancellation_requested: bool = False
    status: str = CertificateOperationStatus.in_progress
    status_details: str | None = None
    error: CertificateOperationError | None = None
    target: str | None = None
    request_id: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        _opt_str(self.name, "operation name")
        _set(self, "status", _enum(CertificateOperationStatus, self.status, "status"))
        if _opt_bool(self.cancellation_requested, "cancellation_requested") is None:
            raise InvalidParameterError("cancellation_requested must be true or false")
        if self.csr is not None and not isinstance(self.csr, bytes):
            raise InvalidParameterError("csr must be DER bytes")

    def to_dict(self) -> dict[str, Any]:
        """REST shape (CertificateOperation)."""
        issuer = _drop_none(
            {
                "name": self.issuer_name,
                "cty": self.certificate_type,
                "cert_transparency": self.certificate_transparency,
            }
        )
        return _drop_none(
            {
                "id": self.id,
                "issuer": issuer or None,
                "csr": None if self.csr is None else base64.b64encode(self.csr).decode("ascii"),
                "cancellation_requested": self.cancellation_requested,
                "status": str(self.status),
                "status_details": self.status_details,
                "error": None if self.error is None else self.error.to_dict(),
                "target": self.target,
                "request_id": self.request_id,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> CertificateOperation:
        """Parse the REST shape; ``name`` defaults to the one in ``id``."""
        data = _root(data, "certificate operation")
        op_id = data.get("id")
        if name is None:
            name = _name_from_id(op_id)
        issuer = _obj(data, "issuer")
        csr_text = data.get("csr")
        csr: bytes | None = None
        if csr_text is not None:
            if not isinstance(csr_text, str):
                raise InvalidParameterError("csr must be a base64 string")
            try:
                csr = base64.b64decode(csr_text, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidParameterError("csr is not valid base64") from None
        error = data.get("error")
        return cls(
            name,
            issuer_name=issuer.get("name"),
            certificate_type=issuer.get("cty"),
            certificate_transparency=issuer.get("cert_transparency"),
            csr=csr,
            cancellation_requested=data.get("cancellation_requested") or False,
            status=data.get("status") or CertificateOperationStatus.in_progress,
            status_details=data.get("status_details"),
            error=None if error is None else CertificateOperationError.from_dict(error),
            target=data.get("target"),
            request_id=data.get("request_id"),
            id=op_id,
        )


def _name_from_id(op_id: object) -> str:
    """The certificate name in ``https://host/certificates/{name}/pending``."""
    if isinstance(op_id, str):
        parts = urlsplit(op_id).path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "certificates":
            return parts[1]
    raise InvalidParameterError("a certificate operation needs a name or an id")
