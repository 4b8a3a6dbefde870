"""Public result types of ``vault.keys`` and the cryptography client (Azure SDK names)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from vaultcore.crypto._jwk import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from vaultcore.engine._models import ObjectProperties

__all__ = [
    "DecryptResult",
    "DeletedKey",
    "EncryptResult",
    "JsonWebKey",
    "KeyProperties",
    "KeyRotationLifetimeAction",
    "KeyRotationPolicy",
    "KeyVaultKey",
    "SignResult",
    "UnwrapResult",
    "VerifyResult",
    "WrapResult",
    "new_decrypt_result",
    "new_sign_result",
    "new_unwrap_result",
    "new_verify_result",
    "new_wrap_result",
]

_BYTES_MEMBERS = ("n", "e", "d", "dp", "dq", "qi", "p", "q", "k", "t", "x", "y")


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class JsonWebKey:
    """A JWK (RFC 7517) as the Azure SDK models it: byte members, private ones hidden from repr."""

    kid: str | None = None
    kty: str | None = None
    key_ops: list[str] | None = None
    n: bytes | None = None
    e: bytes | None = None
    d: bytes | None = field(default=None, repr=False)
    dp: bytes | None = field(default=None, repr=False)
    dq: bytes | None = field(default=None, repr=False)
    qi: bytes | None = field(default=None, repr=False)
    p: bytes | None = field(default=None, repr=False)
    q: bytes | None = field(default=None, repr=False)
    k: bytes | None = field(default=None, repr=False)
    t: bytes | None = field(default=None, repr=False)
    crv: str | None = None
    x: bytes | None = None
    y: bytes | None = None

    @property
    def has_private_members(self) -> bool:
        return any(getattr(self, m) is not None for m in ("d", "dp", "dq", "qi", "p", "q", "k", "t"))

    def __reduce__(self) -> Any:
        if self.has_private_members:
            raise TypeError("a JsonWebKey holding private key material cannot be pickled")
        return super().__reduce__()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (base64url without padding), members that are set only."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = _b64u(value) if f.name in _BYTES_MEMBERS else value
        return out

    @classmethod
    def from_dict(cls, jwk: Mapping[str, Any]) -> JsonWebKey:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = jwk.get(f.name)
            if value is None:
                continue
            if f.name in _BYTES_MEMBERS and isinstance(value, str):
                value = _unb64u(value)
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class KeyProperties(ObjectProperties):
    """A key version's attributes."""

    exportable: bool | None = None
    hsm_platform: str | None = None


@dataclass(frozen=True)
class KeyVaultKey:
    """A key version: properties and the public JWK (private members only on export)."""

    properties: KeyProperties
    key: JsonWebKey

    @property
    def id(self) -> str:
        return self.properties.id

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def key_type(self) -> str:
        return str(self.key.kty)

    @property
    def key_operations(self) -> list[str]:
        return list(self.key.key_ops or [])


@dataclass(frozen=True)
class DeletedKey:
    properties: KeyProperties
    key: JsonWebKey
    recovery_id: str
    deleted_date: datetime | None
    scheduled_purge_date: datetime | None

    @property
    def id(self) -> str:
        return self.properties.id

    @property
    def name(self) -> str:
        return self.properties.name


@dataclass(frozen=True)
class KeyRotationLifetimeAction:
    """``action`` is ``Rotate`` or ``Notify``; one trigger, an ISO-8601 duration."""

    action: str
    time_after_create: str | None = None
    time_before_expiry: str | None = None


@dataclass(frozen=True)
class KeyRotationPolicy:
    id: str | None = None
    lifetime_actions: list[KeyRotationLifetimeAction] = field(default_factory=list)
    expires_in: str | None = None
    created_on: datetime | None = None
    updated_on: datetime | None = None


# Results of the cryptography client: frozen and slotted (Azure SDK attribute names).


@dataclass(frozen=True, slots=True)
class EncryptResult:
    key_id: str
    algorithm: EncryptionAlgorithm
    ciphertext: bytes
    iv: bytes | None = None
    authentication_tag: bytes | None = None
    additional_authenticated_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class DecryptResult:
    key_id: str
    algorithm: EncryptionAlgorithm
    plaintext: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class WrapResult:
    key_id: str
    algorithm: KeyWrapAlgorithm
    encrypted_key: bytes


@dataclass(frozen=True, slots=True)
class UnwrapResult:
    key_id: str
    algorithm: KeyWrapAlgorithm
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignResult:
    key_id: str
    algorithm: SignatureAlgorithm
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerifyResult:
    key_id: str
    algorithm: SignatureAlgorithm
    is_valid: bool


_R = TypeVar("_R", DecryptResult, WrapResult, UnwrapResult, SignResult, VerifyResult)


def _maker(cls: type[_R]) -> Callable[[str, Any, Any], _R]:
    """``cls(key_id, algorithm, value)`` for the hot path of key operations, at about half
    the cost: the frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, this writes the three slots directly. The object is the same
    (equal, same hash and repr); the dataclass validates nothing either way."""
    names = [f.name for f in fields(cls)]
    if len(names) != 3:
        raise TypeError(f"{cls.__name__} does not have three fields")
    set_id, set_alg, set_value = (getattr(cls, name).__set__ for name in names)
    new = object.__new__

    def make(key_id: str, algorithm: Any, value: Any) -> _R:
        obj = new(cls)
        set_id(obj, key_id)
        set_alg(obj, algorithm)
        set_value(obj, value)
        return obj

    return make


new_decrypt_result = _maker(DecryptResult)
new_wrap_result = _maker(WrapResult)
new_unwrap_result = _maker(UnwrapResult)
new_sign_result = _maker(SignResult)
new_verify_result = _maker(VerifyResult)
