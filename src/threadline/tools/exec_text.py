"""The text side of ``exec_command``: its arguments, what a client is shown instead of the
raw command line, and how the output is kept and cut down for the model."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline.protocol.v2.item_parts import (
    CommandAction,
    ListFilesCommandAction,
    ReadCommandAction,
    SearchCommandAction,
    UnknownCommandAction,
)
from threadline.sandbox.policy import split_words

BYTES_PER_TOKEN = 4
"""The rough size of a token in bytes, for output budgets."""


# ---- arguments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecArgs:
    cmd: str
    workdir: str | None = None
    shell: str | None = None
    login: bool = True
    sandbox_permissions: str = "use_default"
    justification: str | None = None
    max_output_tokens: int | None = None
    prefix_rule: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, arguments: str) -> ExecArgs:
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("arguments must be a JSON object")
        cmd = raw.get("cmd")
        if not isinstance(cmd, str) or not cmd.strip():
            raise ValueError("`cmd` must be a non-empty string")
        perms = raw.get("sandbox_permissions") or "use_default"
        if perms not in ("use_default", "require_escalated"):
            raise ValueError("`sandbox_permissions` must be use_default or require_escalated")
        max_tokens = raw.get("max_output_tokens")
        prefix = raw.get("prefix_rule")
        return cls(
            cmd=cmd,
            workdir=_opt_str(raw, "workdir"),
            shell=_opt_str(raw, "shell"),
            login=bool(raw.get("login", True)),
            sandbox_permissions=perms,
            justification=_opt_str(raw, "justification"),
            max_output_tokens=int(max_tokens) if isinstance(max_tokens, int | float) else None,
            prefix_rule=tuple(str(p) for p in prefix) if isinstance(prefix, list) else None,
        )


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"`{key}` must be a string")
    return value or None


# ---- command actions (what a client shows instead of the raw command) ------------------------


def command_actions(cmd: str) -> list[CommandAction]:
    """A best-effort reading of a simple command: list, read, search, or unknown."""
    unknown: list[CommandAction] = [UnknownCommandAction(command=cmd)]
    if any(ch in cmd for ch in "|;&<>`$()\n"):
        return unknown
    words = split_words(cmd)
    if not words:
        return unknown
    program = words[0].rsplit("/", 1)[-1]
    operands = [w for w in words[1:] if not w.startswith("-")]
    if program in ("ls", "tree"):
        return [ListFilesCommandAction(command=cmd, path=operands[-1] if operands else None)]
    if program in ("cat", "head", "tail", "nl", "less", "more") and len(operands) == 1:
        path = operands[0]
        return [ReadCommandAction(command=cmd, name=Path(path).name, path=path)]
    if program in ("grep", "rg", "ag") and operands:
        where = operands[1] if len(operands) > 1 else None
        return [SearchCommandAction(command=cmd, query=operands[0], path=where)]
    return unknown


# ---- output capture -------------------------------------------------------------------------


class OutputCapture:
    """Keeps the first and last ``limit / 2`` bytes of a stream, counting the rest."""

    def __init__(self, limit: int) -> None:
        self._half = max(limit // 2, 1)
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self._half - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > self._half:
                del self._tail[: len(self._tail) - self._half]

    def text(self) -> str:
        dropped = self.total - len(self._head) - len(self._tail)
        head = self._head.decode("utf-8", "replace")
        if not self._tail:
            return head
        tail = self._tail.decode("utf-8", "replace")
        if dropped <= 0:
            return (self._head + self._tail).decode("utf-8", "replace")
        return f"{head}\n…{dropped} bytes of output omitted…\n{tail}"


def truncate_middle(text: str, max_tokens: int) -> str:
    """``text`` cut to about ``max_tokens`` tokens, keeping its start and its end."""
    budget = max_tokens * BYTES_PER_TOKEN
    if len(text) <= budget:
        return text
    half = budget // 2
    dropped = len(text) - 2 * half
    omitted = math.ceil(dropped / BYTES_PER_TOKEN)
    return f"{text[:half]}\n…{omitted} tokens truncated…\n{text[len(text) - half :]}"


__all__ = ["BYTES_PER_TOKEN", "ExecArgs", "OutputCapture", "command_actions", "truncate_middle"]
