"""``Thread``: the conduit to one running thread.

Everything outside ``core`` talks to a thread through this class: submit an
operation, read events, steer or interrupt the running turn, inject items, read
status, settings and token usage. Events reach the outside world two ways:
synchronous listeners (the app-server uses these, so events keep their order
relative to responses) and an async queue read with :meth:`next_event`.

The state behind it (history, usage, turns, settings, status, sinks) is the
thread's :class:`~threadline.core.session.Session`; this class delegates to it,
as Codex's ``CodexThread`` delegates to its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from threadline.core import tracing
from threadline.core.errors import InvalidRequest
from threadline.core.mcp_host import McpHost
from threadline.core.recorder import NullSink, RolloutSink
from threadline.core.session import FlowGate, Listener, Session
from threadline.core.settings import ConfigSnapshot, ThreadSettings
from threadline.core.warm_up import build_thread_models
from threadline.model.base import ModelClient
from threadline.protocol import events as ev
from threadline.protocol.items import ContentItem, MessageItem, ResponseItem
from threadline.protocol.ops import (
    ExecApproval,
    Interrupt,
    Op,
    ResolveAsk,
    RunUserShellCommand,
    Shutdown,
    ThreadRollback,
    UserTurn,
)
from threadline.protocol.rollout import CompactionWindow, RolloutItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import UserInput
from threadline.protocol.v2.turn import Turn

if TYPE_CHECKING:
    from threadline.core.review import ReviewRequest
    from threadline.core.turn import ActiveTurn
    from threadline.core.user_shell import UserShell
    from threadline.tools.registry import ToolRegistry

__all__ = ["FlowGate", "Listener", "Thread"]


class Thread:
    """One loaded thread. Create through ``ThreadManager``; never mutate it from outside ``core``."""

    def __init__(
        self,
        *,
        thread_id: str,
        settings: ThreadSettings,
        client: ModelClient,
        sink: RolloutSink | None = None,
        tools: ToolRegistry | Callable[[], ToolRegistry] | None = None,
        history: Sequence[ResponseItem] = (),
        token_info: TokenUsageInfo | None = None,
        turns: Sequence[Turn] = (),
        features: dict[str, bool] | None = None,
        created_at: float | None = None,
        name: str | None = None,
        forked_from_id: str | None = None,
        preview: str = "",
        window: CompactionWindow | None = None,
        mcp: McpHost | None = None,
    ) -> None:
        if not turns:  # a new thread: its first turn finds the turn and item models built
            build_thread_models()
        self.id = thread_id
        self.features = dict(features or {})
        self.created_at = created_at if created_at is not None else time.time()
        self.name = name
        self.forked_from_id = forked_from_id
        self.client_info: tuple[str, str] | None = None
        self.memory_mode = settings.memory_mode
        self.session = Session(
            thread_id=thread_id,
            settings=settings,
            model=client,
            sink=sink or NullSink(),
            tools=tools if tools is not None else _no_tools,
            history=history,
            token_info=token_info,
            turns=turns,
            preview=preview,
            updated_at=self.created_at,
            window=window,
        )
        """The state behind this conduit; only ``core`` touches it."""
        self._closed = False
        self._shutdown_task: asyncio.Future[None] | None = None
        self._shell: UserShell | None = None
        self.mcp = mcp if mcp is not None else McpHost({}, self._deliver_msg)
        """The thread's MCP connections (one manager per thread, as Codex has one per session)."""
        self.mcp.bind(self._deliver_msg)
        self.session.tools_ready = self.mcp.ready_quietly
        self.first_unread: str | None = None
        """The read state's first unread turn: the first that ended (nothing in the stable
        API marks a thread read, so in Codex it stays)."""
        self.session.add_listener(self._on_event)

    # ---- identity and state (read from the session) ----------------------------------

    @property
    def settings(self) -> ThreadSettings:
        return self.session.settings

    @property
    def tools(self) -> ToolRegistry:
        return self.session.tools

    def _user_shell(self) -> UserShell:
        """``thread/shellCommand``: the user's own commands, in the exec tool's environment
        (made with the first one: it loads the turn code)."""
        if self._shell is None:
            from threadline.core.user_shell import UserShell

            shell_tool = self.session.tools.get("exec_command")
            self._shell = UserShell(
                self.session,
                env_policy=getattr(shell_tool, "env_policy", None),
                secret_env_names=tuple(getattr(shell_tool, "secret_env_names", ())),
            )
        return self._shell

    @property
    def history(self) -> list[ResponseItem]:
        return self.session.history

    @property
    def turns(self) -> list[Turn]:
        return self.session.turns

    @property
    def token_info(self) -> TokenUsageInfo | None:
        return self.session.token_info

    @property
    def preview(self) -> str:
        return self.session.preview

    @property
    def active(self) -> ActiveTurn | None:
        return self.session.active

    @property
    def updated_at(self) -> float:
        return self.session.updated_at

    @updated_at.setter
    def updated_at(self, value: float) -> None:
        self.session.updated_at = value

    @property
    def cwd_path(self) -> Path:
        return Path(self.settings.cwd)

    def rollout_path(self) -> Path | None:
        return self.session.sink.path

    @property
    def rollout_materialized(self) -> bool:
        return self.session.sink.materialized

    def agent_status(self) -> str:
        return self.session.status

    def active_flags(self) -> list[str]:
        return self.session.active_flags()

    def subscribe_status(self, callback: Callable[[str, list[str]], None]) -> Callable[[], None]:
        """Call ``callback(status, active_flags)`` on every change; returns an unsubscribe function."""
        return self.session.subscribe_status(callback)

    def config_snapshot(self) -> ConfigSnapshot:
        return ConfigSnapshot.of(self.settings)

    def enabled(self, feature: str) -> bool:
        return bool(self.features.get(feature, False))

    def total_token_usage(self) -> TokenUsage | None:
        return self.token_info.total_token_usage if self.token_info else None

    def token_usage_info(self) -> TokenUsageInfo | None:
        """The complete snapshot (total, last, context window), or ``None`` before any usage."""
        return self.token_info

    def set_app_server_client_info(self, name: str, version: str) -> None:
        self.client_info = (name, version)

    # ---- events --------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Receive every event synchronously, in order. Returns a function that removes it."""
        return self.session.add_listener(listener)

    def add_flow_gate(self, gate: FlowGate) -> Callable[[], None]:
        """Let a slow consumer hold the turn loop back (backpressure).

        After each event the turn loop calls ``gate()``; when it returns an awaitable,
        the loop awaits it before producing more. Returns a function that removes it.
        """
        return self.session.add_flow_gate(gate)

    async def next_event(self) -> ev.Event:
        """The next event of this thread (queue created on first use)."""
        return await self.session.next_event()

    # ---- submissions ---------------------------------------------------------------

    def submit(self, op: Op) -> str:
        """Submit an operation; returns its submission id (the turn id for user input)."""
        if self._closed:
            raise InvalidRequest(f"thread {self.id} is shut down")
        if isinstance(op, UserTurn):
            turn_id, _ = self.start_turn(op)
            return turn_id
        if isinstance(op, Interrupt):
            return self.session.interrupt_now()
        if isinstance(op, ExecApproval):
            self.session.resolve_approval(op.approval_id, op.decision)
            return op.approval_id
        if isinstance(op, ResolveAsk):
            self.session.resolve_approval(op.approval_id, op.answer)
            return op.approval_id
        if isinstance(op, ThreadRollback):
            raise InvalidRequest("thread/rollback is not supported yet")
        if isinstance(op, RunUserShellCommand):
            return self._user_shell().submit(op)
        if isinstance(op, Shutdown):
            self._shutdown_task = asyncio.ensure_future(self.shutdown_and_wait())
            return self.session.new_id()
        raise InvalidRequest(f"unsupported operation {type(op).__name__}")

    async def submit_with_trace(self, op: Op, w3c_trace_context: dict[str, str] | None) -> str:
        """Like :meth:`submit`, under the caller's W3C trace context: a turn it starts is a
        span of that trace (``core.tracing``; nothing happens when traces are off)."""
        with tracing.under(w3c_trace_context):
            return self.submit(op)

    def start_turn(self, op: UserTurn, output_schema: Any = None) -> tuple[str, bool]:
        """Start a turn, or steer the running one. Returns ``(turn_id, started)``.

        ``output_schema``: the JSON schema that turn's answer follows (that turn only). A
        turn that changes the settings announces them before it starts, as Codex does
        (``thread/settings/updated``: model, effort, approval, sandbox, cwd, ...)."""
        before = self.settings.visible()
        turn_id, started = self.session.start_turn(op, output_schema)
        if started and self.settings.visible() != before:
            changed = ev.SettingsUpdated(settings=self.settings.visible())
            self.session.deliver(ev.Event(id="", msg=changed))
        return turn_id, started

    def start_review(self, request: ReviewRequest) -> str:
        """Start a review turn (``review/start``); returns its id."""
        if self._closed:
            raise InvalidRequest(f"thread {self.id} is shut down")
        from threadline.core.review import ReviewTask

        return self.session.start_review(ReviewTask(request))

    def compact(self) -> str:
        """Compact the history now, in a turn of its own (``thread/compact/start``)."""
        return self.session.start_compaction()

    def steer_input(
        self,
        items: Sequence[UserInput],
        expected_turn_id: str | None,
        metadata: str | None = None,
    ) -> str:
        """Add input to the running turn; it reaches the model on the next sampling step."""
        return self.session.steer(items, expected_turn_id, metadata)

    async def interrupt(self, expected_turn_id: str | None = None) -> str:
        """Interrupt the running turn; returns its id once the interruption is accounted for.

        The model stream (or tool call) has been cancelled and the usage event sent
        when this returns; the turn's final events (status ``idle``, ``turn_completed``
        with status ``interrupted``) follow right after the caller's next step, so an
        answer the caller sends on return precedes them. Use :meth:`wait_turn` to wait
        for the very end.
        """
        return await self.session.interrupt(expected_turn_id)

    async def wait_turn(self) -> Turn | None:
        """Wait for the running turn (if any) to end and return its final state."""
        return await self.session.wait_turn()

    def pending_approval_ids(self) -> list[str]:
        return self.session.pending_approval_ids()

    # ---- injection -----------------------------------------------------------------

    async def inject_user_message_without_turn(self, text: str) -> None:
        """Record a user-role message into history without starting a turn."""
        msg = MessageItem(role="user", content=[ContentItem(type="input_text", text=text)])
        await self.session.record([msg])

    async def inject_response_items(self, items: Sequence[ResponseItem]) -> None:
        """Record raw Responses items into history without a turn, then flush the rollout."""
        if not items:
            raise InvalidRequest("items must not be empty")
        if not self.session.context_recorded:
            await self.session.record_context()
        await self.session.record(list(items))
        await self.flush_rollout()

    # ---- rollout -------------------------------------------------------------------

    async def ensure_rollout_materialized(self) -> None:
        await self.session.sink.materialize()

    async def flush_rollout(self) -> None:
        await self.session.sink.flush()

    async def record_rollout_items(self, items: Sequence[RolloutItem]) -> None:
        """Append items to this thread's rollout and flush them (rename, rollback)."""
        await self.session.append_rollout(items)

    async def record_rollout_items_or_discard(self, items: Sequence[RolloutItem]) -> None:
        """Write items to this thread's rollout now, synced, or not at all (a rename):
        items whose write fails are dropped, so no later flush applies them."""
        await self.session.append_rollout(items, or_discard=True)

    def replace_history(self, history: Sequence[ResponseItem], turns: Sequence[Turn]) -> None:
        """Swap in a rebuilt history and turn list (after a rollback); idle threads only."""
        self.session.replace_history(history, turns)

    async def set_thread_memory_mode(self, mode: str) -> None:
        if mode not in ("enabled", "disabled"):
            raise InvalidRequest(f"unknown memory mode {mode!r}; expected enabled or disabled")
        self.memory_mode = mode

    def _on_event(self, event: ev.Event) -> None:
        """A turn ending changes the read state (``thread/readState/changed``, sent before
        the thread goes idle, as in Codex)."""
        if isinstance(event.msg, ev.TaskComplete | ev.TurnAborted) and event.msg.turn_id:
            self.first_unread = self.first_unread or event.msg.turn_id
            first, revision = self.first_unread, str(uuid4())
            changed = ev.ReadStateChanged(first_unread_turn_id=first, revision=revision)
            self.session.deliver(ev.Event(id=event.id, msg=changed))

    # ---- MCP -----------------------------------------------------------------------

    def _deliver_msg(self, msg: ev.EventMsg) -> None:
        self.session.deliver(ev.Event(id="", msg=msg))

    async def call_mcp_tool(
        self, server: str, tool: str, arguments: Any = None, meta: Any = None
    ) -> dict[str, Any]:
        """``mcpServer/tool/call``: the result in wire shape (``content``, ``isError``, ...)."""
        return await self.mcp.call_tool(server, tool, arguments, meta)

    async def read_mcp_resource(self, server: str, uri: str) -> dict[str, Any]:
        """``mcpServer/resource/read``: ``{"contents": [...]}`` in wire shape."""
        return await self.mcp.read_resource(server, uri)

    # ---- out-of-band elicitation pause ---------------------------------------------

    def increment_elicitation(self) -> int:
        return self.session.increment_elicitation()

    def decrement_elicitation(self) -> int:
        return self.session.decrement_elicitation()

    @property
    def elicitation_count(self) -> int:
        return self.session.elicitation_count

    @property
    def paused(self) -> bool:
        return self.session.elicitation_count > 0

    # ---- shutdown ------------------------------------------------------------------

    async def shutdown_and_wait(self) -> None:
        """Interrupt a running turn, flush and close the rollout, stop accepting ops."""
        if self._closed:
            return
        turn = self.active
        if turn is not None:
            with contextlib.suppress(Exception):
                await self.interrupt()
            if turn.done is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(turn.done)
        self._closed = True
        try:
            if self._shell is not None:
                await self._shell.aclose()
            if (tools := self.session.built_tools()) is not None:
                await tools.aclose()
            await self.mcp.aclose()
            await self.session.sink.close()
        finally:
            self.session.deliver(ev.Event(id="", msg=ev.ShutdownComplete()))


def _no_tools() -> ToolRegistry:
    from threadline.tools.registry import ToolRegistry

    return ToolRegistry()
