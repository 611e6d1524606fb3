"""A module imported on first attribute access, for the one or two a start never needs.

``rollouts = lazy_module("threadline.store.rollouts")`` (under ``if not TYPE_CHECKING``,
with the real import for the type checker) lets a module name its heavy collaborator as
usual while a process that never calls into it never imports it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, cast

Around = Callable[[], AbstractContextManager[object]]
"""What a first import runs inside (a context manager factory)."""


def _load(name: str, around: Around | None) -> ModuleType:
    # ``import_module`` even when ``sys.modules`` has it: a module another thread is still
    # importing is there half-built, and only the import machinery waits for it.
    if around is None or name in sys.modules:
        return importlib.import_module(name)
    with around():
        return importlib.import_module(name)


class _LazyModule:
    __slots__ = ("_around", "_name")

    def __init__(self, name: str, around: Around | None) -> None:
        self._name = name
        self._around = around

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self._name, self._around), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str, around: Around | None = None) -> ModuleType:
    """A stand-in for module ``name`` whose attributes come from it, importing it the first
    time one is read (``importlib`` answers every later read at once). The import runs inside
    ``around()`` when given: the collector's pause (``store.gc_pause.gc_paused``), as at
    start, so the objects a big module makes are not walked again and again meanwhile."""
    return cast(ModuleType, _LazyModule(name, around))  # typed as the module it stands for


def lazy_attribute(module: str, name: str, around: Around | None = None) -> Any:
    """A stand-in for ``module.name`` (a class, say) that imports ``module`` when one of its
    attributes is first read or it is first called: ``EventMsg.model_validate(...)`` works
    through it. ``isinstance`` and subclassing need the real object: import that instead."""
    return _LazyAttribute(module, name, around)


class _LazyAttribute:
    __slots__ = ("_around", "_module", "_name")

    def __init__(self, module: str, name: str, around: Around | None) -> None:
        self._module = module
        self._name = name
        self._around = around

    def _target(self) -> Any:
        return getattr(_load(self._module, self._around), self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


__all__ = ["lazy_attribute", "lazy_module"]
