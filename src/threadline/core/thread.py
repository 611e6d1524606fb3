"""``Thread``: the conduit to one running thread.

Everything outside ``core`` talks to a thread through this class: submit an
operation, read events, steer or interrupt the running turn, inject items, read
status, settings and token usage. Events reach the outside world two ways:
synchronous listeners (the app-server uses these, so events keep their order
relative to responses) and an async queue read with :meth:`next_event`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from threadline.core.errors import (
    ElicitationCountError,
    EmptyInput,
    ExpectedTurnMismatch,
    InvalidRequest,
    McpServerNotFound,
    NoActiveTurn,
    TurnNotSteerable,
)
from threadline.core.recorder import NullSink, RolloutSink
from threadline.core.settings import ConfigSnapshot, ThreadSettings
from threadline.core.turn import ActiveTurn, TurnRunner, now_ms
from threadline.model.base import ModelClient
from threadline.protocol import events as ev
from threadline.protocol.items import ContentItem, MessageItem, ResponseItem
from threadline.protocol.ops import ExecApproval, Interrupt, Op, Shutdown, ThreadRollback, UserTurn
from threadline.protocol.rollout import EventMsg, RolloutItem, TurnContextItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import (
    ImageUserInput,
    LocalImageUserInput,
    TextUserInput,
    ThreadItem,
    UserInput,
    UserMessageThreadItem,
)
from threadline.protocol.v2.turn import Turn
from threadline.rollout.paths import new_thread_id
from threadline.rollout.policy import is_persisted_event
from threadline.rollout.writer import RolloutWriter
from threadline.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

Listener = Callable[[ev.Event], None]
FlowGate = Callable[[], Awaitable[None] | None]
"""Backpressure hook: returns ``None`` to go on, or an awaitable to wait for first."""

_MAX_ELICITATIONS = 2**31 - 1
_EVENT_QUEUE_LIMIT = 100_000


class Thread:
    """One loaded thread. Create through ``ThreadManager``; never mutate it from outside ``core``."""

    def __init__(
        self,
        *,
        thread_id: str,
        settings: ThreadSettings,
        client: ModelClient,
        sink: RolloutSink | None = None,
        tools: ToolRegistry | None = None,
        history: Sequence[ResponseItem] = (),
        token_info: TokenUsageInfo | None = None,
        turns: Sequence[Turn] = (),
        features: dict[str, bool] | None = None,
        created_at: float | None = None,
        name: str | None = None,
        forked_from_id: str | None = None,
        preview: str = "",
    ) -> None:
        self.id = thread_id
        self.settings = settings
        self._client = client
        self._sink: RolloutSink = sink or NullSink()
        self.tools = tools or ToolRegistry()
        self.history: list[ResponseItem] = list(history)
        self.token_info: TokenUsageInfo | None = token_info
        self.turns: list[Turn] = list(turns)
        self.features = dict(features or {})
        self.created_at = created_at if created_at is not None else time.time()
        self.updated_at = self.created_at
        self.name = name
        self.forked_from_id = forked_from_id
        self.preview = preview
        self.client_info: tuple[str, str] | None = None
        self.memory_mode = settings.memory_mode
        self.active: ActiveTurn | None = None
        self._context_recorded = bool(self.history)
        # Tuples, replaced on change: delivery (once per streamed token) iterates them
        # without copying, and a listener removed during delivery is still safe.
        self._listeners: tuple[Listener, ...] = ()
        self._write_failing = False
        self._status_listeners: list[Callable[[str, list[str]], None]] = []
        self._flow_gates: tuple[FlowGate, ...] = ()
        self._queue: asyncio.Queue[ev.Event] | None = None
        self._status = "idle"
        self._active_flags: list[str] = []
        self._elicitations = 0
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._turn_task: asyncio.Task[Turn] | None = None
        self._closed = False
        self._pending_approvals: dict[str, asyncio.Future[str]] = {}
        self._shutdown_task: asyncio.Future[None] | None = None

    # ---- identity and state --------------------------------------------------------

    @property
    def cwd_path(self) -> Path:
        return Path(self.settings.cwd)

    def rollout_path(self) -> Path | None:
        return self._sink.path

    @property
    def rollout_materialized(self) -> bool:
        return self._sink.materialized

    def agent_status(self) -> str:
        return self._status

    def active_flags(self) -> list[str]:
        return list(self._active_flags)

    def subscribe_status(self, callback: Callable[[str, list[str]], None]) -> Callable[[], None]:
        """Call ``callback(status, active_flags)`` on every change; returns an unsubscribe function."""
        self._status_listeners.append(callback)
        return lambda: self._status_listeners.remove(callback)

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
        self._listeners = (*self._listeners, listener)

        def remove() -> None:
            self._listeners = _without(self._listeners, listener)

        return remove

    def add_flow_gate(self, gate: FlowGate) -> Callable[[], None]:
        """Let a slow consumer hold the turn loop back (backpressure).

        After each event the turn loop calls ``gate()``; when it returns an awaitable,
        the loop awaits it before producing more. Returns a function that removes it.
        """
        self._flow_gates = (*self._flow_gates, gate)

        def remove() -> None:
            self._flow_gates = _without(self._flow_gates, gate)

        return remove

    async def next_event(self) -> ev.Event:
        """The next event of this thread (queue created on first use)."""
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=_EVENT_QUEUE_LIMIT)
        return await self._queue.get()

    async def _emit(self, sub_id: str, msg: ev.EventMsg) -> None:
        if type(msg) not in _STREAM_DELTAS and msg.type in _PERSISTABLE:
            payload = msg.payload()
            if is_persisted_event(payload, extended=self.settings.persist_extended_history):
                await self._persist([EventMsg.model_validate(payload)])
        self._deliver(ev.Event(sub_id, msg))
        for gate in self._flow_gates:
            waiter = gate()
            if waiter is not None:
                await waiter

    async def _persist(self, items: Sequence[RolloutItem]) -> None:
        """Queue rollout lines. A write failure never ends the turn: the writer keeps the
        unwritten suffix for the next flush, and the client hears about it once."""
        try:
            await self._sink.append(items)
        except Exception as exc:
            if not self._write_failing:
                log.error("thread %s: rollout write failed: %s", self.id, exc)
                self._deliver(
                    ev.Event(id="", msg=ev.ErrorEvent(message=f"failed to write rollout: {exc}"))
                )
            self._write_failing = True
        else:
            self._write_failing = False

    def _deliver(self, event: ev.Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("thread %s: event listener failed", self.id)
        if self._queue is not None:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("thread %s: event queue full, dropping %s", self.id, event.msg.type)

    def _set_status(self, status: str, flags: list[str] | None = None) -> None:
        flags = flags or []
        if status == self._status and flags == self._active_flags:
            return
        self._status = status
        self._active_flags = flags
        self._deliver(ev.Event(id="", msg=ev.StatusChanged(status=status, active_flags=flags)))
        for cb in list(self._status_listeners):
            cb(status, flags)

    # ---- submissions ---------------------------------------------------------------

    def submit(self, op: Op) -> str:
        """Submit an operation; returns its submission id (the turn id for user input)."""
        if self._closed:
            raise InvalidRequest(f"thread {self.id} is shut down")
        if isinstance(op, UserTurn):
            turn_id, _ = self.start_turn(op)
            return turn_id
        if isinstance(op, Interrupt):
            if self.active is None:
                raise NoActiveTurn("interrupt")
            self.active.interrupt.set()
            self.active.release.set()  # nobody answers in between: end at once
            return self.active.id
        if isinstance(op, ExecApproval):
            fut = self._pending_approvals.pop(op.approval_id, None)
            if fut is None:
                raise InvalidRequest(f"no pending approval {op.approval_id}")
            if not fut.done():
                fut.set_result(op.decision)
            return op.approval_id
        if isinstance(op, ThreadRollback):
            raise InvalidRequest("thread/rollback is not supported yet")
        if isinstance(op, Shutdown):
            self._shutdown_task = asyncio.ensure_future(self.shutdown_and_wait())
            return new_thread_id()
        raise InvalidRequest(f"unsupported operation {type(op).__name__}")

    async def submit_with_trace(self, op: Op, w3c_trace_context: dict[str, str] | None) -> str:
        """Like :meth:`submit`, under the caller's W3C trace context when OpenTelemetry is installed."""
        token: Any = None
        otel_context: Any = None
        if w3c_trace_context:
            try:
                from opentelemetry import context as otel_context
                from opentelemetry.propagate import extract
            except ImportError:  # tracing is optional
                otel_context = None
            else:
                token = otel_context.attach(extract(w3c_trace_context))
        try:
            return self.submit(op)
        finally:
            if token is not None and otel_context is not None:
                otel_context.detach(token)

    def start_turn(self, op: UserTurn) -> tuple[str, bool]:
        """Start a turn, or steer the running one. Returns ``(turn_id, started)``."""
        if not op.items:
            raise EmptyInput()
        previous = self.active
        if previous is not None and not previous.closing:
            return self.steer_input(op.items, None, op.client_user_message_id), False
        # Idle, or the running turn is already writing its ending: a new turn follows it.
        self.settings = self.settings.with_turn_overrides(op.overrides)
        loop = asyncio.get_running_loop()
        turn = ActiveTurn(id=new_thread_id(), started_at=time.time())
        turn.done = loop.create_future()
        turn.abort_ack = loop.create_future()
        self.active = turn
        runner = TurnRunner(self, turn)
        after = self._turn_task if previous is not None else None
        self._turn_task = asyncio.create_task(
            self._run_turn(runner, list(op.items), op.client_user_message_id, after),
            name=f"turn-{turn.id}",
        )
        return turn.id, True

    async def _run_turn(
        self,
        runner: TurnRunner,
        items: list[UserInput],
        cid: str | None,
        after: asyncio.Task[Turn] | None = None,
    ) -> Turn:
        turn = runner.turn
        if after is not None:
            await asyncio.wait([after])
        try:
            result = await runner.run(items, cid)
        except asyncio.CancelledError:
            if self.active is turn:
                self.active = None
                self._set_status("idle")
            raise
        except Exception as exc:
            log.exception("thread %s: turn %s crashed", self.id, turn.id)
            from threadline.model.base import ModelError

            result = await runner._finish_failed(ModelError(f"internal error: {exc}"))
        if turn.done is not None and not turn.done.done():
            turn.done.set_result(result)
        return result

    def steer_input(
        self,
        items: Sequence[UserInput],
        expected_turn_id: str | None,
        metadata: str | None = None,
    ) -> str:
        """Add input to the running turn; it reaches the model on the next sampling step."""
        if not items:
            raise EmptyInput()
        turn = self.active
        if turn is None or turn.closing:
            raise NoActiveTurn("steer")
        if expected_turn_id is not None and expected_turn_id != turn.id:
            raise ExpectedTurnMismatch(expected_turn_id, turn.id)
        if turn.kind != "regular":
            raise TurnNotSteerable(turn.kind)
        turn.pending_input.append((list(items), metadata))
        turn.steer.set()
        return turn.id

    async def interrupt(self, expected_turn_id: str | None = None) -> str:
        """Interrupt the running turn; returns its id once the interruption is accounted for.

        The model stream (or tool call) has been cancelled and the usage event sent
        when this returns; the turn's final events (status ``idle``, ``turn_completed``
        with status ``interrupted``) follow right after the caller's next step, so an
        answer the caller sends on return precedes them. Use :meth:`wait_turn` to wait
        for the very end.
        """
        turn = self.active
        if turn is None:
            raise NoActiveTurn("interrupt")
        if expected_turn_id is not None and expected_turn_id != turn.id:
            raise ExpectedTurnMismatch(expected_turn_id, turn.id, backticks=False)
        turn.interrupt.set()
        assert turn.abort_ack is not None
        try:
            await asyncio.shield(turn.abort_ack)
        finally:
            asyncio.get_running_loop().call_soon(turn.release.set)
        return turn.id

    async def wait_turn(self) -> Turn | None:
        """Wait for the running turn (if any) to end and return its final state."""
        turn = self.active
        if turn is None or turn.done is None:
            return None
        return await asyncio.shield(turn.done)

    # ---- approvals -----------------------------------------------------------------

    async def request_approval(self, request: ev.ExecApprovalRequest) -> str:
        """Ask the client(s) for a decision and wait for it (``accept``/``decline``/``cancel`` …)."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending_approvals[request.approval_id] = fut
        self._set_status("active", ["waitingOnApproval"])
        await self._emit(request.turn_id, request)
        try:
            decision = await fut
        finally:
            self._pending_approvals.pop(request.approval_id, None)
        await self._emit(request.turn_id, ev.ApprovalResolved(approval_id=request.approval_id))
        self._set_status("active", [])
        return decision

    def pending_approval_ids(self) -> list[str]:
        return list(self._pending_approvals)

    # ---- injection -----------------------------------------------------------------

    async def inject_user_message_without_turn(self, text: str) -> None:
        """Record a user-role message into history without starting a turn."""
        msg = MessageItem(role="user", content=[ContentItem(type="input_text", text=text)])
        await self._record_history([msg])

    async def inject_response_items(self, items: Sequence[ResponseItem]) -> None:
        """Record raw Responses items into history without a turn, then flush the rollout."""
        if not items:
            raise InvalidRequest("items must not be empty")
        if not self._context_recorded:
            await self._record_context()
        await self._record_history(list(items))
        await self.flush_rollout()

    # ---- rollout -------------------------------------------------------------------

    async def ensure_rollout_materialized(self) -> None:
        await self._sink.materialize()

    async def flush_rollout(self) -> None:
        await self._sink.flush()

    async def record_rollout_items(self, items: Sequence[RolloutItem]) -> None:
        """Append items to this thread's rollout and flush them (rename, rollback)."""
        await self._sink.append(items)
        if self._sink.materialized:
            await self._sink.flush()

    async def record_rollout_items_or_discard(self, items: Sequence[RolloutItem]) -> None:
        """Write items to this thread's rollout now, synced, or not at all (a rename):
        items whose write fails are dropped, so no later flush applies them."""
        if isinstance(self._sink, RolloutWriter):
            await self._sink.append_or_discard(items)
        else:
            await self.record_rollout_items(items)

    def replace_history(self, history: Sequence[ResponseItem], turns: Sequence[Turn]) -> None:
        """Swap in a rebuilt history and turn list (after a rollback); idle threads only."""
        if self.active is not None:
            raise InvalidRequest("cannot replace history while a turn is running")
        self.history = list(history)
        self.turns = list(turns)

    async def set_thread_memory_mode(self, mode: str) -> None:
        if mode not in ("enabled", "disabled"):
            raise InvalidRequest(f"unknown memory mode {mode!r}; expected enabled or disabled")
        self.memory_mode = mode

    # ---- MCP -----------------------------------------------------------------------

    async def call_mcp_tool(self, server: str, tool: str, arguments: Any = None) -> Any:
        raise McpServerNotFound(server)

    async def read_mcp_resource(self, server: str, uri: str) -> Any:
        raise McpServerNotFound(server)

    # ---- out-of-band elicitation pause ---------------------------------------------

    def increment_elicitation(self) -> int:
        if self._elicitations >= _MAX_ELICITATIONS:
            raise ElicitationCountError("out-of-band elicitation count overflowed")
        self._elicitations += 1
        if self._elicitations == 1:
            self._unpaused.clear()
        return self._elicitations

    def decrement_elicitation(self) -> int:
        if self._elicitations == 0:
            raise ElicitationCountError("out-of-band elicitation count is already zero")
        self._elicitations -= 1
        if self._elicitations == 0:
            self._unpaused.set()
        return self._elicitations

    @property
    def elicitation_count(self) -> int:
        return self._elicitations

    @property
    def paused(self) -> bool:
        return self._elicitations > 0

    async def _wait_unpaused(self) -> None:
        await self._unpaused.wait()

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
            await self._sink.close()
        finally:
            self._deliver(ev.Event(id="", msg=ev.ShutdownComplete()))

    # ---- helpers used by the turn loop ---------------------------------------------

    def _new_id(self) -> str:
        return new_thread_id()

    async def _record_history(self, items: list[ResponseItem]) -> None:
        self.history.extend(items)
        await self._persist(items)

    async def _record_context(self) -> None:
        s = self.settings
        now = datetime.now(UTC)
        env = (
            "<environment_context>\n"
            f"  <cwd>{s.cwd}</cwd>\n"
            f"  <approval_policy>{s.approval_policy}</approval_policy>\n"
            f"  <sandbox_mode>{s.sandbox_mode}</sandbox_mode>\n"
            "  <shell>bash</shell>\n"
            f"  <current_date>{now.date().isoformat()}</current_date>\n"
            "  <timezone>Etc/UTC</timezone>\n"
            "</environment_context>"
        )
        items: list[ResponseItem] = []
        if s.developer_instructions:
            items.append(
                MessageItem(
                    role="developer",
                    content=[ContentItem(type="input_text", text=s.developer_instructions)],
                )
            )
        items.append(MessageItem(role="user", content=[ContentItem(type="input_text", text=env)]))
        self._context_recorded = True
        await self._record_history(items)

    async def _turn_started(self, turn: ActiveTurn) -> None:
        s = self.settings
        ready = getattr(self._client, "ready", None)
        if ready is not None:  # a lazily built client: finish building it off the loop
            await ready()
        window = self._client.context_window(s.model) or s.model_context_window
        self._set_status("active", [])
        await self._emit(
            turn.id,
            ev.TaskStarted(
                turn_id=turn.id, started_at=int(turn.started_at), model_context_window=window
            ),
        )
        live = Turn(
            id=turn.id,
            root_turn_id=turn.id,
            items=[],
            items_view="notLoaded",
            status="inProgress",
            started_at=int(turn.started_at),
        )
        self.turns.append(live)
        self._deliver(ev.Event(id=turn.id, msg=ev.TurnStartedEvent(turn=live)))
        if not self._context_recorded:
            await self._record_context()
        await self._persist(
            [
                TurnContextItem(
                    turn_id=turn.id,
                    cwd=s.cwd,
                    approval_policy=s.approval_policy,
                    sandbox_policy={"type": s.sandbox_mode},
                    model=s.model,
                    effort=s.reasoning_effort,
                    summary=s.reasoning_summary or "auto",
                )
            ]
        )

    async def _record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        text = "\n".join(i.text for i in items if isinstance(i, TextUserInput))
        images = [i.url for i in items if isinstance(i, ImageUserInput)]
        local_images = [i.path for i in items if isinstance(i, LocalImageUserInput)]
        content = [
            ContentItem(type="input_text", text=i.text)
            for i in items
            if isinstance(i, TextUserInput)
        ]
        content += [ContentItem(type="input_image", image_url=url) for url in images]
        for local in local_images:
            url = await asyncio.to_thread(_image_data_url, self.cwd_path / local)
            if url is not None:
                content.append(ContentItem(type="input_image", image_url=url))
            else:
                content.append(
                    ContentItem(type="input_text", text=f"[image {local} could not be read]")
                )
        if not self.preview and text:
            self.preview = text
        item = UserMessageThreadItem(
            id=new_thread_id(), content=list(items), client_id=client_id, started_at_ms=now_ms()
        )
        await self._emit(
            turn.id, ev.ItemStarted(turn_id=turn.id, item=item, started_at_ms=now_ms())
        )
        await self._record_history([MessageItem(role="user", content=content)])
        await self._emit(
            turn.id,
            ev.UserMessage(message=text, images=images or None, local_images=local_images),
        )
        done = item.model_copy(update={"completed_at_ms": now_ms()})
        await self._complete_item(turn, done)

    async def _complete_item(self, turn: ActiveTurn, item: ThreadItem) -> None:
        turn.items.append(item)
        await self._emit(
            turn.id, ev.ItemCompleted(turn_id=turn.id, item=item, completed_at_ms=now_ms())
        )

    async def _update_usage(self, turn_id: str, usage: TokenUsage) -> None:
        window = (
            self._client.context_window(self.settings.model) or self.settings.model_context_window
        )
        prev = self.token_info or TokenUsageInfo()
        self.token_info = prev.updated(usage, window)
        await self._emit(turn_id, ev.TokenCount(info=self.token_info, rate_limits=None))
        self._deliver(
            ev.Event(id=turn_id, msg=ev.TokenUsageUpdated(turn_id=turn_id, info=self.token_info))
        )

    async def _turn_finished(self, turn: ActiveTurn, snapshot: Turn) -> Turn:
        full = snapshot.model_copy(update={"items": list(turn.items), "items_view": "full"})
        for i, existing in enumerate(self.turns):
            if existing.id == turn.id:
                self.turns[i] = full
                break
        self.updated_at = time.time()
        if self.active is turn:
            self.active = None
        write_error: Exception | None = None
        try:
            await self._sink.flush()
        except Exception as exc:  # surfaced, never swallowed
            write_error = exc
            log.error("thread %s: rollout write failed: %s", self.id, exc)
            self._deliver(
                ev.Event(id=turn.id, msg=ev.ErrorEvent(message=f"failed to write rollout: {exc}"))
            )
        self._set_status("idle")
        self._deliver(ev.Event(id=turn.id, msg=ev.TurnCompletedEvent(turn=snapshot)))
        if turn.done is not None and not turn.done.done():
            turn.done.set_result(snapshot)
        if turn.abort_ack is not None and not turn.abort_ack.done():
            turn.abort_ack.set_result(None)
        if write_error is not None:
            log.debug("turn %s ended with a pending rollout write", turn.id)
        return snapshot

    def new_client_message_id(self) -> str:
        return f"msg_{uuid.uuid4().hex}"


_T = TypeVar("_T")


def _without(items: tuple[_T, ...], item: _T) -> tuple[_T, ...]:
    """``items`` less its first ``item`` (unchanged when absent)."""
    rest = list(items)
    with contextlib.suppress(ValueError):
        rest.remove(item)
    return tuple(rest)


_STREAM_DELTAS = frozenset({ev.AgentMessageDelta, ev.ReasoningSummaryDelta, ev.CommandOutputDelta})
"""Never persisted: checked by exact class before anything else on the per-token path."""

_PERSISTABLE = frozenset(
    {
        "task_started",
        "task_complete",
        "turn_aborted",
        "user_message",
        "agent_message",
        "agent_reasoning",
        "token_count",
        "thread_name_updated",
        "thread_rolled_back",
        "context_compacted",
        "error",
        "exec_command_end",
    }
)


_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_MAX_IMAGE_BYTES = 20 << 20


def _image_data_url(path: Path) -> str | None:
    """A local image as a ``data:`` URL for the model (None when unreadable or too big)."""
    mime = _IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        if path.stat().st_size > _MAX_IMAGE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
