"""Immutable value objects without importing :mod:`dataclasses` (issue 12's cold start).

A frozen dataclass generates its methods with ``exec`` when its module is imported (~0.8 ms
each on this project's machine), and ``dataclasses`` imports ``inspect`` (with ``ast``,
``dis`` and ``tokenize``): together ~60M instructions, a third of an open and a first read
in a new process. The records and result types on that path write their ``__init__`` by
hand; the rest is shared here: immutability, equality and hash by fields, a ``repr`` that
leaves out what must not be printed, :meth:`Frozen.evolve`, and for public types
(:class:`DataclassView`) everything ``dataclasses.fields`` / ``replace`` / ``asdict`` /
``is_dataclass`` need, built on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NoReturn, Self, dataclass_transform

__all__ = ["DataclassView", "Frozen", "field"]


class _Factory:
    """A default made per instance (what :func:`field` returns)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], Any]) -> Any:
    """``dataclasses.field(default_factory=...)`` for a :class:`Frozen` class: the class
    attribute says what ``__init__`` defaults to (for type checkers and the dataclass view);
    ``__init__`` makes the value."""
    return _Factory(default_factory)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Frozen:
    """Base of an immutable record whose fields live in its ``__dict__``.

    A subclass names its fields in :attr:`_fields` (in order) and fills ``self.__dict__`` in
    its ``__init__``, which takes every field as a keyword (``evolve`` calls it). Assigning
    or deleting a field raises ``dataclasses.FrozenInstanceError``, as a frozen dataclass
    does (imported only then).
    """

    __slots__ = ()

    #: The field names, in order.
    _fields: ClassVar[tuple[str, ...]] = ()
    #: Fields left out of ``repr`` (values, key material).
    _unprinted: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        type.__setattr__(cls, "__match_args__", cls._fields)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        d = self.__dict__
        return tuple(d[name] for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        d, hidden = self.__dict__, self._unprinted
        shown = ", ".join(f"{name}={d[name]!r}" for name in self._fields if name not in hidden)
        return f"{type(self).__qualname__}({shown})"

    def evolve(self, **changes: Any) -> Self:
        """A copy with *changes* (field names as keywords), made through ``__init__``."""
        unknown = changes.keys() - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        d = self.__dict__
        return type(self)(**{name: changes.get(name, d[name]) for name in self._fields})


class _Fields:
    """``__dataclass_fields__`` (or ``__dataclass_params__``) of a :class:`DataclassView`
    class, from a dataclass of the same fields made on first use and kept per class."""

    def __init__(self, attr: str) -> None:
        self._attr = attr

    def __get__(self, obj: object, owner: type[DataclassView]) -> Any:
        shadow = owner.__dict__.get("_shadow")
        if shadow is None:
            shadow = _shadow_of(owner)
            type.__setattr__(owner, "_shadow", shadow)
        return getattr(shadow, self._attr)


def _shadow_of(cls: type[DataclassView]) -> type:
    import dataclasses
    import inspect  # (dataclasses imports it anyway)

    declared: dict[str, tuple[Any, Any]] = {}  # name -> (annotation, default) where declared
    for klass in reversed(cls.__mro__):
        for name, hint in inspect.get_annotations(klass).items():
            declared[name] = (hint, klass.__dict__.get(name, dataclasses.MISSING))
    spec = []
    for name in cls._fields:
        hint, default = declared[name]
        shown = name not in cls._unprinted
        if isinstance(default, _Factory):
            spec.append((name, hint, dataclasses.field(default_factory=default.make, repr=shown)))
        else:
            spec.append((name, hint, dataclasses.field(default=default, repr=shown)))
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True)


class DataclassView(Frozen):
    """A :class:`Frozen` public type that ``dataclasses`` functions accept as a dataclass
    (``fields``, ``replace``, ``asdict``, ``astuple``, ``is_dataclass``), so that a result
    type can stop being a dataclass without its users noticing: ``__dataclass_fields__`` and
    ``__dataclass_params__`` are those of a frozen dataclass of the same fields and defaults
    (the class attributes), made the first time one of them is read."""

    __slots__ = ()

    __dataclass_fields__: ClassVar[Any] = _Fields("__dataclass_fields__")
    __dataclass_params__: ClassVar[Any] = _Fields("__dataclass_params__")

    def evolve(self, **changes: Any) -> Self:
        """``dataclasses.replace(self, **changes)``: right for a real dataclass that extends
        this class too (``KeyProperties``), whose fields are more than :attr:`_fields`."""
        import dataclasses

        return dataclasses.replace(self, **changes)
