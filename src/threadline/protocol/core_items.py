"""v2 ``commandExecution`` -> Codex's core ``CommandExecution`` item, the ``item`` of
a rollout ``item_completed`` line.

Codex 0.169 records a finished command and a finished patch as
``event_msg/item_completed`` lines whose ``item`` is its core item (snake_case,
``type`` in PascalCase; the patch's is built by ``events.file_change_turn_item``)::

    {"type": "CommandExecution", "id": <call id>, "process_id", "command": [argv...],
     "cwd": "file:///...", "parsed_cmd": [{"type": "unknown", "cmd": ...}], "source":
     "unified_exec_startup", "status": "completed", "aggregated_output", "exit_code",
     "duration": {"secs", "nanos"}}
    {"type": "FileChange", "id": <call id>, "changes": {<path>: {"type": "update",
     "unified_diff", "move_path"} | {"type": "add", "content"} | {"type": "delete",
     "content"}}, "status": "completed", "stdout", "stderr"}

:func:`command_execution_turn_item` builds the first shape from the v2 item the live
turn completed (``rollout.turn_items.core_item_to_wire`` is the way back).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from threadline.protocol.v2.item import CommandExecutionThreadItem

__all__ = ["command_execution_turn_item", "snake"]

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``camelCase`` -> ``snake_case`` (``unifiedExecStartup`` -> ``unified_exec_startup``)."""
    return _CAMEL_HUMP.sub("_", name).lower()


def _argv(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # unbalanced quotes: keep the text whole
        return [command]


def _parsed_cmd(actions: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in actions:
        kind = getattr(action, "type", "unknown")
        entry: dict[str, Any] = {"type": snake(kind), "cmd": action.command}
        if kind == "read":
            entry.update(name=action.name, path=action.path)
        elif kind in ("listFiles", "search"):
            entry["path"] = action.path
            if kind == "search":
                entry["query"] = action.query
        out.append(entry)
    return out


def _duration(ms: int | None) -> dict[str, int] | None:
    if ms is None:
        return None
    return {"secs": ms // 1000, "nanos": (ms % 1000) * 1_000_000}


def command_execution_turn_item(item: CommandExecutionThreadItem) -> dict[str, Any]:
    """Codex's core ``CommandExecution`` item for a finished v2 ``commandExecution``."""
    return {
        "type": "CommandExecution",
        "id": item.id,
        "process_id": item.process_id,
        "command": _argv(item.command),
        "cwd": "file://" + item.cwd if item.cwd.startswith("/") else item.cwd,
        "parsed_cmd": _parsed_cmd(list(item.command_actions)),
        "source": snake(item.source),
        "status": snake(item.status),
        "aggregated_output": item.aggregated_output,
        "exit_code": item.exit_code,
        "duration": _duration(item.duration_ms),
    }


