"""Certificate policy model: ``LifetimeAction`` and ``CertificatePolicy``.

Frozen dataclasses with Azure SDK names whose constructors check each field on its own;
``CertificatePolicy.with_azure_defaults()`` fills the gaps as the service does and
``validate()`` runs the cross-field checks; ``to_dict`` / ``from_dict`` speak the REST
JSON shape described in :mod:`vaultcore.certificates._policy`, which re-exports these classes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vaultcore.certificates._policy_enums import (
    CLIENT_AUTH_EKU,
    CURVE_KEY_SIZES,
    DAYS_PER_MONTH_BOUND,
    MAX_VALIDITY_MONTHS,
    RSA_KEY_SIZES,
    SERVER_AUTH_EKU,
    CertificateContentType,
    CertificatePolicyAction,
    KeyUsageType,
    WellKnownIssuerNames,
)
from vaultcore.certificates._policy_fields import (
    _CERTIFICATE_KEY_TYPES,
    _EC_TYPES,
    _check_dns,
    _check_email,
    _check_ip,
    _check_oid,
    _check_upn,
    _check_uri,
    _drop_none,
    _enum,
    _from_ts,
    _list,
    _obj,
    _opt_bool,
    _opt_enum,
    _opt_int,
    _opt_str,
    _opt_strings,
    _opt_time,
    _root,
    _set,
    _ts,
)
from vaultcore.certificates._x509_names import parse_subject
from vaultcore.crypto._jwk import KeyCurveName, KeyType
from vaultcore.exceptions import InvalidParameterError

__all__ = [
    "CertificatePolicy",
    "LifetimeAction",
]

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
