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
    yield_time_ms: int | None = None
    tty: bool = False

    @classmethod
    def parse(cls, arguments: str) -> ExecArgs:
        raw = _object(arguments)
        cmd = raw.get("cmd")
        if not isinstance(cmd, str) or not cmd.strip():
            raise ValueError("`cmd` must be a non-empty string")
        perms = raw.get("sandbox_permissions") or "use_default"
        if perms not in ("use_default", "require_escalated"):
            raise ValueError("`sandbox_permissions` must be use_default or require_escalated")
        prefix = raw.get("prefix_rule")
        return cls(
            cmd=cmd,
            workdir=_opt_str(raw, "workdir"),
            shell=_opt_str(raw, "shell"),
            login=bool(raw.get("login", True)),
            sandbox_permissions=perms,
            justification=_opt_str(raw, "justification"),
            max_output_tokens=_opt_int(raw, "max_output_tokens"),
            prefix_rule=tuple(str(p) for p in prefix) if isinstance(prefix, list) else None,
            yield_time_ms=_opt_int(raw, "yield_time_ms"),
            tty=bool(raw.get("tty", False)),
        )


@dataclass(frozen=True, slots=True)
class WriteStdinArgs:
    session_id: int
    chars: str = ""
    yield_time_ms: int | None = None
    max_output_tokens: int | None = None

    @classmethod
    def parse(cls, arguments: str) -> WriteStdinArgs:
        raw = _object(arguments)
        session_id = raw.get("session_id")
        if isinstance(session_id, bool) or not isinstance(session_id, int | float):
            raise ValueError("`session_id` must be a number")
        chars = raw.get("chars") or ""
        if not isinstance(chars, str):
            raise ValueError("`chars` must be a string")
        return cls(
            session_id=int(session_id),
            chars=chars,
            yield_time_ms=_opt_int(raw, "yield_time_ms"),
            max_output_tokens=_opt_int(raw, "max_output_tokens"),
        )


def _object(arguments: str) -> dict[str, Any]:
    try:
        raw = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"arguments are not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("arguments must be a JSON object")
    return raw


def _opt_int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"`{key}` must be a number")
    return int(value)


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


def token_count(total_bytes: int) -> int:
    """Codex's rough token count of ``total_bytes`` of output."""
    return math.ceil(total_bytes / BYTES_PER_TOKEN)


def exec_output_text(
    *,
    chunk_id: str,
    wall_time_s: float,
    exit_code: int | None,
    session_id: int | None,
    original_tokens: int,
    output: str,
) -> str:
    """What the model reads after ``exec_command`` / ``write_stdin`` (Codex's layout): the
    exit code once the process has ended, else the session id to continue with."""
    lines = [f"Chunk ID: {chunk_id}", f"Wall time: {wall_time_s:.4f} seconds"]
    if exit_code is not None:
        lines.append(f"Process exited with code {exit_code}")
    if session_id is not None:
        lines.append(f"Process running with session ID {session_id}")
    lines += [f"Original token count: {original_tokens}", "Output:", output]
    return "\n".join(lines)


# ---- tool specs (the descriptions the model reads are Codex 0.169's) ----------------------

_TOKENS_DESCRIPTION = (
    "Output token budget. Defaults to 10000 tokens; larger requests may be capped by policy."
)


def exec_command_spec() -> dict[str, Any]:
    return {
        "type": "function",
        "name": "exec_command",
        "description": (
            "Runs a command in a PTY, returning output or a session ID for ongoing interaction."
        ),
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {
                "cmd": {"type": "string", "description": "Shell command to execute."},
                "justification": {
                    "type": "string",
                    "description": (
                        "User-facing approval question for `require_escalated`; omit otherwise."
                    ),
                },
                "login": {
                    "type": "boolean",
                    "description": (
                        "True runs the shell with -l/-i semantics; false disables them. "
                        "Defaults to true."
                    ),
                },
                "max_output_tokens": {"type": "number", "description": _TOKENS_DESCRIPTION},
                "prefix_rule": {
                    "type": "array",
                    "description": (
                        "Reusable approval prefix for `cmd`, only with `sandbox_permissions: "
                        '"require_escalated"`; for example ["git", "pull"].'
                    ),
                    "items": {"type": "string"},
                },
                "sandbox_permissions": {
                    "type": "string",
                    "description": (
                        "Per-command sandbox override. Defaults to `use_default`; use "
                        "`require_escalated` for unsandboxed execution."
                    ),
                    "enum": ["use_default", "require_escalated"],
                },
                "shell": {
                    "type": "string",
                    "description": "Shell binary to launch. Defaults to the user's default shell.",
                },
                "tty": {
                    "type": "boolean",
                    "description": (
                        "True allocates a PTY for the command; false or omitted uses plain pipes."
                    ),
                },
                "workdir": {
                    "type": "string",
                    "description": "Working directory for the command. Defaults to the turn cwd.",
                },
                "yield_time_ms": {
                    "type": "number",
                    "description": (
                        "Wait before yielding output. Defaults to 10000 ms; effective range is "
                        "250-30000 ms."
                    ),
                },
            },
            "required": ["cmd"],
            "additionalProperties": False,
        },
    }


def write_stdin_spec() -> dict[str, Any]:
    return {
        "type": "function",
        "name": "write_stdin",
        "description": (
            "Writes characters to an existing unified exec session and returns recent output."
        ),
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {
                "chars": {
                    "type": "string",
                    "description": (
                        "Bytes to write to stdin. Defaults to empty, which polls without writing."
                    ),
                },
                "max_output_tokens": {"type": "number", "description": _TOKENS_DESCRIPTION},
                "session_id": {
                    "type": "number",
                    "description": "Identifier of the running unified exec session.",
                },
                "yield_time_ms": {
                    "type": "number",
                    "description": (
                        "Wait before yielding output. Non-empty writes default to 250 ms and cap "
                        "at 30000 ms; empty polls wait 5000-300000 ms by default."
                    ),
                },
            },
            "required": ["session_id"],
            "additionalProperties": False,
        },
    }


__all__ = [
    "BYTES_PER_TOKEN",
    "ExecArgs",
    "OutputCapture",
    "WriteStdinArgs",
    "command_actions",
    "exec_command_spec",
    "exec_output_text",
    "token_count",
    "truncate_middle",
    "write_stdin_spec",
]
