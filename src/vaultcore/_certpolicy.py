"""Certificate policies and certificate metadata, in Azure Key Vault's model.

The classes mirror the names of the Azure SDK (``azure-keyvault-certificates``) so Azure
users feel at home, and ``to_dict`` / ``from_dict`` speak the REST JSON shape of the
service (the server sends it on the wire, the vault's storage keeps it)::

    {"key_props": {"exportable", "kty", "key_size", "reuse_key", "crv"},
     "secret_props": {"contentType"},
     "x509_props": {"subject", "ekus", "key_usage", "validity_months",
                    "sans": {"emails", "dns_names", "upns", "uris", "ipAddresses"}},
     "lifetime_actions": [{"trigger": {"lifetime_percentage" | "days_before_expiry"},
                           "action": {"action_type"}}],
     "issuer": {"name", "cty", "cert_transparency"},
     "attributes": {"enabled", "created", "updated"}}     (timestamps: Unix seconds)

Everything here is a frozen dataclass. Constructors check each field on its own (type,
range, known enum value) so a bad value fails where it is written; a policy may still be
partial, as an update is. ``CertificatePolicy.with_azure_defaults()`` fills the gaps exactly
as the service does for an empty policy and then runs the cross-field checks of
``validate()``. Every problem raises :class:`~vaultcore.exceptions.InvalidParameterError`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from vaultcore._jwk import KeyCurveName, KeyType
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "AdministratorContact",
    "CertificateContact",
    "CertificateContentType",
    "CertificateIssuer",
    "CertificateOperation",
    "CertificateOperationError",
    "CertificateOperationStatus",
    "CertificatePolicy",
    "CertificatePolicyAction",
    "IssuerProperties",
    "KeyUsageType",
    "LifetimeAction",
    "WellKnownIssuerNames",
]

# --------------------------------------------------------------------------- enums


class CertificatePolicyAction(StrEnum):
    """What a lifetime action does when its trigger fires."""

    email_contacts = "EmailContacts"
    auto_renew = "AutoRenew"


class CertificateContentType(StrEnum):
    """Format of the secret backing a certificate."""

    pkcs12 = "application/x-pkcs12"
    pem = "application/x-pem-file"


class KeyUsageType(StrEnum):
    """X.509 key usage bits, with Azure's names."""

    digital_signature = "digitalSignature"
    non_repudiation = "nonRepudiation"
    key_encipherment = "keyEncipherment"
    data_encipherment = "dataEncipherment"
    key_agreement = "keyAgreement"
    key_cert_sign = "keyCertSign"
    crl_sign = "cRLSign"
    encipher_only = "encipherOnly"
    decipher_only = "decipherOnly"


class WellKnownIssuerNames(StrEnum):
    """Reserved issuer names: ``Self`` signs locally, ``Unknown`` waits for a merge."""

    Self = "Self"
    Unknown = "Unknown"


class CertificateOperationStatus(StrEnum):
    """States of a pending certificate operation."""

    in_progress = "inProgress"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


RSA_KEY_SIZES = (2048, 3072, 4096)
"""RSA sizes a certificate key may have (the same as the keys API)."""

CURVE_KEY_SIZES: Mapping[KeyCurveName, int] = {
    KeyCurveName.p_256: 256,
    KeyCurveName.p_384: 384,
    KeyCurveName.p_521: 521,
    KeyCurveName.p_256_k: 256,
}
"""Key size in bits that the service reports for each curve."""

MAX_VALIDITY_MONTHS = 1200
"""Longest validity a policy may ask for (100 years)."""

DAYS_PER_MONTH_BOUND = 27
"""``days_before_expiry`` may be at most ``validity_in_months * 27`` (service rule)."""

SERVER_AUTH_EKU = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2"

_EC_TYPES = (KeyType.ec, KeyType.ec_hsm)
_CERTIFICATE_KEY_TYPES = (KeyType.ec, KeyType.ec_hsm, KeyType.rsa, KeyType.rsa_hsm)
_OID_RE = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_SHOW_MAX = 40

# --------------------------------------------------------------------------- helpers

_E = TypeVar("_E", bound=StrEnum)


def _show(value: object) -> str:
    """A short printable form of a (non-secret) rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


def _enum(kind: type[_E], value: object, what: str) -> _E:
    """Coerce a string to ``kind`` (case-insensitively, like the service)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value.lower() == value.lower():
                return member
    allowed = ", ".join(member.value for member in kind)
    raise InvalidParameterError(f"{what} must be one of {allowed}; got {_show(value)}")


def _opt_enum(kind: type[_E], value: object, what: str) -> _E | None:
    return None if value is None else _enum(kind, value, what)


def _opt_bool(value: object, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidParameterError(f"{what} must be true or false; got {_show(value)}")


def _opt_int(value: object, what: str, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParameterError(f"{what} must be an integer; got {_show(value)}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameterError(f"{what} must be {bound}; got {value}")
    return value


def _opt_str(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"{what} must be a non-empty string; got {_show(value)}")
    return value


def _opt_time(value: object, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidParameterError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(dt.UTC)


def _opt_strings(value: object, what: str, check: Callable[[str, str], str] | None = None) -> tuple[str, ...] | None:
    """A list of non-empty strings as a tuple, each passed through ``check``."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidParameterError(f"{what} must be a list of strings")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidParameterError(f"{what} must hold non-empty strings; got {_show(item)}")
        out.append(check(item, what) if check else item)
    return tuple(out)


def _ascii(item: str, what: str) -> None:
    if not item.isascii() or any(c.isspace() or not c.isprintable() for c in item):
        raise InvalidParameterError(
            f"{what}: {_show(item)} must be printable ASCII without spaces (encode international names as A-labels)"
        )


def _check_email(item: str, what: str) -> str:
    _ascii(item, what)
    local, _, domain = item.rpartition("@")
    if not local or not domain:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an email address")
    return item


def _check_dns(item: str, what: str) -> str:
    _ascii(item, what)
    labels = item.split(".")
    if len(item) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
        raise InvalidParameterError(f"{what}: {_show(item)} is not a DNS name")
    return item


def _check_uri(item: str, what: str) -> str:
    _ascii(item, what)
    if not urlsplit(item).scheme:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an absolute URI")
    return item


def _check_ip(item: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(item.strip()))
    except ValueError:
        raise InvalidParameterError(f"{what}: {_show(item)} is not an IP address") from None


def _check_upn(item: str, what: str) -> str:
    if "@" not in item:
        raise InvalidParameterError(f"{what}: {_show(item)} is not a user principal name")
    return item


def _check_oid(item: str, what: str) -> str:
    if not _OID_RE.fullmatch(item):
        raise InvalidParameterError(f"{what}: {_show(item)} is not a dotted OID")
    return item


def _set(obj: object, name: str, value: object) -> None:
    """Assign during ``__post_init__`` of a frozen dataclass."""
    object.__setattr__(obj, name, value)


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _ts(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _from_ts(value: object, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidParameterError(f"{what} must be a Unix timestamp; got {_show(value)}")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidParameterError(f"{what} is out of range") from None


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``data[key]`` as a JSON object ({} when absent or null)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{key} must be a JSON object")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidParameterError(f"{key} must be a JSON array")
    return value


def _root(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"{what} must be a JSON object")
    return data


# --------------------------------------------------------------------------- lifetime


@dataclasses.dataclass(frozen=True)
class LifetimeAction:
    """An action taken at one point of a certificate's lifetime.

    Exactly one trigger: ``lifetime_percentage`` (1-99, share of the validity period
    elapsed) or ``days_before_expiry`` (at least 1; the policy bounds it by validity).
    """

    action: CertificatePolicyAction
    lifetime_percentage: int | None = None
    days_before_expiry: int | None = None

    def __post_init__(self) -> None:
        _set(self, "action", _enum(CertificatePolicyAction, self.action, "action"))
        pct = _opt_int(self.lifetime_percentage, "lifetime_percentage", 1, 99)
        days = _opt_int(self.days_before_expiry, "days_before_expiry", 1)
        if (pct is None) == (days is None):
            raise InvalidParameterError(
                "a lifetime action needs exactly one trigger: lifetime_percentage or days_before_expiry"
            )

    def to_dict(self) -> dict[str, Any]:
        """The REST shape ``{"trigger": {...}, "action": {"action_type": ...}}``."""
        trigger = _drop_none(
            {
                "lifetime_percentage": self.lifetime_percentage,
                "days_before_expiry": self.days_before_expiry,
            }
        )
        return {"trigger": trigger, "action": {"action_type": self.action.value}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifetimeAction:
        """Parse the REST shape."""
        data = _root(data, "lifetime action")
        trigger = _obj(data, "trigger")
        action = _obj(data, "action").get("action_type")
        if action is None:
            raise InvalidParameterError("lifetime action needs action.action_type")
        return cls(
            action=action,
            lifetime_percentage=trigger.get("lifetime_percentage"),
            days_before_expiry=trigger.get("days_before_expiry"),
        )


# --------------------------------------------------------------------------- policy


@dataclasses.dataclass(frozen=True)
class CertificatePolicy:
    """Management policy of a certificate (Azure SDK names; every field optional).

    Sequences are stored as tuples; strings given for enum fields are coerced to the
    enum; SAN IP addresses are normalised (``"::0001"`` becomes ``"::1"``).
    ``created_on``/``updated_on``/``enabled`` are the policy's attributes, set by the vault.
    """

    issuer_name: str | None = None
    _: dataclasses.KW_ONLY
    subject: str | None = None
    san_emails: Sequence[str] | None = None
    san_dns_names: Sequence[str] | None = None
    san_user_principal_names: Sequence[str] | None = None
    san_uris: Sequence[str] | None = None
    san_ip_addresses: Sequence[str] | None = None
    exportable: bool | None = None
    key_type: KeyType | None = None
    key_size: int | None = None
    reuse_key: bool | None = None
    key_curve_name: KeyCurveName | None = None
    enhanced_key_usage: Sequence[str] | None = None
    key_usage: Sequence[KeyUsageType] | None = None
    content_type: CertificateContentType | None = None
    validity_in_months: int | None = None
    lifetime_actions: Sequence[LifetimeAction] | None = None
    certificate_type: str | None = None
    certificate_transparency: bool | None = None
    enabled: bool | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None

    def __post_init__(self) -> None:
        issuer = _opt_str(self.issuer_name, "issuer_name")
        for known in WellKnownIssuerNames:
            if issuer is not None and issuer.lower() == known.value.lower():
                issuer = known.value
        _set(self, "issuer_name", issuer)
        subject = self.subject
        if subject is not None and (not isinstance(subject, str) or not subject.strip()):
            raise InvalidParameterError("subject must be a non-empty X.500 name such as 'CN=a'")
        sans = (
            ("san_emails", _check_email),
            ("san_dns_names", _check_dns),
            ("san_user_principal_names", _check_upn),
            ("san_uris", _check_uri),
            ("san_ip_addresses", _check_ip),
        )
        for name, check in sans:
            # An empty SAN list says nothing: keep it as None so JSON round trips are exact.
            _set(self, name, _opt_strings(getattr(self, name), name, check) or None)
        for name in ("exportable", "reuse_key", "certificate_transparency", "enabled"):
            _opt_bool(getattr(self, name), name)
        key_type = _opt_enum(KeyType, self.key_type, "key_type")
        if key_type is not None and key_type not in _CERTIFICATE_KEY_TYPES:
            raise InvalidParameterError(
                f"key_type must be RSA, RSA-HSM, EC or EC-HSM for a certificate; got {key_type}"
            )
        _set(self, "key_type", key_type)
        _opt_int(self.key_size, "key_size", 1)
        curve = _opt_enum(KeyCurveName, self.key_curve_name, "key_curve_name")
        _set(self, "key_curve_name", curve)
        ekus = _opt_strings(self.enhanced_key_usage, "enhanced_key_usage", _check_oid)
        _set(self, "enhanced_key_usage", None if ekus is None else tuple(dict.fromkeys(ekus)))
        _set(self, "key_usage", self._coerce_key_usage(self.key_usage))
        content = _opt_enum(CertificateContentType, self.content_type, "content_type")
        _set(self, "content_type", content)
        _opt_int(self.validity_in_months, "validity_in_months", 1, MAX_VALIDITY_MONTHS)
        _set(self, "lifetime_actions", self._coerce_actions(self.lifetime_actions))
        _opt_str(self.certificate_type, "certificate_type")
        _set(self, "created_on", _opt_time(self.created_on, "created_on"))
        _set(self, "updated_on", _opt_time(self.updated_on, "updated_on"))

    @staticmethod
    def _coerce_key_usage(value: object) -> tuple[KeyUsageType, ...] | None:
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise InvalidParameterError("key_usage must be a list of key usage names")
        usages = (_enum(KeyUsageType, item, "key_usage") for item in value)
        return tuple(dict.fromkeys(usages))

    @staticmethod
    def _coerce_actions(value: object) -> tuple[LifetimeAction, ...] | None:
        if value is None:
            return None
        if not isinstance(value, Iterable):
            raise InvalidParameterError("lifetime_actions must be a list of LifetimeAction")
        actions = tuple(value)
        if not all(isinstance(action, LifetimeAction) for action in actions):
            raise InvalidParameterError("lifetime_actions must be a list of LifetimeAction")
        kinds = [action.action for action in actions]
        if len(set(kinds)) != len(kinds):
            raise InvalidParameterError("each lifetime action type may appear only once")
        return actions

    # ----------------------------------------------------------------- presets

    @classmethod
    def get_default(cls) -> CertificatePolicy:
        """The SDK's default policy: self-signed, subject ``CN=DefaultPolicy``."""
        return cls(WellKnownIssuerNames.Self.value, subject="CN=DefaultPolicy")

    @property
    def has_sans(self) -> bool:
        """True when the policy names at least one subject alternative name."""
        return any(
            (
                self.san_emails,
                self.san_dns_names,
                self.san_user_principal_names,
                self.san_uris,
                self.san_ip_addresses,
            )
        )

    def with_azure_defaults(self) -> CertificatePolicy:
        """A complete, validated copy with the gaps filled as the service fills them.

        An empty policy becomes: issuer ``Self``; RSA 2048, exportable, new key on
        renewal; PKCS#12; EKUs serverAuth + clientAuth; key usage digitalSignature +
        keyEncipherment; 12 months; AutoRenew at 80 % of the lifetime (EmailContacts for
        issuer ``Unknown``, which cannot renew by itself). EC keys get their curve from
        ``key_size`` (256/384/521) when no curve is given. The subject is never invented:
        a policy needs a subject or a SAN.
        """
        issuer = self.issuer_name or WellKnownIssuerNames.Self.value
        key_type = self.key_type or KeyType.rsa
        key_size = self.key_size
        curve = self.key_curve_name
        if key_type in _EC_TYPES:
            if curve is None and key_size is not None:
                curve = _curve_for_size(key_size)
            if curve is not None and key_size is None:
                key_size = CURVE_KEY_SIZES[curve]
        elif key_size is None:
            key_size = 2048
        actions = self.lifetime_actions
        if actions is None:
            renew = issuer != WellKnownIssuerNames.Unknown.value
            action = CertificatePolicyAction.auto_renew if renew else CertificatePolicyAction.email_contacts
            actions = (LifetimeAction(action, lifetime_percentage=80),)
        filled = dataclasses.replace(
            self,
            issuer_name=issuer,
            key_type=key_type,
            key_size=key_size,
            key_curve_name=curve,
            exportable=True if self.exportable is None else self.exportable,
            reuse_key=False if self.reuse_key is None else self.reuse_key,
            content_type=self.content_type or CertificateContentType.pkcs12,
            enhanced_key_usage=(
                (SERVER_AUTH_EKU, CLIENT_AUTH_EKU) if self.enhanced_key_usage is None else self.enhanced_key_usage
            ),
            key_usage=(
                (KeyUsageType.digital_signature, KeyUsageType.key_encipherment)
                if self.key_usage is None
                else self.key_usage
            ),
            validity_in_months=self.validity_in_months or 12,
            lifetime_actions=actions,
            enabled=True if self.enabled is None else self.enabled,
        )
        filled.validate()
        return filled

    def validate(self) -> None:
        """Cross-field checks on a complete policy (``with_azure_defaults`` runs them).

        Raises InvalidParameterError when: the key type and size/curve disagree; neither
        a subject nor a SAN is given; the subject is not a distinguished name;
        ``days_before_expiry`` exceeds ``validity_in_months * 27``; encipherOnly or
        decipherOnly is asked without keyAgreement.
        """
        # _x509 imports this module, so this import waits until it is needed.
        from vaultcore._x509 import parse_subject

        if self.issuer_name is None:
            raise InvalidParameterError("issuer_name is required")
        key_type = self.key_type or KeyType.rsa
        if key_type in _EC_TYPES:
            if self.key_curve_name is None:
                raise InvalidParameterError("an EC certificate key needs key_curve_name: P-256, P-384, P-521 or P-256K")
            size = CURVE_KEY_SIZES[self.key_curve_name]
            if self.key_size is not None and self.key_size != size:
                raise InvalidParameterError(
                    f"key_size {self.key_size} does not match curve {self.key_curve_name.value}"
                )
        else:
            if self.key_curve_name is not None:
                raise InvalidParameterError("key_curve_name applies only to EC keys")
            if self.key_size is not None and self.key_size not in RSA_KEY_SIZES:
                raise InvalidParameterError(f"RSA key_size must be 2048, 3072 or 4096; got {self.key_size}")
        if self.subject is None:
            if not self.has_sans:
                raise InvalidParameterError(
                    "a certificate policy needs a subject or at least one subject alternative name"
                )
        else:
            parse_subject(self.subject)
        validity = self.validity_in_months or 12
        for action in self.lifetime_actions or ():
            days = action.days_before_expiry
            if days is not None and days > validity * DAYS_PER_MONTH_BOUND:
                raise InvalidParameterError(
                    f"days_before_expiry must be at most validity_in_months * "
                    f"{DAYS_PER_MONTH_BOUND} = {validity * DAYS_PER_MONTH_BOUND}; got {days}"
                )
        usages = set(self.key_usage or ())
        only = {KeyUsageType.encipher_only, KeyUsageType.decipher_only}
        if usages & only and KeyUsageType.key_agreement not in usages:
            raise InvalidParameterError("encipherOnly and decipherOnly need keyAgreement")

    def updated_with(self, update: CertificatePolicy) -> CertificatePolicy:
        """This policy with every field that ``update`` sets (not None) replaced.

        This is the merge ``update_certificate_policy`` performs. Switching the key type
        drops a size or curve that belongs to the other type.
        """
        changes = {
            field.name: getattr(update, field.name)
            for field in dataclasses.fields(update)
            if getattr(update, field.name) is not None
        }
        merged = dataclasses.replace(self, **changes)
        if update.key_type is not None and (update.key_type in _EC_TYPES) != (
            (self.key_type or KeyType.rsa) in _EC_TYPES
        ):
            merged = dataclasses.replace(merged, key_size=update.key_size, key_curve_name=update.key_curve_name)
        return merged

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """The REST JSON shape (only the fields that are set)."""
        out: dict[str, Any] = {}
        key_props = _drop_none(
            {
                "exportable": self.exportable,
                "kty": None if self.key_type is None else self.key_type.value,
                "key_size": self.key_size,
                "reuse_key": self.reuse_key,
                "crv": None if self.key_curve_name is None else self.key_curve_name.value,
            }
        )
        if key_props:
            out["key_props"] = key_props
        if self.content_type is not None:
            out["secret_props"] = {"contentType": self.content_type.value}
        sans = {
            name: list(values)
            for name, values in (
                ("emails", self.san_emails),
                ("dns_names", self.san_dns_names),
                ("upns", self.san_user_principal_names),
                ("uris", self.san_uris),
                ("ipAddresses", self.san_ip_addresses),
            )
            if values
        }
        x509_props = _drop_none(
            {
                "subject": self.subject,
                "sans": sans or None,
                "ekus": None if self.enhanced_key_usage is None else list(self.enhanced_key_usage),
                "key_usage": (None if self.key_usage is None else [usage.value for usage in self.key_usage]),
                "validity_months": self.validity_in_months,
            }
        )
        if x509_props:
            out["x509_props"] = x509_props
        if self.lifetime_actions is not None:
            out["lifetime_actions"] = [action.to_dict() for action in self.lifetime_actions]
        issuer = _drop_none(
            {
                "name": self.issuer_name,
                "cty": self.certificate_type,
                "cert_transparency": self.certificate_transparency,
            }
        )
        if issuer:
            out["issuer"] = issuer
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
    def from_dict(cls, data: Mapping[str, Any]) -> CertificatePolicy:
        """Parse the REST JSON shape; unknown members (such as ``id``) are ignored."""
        data = _root(data, "policy")
        key_props = _obj(data, "key_props")
        x509_props = _obj(data, "x509_props")
        sans = _obj(x509_props, "sans")
        issuer = _obj(data, "issuer")
        attributes = _obj(data, "attributes")
        actions = _list(data, "lifetime_actions")
        return cls(
            issuer.get("name"),
            subject=x509_props.get("subject"),
            san_emails=_list(sans, "emails"),
            san_dns_names=_list(sans, "dns_names"),
            san_user_principal_names=_list(sans, "upns"),
            san_uris=_list(sans, "uris"),
            san_ip_addresses=_list(sans, "ipAddresses"),
            exportable=key_props.get("exportable"),
            key_type=key_props.get("kty"),
            key_size=key_props.get("key_size"),
            reuse_key=key_props.get("reuse_key"),
            key_curve_name=key_props.get("crv"),
            enhanced_key_usage=_list(x509_props, "ekus"),
            key_usage=_list(x509_props, "key_usage"),
            content_type=_obj(data, "secret_props").get("contentType"),
            validity_in_months=x509_props.get("validity_months"),
            lifetime_actions=(None if actions is None else [LifetimeAction.from_dict(a) for a in actions]),
            certificate_type=issuer.get("cty"),
            certificate_transparency=issuer.get("cert_transparency"),
            enabled=attributes.get("enabled"),
            created_on=_from_ts(attributes.get("created"), "attributes.created"),
            updated_on=_from_ts(attributes.get("updated"), "attributes.updated"),
        )


def _curve_for_size(key_size: int) -> KeyCurveName:
    for curve, size in CURVE_KEY_SIZES.items():
        if size == key_size:
            return curve
    raise InvalidParameterError(f"no EC curve has key_size {key_size}; use 256, 384 or 521")


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
