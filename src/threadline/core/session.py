"""``Session``: the state of one loaded thread, and the host its turns run on.

A session owns what a turn changes: the model-visible history, the token usage,
the turn list and the running turn, the settings, the status, and the sinks
(rollout lines out; events to synchronous listeners and the async queue).
``Thread`` is the conduit in front of it; ``TurnRunner`` sees it only as a
``TurnHost`` (this class implements that Protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from threadline.core.errors import (
    EmptyInput,
    ExpectedTurnMismatch,
    InvalidRequest,
    NoActiveTurn,
    TurnNotSteerable,
)
from threadline.core.hooks import TurnExtras
from threadline.core.ids import new_thread_id
from threadline.core.pending_asks import ElicitationPause, opened_record, record_answer, reopen_turn
from threadline.core.recorder import RolloutSink
from threadline.core.session_history import HistorySlot, history_length
from threadline.core.settings import ThreadSettings
from threadline.core.user_input import context_items, user_content
from threadline.model.base import ModelClient
from threadline.protocol import events as ev
from threadline.protocol.asks import CutOffTurn
from threadline.protocol.clock import now_ms
from threadline.protocol.items import MessageItem, ResponseItem
from threadline.protocol.lazy_module import lazy_module
from threadline.protocol.ops import TurnOverrides, UserTurn
from threadline.protocol.rollout import CompactionWindow, EventMsg, RolloutItem, TurnContextItem
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import ThreadItem, UserInput, UserMessageThreadItem
from threadline.protocol.v2.turn import Turn

if TYPE_CHECKING:
    from threadline.core import compaction
    from threadline.core import turn as turn_loop
    from threadline.core.turn import ActiveTurn, TurnRunner, TurnTask
    from threadline.tools.registry import AnswerHook, DecisionHook, ToolRegistry
else:  # a resumed thread loads its turn code with its first turn
    compaction = lazy_module("threadline.core.compaction")
    turn_loop = lazy_module("threadline.core.turn")

log = logging.getLogger(__name__)

Listener = Callable[[ev.Event], None]
FlowGate = Callable[[], Awaitable[None] | None]
"""Backpressure hook: returns ``None`` to go on, or an awaitable to wait for first."""

_EVENT_QUEUE_LIMIT = 100_000


class Session(ElicitationPause):
    """History, usage, turns, settings, status and the sinks of one thread."""
    history = HistorySlot()  # a resumed thread's is built with its first model request

    def __init__(
        self,
        *,
        thread_id: str,
        settings: ThreadSettings,
        model: ModelClient,
        sink: RolloutSink,
        tools: ToolRegistry | Callable[[], ToolRegistry],
        history: Sequence[ResponseItem],
        token_info: TokenUsageInfo | None,
        turns: Sequence[Turn],
        preview: str,
        updated_at: float,
        window: CompactionWindow | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.settings = settings
        self.model = model
        self.sink = sink
        self._make_tools: Callable[[], ToolRegistry] | None = tools if callable(tools) else None
        self._tools: ToolRegistry | None = None if callable(tools) else tools
        self.history = history
        self.token_info = token_info
        self.turns: list[Turn] = list(turns)
        self.preview = preview
        self.updated_at = updated_at
        self.active: ActiveTurn | None = None
        self.context_recorded = bool(history)
        # Tuples, replaced on change: delivery (once per streamed token) iterates them
        # without copying, and a listener removed during delivery is still safe.
        self._listeners: tuple[Listener, ...] = ()
        self._flow_gates: tuple[FlowGate, ...] = ()
        self._status_listeners: list[Callable[[str, list[str]], None]] = []
        self._queue: asyncio.Queue[ev.Event] | None = None
        self._write_failing = False
        self._status = "idle"
        self._active_flags: list[str] = []
        self.tools_ready: Callable[[], Awaitable[None]] | None = None
        """Awaited before a turn's first request: its MCP servers finishing startup."""
        ElicitationPause.__init__(self)
        self._turn_task: asyncio.Task[Turn] | None = None
        self._pending_approvals: dict[str, asyncio.Future[Any]] = {}
        self.cut_off: CutOffTurn | None = None  # a turn a restart cut off (continue_cut_off)
        self.skills_context: Callable[[], ResponseItem | None] | None = None
        """The skills message for the model (``core.skills``), set by the thread's setup."""
        self.extras: TurnExtras | None = None
        """The thread's hooks and skills for its turns (``core.hook_events``)."""
        self._compactor: compaction.Compactor | None = None
        self._compaction_start = (settings.remote_compaction, window, history_length(self))

    @property
    def tools(self) -> ToolRegistry:
        """The model's tools, made on first use when the thread was given a factory."""
        if self._tools is None and self._make_tools is not None:
            self._tools = self._make_tools()
        assert self._tools is not None
        return self._tools

    def built_tools(self) -> ToolRegistry | None:
        return self._tools

    @property
    def compactor(self) -> compaction.Compactor:
        """Made on first use (a turn), as it would have been with the session."""
        if self._compactor is None:
            remote, window, mark = self._compaction_start
            self._compactor = compaction.Compactor(self, remote=remote, window=window)
            self._compactor.usage_mark = mark
        return self._compactor

    def new_id(self) -> str:
        return new_thread_id()

    # ---- status --------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._status

    def active_flags(self) -> list[str]:
        return list(self._active_flags)

    def subscribe_status(self, callback: Callable[[str, list[str]], None]) -> Callable[[], None]:
        self._status_listeners.append(callback)
        return lambda: self._status_listeners.remove(callback)

    def set_status(self, status: str, flags: list[str] | None = None) -> None:
        flags = flags or []
        if status == self._status and flags == self._active_flags:
            return
        self._status = status
        self._active_flags = flags
        self.deliver(ev.Event(id="", msg=ev.StatusChanged(status=status, active_flags=flags)))
        for cb in list(self._status_listeners):
            cb(status, flags)

    # ---- events --------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners = (*self._listeners, listener)

        def remove() -> None:
            self._listeners = _without(self._listeners, listener)

        return remove

    def add_flow_gate(self, gate: FlowGate) -> Callable[[], None]:
        self._flow_gates = (*self._flow_gates, gate)

        def remove() -> None:
            self._flow_gates = _without(self._flow_gates, gate)

        return remove

    async def next_event(self) -> ev.Event:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=_EVENT_QUEUE_LIMIT)
        return await self._queue.get()

    async def emit(self, turn_id: str, msg: ev.EventMsg) -> None:
        """Offer ``msg`` to the rollout, deliver it, then honour the flow gates.

        Whether an event is written is decided once, by the sink's persistence policy
        (``rollout.policy``, applied where the writer turns items into lines); the
        session offers every event that has an ``event_msg`` form, i.e. all but the
        streamed deltas (:class:`~threadline.protocol.events.StreamDelta`).
        """
        if not isinstance(msg, ev.StreamDelta):
            event = EventMsg.model_validate(msg.rollout_payload(self.thread_id))
            await self.persist([event], offered=True)
        self.deliver(ev.Event(turn_id, msg))
        for gate in self._flow_gates:
            waiter = gate()
            if waiter is not None:
                await waiter

    async def persist(self, items: Sequence[RolloutItem], *, offered: bool = False) -> None:
        """Queue rollout lines. A write failure never ends the turn: the writer keeps the
        unwritten suffix for the next flush, and the client hears about it once.

        ``offered``: events the policy may drop, so an append that returns is no sign
        that the rollout writes again (only history and turn context are always written).
        """
        try:
            await self.sink.append(items)
        except Exception as exc:
            if not self._write_failing:
                log.error("thread %s: rollout write failed: %s", self.thread_id, exc)
                self.deliver(
                    ev.Event(id="", msg=ev.ErrorEvent(message=f"failed to write rollout: {exc}"))
                )
            self._write_failing = True
        else:
            if not offered:
                self._write_failing = False

    async def append_rollout(
        self, items: Sequence[RolloutItem], *, or_discard: bool = False
    ) -> None:
        """Append items to the rollout and flush them when the file exists; ``or_discard``:
        written now and synced, or dropped when the write fails."""
        if or_discard:
            await self.sink.append_or_discard(items)
            return
        await self.sink.append(items)
        if self.sink.materialized:
            await self.sink.flush()

    def deliver(self, event: ev.Event) -> None:
        """Hand ``event`` to every listener and the queue, without persisting it."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("thread %s: event listener failed", self.thread_id)
        if self._queue is not None:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning(
                    "thread %s: event queue full, dropping %s", self.thread_id, event.msg.type
                )

    # ---- turns ---------------------------------------------------------------------

    def start_turn(self, op: UserTurn, output_schema: Any = None) -> tuple[str, bool]:
        """Start a turn, or steer the running one. Returns ``(turn_id, started)``."""
        if not op.items:
            raise EmptyInput()
        previous = self.active
        if previous is not None and not previous.closing:
            return self.steer(op.items, None, op.client_user_message_id), False
        # Idle, or the running turn is already writing its ending: a new turn follows it.
        self.settings = self.settings.with_turn_overrides(op.overrides).for_turn(output_schema)
        return self._launch("regular", list(op.items), op.client_user_message_id), True

    def start_compaction(self) -> str:
        """A turn that only compacts the history; it replaces a running one (which ends
        ``interrupted``, its abort reason ``replaced``, as in Codex) and follows it."""
        if self.active is not None and not self.active.closing:
            self.active.abort_reason = "replaced"
            self.interrupt_now()
        return self._launch("compact", [], None)

    def start_review(self, task: TurnTask) -> str:
        """A review turn (``core.review.ReviewTask``); refused while a turn runs."""
        if self.active is not None:
            raise InvalidRequest("a turn is already running on this thread")
        return self._launch("review", [], None, None, task)

    def continue_cut_off(self) -> str | None:
        """Continue the turn a restart cut off while it waited on the client (same id; its
        interrupted call asks again: ``core.pending_asks``). ``None`` when there is none."""
        cut, self.cut_off = self.cut_off, None
        if cut is None or self.active is not None:
            return None
        policy = TurnOverrides(approval_policy=cut.approval_policy, sandbox_mode=cut.sandbox_mode)
        self.settings = self.settings.with_turn_overrides(policy)  # as the turn ran before
        return self._launch("regular", [], None, cut)

    def _launch(
        self,
        kind: str,
        items: list[UserInput],
        client_id: str | None,
        cut: CutOffTurn | None = None,
        task: TurnTask | None = None,
    ) -> str:
        loop = asyncio.get_running_loop()
        turn = turn_loop.ActiveTurn(id=new_thread_id(), started_at=time.time(), kind=kind)
        if cut is not None:
            turn, live = reopen_turn(self.turns, cut)
            self.set_status("active", [])
            self.deliver(ev.Event(id=turn.id, msg=ev.TurnStartedEvent(turn=live)))
        turn.done = loop.create_future()
        turn.abort_ack = loop.create_future()
        after = self._turn_task if self.active is not None else None
        self.active = turn
        self._turn_task = asyncio.create_task(
            self._run_turn(
                turn_loop.TurnRunner(self, turn, None, task, extras=self.extras,
                                     compactor_for=lambda: self.compactor),
                items,
                client_id,
                after,
                cut,
            ),
            name=f"turn-{turn.id}",
        )
        return turn.id

    async def _run_turn(
        self,
        runner: TurnRunner,
        items: list[UserInput],
        client_id: str | None,
        after: asyncio.Task[Turn] | None,
        cut: CutOffTurn | None = None,
    ) -> Turn:
        turn = runner.turn
        if after is not None:
            await asyncio.wait([after])
        try:
            result = await runner.run(items, client_id, cut)
        except asyncio.CancelledError:
            if self.active is turn:
                self.active = None
                self.set_status("idle")
            raise
        if turn.done is not None and not turn.done.done():
            turn.done.set_result(result)
        return result

    def steer(
        self, items: Sequence[UserInput], expected_turn_id: str | None, metadata: str | None
    ) -> str:
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

    def interrupt_now(self) -> str:
        """Interrupt the running turn with nobody to answer in between: it ends at once."""
        if self.active is None:
            raise NoActiveTurn("interrupt")
        self.active.interrupt.set()
        self.active.release.set()
        return self.active.id

    async def interrupt(self, expected_turn_id: str | None) -> str:
        """Interrupt the running turn; returns once the interruption is accounted for."""
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
        turn = self.active
        if turn is None or turn.done is None:
            return None
        return await asyncio.shield(turn.done)

    # ---- approvals -----------------------------------------------------------------

    async def request_approval(
        self,
        request: ev.ExecApprovalRequest,
        started_item: Any | None = None,
        on_decision: DecisionHook | None = None,
    ) -> str:
        """Ask the client(s) about a command and wait for the decision string."""
        decision = await self.ask(request, started_item, on_decision)
        return decision if isinstance(decision, str) else "decline"

    async def ask(
        self,
        request: ev.ClientAsk,
        started_item: Any | None = None,
        on_decision: AnswerHook | None = None,
    ) -> Any:
        """Ask the client(s) ``request`` and wait for the answer (whatever its kind defines).

        Codex's order: the waiting flag, item/started (``started_item``), the request;
        after the answer serverRequest/resolved, ``on_decision`` (a declined item
        completes there), then the flag clears.
        """
        turn_id = request.turn_id
        flag = request.waiting_flag()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_approvals[request.approval_id] = fut
        if flag is not None:
            self.set_status("active", [flag])
        try:
            if started_item is not None:
                started_at = getattr(started_item, "started_at_ms", None) or now_ms()
                await self.emit(
                    turn_id,
                    ev.ItemStarted(turn_id=turn_id, item=started_item, started_at_ms=started_at),
                )
            await self.persist([opened_record(request)])  # what a restart asks again
            # Every concrete ClientAsk subclass is a member of ev.EventMsg.
            await self.emit(turn_id, cast(ev.EventMsg, request))
            answer = await fut
        except asyncio.CancelledError:
            self.deliver(
                ev.Event(id=turn_id, msg=ev.ApprovalResolved(approval_id=request.approval_id))
            )
            if flag is not None:
                self.set_status("active", [])
            raise
        finally:
            self._pending_approvals.pop(request.approval_id, None)
        await record_answer(self.sink, request, answer)  # synced: never acted on twice
        await self.emit(turn_id, ev.ApprovalResolved(approval_id=request.approval_id))
        if on_decision is not None:
            await on_decision(answer)
        if flag is not None:
            self.set_status("active", [])
        return answer

    def resolve_approval(self, approval_id: str, answer: Any) -> None:
        """Answer the open question ``approval_id`` (any ``ClientAsk`` kind)."""
        fut = self._pending_approvals.pop(approval_id, None)
        if fut is None:
            raise InvalidRequest(f"no pending approval {approval_id}")
        if not fut.done():
            fut.set_result(answer)

    def pending_approval_ids(self) -> list[str]:
        return list(self._pending_approvals)

    # ---- history and the turn's records --------------------------------------------

    async def record(self, items: list[ResponseItem]) -> None:
        self.history.extend(items)
        await self.persist(items)

    async def record_context(self) -> None:
        """Record the developer instructions and the environment context (once per thread)."""
        self.context_recorded = True
        await self.record(self.context_items())

    def context_items(self) -> list[ResponseItem]:
        """The developer instructions and the environment context, as a history opens;
        the skills message (``core.skills``) goes before the environment context."""
        items = context_items(self.settings)
        skills = self.skills_context() if self.skills_context is not None else None
        if skills is not None:
            items.insert(len(items) - 1, skills)
        return items

    def replace_history(self, history: Sequence[ResponseItem], turns: Sequence[Turn]) -> None:
        if self.active is not None:
            raise InvalidRequest("cannot replace history while a turn is running")
        self.history = list(history)
        self.turns = list(turns)

    async def turn_started(self, turn: ActiveTurn) -> None:
        s = self.settings
        ready = getattr(self.model, "ready", None)
        if ready is not None and getattr(self.model, "window_from_client", True):
            await ready()  # the window is the built client's: finish building it off the loop
        window = self.model.context_window(s.model) or s.model_context_window
        self.set_status("active", [])
        await self.emit(
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
        self.deliver(ev.Event(id=turn.id, msg=ev.TurnStartedEvent(turn=live)))
        if not self.context_recorded:
            await self.record_context()
        await self.persist([self.turn_context_item(turn.id)])
        if self.tools_ready is not None:
            await self.tools_ready()

    def turn_context_item(self, turn_id: str) -> TurnContextItem:
        s = self.settings
        return TurnContextItem(
            turn_id=turn_id,
            cwd=s.cwd,
            approval_policy=s.approval_policy,
            sandbox_policy={"type": s.sandbox_mode},
            model=s.model,
            effort=s.reasoning_effort,
            summary=s.reasoning_summary or "auto",
        )

    async def record_user_input(
        self, turn: ActiveTurn, items: list[UserInput], client_id: str | None
    ) -> None:
        text, images, local_images, content = await user_content(items, Path(self.settings.cwd))
        if not self.preview and text:
            self.preview = text
        item = UserMessageThreadItem(
            id=new_thread_id(), content=list(items), client_id=client_id, started_at_ms=now_ms()
        )
        await self.emit(turn.id, ev.ItemStarted(turn_id=turn.id, item=item, started_at_ms=now_ms()))
        await self.record([MessageItem(role="user", content=content)])
        await self.emit(
            turn.id,
            ev.UserMessage(message=text, images=images or None, local_images=local_images),
        )
        done = item.model_copy(update={"completed_at_ms": now_ms()})
        await self.complete_item(turn, done)

    async def complete_item(self, turn: ActiveTurn, item: ThreadItem) -> None:
        turn.items.append(item)
        done_at = getattr(item, "completed_at_ms", None) or now_ms()  # one stamp, wire and disk
        await self.emit(
            turn.id, ev.ItemCompleted(turn_id=turn.id, item=item, completed_at_ms=done_at)
        )

    async def add_usage(self, turn_id: str, usage: TokenUsage) -> None:
        window = (
            self.model.context_window(self.settings.model) or self.settings.model_context_window
        )
        prev = self.token_info or TokenUsageInfo()
        self.token_info = prev.updated(usage, window)
        await self.emit(turn_id, ev.TokenCount(info=self.token_info, rate_limits=None))
        self.deliver(
            ev.Event(id=turn_id, msg=ev.TokenUsageUpdated(turn_id=turn_id, info=self.token_info))
        )

    async def turn_finished(self, turn: ActiveTurn, snapshot: Turn) -> Turn:
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
            await self.sink.flush()
        except Exception as exc:  # surfaced, never swallowed
            write_error = exc
            log.error("thread %s: rollout write failed: %s", self.thread_id, exc)
            self.deliver(
                ev.Event(id=turn.id, msg=ev.ErrorEvent(message=f"failed to write rollout: {exc}"))
            )
        self.set_status("idle")
        self.deliver(ev.Event(id=turn.id, msg=ev.TurnCompletedEvent(turn=snapshot)))
        if turn.done is not None and not turn.done.done():
            turn.done.set_result(snapshot)
        if turn.abort_ack is not None and not turn.abort_ack.done():
            turn.abort_ack.set_result(None)
        if write_error is not None:
            log.debug("turn %s ended with a pending rollout write", turn.id)
        return snapshot


_T = TypeVar("_T")


def _without(items: tuple[_T, ...], item: _T) -> tuple[_T, ...]:
    """``items`` less its first ``item`` (unchanged when absent)."""
    rest = list(items)
    with contextlib.suppress(ValueError):
        rest.remove(item)
    return tuple(rest)


__all__ = ["FlowGate", "Listener", "Session"]

