"""Pydantic's plugin lookup at start-up, without ``importlib.metadata`` when there is none.

The first pydantic model a process builds asks ``pydantic.plugin._loader.get_plugins()``
for the plugins installed under the ``pydantic`` entry-point group. That module imports
``importlib.metadata`` (with ``email``, ``zipfile``, ``csv``, ...) and the call reads the
metadata of every installed distribution: 15-25 ms of every start before ``initialize``
is answered, to find, almost always, nothing. Setting ``PYDANTIC_DISABLE_PLUGINS`` would
also switch off the plugins a user did install, and leak into the commands the agent runs.

:func:`skip_plugin_lookup` instead answers the same question itself, the way
``importlib.metadata.entry_points(group="pydantic")`` does, but looking only at what could
hold such an entry point: the ``entry_points.txt`` of every ``*.dist-info`` and
``*.egg-info`` directory on ``sys.path``. When none names the group, and nothing on
``sys.path`` or ``sys.meta_path`` is of a kind it does not read (a zip or egg file, a finder
of its own distributions), it puts in pydantic's place a loader that finds no plugin,
which is what the real one would have found. Whenever it is not sure, it does nothing and
pydantic looks as usual.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from importlib.machinery import PathFinder

__all__ = ["LOADER_MODULE", "no_pydantic_plugins", "skip_plugin_lookup"]

LOADER_MODULE = "pydantic.plugin._loader"
_GROUP = "pydantic"


def _names_the_group(text: str) -> bool:
    # importlib.metadata's own reading (Sectioned.read): stripped lines, a section is a
    # line that starts with "[" and ends with "]", named by it stripped of brackets.
    for line in text.splitlines():
        value = line.strip()
        if value.startswith("[") and value.endswith("]") and value.strip("[]") == _GROUP:
            return True
    return False


def no_pydantic_plugins(path: Iterable[str] | None = None) -> bool:
    """True only when no distribution on ``path`` (default ``sys.path``) can declare a
    ``pydantic`` entry point; False when one does or when this cannot tell."""
    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None) is not None:
            return False
    for entry in sys.path if path is None else path:
        root = entry or "."
        try:
            with os.scandir(root) as children:
                found = [(c.name, c.path) for c in children if c.is_dir()]
        except FileNotFoundError:
            continue
        except OSError:  # a zip or egg file, an unreadable directory: not ours to read
            return False
        base_is_egg = root.lower().endswith(".egg")
        for name, child in found:
            low = name.lower()
            if not (low.endswith((".dist-info", ".egg-info")) or (base_is_egg and low == "egg-info")):
                continue
            try:
                with open(os.path.join(child, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, ValueError):
                return False
            if _names_the_group(text):
                return False
    return True


def _no_plugins() -> tuple[()]:
    return ()


def skip_plugin_lookup() -> bool:
    """Put a plugin loader that finds none in pydantic's place when that is what the real
    one would find (see the module docstring); True when it did."""
    if LOADER_MODULE in sys.modules or "PYDANTIC_DISABLE_PLUGINS" in os.environ:
        return False  # already looked, or the user's own setting: pydantic reads it
    if not no_pydantic_plugins():
        return False
    stand_in = types.ModuleType(LOADER_MODULE, "pydantic's plugin loader: no plugin is installed")
    stand_in.PYDANTIC_ENTRY_POINT_GROUP = _GROUP  # type: ignore[attr-defined]
    stand_in.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER_MODULE] = stand_in
    return True
