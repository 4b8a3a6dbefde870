"""Immutable value objects for internal records, without :mod:`dataclasses`.

A frozen dataclass generates its methods with ``exec`` when its module is imported (~0.8 ms
each on this project's machine), and six internal types on the path of an open and a first
read paid ~5 ms of a new process's cold start for it (issue 12). Their ``__init__`` is
written by hand; the rest is shared here: immutability, equality and hash by fields, a
``repr`` that leaves out what must not be printed, and :meth:`Frozen.evolve` (what
``dataclasses.replace`` did). Public result types stay dataclasses.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn, Self

__all__ = ["Frozen"]


class Frozen:
    """Base of an immutable record whose fields live in its ``__dict__``.

    A subclass names its fields in :attr:`_fields` (in order) and fills ``self.__dict__`` in
    its ``__init__``, which takes every field as a keyword (``evolve`` calls it).
    """

    __slots__ = ()

    #: The field names, in order.
    _fields: ClassVar[tuple[str, ...]] = ()
    #: Fields left out of ``repr`` (values, key material).
    _unprinted: ClassVar[frozenset[str]] = frozenset()

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

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
        return f"{type(self).__name__}({shown})"

    def evolve(self, **changes: Any) -> Self:
        """A copy with *changes* (field names as keywords), made through ``__init__``."""
        unknown = changes.keys() - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        d = self.__dict__
        return type(self)(**{name: changes.get(name, d[name]) for name in self._fields})
