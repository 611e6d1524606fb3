"""The turn loop: sample the model, stream items out, run tools, repeat until the model stops.

Interrupt and steer are first-party outcomes, not task cancellation: the loop
races each await against the turn's ``steer`` and ``interrupt`` signals and
cancels only the in-flight model stream or tool call.

A turn sees its owner only as a :class:`TurnHost` (Codex's ``SessionTaskContext``):
the settings, history, tools and model it runs with, and the calls that record
what it produced. ``core.session.Session`` implements it; tests use a recording fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from threadline.core import hook_events, tracing
from threadline.core.hook_events import TurnExtras
from threadline.core.turn_host import ActiveTurn, TurnHost
from threadline.model.base import (
    ContextWindowExceeded,
    ModelError,
    ModelRequest,
    ModelRetriesExhausted,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseCompleted,
    RetryScheduled,
    ToolInputDelta,
)
from threadline.protocol import events as ev
from threadline.protocol.asks import CutOffTurn, resumed_calls
from threadline.protocol.call_pairs import paired_calls
from threadline.protocol.clock import now_ms
from threadline.protocol.items import (
    ContentItem,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ReasoningItem,
    ResponseItem,
    user_text_message,
)
from threadline.protocol.lazy_module import lazy_module
from threadline.protocol.usage import TokenUsage
from threadline.protocol.v2.item import (
    AgentMessageThreadItem,
    ReasoningThreadItem,
    ThreadItem,
    UserInput,
)
from threadline.protocol.v2.turn import Turn, TurnError

if TYPE_CHECKING:
    from threadline.core.compaction import Compactor, Phase
    from threadline.tools import mcp_tools, registry
else:  # the tools load with the thread's tools: after turn/started, when the model is asked
    mcp_tools = lazy_module("threadline.tools.mcp_tools")
    registry = lazy_module("threadline.tools.registry")

log = logging.getLogger(__name__)

T = TypeVar("T")

TURN_ABORTED_MESSAGE = (
    "<turn_aborted>\n"
    "The user interrupted the previous turn on purpose. Any running unified exec processes "
    "may still be running in the background. If any tools/commands were aborted, they may "
    "have partially executed.\n"
    "</turn_aborted>"
)
"""The interruption marker Codex records (a live interrupt and a fork of an unfinished
turn alike); it is model-visible, so the exact text matters."""


_RELEASE_TIMEOUT_S = 2.0
"""How long an interrupted turn waits for its interrupter to answer before ending anyway."""


class _Preempted(Exception):
    """The awaited step lost the race to a steer or an interrupt."""


@dataclass(slots=True)
class _Sample:
    outputs: list[ResponseItem] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: TokenUsage | None = None
    history_len: int = 0  # the history's length when the response completed


TurnTask = Callable[[TurnHost, ActiveTurn], Awaitable[None]]  # a turn's work, not sampling

ToolCall = FunctionCallItem | CustomToolCallItem
"""A call the turn runs: a JSON function call or a freeform custom-tool call."""


@dataclass(slots=True)
class _StreamingCall:
    """A custom-tool call whose input is still streaming."""

    name: str
    call_id: str
    parts: list[str] = field(default_factory=list)


class TurnRunner:
    """Runs one turn on ``host`` to completion (completed, interrupted or failed)."""

    def __init__(
        self,
        host: TurnHost,
        turn: ActiveTurn,
        compactor: Compactor | None = None,
        task: TurnTask | None = None,
        *,
        extras: TurnExtras | None = None,
        compactor_for: Callable[[], Compactor] | None = None,
    ) -> None:
        self.host = host
        self.turn = turn
        self._compactor = compactor
        self._compactor_for = compactor_for  # made when needed: after turn/started
        self.task = task  # the work of a turn that does not sample (review: core.review)
        self.extras = extras
        """The thread's hooks and skills (``core.hook_events`` says where a turn uses them)."""

    # ---- racing helpers ------------------------------------------------------

    async def _race(self, aw: Awaitable[T], *, steerable: bool) -> T:
        """Await ``aw`` unless the turn is interrupted (or steered, when ``steerable``) first."""
        task: asyncio.Future[T] = asyncio.ensure_future(aw)
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.turn.interrupt.wait())]
        if steerable:
            waiters.append(asyncio.ensure_future(self.turn.steer.wait()))
        racers: list[asyncio.Future[Any]] = [task, *waiters]
        try:
            done, _ = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            for w in waiters:
                w.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise _Preempted

    # ---- the loop -------------------------------------------------------------

    async def run(
        self, items: list[UserInput], client_id: str | None, cut: CutOffTurn | None = None
    ) -> Turn:
        """Run the turn; it always ends with a final state, a crash included (``failed``).

        ``cut``: continue a turn a restart cut off instead (its calls, then on as usual).
        ``CancelledError`` propagates: cancelling the task is not an interrupt.
        """
        try:
            with tracing.span("turn", thread_id=self.host.thread_id, turn_id=self.turn.id):
                return await self._run(items, client_id, cut)
        except Exception as exc:
            log.exception("thread %s: turn %s crashed", self.host.thread_id, self.turn.id)
            return await self._finish_failed(ModelError(f"internal error: {exc}"))

    async def _run(
        self, items: list[UserInput], client_id: str | None, cut: CutOffTurn | None
    ) -> Turn:
        th = self.host
        turn = self.turn
        if cut is None:
            await th.turn_started(turn)
        try:
            if cut is not None:  # a cut-off turn: its calls first (``protocol.asks``)
                settled, again = resumed_calls(cut)
                await th.record(settled)
                try:
                    await self._run_tools(again)
                except _Preempted:
                    return await self._finish_interrupted()
            elif await self._compact_if_needed("standalone" if turn.kind == "compact" else "pre_turn"):
                return await self._finish_interrupted()
            elif turn.kind == "compact":  # thread/compact/start: a turn that only compacts
                return await self._finish("completed")
            elif self.task is not None:  # review/start: the task runs the turn
                try:
                    await self._race(self.task(th, turn), steerable=False)
                except _Preempted:
                    return await self._finish_interrupted()
                return await self._finish("completed")
            else:
                hooked = await hook_events.before_prompt(self.extras, th, turn, items)
                if hooked is None:  # a UserPromptSubmit hook refused it: nothing is sent
                    return await self._finish("completed")
                await th.record_user_input(turn, items, client_id)
                await hook_events.inject_skills(self.extras, th, items)
                await hook_events.record_contexts(th, hooked)
            while True:
                try:
                    # While an out-of-band elicitation holds the thread, nothing is sampled.
                    await self._race(th.wait_unpaused(), steerable=False)
                except _Preempted:
                    return await self._finish_interrupted()
                await self._drain_pending()
                if turn.interrupt.is_set():
                    return await self._finish_interrupted()
                try:
                    sample = await self._race(self._sample_once(), steerable=True)
                except _Preempted:
                    if turn.interrupt.is_set():
                        return await self._finish_interrupted()
                    # A steer cut the stream: the partial answer is dropped and we sample again.
                    await th.emit(turn.id, ev.TokenCount(info=None, rate_limits=None))
                    continue
                if sample.calls:
                    try:
                        await self._run_tools(sample.calls)
                    except _Preempted:
                        await self._count_usage(sample)
                        return await self._finish_interrupted()
                    await self._count_usage(sample)
                    if await self._compact_if_needed("mid_turn"):
                        return await self._finish_interrupted()
                    continue
                await self._count_usage(sample)
                if turn.pending_input or turn.pending_items:
                    if await self._compact_if_needed("mid_turn"):
                        return await self._finish_interrupted()
                    continue
                if await hook_events.stop_goes_on(self.extras, th, turn):
                    continue  # a Stop hook blocked the ending: one more round
                return await self._finish("completed")
        except ModelError as exc:
            return await self._finish_failed(exc)

    @property
    def compactor(self) -> Compactor | None:
        if self._compactor is None and self._compactor_for is not None:
            self._compactor, self._compactor_for = self._compactor_for(), None
        return self._compactor

    async def _count_usage(self, sample: _Sample) -> None:
        if sample.usage is not None:
            usage, sample.usage = sample.usage, None
            if self.compactor is not None:
                self.compactor.usage_mark = sample.history_len
            await self.host.add_usage(self.turn.id, usage)

    async def _compact_if_needed(self, phase: Phase) -> bool:
        """Compact when due (always in a compact turn); ``True`` when an interrupt cut it."""
        if self.compactor is not None:
            try:
                done = functools.partial(self.host.complete_item, self.turn)
                step = self.compactor.maybe_compact(self.turn.id, phase, done)
                await self._race(step, steerable=False)
            except _Preempted:
                return True
        return False

    async def _drain_pending(self) -> None:
        """Record steered input as user messages of this turn, in arrival order."""
        turn = self.turn
        if turn.pending_items:
            pending, turn.pending_items = turn.pending_items, []
            await self.host.record(pending)
        while turn.pending_input:
            items, client_id = turn.pending_input.pop(0)
            await self.host.record_user_input(turn, items, client_id)
        # No await since the queue was seen empty: a steer after this point is a new one.
        turn.steer.clear()

    async def _sample_once(self) -> _Sample:
        th = self.host
        turn = self.turn
        settings = th.settings
        client = th.model
        request = ModelRequest(
            model=settings.model,
            input=paired_calls(th.history),
            tools=th.tools.specs(),
            instructions=settings.base_instructions,
            reasoning_effort=settings.model_info.reasoning_effort(settings.reasoning_effort),
            reasoning_summary=settings.model_info.reasoning_summary(settings.reasoning_summary),
            parallel_tool_calls=settings.model_info.parallel_tool_calls,
            prompt_cache_key=th.thread_id,
            # The identifying headers Codex sends with every request.
            extra_headers={
                "originator": settings.originator,
                "session-id": th.thread_id,
                "thread-id": th.thread_id,
                "x-client-request-id": th.thread_id,
            },
            client_metadata={"thread_id": th.thread_id, "turn_id": turn.id},
            output_schema=settings.output_schema,
        )
        sample = _Sample()
        streaming: dict[str, _StreamingCall] = {}
        open_items: dict[str, ThreadItem] = {}
        texts: dict[str, list[str]] = {}
        summaries: dict[str, list[str]] = {}
        async for event in tracing.model_request(client.stream(request), request.model):
            if isinstance(event, OutputTextDelta):
                if turn.first_token_at is None:
                    turn.first_token_at = time.monotonic()
                if event.item_id not in open_items:
                    await self._open_agent_message(event.item_id, open_items)
                texts.setdefault(event.item_id, []).append(event.delta)
                await th.emit(
                    turn.id,
                    ev.AgentMessageDelta(turn_id=turn.id, item_id=event.item_id, delta=event.delta),
                )
            elif isinstance(event, ReasoningSummaryDelta):
                if event.item_id not in open_items:
                    await self._open_reasoning(event.item_id, open_items)
                parts = summaries.setdefault(event.item_id, [])
                while len(parts) <= event.summary_index:
                    parts.append("")
                parts[event.summary_index] += event.delta
                await th.emit(
                    turn.id,
                    ev.ReasoningSummaryDelta(
                        turn_id=turn.id,
                        item_id=event.item_id,
                        delta=event.delta,
                        summary_index=event.summary_index,
                    ),
                )
            elif isinstance(event, ReasoningSummaryPartAdded):
                if event.item_id not in open_items:
                    await self._open_reasoning(event.item_id, open_items)
                await th.emit(
                    turn.id,
                    ev.ReasoningSummaryPartAdded(
                        turn_id=turn.id, item_id=event.item_id, summary_index=event.summary_index
                    ),
                )
            elif isinstance(event, ToolInputDelta):
                call = streaming.get(event.item_id)
                if call is not None and event.delta:
                    call.parts.append(event.delta)
                    await th.tools.input_progress(
                        call.name, self._context(call.call_id), "".join(call.parts)
                    )
            elif isinstance(event, OutputItemAdded):
                item = event.item
                if isinstance(item, CustomToolCallItem) and item.id:
                    streaming[item.id] = _StreamingCall(item.name, item.call_id)
                elif isinstance(item, MessageItem) and item.role == "assistant" and item.id:
                    await self._open_agent_message(item.id, open_items)
                elif isinstance(item, ReasoningItem) and item.id:
                    await self._open_reasoning(item.id, open_items)
            elif isinstance(event, OutputItemDone):
                await self._item_done(event.item, sample, open_items, texts)
            elif isinstance(event, ResponseCompleted):
                # Counted once the response's tool calls have run, as Codex reports it.
                sample.usage = event.usage
                sample.history_len = len(th.history)
            elif isinstance(event, RetryScheduled):
                await th.emit(
                    turn.id,
                    ev.StreamRetry(
                        turn_id=turn.id,
                        message=event.message,
                        attempt=event.attempt,
                        max_attempts=event.max_attempts,
                        delay_s=event.delay_s,
                    ),
                )
        return sample

    async def _open_agent_message(self, item_id: str, open_items: dict[str, ThreadItem]) -> None:
        item = AgentMessageThreadItem(id=item_id, text="", started_at_ms=now_ms())
        open_items[item_id] = item
        await self.host.emit(
            self.turn.id, ev.ItemStarted(turn_id=self.turn.id, item=item, started_at_ms=now_ms())
        )

    async def _open_reasoning(self, item_id: str, open_items: dict[str, ThreadItem]) -> None:
        item = ReasoningThreadItem(id=item_id, summary=[], content=[], started_at_ms=now_ms())
        open_items[item_id] = item
        await self.host.emit(
            self.turn.id, ev.ItemStarted(turn_id=self.turn.id, item=item, started_at_ms=now_ms())
        )

    async def _item_done(
        self,
        item: ResponseItem,
        sample: _Sample,
        open_items: dict[str, ThreadItem],
        texts: dict[str, list[str]],
    ) -> None:
        th = self.host
        turn = self.turn
        sample.outputs.append(item)
        await th.record([item])
        if isinstance(item, MessageItem) and item.role == "assistant":
            text = item.text() or "".join(texts.get(item.id or "", []))
            item_id = item.id or th.new_id()
            started = open_items.get(item_id)
            if started is None:
                await self._open_agent_message(item_id, open_items)
                started = open_items[item_id]
            done = AgentMessageThreadItem(
                id=item_id,
                text=text,
                started_at_ms=getattr(started, "started_at_ms", None),
                completed_at_ms=now_ms(),
            )
            turn.last_agent_message = text
            await th.emit(turn.id, ev.AgentMessage(message=text))
            await th.complete_item(turn, done)
        elif isinstance(item, ReasoningItem):
            summary = [s.text for s in item.summary]
            item_id = item.id or th.new_id()
            if item_id not in open_items:
                await self._open_reasoning(item_id, open_items)
            for text in summary:
                await th.emit(turn.id, ev.AgentReasoning(text=text))
            done_r = ReasoningThreadItem(
                id=item_id, summary=summary, content=[], completed_at_ms=now_ms()
            )
            await th.complete_item(turn, done_r)
        elif isinstance(item, FunctionCallItem | CustomToolCallItem):
            sample.calls.append(item)

    def _context(self, call_id: str) -> registry.ToolContext:
        """The context one tool call runs with."""
        th = self.host
        turn = self.turn
        settings = th.settings

        async def emit(msg: Any) -> None:
            await th.emit(turn.id, msg)

        async def complete_item(item: Any) -> None:
            await th.complete_item(turn, item)

        return registry.ToolContext(
            thread_id=th.thread_id,
            turn_id=turn.id,
            call_id=call_id,
            cwd=Path(settings.cwd),
            emit=emit,
            complete_item=complete_item,
            request_approval=th.request_approval,
            ask_client=th.ask,
            approval_policy=settings.approval_policy,
            sandbox_mode=settings.sandbox_mode,
            extras={"collaboration_mode": settings.collaboration_mode},
        )

    async def _run_tools(self, calls: list[ToolCall]) -> None:
        th = self.host
        turn = self.turn
        for call in calls:
            ctx = self._context(call.call_id)
            arguments = call.input if isinstance(call, CustomToolCallItem) else call.arguments
            # A Responses-API call into a namespace tool names its namespace apart.
            name = mcp_tools.dispatch_name(th.tools, call.name, getattr(call, "namespace", None))
            hook_call = (self.extras, th, turn, name, arguments, call.call_id)
            blocked = await hook_events.before_tool(*hook_call)
            try:
                if blocked is not None:  # a PreToolUse hook said no: the tool does not run
                    output = registry.ToolOutput(text=blocked, success=False)
                else:
                    dispatch = tracing.tool_call(th.tools.dispatch(name, arguments, ctx), name)
                    output = await self._race(dispatch, steerable=False)
            except registry.UnknownTool as exc:
                output = registry.ToolOutput(text=str(exc), success=False)
            except _Preempted:
                raise
            except Exception as exc:  # a tool bug must not kill the turn
                log.exception("tool %s failed", call.name)
                output = registry.ToolOutput(text=f"{call.name} failed: {exc}", success=False)
            if blocked is None:  # PostToolUse: its context, or a new output
                output = await hook_events.after_tool(*hook_call, output)
            await th.record([_output_item(call, output)])
            if output.abort_turn:  # the user chose "cancel": the turn ends as interrupted
                turn.interrupt.set()
                turn.release.set()
                raise _Preempted

    # ---- endings --------------------------------------------------------------

    def _snapshot(self, status: str, *, error: TurnError | None = None) -> Turn:
        turn = self.turn
        now = time.time()
        items: list[ThreadItem] = []
        view = "notLoaded"
        if status in ("completed", "failed"):
            last: list[ThreadItem] = [
                i for i in turn.items if isinstance(i, AgentMessageThreadItem)
            ]
            items = last[-1:]
            view = "summary"
        return Turn(
            id=turn.id,
            root_turn_id=turn.id,
            items=items,
            items_view=view,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            error=error,
            started_at=int(turn.started_at),
            completed_at=int(now),
            duration_ms=int((now - turn.started_at) * 1000),
        )

    async def _finish(self, status: str, *, error: TurnError | None = None) -> Turn:
        """End a completed or failed turn: ``task_complete``, then the host's accounting."""
        th = self.host
        turn = self.turn
        turn.closing = True
        snap = self._snapshot(status, error=error)
        await th.emit(
            turn.id,
            ev.TaskComplete(
                turn_id=turn.id,
                last_agent_message=turn.last_agent_message,
                completed_at=snap.completed_at,
                duration_ms=snap.duration_ms,
            ),
        )
        return await th.turn_finished(turn, snap)

    async def _finish_interrupted(self) -> Turn:
        th = self.host
        turn = self.turn
        turn.closing = True
        if turn.abort_reason == "interrupted":
            await th.record([user_text_message(TURN_ABORTED_MESSAGE)])
        info = th.token_info
        await th.emit(turn.id, ev.TokenCount(info=info, rate_limits=None))
        if info is not None:
            await th.emit(turn.id, ev.TokenUsageUpdated(turn_id=turn.id, info=info))
        snap = self._snapshot("interrupted")
        await th.emit(
            turn.id,
            ev.TurnAborted(
                turn_id=turn.id,
                reason=turn.abort_reason,
                completed_at=snap.completed_at,
                duration_ms=snap.duration_ms,
            ),
        )
        # The interrupter answers its request now; the turn ends right after that answer.
        if turn.abort_ack is not None and not turn.abort_ack.done():
            turn.abort_ack.set_result(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(turn.release.wait(), _RELEASE_TIMEOUT_S)
        return await th.turn_finished(turn, snap)

    async def _finish_failed(self, exc: ModelError) -> Turn:
        th = self.host
        turn = self.turn
        turn.closing = True
        info: Any = "other"
        if isinstance(exc, ModelRetriesExhausted):
            info = {"responseTooManyFailedAttempts": {"httpStatusCode": exc.status_code}}
        elif isinstance(exc, ContextWindowExceeded):
            info = "contextWindowExceeded"
        elif exc.status_code == 401:
            info = "unauthorized"
        elif exc.status_code == 400:
            info = "badRequest"
        error = TurnError(message=exc.message, codex_error_info=info)
        await th.emit(
            turn.id, ev.ErrorEvent(message=exc.message, codex_error_info=error.codex_error_info)
        )
        return await self._finish("failed", error=error)


def _output_item(call: ToolCall, output: registry.ToolOutput) -> ResponseItem:
    """The history item answering ``call``: its output text, or its content parts."""
    value: str | list[dict[str, Any]] = output.text
    if output.content is not None:
        value = [_content_part(part) for part in output.content]
    if isinstance(call, CustomToolCallItem):
        return CustomToolCallOutputItem(call_id=call.call_id, output=value)
    return FunctionCallOutputItem(call_id=call.call_id, output=value)


def _content_part(part: ContentItem) -> dict[str, Any]:
    return part.model_dump(mode="json", exclude_none=True)


__all__ = ["TURN_ABORTED_MESSAGE", "ActiveTurn", "TurnHost", "TurnRunner", "TurnTask", "now_ms"]
