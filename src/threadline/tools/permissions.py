"""``request_permissions``: the model asks the user for more sandbox access.

Codex 0.169 offers this tool only with ``features.request_permissions_tool`` (off by
default, "under development"); so does threadline. A call becomes the
``item/permissions/requestApproval`` server request (the thread shows
``waitingOnApproval``); the client grants a subset of what was asked, for the turn or
for the session. What was granted applies to every later ``exec_command`` of the turn
(or of the thread): granted write paths become extra writable roots of its sandbox,
granted network turns the sandbox's network on. The model reads Codex's answer,
``{"permissions":{"network":…,"file_system":…},"scope":"turn"}``; nothing granted
(a decline, ``{}``, an error, no client) reads as both ``null``.

Granted paths widen a ``workspace-write`` sandbox; a ``read-only`` thread stays
read-only (threadline's sandbox has no read-only mode with writable exceptions).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.tools.registry import ToolContext, ToolOutput
from threadline.tools.shell import ExecCommandTool

__all__ = [
    "FEATURE",
    "Grant",
    "GrantingShell",
    "PermissionGrants",
    "RequestPermissionsTool",
]

FEATURE = "request_permissions_tool"
"""The ``[features]`` key that offers the tool (Codex's name)."""


@dataclass(frozen=True, slots=True)
class Grant:
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    network: bool = False

    @property
    def empty(self) -> bool:
        return not (self.read or self.write or self.network)

    def model_json(self) -> dict[str, Any]:
        """The ``permissions`` member of the model's answer (snake_case, as Codex)."""
        fs: dict[str, Any] | None = None
        if self.read or self.write:
            fs = {}
            if self.read:
                fs["read"] = list(self.read)
            if self.write:
                fs["write"] = list(self.write)
        return {"network": {"enabled": True} if self.network else None, "file_system": fs}


@dataclass
class PermissionGrants:
    """What the user granted in one thread: per turn and for the whole session."""

    session: Grant = field(default_factory=Grant)
    turns: dict[str, Grant] = field(default_factory=dict)

    def add(self, turn_id: str, grant: Grant, scope: str) -> None:
        if scope == "session":
            self.session = _merge(self.session, grant)
        else:
            self.turns = {turn_id: _merge(self.turns.get(turn_id, Grant()), grant)}

    def effective(self, turn_id: str) -> Grant:
        return _merge(self.session, self.turns.get(turn_id, Grant()))


def _merge(a: Grant, b: Grant) -> Grant:
    return Grant(
        read=tuple(dict.fromkeys(a.read + b.read)),
        write=tuple(dict.fromkeys(a.write + b.write)),
        network=a.network or b.network,
    )


def _wire_request(grant: Grant) -> dict[str, Any]:
    """The ``RequestPermissionProfile`` of the server request (camelCase)."""
    fs: dict[str, Any] | None = None
    if grant.read or grant.write:
        entries = [{"path": {"type": "path", "path": p}, "access": "read"} for p in grant.read]
        entries += [{"path": {"type": "path", "path": p}, "access": "write"} for p in grant.write]
        fs = {
            "read": list(grant.read) or None,
            "write": list(grant.write) or None,
            "entries": entries,
        }
    return {"network": {"enabled": True} if grant.network else None, "fileSystem": fs}


def _paths(raw: Any, cwd: Path) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise ValueError("file_system paths must be a list of strings")
    return tuple(dict.fromkeys(os.path.normpath(cwd / p) for p in raw))


def _member(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _granted(answer: Any, asked: Grant, cwd: Path) -> tuple[Grant, str]:
    """The part of ``asked`` the client granted, and its scope (``turn`` | ``session``)."""
    if not isinstance(answer, dict):
        return Grant(), "turn"
    scope = "session" if answer.get("scope") == "session" else "turn"
    perms = _member(answer, "permissions")
    fs = _member(perms, "fileSystem")
    read: list[str] = list(fs.get("read") or [])
    write: list[str] = list(fs.get("write") or [])
    for entry in fs.get("entries") or []:
        path = (entry.get("path") or {}).get("path") if isinstance(entry, dict) else None
        if isinstance(path, str):
            (write if entry.get("access") == "write" else read).append(path)
    try:
        read_set, write_set = set(_paths(read, cwd)), set(_paths(write, cwd))
    except ValueError:
        return Grant(), scope
    net = _member(perms, "network")
    return (
        Grant(
            read=tuple(p for p in asked.read if p in read_set),
            write=tuple(p for p in asked.write if p in write_set),
            network=asked.network and net.get("enabled") is True,
        ),
        scope,
    )


class RequestPermissionsTool:
    """Asks the client for extra filesystem or network access for later commands."""

    name = "request_permissions"

    def __init__(self, grants: PermissionGrants) -> None:
        self.grants = grants

    def spec(self) -> dict[str, Any]:
        paths = {"type": "array", "items": {"type": "string"}}
        return {
            "type": "function",
            "name": self.name,
            "description": (
                "Ask the user for extra filesystem or network access and wait for the "
                "answer; the user may grant part of it. Relative paths resolve against the "
                "working directory. What is granted applies to the later shell commands of "
                "this turn, or of the whole session when the user grants it for the session."
            ),
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "environment_id": {
                        "type": "string",
                        "description": "The environment to ask for; omit for the primary one.",
                    },
                    "permissions": {
                        "type": "object",
                        "description": "The access asked for.",
                        "properties": {
                            "file_system": {
                                "type": "object",
                                "description": "Filesystem access.",
                                "properties": {
                                    "read": {**paths, "description": "Paths to read."},
                                    "write": {**paths, "description": "Paths to write."},
                                },
                                "additionalProperties": False,
                            },
                            "network": {
                                "type": "object",
                                "description": "Network access.",
                                "properties": {
                                    "enabled": {
                                        "type": "boolean",
                                        "description": "True asks for network access.",
                                    }
                                },
                                "additionalProperties": False,
                            },
                        },
                        "additionalProperties": False,
                    },
                    "reason": {
                        "type": "string",
                        "description": "A short reason shown to the user.",
                    },
                },
                "required": ["permissions"],
                "additionalProperties": False,
            },
        }

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        try:
            asked, reason = self._parse(arguments, ctx.cwd)
        except ValueError as exc:
            return ToolOutput(f"request_permissions: {exc}", success=False)
        answer: Any = None
        if ctx.ask_client is not None:
            request = ev.PermissionsRequest(
                approval_id=uuid.uuid4().hex,
                turn_id=ctx.turn_id,
                item_id=ctx.call_id,
                cwd=str(ctx.cwd),
                reason=reason,
                permissions=_wire_request(asked),
                started_at_ms=now_ms(),
            )
            answer = await ctx.ask_client(request, None, None)
        grant, scope = _granted(answer, asked, Path(ctx.cwd))
        if not grant.empty:
            self.grants.add(ctx.turn_id, grant, scope)
        text = json.dumps(
            {"permissions": grant.model_json(), "scope": scope}, separators=(",", ":")
        )
        return ToolOutput(text)

    @staticmethod
    def _parse(arguments: str, cwd: Path) -> tuple[Grant, str | None]:
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"failed to parse function arguments: {exc}") from exc
        perms = args.get("permissions") if isinstance(args, dict) else None
        if not isinstance(perms, dict):
            raise ValueError("missing `permissions`")
        fs = perms.get("file_system") or {}
        net = perms.get("network") or {}
        if not isinstance(fs, dict) or not isinstance(net, dict):
            raise ValueError("`file_system` and `network` must be objects")
        grant = Grant(
            read=_paths(fs.get("read"), cwd),
            write=_paths(fs.get("write"), cwd),
            network=net.get("enabled") is True,
        )
        if grant.empty:
            raise ValueError(
                "`permissions` must ask for at least one permission in `network` or `file_system`"
            )
        reason = args.get("reason")
        return grant, reason if isinstance(reason, str) and reason else None


class GrantingShell:
    """A shell tool (``exec_command``) whose sandbox also has what the user granted
    through ``request_permissions``: while one of its calls runs, the granted write paths
    are extra writable roots and a granted network turns the network on. The thread runs
    one tool call at a time, so the call's turn is the one whose grants apply."""

    def __init__(self, inner: ExecCommandTool, grants: PermissionGrants) -> None:
        self.inner = inner
        self.grants = grants
        self.name = inner.name
        self._roots = inner.writable_roots
        self._network = inner.network_access

    def spec(self) -> dict[str, Any]:
        return self.inner.spec()

    def __getattr__(self, name: str) -> Any:
        # ``input_progress``, ``aclose`` and whatever else the registry looks for.
        return getattr(self.inner, name)

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        grant = self.grants.effective(ctx.turn_id)
        self.inner.writable_roots = tuple(dict.fromkeys(self._roots + grant.write))
        self.inner.network_access = self._network or grant.network
        try:
            return await self.inner.run(ctx, arguments)
        finally:
            self.inner.writable_roots = self._roots
            self.inner.network_access = self._network
