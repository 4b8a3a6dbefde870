"""Public result types shared by the clients, named after the Azure SDK's models.

Frozen dataclasses; values and key material are kept out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from vaultcore.engine._records import VersionRecord
from vaultcore.engine._validation import from_timestamp

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultSettings
    from vaultcore.engine._records import DeletedRecord, Kind

T = TypeVar("T")

__all__ = ["DeletedSecret", "FusedSecret", "KeyVaultSecret", "ObjectProperties", "SecretProperties", "lazy_secret"]


@dataclass(frozen=True)
class ObjectProperties:
    """Attributes every object version has (Azure's ``*Properties`` classes)."""

    id: str
    name: str
    version: str | None  # None only where Azure has none (a pending-only certificate in a list)
    vault_url: str
    enabled: bool
    not_before: datetime | None
    expires_on: datetime | None
    created_on: datetime | None
    updated_on: datetime | None
    recovery_level: str
    recoverable_days: int
    tags: dict[str, str] = field(default_factory=dict)
    managed: bool = False


_set = object.__setattr__


def fast_init(cls: type[T], fields: dict[str, Any]) -> T:
    """Build a frozen dataclass from a complete field dict without its ``__init__``.

    For the hot read path: a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``. *fields* must name every field (checked in the tests) and is
    taken over: the caller hands in a dict of its own and does not change it afterwards.
    """
    obj = object.__new__(cls)
    _set(obj, "__dict__", fields)  # *fields* becomes the instance's dict (half the cost of a copy)
    return obj


def base_properties(kind: Kind, rec: VersionRecord, settings: VaultSettings) -> dict[str, object]:
    """The keyword arguments of :class:`ObjectProperties` for one stored version."""
    return {
        "id": f"{settings.url}/{kind.collection}/{rec.name}/{rec.version}",
        "name": rec.name,
        "version": rec.version,
        "vault_url": settings.url,
        "enabled": rec.enabled,
        "not_before": from_timestamp(rec.not_before),
        "expires_on": from_timestamp(rec.expires_on),
        "created_on": from_timestamp(rec.created_on),
        "updated_on": from_timestamp(rec.updated_on),
        "recovery_level": settings.recovery_level,
        "recoverable_days": settings.retention_days,
        "tags": dict(rec.tags),
        "managed": rec.managed,
    }


def deleted_fields(kind: Kind, name: str, deleted: DeletedRecord, settings: VaultSettings) -> dict[str, object]:
    return {
        "recovery_id": f"{settings.url}/deleted{kind.collection}/{name}",
        "deleted_date": from_timestamp(deleted.deleted_on),
        "scheduled_purge_date": from_timestamp(deleted.scheduled_purge),
    }


@dataclass(frozen=True)
class SecretProperties(ObjectProperties):
    """A secret version's attributes (no value)."""

    content_type: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class KeyVaultSecret:
    """A secret version with its value."""

    properties: SecretProperties
    value: str = field(repr=False)

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def id(self) -> str:
        return self.properties.id


class _LazyProperties:
    """Builds a lazy secret's ``properties`` on first access, then the instance keeps it."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        props = d.pop("_make")(d.pop("_rec"))
        d["properties"] = props  # an instance attribute from now on (this is a non-data descriptor)
        return props


class _LazySecret(KeyVaultSecret):
    """What ``get_secret`` returns: a :class:`KeyVaultSecret` whose properties (an id string,
    four datetimes, a tags dict, a frozen dataclass) are built only if they are used.

    Equal to, and ``repr``-ed and pickled like, the eager :class:`KeyVaultSecret`.
    """

    __qualname__ = "KeyVaultSecret"
    properties = _LazyProperties()  # type: ignore[assignment]

    @property
    def id(self) -> str:
        d = self.__dict__
        ident = d.get("_id")
        return cast(str, ident) if ident is not None else self.properties.id

    @property
    def name(self) -> str:
        rec = self.__dict__.get("_rec")
        return cast(str, rec.name) if rec is not None else self.properties.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyVaultSecret):
            return (self.properties, self.value) == (other.properties, other.value)
        return NotImplemented

    __hash__ = KeyVaultSecret.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyVaultSecret, (self.properties, self.value))


_LazySecret.__name__ = "KeyVaultSecret"


def lazy_secret(value: str, rec: VersionRecord, ident: str, make: Any) -> KeyVaultSecret:
    """A secret whose properties are ``make(rec)``, built on first use; *ident* is their ``id``."""
    obj = object.__new__(_LazySecret)
    obj.__dict__.update(value=value, _rec=rec, _make=make, _id=ident)
    return obj


class _FusedProperties:
    """Builds a fused read's ``properties`` from the record's plaintext on first access."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        props = d.pop("_make")(VersionRecord.from_bytes(d.pop("_plain")))
        d["properties"] = props
        return props


class FusedSecret(_LazySecret):
    """What the fused ``get_secret`` returns, built in C by ``fast_get``
    (csrc/vaultcore_pyfast.c): ``value`` and, in its ``__dict__``, the record's plaintext
    ``_plain`` (``name``, ``id`` and ``properties`` are decoded from it only if used), the
    properties' factory ``_make`` and the ids' prefix ``_prefix`` (``https://vault/secrets/``)."""

    __qualname__ = "KeyVaultSecret"
    properties = _FusedProperties()  # type: ignore[assignment]

    @property
    def id(self) -> str:
        d = self.__dict__
        plain = d.get("_plain")
        if plain is None:
            return cast(str, self.properties.id)
        name, version = VersionRecord.name_and_version(plain)
        return f"{d['_prefix']}{name}/{version}"

    @property
    def name(self) -> str:
        plain = self.__dict__.get("_plain")
        return VersionRecord.name_and_version(plain)[0] if plain is not None else self.properties.name


FusedSecret.__name__ = "KeyVaultSecret"


@dataclass(frozen=True)
class DeletedSecret:
    """A soft-deleted secret (Azure's ``DeletedSecret``: no value)."""

    properties: SecretProperties
    recovery_id: str
    deleted_date: datetime | None
    scheduled_purge_date: datetime | None

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def id(self) -> str:
        return self.properties.id
