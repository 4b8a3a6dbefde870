"""Azure's rules for key types and key operations, shared by the keys client.

Software ``oct`` keys only in a managed HSM (unless the vault relaxes it), ``-HSM`` types
only in premium vaults and managed HSMs, a managed HSM holds ``-HSM`` keys only; key
operations are Azure's names, deduplicated, defaulting to what the key type allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vaultcore.crypto import _keymaterial as km
from vaultcore.crypto._jwk import KeyOperation, KeyType
from vaultcore.engine._records import Kind
from vaultcore.engine._validation import check_bool, check_name, check_tags, to_timestamp
from vaultcore.exceptions import ForbiddenError, InvalidParameterError

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultSettings
    from vaultcore.engine._records import VersionRecord

__all__ = [
    "check_before_generating",
    "check_operation",
    "check_restorable",
    "check_type_allowed",
    "key_ops",
    "key_type",
    "material_params",
    "operation_windows",
]

_ALL_OPS = {op.value for op in KeyOperation}
#: The operations that ``exp`` stops (Azure: data protected before expiry stays readable).
_EXPIRING = ("encrypt", "wrapKey", "sign")
_NEVER = (1, 0)  # no time t has 1 <= t < 0


def check_type_allowed(settings: VaultSettings, kty: KeyType) -> None:
    """Refuse a key type this vault cannot hold, with Azure's wording."""
    hsm = kty.value.endswith("-HSM")
    if settings.kind == "managed_hsm" and not hsm:
        raise InvalidParameterError(
            f"A managed HSM holds HSM-backed keys only; use kty '{kty.value}-HSM'.", inner_code="BadParameter"
        )
    if hsm and settings.tier != "premium":
        raise InvalidParameterError(
            f"Hardware key operation not allowed on standard vault: key type {kty.value} needs a premium "
            "vault or a managed HSM (its key lives in the HSM); this vault is standard tier.",
            inner_code="BadParameter",
        )
    if kty is KeyType.oct and not settings.allow_software_oct:
        raise InvalidParameterError(
            "Software 'oct' keys are allowed only in a managed HSM (as in Azure Key Vault). Create the vault "
            "with allow_software_oct_keys=True to relax this rule.",
            inner_code="BadParameter",
        )


def key_ops(key_operations: Sequence[str] | None, kty: KeyType) -> list[str]:
    """Checked key operations (Azure's names); the type's defaults when none are given."""
    if key_operations is None:
        return [op.value for op in km.default_key_ops(kty.software)]
    if (
        isinstance(key_operations, str)
        or not isinstance(key_operations, Sequence)
        or not all(isinstance(o, str) for o in key_operations)
    ):
        raise InvalidParameterError("key_operations must be a list of operation names")
    ops = [KeyOperation(o).value if o in _ALL_OPS else o for o in key_operations]
    bad = [o for o in ops if o not in _ALL_OPS]
    if bad:
        raise InvalidParameterError(f"unknown key operation(s) {bad}; use {sorted(_ALL_OPS)}")
    return list(dict.fromkeys(ops))


def key_type(value: object) -> KeyType:
    """An Azure key type (case-insensitive), or InvalidParameterError listing the valid ones."""
    try:
        return KeyType(str(value))
    except ValueError:
        raise InvalidParameterError(
            f"key type {value!r} is not supported; use {', '.join(t.value for t in KeyType)}"
        ) from None


def material_params(material: km.KeyMaterial) -> dict[str, Any]:
    """The parameters of software key material that rotation must reproduce."""
    if material.kty is KeyType.rsa:
        return {"size": material.key_size, "e": material.public_exponent}
    if material.kty is KeyType.ec:
        return {"crv": str(material.curve)}
    return {"size": material.key_size}


def check_operation(rec: VersionRecord, op: str, now: int) -> None:
    """Azure's per-operation rules: enabled, nbf, exp (not for decrypt/unwrap/verify), key_ops."""
    if not rec.enabled:
        raise ForbiddenError(f"Operation {op} is not allowed on a disabled key.", inner_code="KeyDisabled")
    if rec.not_before is not None and now < rec.not_before:
        raise ForbiddenError(f"Operation {op} is not allowed: the key is not yet valid.", inner_code="KeyNotYetValid")
    if op in _EXPIRING and rec.expires_on is not None and now >= rec.expires_on:
        raise ForbiddenError(f"Operation {op} is not allowed: the key has expired.", inner_code="KeyExpired")
    if op not in rec.extra.get("ops", []):
        raise ForbiddenError(
            f"Operation {op} is not permitted by this key's key_ops {rec.extra.get('ops', [])}.",
            inner_code="KeyOperationForbidden",
        )


def operation_windows(rec: VersionRecord) -> dict[str, tuple[float, float]]:
    """Each key operation's window ``[lo, hi)``: at a time ``lo <= now < hi`` (integer Unix
    seconds) :func:`check_operation` lets it run on *rec*; outside it, or for an operation
    not in the table, it may not (an empty window for a disabled version or an operation
    its ``key_ops`` leave out).

    Worked out once per record so that a key operation compares one integer time; the
    refusals and their messages still come from :func:`check_operation`.
    """
    lo: float = float("-inf") if rec.not_before is None else rec.not_before
    exp: float = float("inf") if rec.expires_on is None else rec.expires_on
    ops = rec.extra.get("ops", [])
    windows: dict[str, tuple[float, float]] = {}
    for op in (*_EXPIRING, "decrypt", "unwrapKey", "verify"):
        if not rec.enabled or op not in ops:
            windows[op] = _NEVER
        else:
            windows[op] = (lo, exp if op in _EXPIRING else float("inf"))
    return windows


def check_before_generating(
    name: object,
    kty: KeyType,
    tags: Mapping[str, str] | None,
    not_before: datetime | None,
    expires_on: datetime | None,
    exportable: bool | None,
    enabled: bool | None,
) -> None:
    """Everything about a new key that can be refused, checked before its material exists:
    an HSM key is generated in the token, and a refusal after that would orphan it there."""
    check_name(name, Kind.KEY)
    check_tags(tags)
    to_timestamp(not_before, "not_before")
    to_timestamp(expires_on, "expires_on")
    if exportable and kty.value.endswith("-HSM"):
        raise InvalidParameterError("HSM-backed keys are never exportable")
    if enabled is not None:
        check_bool(enabled, "enabled")


def check_restorable(settings: VaultSettings, parts: Iterable[tuple[Any, Any, list[VersionRecord]]]) -> None:
    """A vault refuses restoring a key type it would refuse creating (a managed HSM: software keys)."""
    known = {t.value for t in KeyType}
    for _kind, _obj, versions in parts:
        for rec in versions:
            kty = rec.extra.get("kty")
            if isinstance(kty, str) and kty in known:
                check_type_allowed(settings, KeyType(kty))
