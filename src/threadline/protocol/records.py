"""``record``: a value class the type checker treats as a frozen dataclass, made cheaply.

Python 3.11 writes each generated dataclass method as source text and compiles it on
its own; a ``frozen=True`` class adds ``__setattr__``, ``__delattr__`` and an
``__init__`` that stores every field through ``object.__setattr__``, about 30 % of what
creating the class costs. A start creates a few dozen such records (the config tables,
the store's rows and queries, the method table's specs) before its first answer.

``record`` makes the same class without the run-time freeze: the fields, ``__init__``,
``__repr__``, ``__eq__``, ``__match_args__`` and slots are what ``frozen=True,
slots=True`` gives, and ``unsafe_hash=True`` keeps the hash a frozen class has (of its
fields), so records still work as set members and dict keys. The freeze is kept where it
was useful: ``dataclass_transform(frozen_default=True)`` makes mypy refuse every
assignment to a field, as it does for a frozen dataclass. ``dataclasses.replace``,
``fields`` and ``asdict`` work as before.
"""

from collections.abc import Callable
from dataclasses import Field, dataclass, field
from typing import TypeVar, dataclass_transform, overload

__all__ = ["record"]

_T = TypeVar("_T")


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
        return dataclass(slots=slots, unsafe_hash=True)(klass)

    return wrap if cls is None else wrap(cls)
