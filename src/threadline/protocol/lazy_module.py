"""A module imported on first attribute access, for the one or two a start never needs.

``rollouts = lazy_module("threadline.store.rollouts")`` (under ``if not TYPE_CHECKING``,
with the real import for the type checker) lets a module name its heavy collaborator as
usual while a process that never calls into it never imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, cast


class _LazyModule:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> ModuleType:
    """A stand-in for module ``name`` whose attributes come from it, importing it the first
    time one is read (``sys.modules`` answers every later read)."""
    return cast(ModuleType, _LazyModule(name))  # typed as the module it stands for


__all__ = ["lazy_module"]
