"""``record``: a value class the type checker treats as a frozen dataclass, made cheaply.

Python 3.11 writes each generated dataclass method as source text and compiles it on
its own: a ``frozen=True, slots=True`` class compiles ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__``, about half a millisecond
for a row of twenty fields. A start creates a few dozen such records (the config tables,
the store's rows and queries, the method table's specs) before its first answer.

``record`` has the dataclass compile only ``__init__`` (defaults, factories and
``__post_init__`` stay the dataclass's own) and gives the class ``__repr__``, ``__eq__``
and ``__hash__`` that read the fields through one ``operator.attrgetter`` made for the
class: the same text, the same comparisons (same class only, fields in order, those with
``compare=False`` left out) and the same hash values as the generated ones, so records
still work as set members and dict keys. The run-time freeze is dropped and kept where
it was useful: ``dataclass_transform(frozen_default=True)`` makes mypy refuse every
assignment to a field, as it does for a frozen dataclass. Slots, ``__match_args__``,
``dataclasses.replace``, ``fields`` and ``asdict`` work as before.
"""

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import Field, dataclass, field
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

_T = TypeVar("_T")

Getter = Callable[[Any], tuple[Any, ...]]


def _getter(names: tuple[str, ...]) -> Getter:
    """The values of ``names`` of an object, always as a tuple (as the generated methods
    build them: ``hash((x,))`` is not ``hash(x)``)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _add_methods(klass: type[_T]) -> type[_T]:
    fields = dataclasses.fields(klass)  # type: ignore[arg-type]
    shown = tuple(f.name for f in fields if f.repr)
    shown_values = _getter(shown)
    compared = _getter(tuple(f.name for f in fields if f.compare))
    hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        pairs = ", ".join(f"{n}={v!r}" for n, v in zip(shown, shown_values(self), strict=True))
        return f"{self.__class__.__qualname__}({pairs})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(compared(self) == compared(other))
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    for method in (__repr__, __eq__, __hash__):
        if method.__name__ not in vars(klass):  # a method the class writes itself stays
            method.__qualname__ = f"{klass.__qualname__}.{method.__name__}"
            setattr(klass, method.__name__, method)
    return klass


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, slots: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(
    cls: type[_T] | None = None, /, *, slots: bool = True
) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """``@record`` (slots) or ``@record(slots=False)`` (a class that needs ``__dict__``,
    e.g. for ``functools.cached_property``)."""

    def wrap(klass: type[_T]) -> type[_T]:
        return _add_methods(dataclass(slots=slots, repr=False, eq=False)(klass))

    return wrap if cls is None else wrap(cls)
