"""Tools from MCP servers, as the model sees them.

Every enabled tool of a ready server is offered two ways:

* on the Responses API, one ``namespace`` tool per server named ``mcp__<server>`` holding
  the server's tools as plain function tools (:func:`namespace_specs`);
* on Chat Completions and for models without namespaces, one flat function tool per MCP
  tool named ``mcp__<server>__<tool>`` (:func:`flat_names`): characters outside
  ``[a-zA-Z0-9_-]`` become ``_``, and a name that is too long (over 64) or that collides
  with another is cut and given a short hash of the qualified name, so every name is
  valid and distinct.

A call is an ``mcpToolCall`` item: ``item/started`` (``inProgress``), an
``item/mcpToolCall/progress`` per progress notification the server sends, then
``item/completed`` with ``result`` (``content``, ``structuredContent``) or ``error``.

What the model gets back: the structured content (as JSON text) when the server sent
any, else the content list; when the content holds an image the parts go back as
``input_text`` / ``input_image`` so the model sees the picture. ``isError`` makes the
output unsuccessful. A failed call (timeout, crash, unknown tool) tells the model the
error text.

Approval, as Codex 0.169 decides it (:func:`approval_required`): a tool that declares
``readOnlyHint``, or both ``destructiveHint`` and ``openWorldHint`` false, runs; so does one
whose configured ``approval_mode`` is ``approve``. Any other call is put to the user as an
``mcpServer/elicitation/request`` with ``_meta.codex_approval_kind = "mcp_tool_call"``
(:meth:`ElicitationBridge.ask_tool_approval`) — unless the policy is ``never``: then it fails
(:data:`APPROVAL_NEVER`), except with a ``danger-full-access`` sandbox, where it runs. A refused
call never reaches the server; the model reads why (:data:`REJECTED`, :data:`CANCELLED`).

This module talks to the connection manager only through :class:`McpCatalog` (the
tools layer may not import ``threadline.mcp``); any object with those methods works.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.items import ContentItem
from threadline.protocol.v2.item import McpToolCallThreadItem
from threadline.tools.mcp_elicitation import ElicitationBridge
from threadline.tools.registry import ToolContext, ToolOutput, ToolRegistry

__all__ = [
    "MAX_NAME_LEN",
    "McpCatalog",
    "McpTool",
    "McpToolLike",
    "dispatch_name",
    "flat_names",
    "mcp_tools",
    "model_output",
    "namespace_of",
    "namespace_specs",
    "needs_approval",
    "approval_required",
]

MAX_NAME_LEN = 64
PREFIX = "mcp"
DELIMITER = "__"
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


class McpToolLike(Protocol):
    """One MCP tool as the manager lists it (``threadline.mcp.McpToolInfo``)."""

    @property
    def server(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def input_schema(self) -> dict[str, Any]: ...
    @property
    def annotations(self) -> dict[str, Any] | None: ...


class McpCatalog(Protocol):
    """What the tools need of the connection manager (``threadline.mcp.McpManager``)."""

    def tools(self) -> Sequence[McpToolLike]: ...

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        meta: dict[str, Any] | None = None,
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Returns an ``mcp.types.CallToolResult``; raises with a clear message on failure."""
        ...

    # Optional: ``tool_approval_mode(server, tool) -> str | None``, the configured
    # ``approval_mode`` of a tool (the manager has it; a catalog without it means ``auto``).


def _sanitize(name: str) -> str:
    return _INVALID.sub("_", name) or "_"


def _hashed(base: str, qualified: str) -> str:
    digest = hashlib.sha1(qualified.encode()).hexdigest()[:8]
    return base[: MAX_NAME_LEN - len(digest) - 1] + "_" + digest


def flat_names(tools: Iterable[McpToolLike]) -> dict[str, McpToolLike]:
    """Flat model-facing name → tool, every name valid for the APIs and distinct.

    Tools keep the order given; when two tools sanitize to the same name, the later one
    (and any over-long name) gets a hash of its ``server``/``tool`` pair."""
    out: dict[str, McpToolLike] = {}
    for tool in tools:
        qualified = f"{PREFIX}{DELIMITER}{tool.server}{DELIMITER}{tool.name}"
        name = _sanitize(qualified)
        if len(name) > MAX_NAME_LEN or name in out:
            name = _hashed(name, qualified)
        while name in out:  # a hash collision after cutting: rehash deterministically
            qualified += "'"
            name = _hashed(name, qualified)
        out[name] = tool
    return out


def _function_spec(name: str, tool: McpToolLike) -> dict[str, Any]:
    schema = dict(tool.input_schema or {})
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return {
        "type": "function",
        "name": name,
        "description": tool.description or "",
        "strict": False,
        "parameters": schema,
    }


def namespace_of(server: str) -> str:
    """The Responses-API namespace a server's tools are offered in: ``mcp__<server>``."""
    name = _sanitize(f"{PREFIX}{DELIMITER}{server}")
    return name if len(name) <= MAX_NAME_LEN else _hashed(name, server)


def _members(tools: Iterable[McpToolLike]) -> dict[str, list[tuple[str, McpToolLike]]]:
    """Per server, each tool with its (valid, distinct) name inside the namespace."""
    by_server: dict[str, list[tuple[str, McpToolLike]]] = {}
    seen: dict[str, set[str]] = {}
    for tool in tools:
        taken = seen.setdefault(tool.server, set())
        name = _sanitize(tool.name)
        if len(name) > MAX_NAME_LEN or name in taken:
            name = _hashed(name, f"{tool.server}/{tool.name}")
        taken.add(name)
        by_server.setdefault(tool.server, []).append((name, tool))
    return by_server


def namespace_specs(tools: Iterable[McpToolLike]) -> list[dict[str, Any]]:
    """One Responses-API ``namespace`` tool per server (``mcp__<server>``) holding its
    tools as function tools under their own (sanitized) names."""
    return [
        {
            "type": "namespace",
            "name": namespace_of(server),
            "description": f"Tools of the {server} MCP server.",
            "tools": [_function_spec(name, tool) for name, tool in members],
        }
        for server, members in _members(tools).items()
    ]


def dispatch_name(registry: ToolRegistry, name: str, namespace: str | None) -> str:
    """The registry name of a call the model made as ``namespace`` + ``name`` (a
    Responses-API ``function_call`` with a ``namespace``); ``name`` itself otherwise."""
    if not namespace:
        return name
    for registered in registry.names():
        tool = registry.get(registered)
        if (
            isinstance(tool, McpTool)
            and tool.namespace == namespace
            and tool.namespaced_name == name
        ):
            return registered
    return f"{namespace}{DELIMITER}{name}"


APPROVAL_NEVER = "MCP tool call requires approval, but approval policy is never"
REJECTED = "user rejected MCP tool call"
CANCELLED = "user cancelled MCP tool call"


def approval_required(annotations: dict[str, Any] | None, mode: str | None = None) -> bool:
    """Whether a call must be put to the user, as Codex 0.169 decides it.

    ``mode`` is the tool's configured ``approval_mode``: ``approve`` never asks, ``prompt``
    always asks. Otherwise (``auto``) a tool that declares ``readOnlyHint`` runs; so does
    one that declares both ``destructiveHint`` and ``openWorldHint`` false. Every other
    tool is asked about, a tool without annotations included (the MCP spec's defaults are
    destructive and open-world)."""
    if mode == "approve":
        return False
    if mode == "prompt":
        return True
    notes = annotations or {}
    if notes.get("readOnlyHint") is True:
        return False
    return notes.get("destructiveHint", True) is not False or (
        notes.get("openWorldHint", True) is not False
    )


def needs_approval(
    approval_policy: str, annotations: dict[str, Any] | None, mode: str | None = None
) -> bool:
    """Whether the user is asked: the call needs approval and the policy lets us ask.
    (Under ``never`` such a call is not asked about: it fails, see :data:`APPROVAL_NEVER`.)"""
    return approval_policy != "never" and approval_required(annotations, mode)


def approval_message(server: str, tool: str) -> str:
    return f'Allow the {server} MCP server to run tool "{tool}"?'


def approval_meta(info: McpToolLike, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """The ``_meta`` of the approval request, with the keys Codex 0.169 sends."""
    meta: dict[str, Any] = {
        "codex_approval_kind": "mcp_tool_call",
        "persist": ["session", "always"],
        "tool_name": info.name,
    }
    if info.annotations:
        meta["tool_annotations"] = info.annotations
    if info.description:
        meta["tool_description"] = info.description
    params = arguments or {}
    meta["tool_params"] = params
    meta["tool_params_display"] = [
        {"name": key, "value": value, "display_name": key} for key, value in params.items()
    ]
    return meta


def _dump(block: Any) -> dict[str, Any]:
    if isinstance(block, dict):
        return block
    dump = getattr(block, "model_dump", None)
    if dump is not None:
        out: dict[str, Any] = dump(by_alias=True, exclude_none=True, mode="json")
        return out
    return {"type": "text", "text": str(block)}


def _result_parts(result: Any) -> tuple[list[dict[str, Any]], Any, bool]:
    content = [_dump(b) for b in getattr(result, "content", None) or []]
    # mcp 2.x names the fields in snake case, mcp 1.x as on the wire
    structured = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    is_error = getattr(result, "is_error", getattr(result, "isError", False))
    return content, structured, bool(is_error)


def model_output(result: Any) -> ToolOutput:
    """A ``CallToolResult`` as the call's output item."""
    content, structured, is_error = _result_parts(result)
    success = not is_error
    if any(block.get("type") == "image" for block in content):
        parts: list[ContentItem] = []
        for block in content:
            if block.get("type") == "image":
                mime = block.get("mimeType") or "image/png"
                url = f"data:{mime};base64,{block.get('data', '')}"
                parts.append(ContentItem(type="input_image", image_url=url))
            elif block.get("type") == "text":
                parts.append(ContentItem(type="input_text", text=str(block.get("text", ""))))
            else:
                parts.append(ContentItem(type="input_text", text=json.dumps(block)))
        return ToolOutput(text="", success=success, content=parts)
    if structured is not None:
        return ToolOutput(text=json.dumps(structured, ensure_ascii=False), success=success)
    return ToolOutput(text=json.dumps(content, ensure_ascii=False), success=success)


def _progress_message(progress: float, total: float | None, message: str | None) -> str:
    if message:
        return message
    if total:
        return f"{progress:g}/{total:g}"
    return f"{progress:g}"


class McpTool:
    """One MCP tool offered to the model under a flat function name."""

    def __init__(
        self,
        name: str,
        info: McpToolLike,
        catalog: McpCatalog,
        *,
        timeout_s: float | None = None,
        elicitations: ElicitationBridge | None = None,
        namespaced_name: str | None = None,
    ) -> None:
        self.name = name
        self.info = info
        self._catalog = catalog
        self._timeout_s = timeout_s
        self._elicitations = elicitations
        self.namespace = namespace_of(info.server)
        self.namespaced_name = namespaced_name or _sanitize(info.name)
        """How the tool is named inside its server's namespace."""

    def spec(self) -> dict[str, Any]:
        return _function_spec(self.name, self.info)

    def _in_call(self, ctx: ToolContext) -> AbstractContextManager[None]:
        """Elicitations of this server during the call are asked on the call's behalf."""
        if self._elicitations is None:
            return nullcontext()
        return self._elicitations.in_call(self.info.server, ctx.turn_id, ctx.call_id)

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        args: Any
        try:
            args = json.loads(arguments) if arguments.strip() else None
        except json.JSONDecodeError as exc:
            return ToolOutput(f"failed to parse function arguments: {exc}", success=False)
        if args is not None and not isinstance(args, dict):
            return ToolOutput("MCP tool arguments must be a JSON object", success=False)
        notes = self.info.annotations or {}
        started = now_ms()
        clock = time.monotonic()
        item = McpToolCallThreadItem(
            id=ctx.call_id,
            server=self.info.server,
            tool=self.info.name,
            arguments=args if args is not None else {},
            status="inProgress",
            started_at_ms=started,
            read_only_hint=notes.get("readOnlyHint"),
        )
        await _emit(ctx, ev.ItemStarted(turn_id=ctx.turn_id, item=item, started_at_ms=started))

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await _emit(
                ctx,
                ev.McpToolCallProgress(
                    turn_id=ctx.turn_id,
                    item_id=ctx.call_id,
                    message=_progress_message(done, total, message),
                ),
            )

        fields: dict[str, Any]
        refused = await self._approval(ctx, args)
        if refused is not None:
            output = ToolOutput(refused, success=False)
            fields = {"status": "failed", "error": {"message": refused}}
            await self._complete(ctx, item, fields, clock)
            return output
        try:
            with self._in_call(ctx):
                result = await self._catalog.call_tool(
                    self.info.server,
                    self.info.name,
                    args,
                    progress=progress,
                    timeout_s=self._timeout_s,
                )
        except Exception as exc:  # the manager's error text is what the model and client see
            message = str(exc) or type(exc).__name__
            output = ToolOutput(f"tool call error: {message}", success=False)
            fields = {"status": "failed", "error": {"message": message}}
        else:
            output = model_output(result)
            content, structured, is_error = _result_parts(result)
            meta = getattr(result, "meta", None)
            fields = {
                "status": "failed" if is_error else "completed",
                "result": {"content": content, "structuredContent": structured, "_meta": meta},
            }
        await self._complete(ctx, item, fields, clock)
        return output

    async def _approval(self, ctx: ToolContext, args: dict[str, Any] | None) -> str | None:
        """``None`` when the call may run; else why not (what the model and client see)."""
        lookup = getattr(self._catalog, "tool_approval_mode", None)
        mode = lookup(self.info.server, self.info.name) if callable(lookup) else None
        if not approval_required(self.info.annotations, mode):
            return None
        bridge = self._elicitations
        if bridge is not None and bridge.approved_for_session(self.info.server, self.info.name):
            return None
        if ctx.approval_policy == "never":
            # Codex runs it unasked only when nothing is sandboxed anyway.
            return None if ctx.sandbox_mode == "danger-full-access" else APPROVAL_NEVER
        if bridge is None:
            return REJECTED  # nobody to ask
        action = await bridge.ask_tool_approval(
            self.info.server,
            self.info.name,
            turn_id=ctx.turn_id,
            item_id=ctx.call_id,
            message=approval_message(self.info.server, self.info.name),
            meta=approval_meta(self.info, args),
        )
        if action == "accept-always":
            persist = getattr(self._catalog, "approve_always", None)
            if callable(persist):
                persist(self.info.server, self.info.name)
            return None
        if action == "accept":
            return None
        return CANCELLED if action == "cancel" else REJECTED

    async def _complete(
        self, ctx: ToolContext, item: McpToolCallThreadItem, fields: dict[str, Any], clock: float
    ) -> None:
        done = item.model_validate(
            {
                **item.model_dump(by_alias=True),
                **fields,
                "durationMs": int((time.monotonic() - clock) * 1000),
                "completedAtMs": now_ms(),
            }
        )
        if ctx.complete_item is not None:
            await ctx.complete_item(done)
        else:
            await _emit(
                ctx,
                ev.ItemCompleted(
                    turn_id=ctx.turn_id, item=done, completed_at_ms=done.completed_at_ms
                ),
            )


def mcp_tools(
    catalog: McpCatalog,
    *,
    reserved: Iterable[str] = (),
    timeout_s: float | None = None,
    elicitations: ElicitationBridge | None = None,
) -> list[McpTool]:
    """The flat tools for every tool the catalog lists now; a name already taken by a
    built-in tool (``reserved``) is left out, the built-in wins."""
    taken = set(reserved)
    listed = list(catalog.tools())
    inner = {id(tool): name for members in _members(listed).values() for name, tool in members}
    return [
        McpTool(
            name,
            info,
            catalog,
            timeout_s=timeout_s,
            elicitations=elicitations,
            namespaced_name=inner[id(info)],
        )
        for name, info in flat_names(listed).items()
        if name not in taken
    ]


async def _emit(ctx: ToolContext, msg: ev.EventMsg) -> None:
    if ctx.emit is not None:
        await ctx.emit(msg)
