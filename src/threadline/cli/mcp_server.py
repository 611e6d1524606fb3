"""``threadline mcp-server``: threadline served over stdio as an MCP server.

As ``codex mcp-server`` did (Codex 0.153.4, the last release that had it), two tools:

- ``codex`` starts a thread with a prompt and settings (``model``, ``cwd``,
  ``approval-policy``, ``sandbox``, ``base-instructions``, ``developer-instructions``,
  and ``config``: config keys as a JSON object, applied like ``-c key=value`` on top of
  the command line's; one thread manager per distinct ``config``), runs one turn and
  answers with its final message (``compact-prompt`` is accepted and not used: threadline's
  compaction prompt is not configurable);
- ``codex-reply`` runs one more turn on a thread, named by ``threadId`` (or the
  deprecated ``conversationId``); a thread that is not loaded is resumed from its rollout.

Both answer ``content: [{type: text, text: <final message>}]`` and
``structuredContent: {threadId, content}``, the tool schemas Codex 0.153.4 lists
(recorded with the ``mcp`` SDK's client). A command or patch that needs approval becomes
an ``elicitation/create`` request to the host with Codex's message (``Allow Codex to run
`…` in `…`?``) and an empty form schema. The ``mcp`` SDK only sends the standard
elicitation fields, so Codex's correlation fields (``threadId``, ``codex_elicitation``,
``codex_call_id``, ``codex_command``, …) travel in the request's ``_meta``. The host's
answer: ``accept`` approves (``content.decision``, when it is one of Codex's
``ReviewDecision`` strings, picks ``approved_for_session``, ``denied`` or ``abort``),
``decline`` denies, ``cancel`` aborts the turn. Codex 0.153.4 expected a bare
``{decision}`` result instead and denied every standard ``ElicitResult``; we follow the
MCP schema. An MCP server of the thread that asks for input during the call
(``elicitation/create``) is relayed to the host as it asked (form or URL mode, with
``_meta.codex_elicitation = "mcp-elicitation"`` and the server's name) and the host's
answer goes back to it; other questions (``request_user_input``, permissions,
client-side tools) get no answer, as in ``threadline exec`` without a terminal.

While a tool call runs, its events go to the host as Codex's ``codex/event``
notifications: ``params = {_meta: {requestId, threadId}, msg, id}`` where ``msg`` is the
event in Codex's ``event_msg`` shape and ``id`` the turn id (``""`` for the
``session_configured`` that opens a ``codex`` call). Only the events whose shape is
Codex's are sent (``session_configured``, ``task_started``, ``user_message``,
``agent_message``, ``agent_reasoning``, ``token_count``, ``warning``, ``error``,
``exec_command_end``, ``turn_aborted``, ``task_complete``, …); Codex 0.153.4 also sends
its item, delta and raw-item events, which have no Codex-shaped counterpart here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, cast

import mcp.types as mt
import typer
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import ServerMessageMetadata

from threadline import __version__
from threadline.cli.common import cli_config
from threadline.cli.mcp_server_tools import CODEX_REPLY_TOOL, CODEX_TOOL
from threadline.cli.options import GlobalOptions, shared_options
from threadline.cli.serve import run_event_loop
from threadline.core.config import Config, ConfigError, load_config
from threadline.core.errors import CoreError
from threadline.core.manager import StartOptions, ThreadManager
from threadline.core.storage import StoreError
from threadline.core.thread import Thread
from threadline.protocol import events as ev
from threadline.protocol.ops import ExecApproval, ResolveAsk, UserTurn
from threadline.protocol.v2.item import TextUserInput

__all__ = [
    "CODEX_REPLY_TOOL",
    "CODEX_TOOL",
    "CodexEventNotification",
    "McpThreadServer",
    "register",
]

MCP_SOURCE = "mcp"
MCP_ORIGINATOR = "threadline_mcp_server"

_CODEX_SHAPED: tuple[type[Any], ...] = (
    ev.TaskStarted,
    ev.TaskComplete,
    ev.TurnAborted,
    ev.UserMessage,
    ev.AgentMessage,
    ev.AgentReasoning,
    ev.TokenCount,
    ev.ThreadNameUpdated,
    ev.ThreadRolledBack,
    ev.ContextCompacted,
    ev.ErrorEvent,
    ev.ExecCommandEnd,
    ev.WarningEvent,
)
"""The events whose ``model_dump`` is Codex's ``event_msg`` shape: sent as ``codex/event``."""


class CodexEventNotification(mt.Notification[dict[str, Any], Literal["codex/event"]]):
    """Codex's vendor notification carrying one event of a running tool call."""

    method: Literal["codex/event"] = "codex/event"


_REVIEW_DECISIONS = {
    "approved": "accept",
    "approved_for_session": "acceptForSession",
    "denied": "decline",
    "abort": "cancel",
}


def _decision(result: mt.ElicitResult) -> str:
    """The thread's decision (accept, acceptForSession, decline, cancel) for the host's answer."""
    if result.action == "decline":
        return "decline"
    if result.action == "cancel":
        return "cancel"
    chosen = (result.content or {}).get("decision")
    return _REVIEW_DECISIONS.get(str(chosen), "accept") if chosen is not None else "accept"


def _error(text: str, thread_id: str | None = None) -> mt.CallToolResult:
    """An ``isError`` result; it names the thread (``structuredContent``) when there is one,
    as Codex 0.153.4 does for a failed turn or an unknown thread id."""
    structured = {"threadId": thread_id, "content": text} if thread_id is not None else None
    return mt.CallToolResult(
        content=[mt.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )


class _ToolCallError(Exception):
    """A refusal to show the host as an ``isError`` result (for ``thread_id`` if known)."""

    def __init__(self, message: str, thread_id: str | None = None) -> None:
        super().__init__(message)
        self.thread_id = thread_id


class McpThreadServer:
    """The two tools over one :class:`ThreadManager`; one instance per process."""

    def __init__(self, load: Callable[[tuple[str, ...]], Config]) -> None:
        """``load(overrides)`` reads the config with these ``key=value`` overrides on top of
        the command line's; one :class:`ThreadManager` serves each distinct ``config``
        argument (the one without any is made at once)."""
        self._load = load
        self._managers: dict[tuple[str, ...], ThreadManager] = {(): ThreadManager(load(()))}
        self._detached: set[asyncio.Task[Any]] = set()
        self.server: Server[Any] = Server(
            "threadline-mcp-server",
            version=__version__,
            title="Threadline",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListToolsResult:
        return mt.ListToolsResult(tools=[CODEX_TOOL, CODEX_REPLY_TOOL])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult:
        args = dict(params.arguments or {})
        try:
            prompt = args.get("prompt")
            if params.name == CODEX_TOOL.name:
                if not isinstance(prompt, str):
                    raise _ToolCallError(
                        "Failed to parse configuration for Codex tool: missing field `prompt`"
                    )
                thread = self._start(args)
                configured: dict[str, Any] | None = _session_configured(thread)
            elif params.name == CODEX_REPLY_TOOL.name:
                thread = await self._find(args)
                if not isinstance(prompt, str):
                    raise _ToolCallError(
                        "Failed to parse Codex reply: missing field `prompt`", thread.id
                    )
                configured = None
            else:
                return _error(f"Unknown tool '{params.name}'")
            text = await self._run_turn(ctx, thread, prompt, configured)
        except _ToolCallError as exc:
            return _error(str(exc), exc.thread_id)
        except (CoreError, StoreError) as exc:
            return _error(f"Codex runtime error: {exc.message}")
        return mt.CallToolResult(
            content=[mt.TextContent(type="text", text=text)],
            structured_content={"threadId": thread.id, "content": text},
        )

    def _manager_for(self, config: Any) -> ThreadManager:
        """The manager for the ``config`` argument (a JSON object of config keys, nested
        tables or dotted keys, applied like ``-c key=value``)."""
        if config is None or config == {}:
            return self._managers[()]
        if not isinstance(config, dict):
            raise _ToolCallError(
                "Failed to parse configuration for Codex tool: `config` must be an object"
            )
        overrides = tuple(sorted(_overrides(config)))
        manager = self._managers.get(overrides)
        if manager is None:
            try:
                manager = ThreadManager(self._load(overrides))
            except ConfigError as exc:
                raise _ToolCallError(
                    f"Failed to load Codex configurations from overrides: {exc}"
                ) from exc
            self._managers[overrides] = manager
        return manager

    def _detach(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` on its own (it must outlive a cancelled tool call)."""
        task = asyncio.get_running_loop().create_task(work)
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)

    async def aclose(self) -> None:
        """Stop every manager (running turns end, rollouts are flushed)."""
        for task in list(self._detached):
            with contextlib.suppress(BaseException):
                await task
        for manager in self._managers.values():
            with contextlib.suppress(Exception):
                await manager.shutdown()

    def _start(self, args: dict[str, Any]) -> Thread:
        manager = self._manager_for(args.get("config"))
        cwd = args.get("cwd")
        if isinstance(cwd, str):
            cwd = str(Path(cwd).expanduser().resolve())
        opts = StartOptions(
            cwd=cwd,
            model=args.get("model"),
            approval_policy=args.get("approval-policy"),
            sandbox_mode=args.get("sandbox"),
            base_instructions=args.get("base-instructions"),
            developer_instructions=args.get("developer-instructions"),
            source=MCP_SOURCE,
            originator=MCP_ORIGINATOR,
        )
        try:
            return manager.start_thread(opts)
        except (CoreError, StoreError) as exc:
            raise _ToolCallError(f"Failed to start Codex session: {exc.message}") from exc

    async def _find(self, args: dict[str, Any]) -> Thread:
        thread_id = args.get("threadId") or args.get("conversationId")
        if not isinstance(thread_id, str) or not thread_id:
            raise _ToolCallError(
                "Failed to parse thread_id: either threadId or conversationId must be provided"
            )
        for manager in self._managers.values():
            found = manager.find(thread_id)
            if found is not None:
                return found
        try:
            return await self._managers[()].resume_thread(thread_id)
        except (CoreError, StoreError) as exc:
            raise _ToolCallError(
                f"Session not found for thread_id: {thread_id}", thread_id
            ) from exc

    async def _run_turn(
        self,
        ctx: ServerRequestContext[Any],
        thread: Thread,
        prompt: str,
        configured: dict[str, Any] | None,
    ) -> str:
        if thread.active is not None:
            raise _ToolCallError(f"thread {thread.id} is already running a turn", thread.id)
        final: list[str | None] = []
        asks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        pump = loop.create_task(self._pump(ctx, thread.id, outbox))
        if configured is not None:
            outbox.put_nowait(("", configured))

        def on_event(event: ev.Event) -> None:
            msg = event.msg
            if isinstance(msg, _CODEX_SHAPED):
                outbox.put_nowait((event.id, msg.rollout_payload(thread.id)))
            if isinstance(msg, ev.TaskComplete):
                final.append(msg.last_agent_message)
            elif isinstance(msg, ev.ClientAsk):
                task = loop.create_task(self._answer(ctx, thread, msg))
                asks.add(task)
                task.add_done_callback(asks.discard)

        remove = thread.add_listener(on_event)
        try:
            thread.start_turn(UserTurn(items=[TextUserInput(text=prompt)]))
            turn = await thread.wait_turn()
            await thread.flush_rollout()
        except BaseException:
            # The host cancelled the call (notifications/cancelled) or the server stops:
            # the turn is interrupted, as Codex does, instead of running on unseen.
            pump.cancel()
            self._detach(_interrupt(thread))
            raise
        finally:
            remove()
            for task in list(asks):
                task.cancel()
        outbox.put_nowait(None)
        await pump  # every event reaches the host before the tool call's result
        if turn is not None and turn.status == "failed":
            why = turn.error.message if turn.error is not None else "the turn failed"
            raise _ToolCallError(why, thread.id)
        if turn is not None and turn.status == "interrupted":
            raise _ToolCallError("the turn was interrupted", thread.id)
        return (final[-1] if final else None) or ""

    async def _relay_elicitation(
        self, ctx: ServerRequestContext[Any], thread: Thread, ask: ev.McpElicitationRequest
    ) -> None:
        """An MCP server of the thread asks for input: the host answers it (form or URL
        mode); a host that cannot answer declines."""
        meta = {
            "threadId": thread.id,
            "codex_elicitation": "mcp-elicitation",
            "codex_mcp_tool_call_id": str(ctx.request_id),
            "codex_event_id": ask.turn_id,
            "codex_call_id": ask.item_id,
            "server_name": ask.server_name,
        }
        answer: dict[str, Any] = {"action": "decline"}
        with contextlib.suppress(Exception):
            raw: dict[str, Any] = {"message": ask.message, "_meta": meta}
            if ask.mode == "url":
                raw |= {"mode": "url", "url": ask.url, "elicitationId": ask.elicitation_id}
                params: mt.ElicitRequestParams = mt.ElicitRequestURLParams.model_validate(raw)
            else:
                schema = ask.requested_schema or {"type": "object", "properties": {}}
                raw |= {"requestedSchema": schema}
                params = mt.ElicitRequestFormParams.model_validate(raw)
            result = await ctx.session.send_request(
                mt.ElicitRequest(params=params),
                mt.ElicitResult,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            )
            answer = {"action": result.action, "content": result.content}
        with contextlib.suppress(Exception):
            thread.submit(ResolveAsk(approval_id=ask.approval_id, answer=answer))

    async def _pump(
        self,
        ctx: ServerRequestContext[Any],
        thread_id: str,
        outbox: asyncio.Queue[tuple[str, dict[str, Any]] | None],
    ) -> None:
        """Send the queued events as ``codex/event`` in order; a host gone away ends it."""
        meta = {"requestId": ctx.request_id, "threadId": thread_id}
        alive = True
        while (entry := await outbox.get()) is not None:
            if not alive:
                continue
            event_id, msg = entry
            note = CodexEventNotification(params={"_meta": meta, "msg": msg, "id": event_id})
            try:
                await ctx.session.send_notification(
                    cast(mt.ServerNotification, note), related_request_id=ctx.request_id
                )
            except Exception:  # the host closed the connection: keep draining
                alive = False

    async def _answer(
        self, ctx: ServerRequestContext[Any], thread: Thread, ask: ev.ClientAsk
    ) -> None:
        """Ask the host through elicitation; questions it cannot answer get no answer."""
        meta: dict[str, Any]
        if isinstance(ask, ev.ExecApprovalRequest):
            message = f"Allow Codex to run `{ask.command}` in `{ask.cwd}`?"
            meta = {
                "threadId": thread.id,
                "codex_elicitation": "exec-approval",
                "codex_mcp_tool_call_id": str(ctx.request_id),
                "codex_event_id": ask.turn_id,
                "codex_call_id": ask.item_id,
                "codex_command": shlex.split(ask.command) if ask.command else [],
                "codex_cwd": ask.cwd,
            }
        elif isinstance(ask, ev.PatchApprovalRequest):
            lines = [ask.reason] if ask.reason else []
            message = "\n".join([*lines, "Allow Codex to apply proposed code changes?"])
            meta = {
                "threadId": thread.id,
                "codex_elicitation": "patch-approval",
                "codex_mcp_tool_call_id": str(ctx.request_id),
                "codex_event_id": ask.turn_id,
                "codex_call_id": ask.item_id,
                "codex_changes": _codex_changes(ask.changes),
            }
            if ask.reason:
                meta["codex_reason"] = ask.reason
            if ask.grant_root:
                meta["codex_grant_root"] = ask.grant_root
        elif isinstance(ask, ev.McpElicitationRequest):
            await self._relay_elicitation(ctx, thread, ask)
            return
        else:
            with contextlib.suppress(Exception):
                thread.submit(ResolveAsk(approval_id=ask.approval_id, answer=None))
            return
        decision = "decline"
        with contextlib.suppress(Exception):
            result = await ctx.session.send_request(
                mt.ElicitRequest(
                    params=mt.ElicitRequestFormParams(
                        message=message,
                        requested_schema={"type": "object", "properties": {}},
                        _meta=meta,
                    )
                ),
                mt.ElicitResult,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            )
            decision = _decision(result)
        with contextlib.suppress(Exception):
            if isinstance(ask, ev.ExecApprovalRequest):
                thread.submit(ExecApproval(approval_id=ask.approval_id, decision=decision))
            else:
                thread.submit(ResolveAsk(approval_id=ask.approval_id, answer=decision))


async def _interrupt(thread: Thread) -> None:
    with contextlib.suppress(Exception):  # the turn may have ended meanwhile
        await thread.interrupt()


def _codex_changes(changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The patch's changes as Codex's ``{path: FileChange}`` map (``add``/``delete`` carry
    ``content``, ``update`` its ``unified_diff`` and ``move_path``)."""
    out: dict[str, Any] = {}
    for change in changes:
        kind = change.get("kind") or {}
        tag = kind.get("type", "update")
        diff = change.get("diff", "")
        if tag == "update":
            out[str(change.get("path"))] = {
                "type": "update",
                "unified_diff": diff,
                "move_path": kind.get("move_path"),
            }
        else:
            out[str(change.get("path"))] = {"type": tag, "content": diff}
    return out


def _session_configured(thread: Thread) -> dict[str, Any]:
    """Codex's ``session_configured`` event for a new thread (the first ``codex/event``)."""
    s = thread.settings
    path = thread.rollout_path()
    return {
        "type": "session_configured",
        "session_id": thread.id,
        "thread_id": thread.id,
        "model": s.model,
        "model_provider_id": s.model_provider,
        "approval_policy": s.approval_policy,
        "approvals_reviewer": s.approvals_reviewer,
        "sandbox_mode": s.sandbox_mode,
        "cwd": s.cwd,
        "rollout_path": str(path) if path is not None else None,
    }


async def serve_stdio(load: Callable[[tuple[str, ...]], Config]) -> None:
    """Serve the tools on stdin/stdout until the host closes the connection."""
    app = McpThreadServer(load)
    try:
        async with stdio_server() as (read, write):
            await app.server.run(read, write, app.server.create_initialization_options())
    finally:
        await app.aclose()


def _overrides(config: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"a": {"b": 1}, "c.d": "x"}`` → ``["a.b=1", 'c.d="x"']`` (JSON values are TOML)."""
    out: list[str] = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _overrides(value, f"{path}.")
        else:
            out.append(f"{path}={json.dumps(value)}")
    return out


def mcp_server(ctx: typer.Context) -> None:
    """Serve threadline as an MCP server on stdio: the tools `codex` and `codex-reply`.

    For MCP hosts (Claude Desktop, other agents): e.g. `{"command": "threadline",
    "args": ["mcp-server"]}`. Approvals reach the host as MCP elicitations.
    """
    cli_config(ctx)  # a bad config or -c override exits 2 before serving
    opts = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()

    def load(extra: tuple[str, ...]) -> Config:
        return load_config(overrides=(*opts.config_overrides, *extra), profile=opts.profile)

    run_event_loop(serve_stdio(load))


def register(cli: typer.Typer) -> None:
    cli.command(
        "mcp-server",
        short_help="Serve threadline over stdio as an MCP server (tools codex, codex-reply).",
    )(shared_options(mcp_server))
