"""v2 app-server wire types (camelCase JSON): every public name of the resource modules
below, re-exported; each module's own ``__all__`` says which of its names are public.

The re-exports load on first use: importing one resource module (``protocol.v2.item``)
runs this package first, and building every module's models there would cost each process
start the few hundred classes it never touches. A name is looked up in the modules of
:data:`_REEXPORTED` in order, importing them one at a time until one has it; ``from
threadline.protocol.v2 import *`` and ``dir()`` import them all. No name is public in two
of them (``tests/protocol/test_v2_models.py`` checks it).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names are, for the type checker
    from threadline.protocol.v2.approval import *  # noqa: F403
    from threadline.protocol.v2.common import *  # noqa: F403
    from threadline.protocol.v2.config import *  # noqa: F403
    from threadline.protocol.v2.item import *  # noqa: F403
    from threadline.protocol.v2.item_parts import *  # noqa: F403
    from threadline.protocol.v2.misc import *  # noqa: F403
    from threadline.protocol.v2.settings import *  # noqa: F403
    from threadline.protocol.v2.thread import *  # noqa: F403
    from threadline.protocol.v2.thread_ops import *  # noqa: F403
    from threadline.protocol.v2.turn import *  # noqa: F403
    from threadline.protocol.v2.usage import *  # noqa: F403

_REEXPORTED = (
    "common",
    "settings",
    "item_parts",
    "item",
    "turn",
    "usage",
    "thread",
    "thread_ops",
    "misc",
    "approval",
    "config",
)
"""The resource modules whose public names this package re-exports, the ones every
process needs first."""


def _module(name: str) -> Any:
    return importlib.import_module(f"{__name__}.{name}")


def _all_names() -> list[str]:
    return sorted(n for m in _REEXPORTED for n in _module(m).__all__)


def __getattr__(name: str) -> Any:
    if name == "__all__":
        names = _all_names()
        globals()["__all__"] = names
        return names
    if name.startswith("__"):
        raise AttributeError(name)
    if (Path(__file__).parent / f"{name}.py").is_file():
        return _module(name)  # ``from threadline.protocol.v2 import item``: that module only
    for module_name in _REEXPORTED:
        module = _module(module_name)
        if name in module.__all__:
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_all_names()})
