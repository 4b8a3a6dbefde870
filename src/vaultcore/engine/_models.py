"""Public result types shared by the clients, named after the Azure SDK's models.

Immutable, and seen by ``dataclasses`` as frozen dataclasses (``_frozen.DataclassView``:
``fields``, ``replace``, ``asdict`` work) without importing it; values and key material are
kept out of ``repr``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast, overload

from vaultcore._frozen import DataclassView, field
from vaultcore.engine._records import VersionRecord
from vaultcore.engine._validation import from_timestamp

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultSettings
    from vaultcore.engine._records import DeletedRecord, Kind

T = TypeVar("T")

__all__ = ["DeletedSecret", "FusedSecret", "KeyVaultSecret", "ObjectProperties", "SecretProperties", "lazy_secret"]


class ObjectProperties(DataclassView):
    """Attributes every object version has (Azure's ``*Properties`` classes)."""

    _fields: ClassVar[tuple[str, ...]] = (
        "id",
        "name",
        "version",
        "vault_url",
        "enabled",
        "not_before",
        "expires_on",
        "created_on",
        "updated_on",
        "recovery_level",
        "recoverable_days",
        "tags",
        "managed",
    )

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

    def __init__(
        self,
        id: str,
        name: str,
        version: str | None,
        vault_url: str,
        enabled: bool,
        not_before: datetime | None,
        expires_on: datetime | None,
        created_on: datetime | None,
        updated_on: datetime | None,
        recovery_level: str,
        recoverable_days: int,
        tags: dict[str, str] | None = None,
        managed: bool = False,
    ) -> None:
        self.__dict__.update(
            id=id,
            name=name,
            version=version,
            vault_url=vault_url,
            enabled=enabled,
            not_before=not_before,
            expires_on=expires_on,
            created_on=created_on,
            updated_on=updated_on,
            recovery_level=recovery_level,
            recoverable_days=recoverable_days,
            tags={} if tags is None else tags,
            managed=managed,
        )


_set = object.__setattr__


def fast_init(cls: type[T], fields: dict[str, Any]) -> T:
    """Build a result from a complete field dict without its ``__init__``.

    For the hot read path: the dict becomes the instance's ``__dict__`` as it is, where
    ``__init__`` would take keywords and copy them. *fields* must name every field (checked in the tests) and is
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


class SecretProperties(ObjectProperties):
    """A secret version's attributes (no value)."""

    _fields = (*ObjectProperties._fields, "content_type", "key_id")

    content_type: str | None = None
    key_id: str | None = None

    def __init__(
        self,
        id: str,
        name: str,
        version: str | None,
        vault_url: str,
        enabled: bool,
        not_before: datetime | None,
        expires_on: datetime | None,
        created_on: datetime | None,
        updated_on: datetime | None,
        recovery_level: str,
        recoverable_days: int,
        tags: dict[str, str] | None = None,
        managed: bool = False,
        content_type: str | None = None,
        key_id: str | None = None,
    ) -> None:
        super().__init__(
            id,
            name,
            version,
            vault_url,
            enabled,
            not_before,
            expires_on,
            created_on,
            updated_on,
            recovery_level,
            recoverable_days,
            tags,
            managed,
        )
        self.__dict__.update(content_type=content_type, key_id=key_id)


class KeyVaultSecret(DataclassView):
    """A secret version with its value."""

    _fields = ("properties", "value")
    _unprinted = frozenset({"value"})

    properties: SecretProperties
    value: str

    def __init__(self, properties: SecretProperties, value: str) -> None:
        self.__dict__.update(properties=properties, value=value)

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def id(self) -> str:
        return self.properties.id


class _LazyProperties:
    """Builds a lazy secret's ``properties`` on first access, then the instance keeps it."""

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> SecretProperties: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        props = d.pop("_make")(d.pop("_rec"))
        d["properties"] = props  # an instance attribute from now on (this is a non-data descriptor)
        return props


class _LazySecret(KeyVaultSecret):
    """What ``get_secret`` returns: a :class:`KeyVaultSecret` whose properties (an id string,
    four datetimes, a tags dict, a SecretProperties) are built only if they are used.

    Equal to, and ``repr``-ed and pickled like, the eager :class:`KeyVaultSecret`.
    """

    __qualname__ = "KeyVaultSecret"

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
# Set after the class statement: a type checker would take a descriptor in its body for a field's default.
type.__setattr__(_LazySecret, "properties", _LazyProperties())


def lazy_secret(value: str, rec: VersionRecord, ident: str, make: Any) -> KeyVaultSecret:
    """A secret whose properties are ``make(rec)``, built on first use; *ident* is their ``id``."""
    obj = object.__new__(_LazySecret)
    obj.__dict__.update(value=value, _rec=rec, _make=make, _id=ident)
    return obj


class _FusedProperties:
    """Builds a fused read's ``properties`` from the record's plaintext on first access."""

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> SecretProperties: ...

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

    @property
    def id(self) -> str:
        d = self.__dict__
        plain = d.get("_plain")
        if plain is None:
            return self.properties.id
        name, version = VersionRecord.name_and_version(plain)
        return f"{d['_prefix']}{name}/{version}"

    @property
    def name(self) -> str:
        plain = self.__dict__.get("_plain")
        return VersionRecord.name_and_version(plain)[0] if plain is not None else self.properties.name


FusedSecret.__name__ = "KeyVaultSecret"
type.__setattr__(FusedSecret, "properties", _FusedProperties())


class DeletedSecret(DataclassView):
    """A soft-deleted secret (Azure's ``DeletedSecret``: no value)."""

    _fields = ("properties", "recovery_id", "deleted_date", "scheduled_purge_date")

    properties: SecretProperties
    recovery_id: str
    deleted_date: datetime | None
    scheduled_purge_date: datetime | None

    def __init__(
        self,
        properties: SecretProperties,
        recovery_id: str,
        deleted_date: datetime | None,
        scheduled_purge_date: datetime | None,
    ) -> None:
        self.__dict__.update(
            properties=properties,
            recovery_id=recovery_id,
            deleted_date=deleted_date,
            scheduled_purge_date=scheduled_purge_date,
        )

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def id(self) -> str:
        return self.properties.id
