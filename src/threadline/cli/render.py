"""How ``threadline exec`` shows a running turn: for people, or as JSON lines.

Human output: the agent's answer streams to stdout; everything else (header,
reasoning summaries, commands and their output, retries, usage) goes to stderr,
so ``threadline exec "…" > answer.txt`` keeps only the answer. On a terminal a
spinner runs on stderr while the model thinks or a command runs.

JSON output (``--json``): one object per line on stdout, each with a ``type``:
``thread.started``, ``turn.started``, ``item.started``, ``item.delta``,
``item.completed``, ``token_usage.updated``, ``stream.retry``, ``warning``,
``error``, ``approval.requested``, ``approval.resolved``, and one final
``turn.completed`` / ``turn.failed`` / ``turn.interrupted``. Items are the
app-server's v2 ``ThreadItem`` objects (camelCase).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Protocol

from rich.console import Console
from rich.status import Status

from threadline.protocol import events as ev
from threadline.protocol.usage import TokenUsage, TokenUsageInfo
from threadline.protocol.v2.item import (
    AgentMessageThreadItem,
    CommandExecutionThreadItem,
    ReasoningThreadItem,
)
from threadline.protocol.v2.turn import Turn


class Renderer(Protocol):
    def thread_started(self, thread_id: str, model: str, provider: str, cwd: str) -> None: ...

    def on_event(self, event: ev.Event) -> None: ...

    def note(self, message: str, style: str = "yellow") -> None: ...

    def approval(self, request: ev.ExecApprovalRequest, decision: str, why: str) -> None: ...

    def finished(self, turn: Turn, usage: TokenUsage | None, total: TokenUsageInfo | None) -> None: ...

    def close(self) -> None: ...


def usage_dict(usage: TokenUsage | None) -> dict[str, int]:
    u = usage or TokenUsage()
    return {
        "input_tokens": u.input_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "output_tokens": u.output_tokens,
        "reasoning_output_tokens": u.reasoning_output_tokens,
        "total_tokens": u.total_tokens,
    }


def usage_delta(before: TokenUsageInfo | None, after: TokenUsageInfo | None) -> TokenUsage | None:
    """What one turn used: the thread total after minus the total before."""
    if after is None:
        return None
    a = after.total_token_usage
    b = before.total_token_usage if before is not None else TokenUsage()
    return TokenUsage(
        input_tokens=a.input_tokens - b.input_tokens,
        cached_input_tokens=a.cached_input_tokens - b.cached_input_tokens,
        cache_write_input_tokens=a.cache_write_input_tokens - b.cache_write_input_tokens,
        output_tokens=a.output_tokens - b.output_tokens,
        reasoning_output_tokens=a.reasoning_output_tokens - b.reasoning_output_tokens,
        total_tokens=a.total_tokens - b.total_tokens,
    )


def _item_json(item: Any) -> Any:
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_none=True)
    return item


class JsonRenderer:
    """One JSON object per line on stdout."""

    def __init__(self) -> None:
        self._out = sys.stdout

    def _emit(self, obj: dict[str, Any]) -> None:
        try:
            self._out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._out.flush()
        except BrokenPipeError:  # the reader went away; keep the turn's bookkeeping going
            pass

    def thread_started(self, thread_id: str, model: str, provider: str, cwd: str) -> None:
        self._emit(
            {
                "type": "thread.started",
                "thread_id": thread_id,
                "model": model,
                "model_provider": provider,
                "cwd": cwd,
            }
        )

    def on_event(self, event: ev.Event) -> None:
        msg = event.msg
        if isinstance(msg, ev.TurnStartedEvent):
            self._emit({"type": "turn.started", "turn_id": msg.turn.id})
        elif isinstance(msg, ev.ItemStarted):
            self._emit({"type": "item.started", "turn_id": msg.turn_id, "item": _item_json(msg.item)})
        elif isinstance(msg, ev.ItemCompleted):
            self._emit(
                {"type": "item.completed", "turn_id": msg.turn_id, "item": _item_json(msg.item)}
            )
        elif isinstance(msg, ev.AgentMessageDelta | ev.ReasoningSummaryDelta | ev.CommandOutputDelta):
            kind = {
                "agent_message_delta": "agentMessage",
                "reasoning_summary_delta": "reasoning",
                "command_output_delta": "commandExecution",
            }[msg.type]
            self._emit(
                {
                    "type": "item.delta",
                    "turn_id": msg.turn_id,
                    "item_id": msg.item_id,
                    "item_type": kind,
                    "delta": msg.delta,
                }
            )
        elif isinstance(msg, ev.TokenUsageUpdated):
            self._emit(
                {
                    "type": "token_usage.updated",
                    "turn_id": msg.turn_id,
                    "total": usage_dict(msg.info.total_token_usage),
                    "last": usage_dict(msg.info.last_token_usage),
                    "model_context_window": msg.info.model_context_window,
                }
            )
        elif isinstance(msg, ev.StreamRetry):
            self._emit(
                {
                    "type": "stream.retry",
                    "message": msg.message,
                    "attempt": msg.attempt,
                    "max_attempts": msg.max_attempts,
                    "delay_s": msg.delay_s,
                }
            )
        elif isinstance(msg, ev.WarningEvent):
            self._emit({"type": "warning", "message": msg.message})
        elif isinstance(msg, ev.ErrorEvent):
            self._emit({"type": "error", "message": msg.message})
        elif isinstance(msg, ev.ExecApprovalRequest):
            self._emit(
                {
                    "type": "approval.requested",
                    "approval_id": msg.approval_id,
                    "item_id": msg.item_id,
                    "command": msg.command,
                    "cwd": msg.cwd,
                    "reason": msg.reason,
                }
            )

    def note(self, message: str, style: str = "yellow") -> None:
        print(message, file=sys.stderr, flush=True)

    def approval(self, request: ev.ExecApprovalRequest, decision: str, why: str) -> None:
        self._emit(
            {
                "type": "approval.resolved",
                "approval_id": request.approval_id,
                "decision": decision,
                "reason": why,
            }
        )

    def finished(self, turn: Turn, usage: TokenUsage | None, total: TokenUsageInfo | None) -> None:
        if turn.status == "completed":
            self._emit({"type": "turn.completed", "turn_id": turn.id, "usage": usage_dict(usage)})
        elif turn.status == "interrupted":
            self._emit({"type": "turn.interrupted", "turn_id": turn.id, "usage": usage_dict(usage)})
        else:
            message = turn.error.message if turn.error is not None else "the turn failed"
            self._emit(
                {
                    "type": "turn.failed",
                    "turn_id": turn.id,
                    "error": {"message": message},
                    "usage": usage_dict(usage),
                }
            )

    def close(self) -> None:
        pass


class HumanRenderer:
    """Readable output: the answer on stdout, the rest on stderr, a spinner on a terminal."""

    def __init__(self, *, err: Console) -> None:
        self._err = err
        self._out = sys.stdout
        self._spinner: Status | None = None
        self._streamed: set[str] = set()
        self._line_open = False  # stdout has text without a final newline
        self._err_line_open = False
        self._fancy = err.is_terminal

    # ---- spinner ---------------------------------------------------------------------

    def _spin(self, text: str) -> None:
        if not self._fancy:
            return
        if self._spinner is None:
            self._spinner = self._err.status(text, spinner="dots")
            self._spinner.start()
        else:
            self._spinner.update(text)

    def _unspin(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    # ---- output helpers ----------------------------------------------------------------

    def _write_out(self, text: str) -> None:
        self._unspin()
        self._end_err_line()
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            return
        self._line_open = not text.endswith("\n")

    def _end_out_line(self) -> None:
        if self._line_open:
            self._write_out("\n")

    def _err_print(self, text: str, style: str = "", *, end: str = "\n") -> None:
        self._unspin()
        self._end_out_line()
        self._err.print(text, style=style, end=end, soft_wrap=True, markup=False)
        self._err_line_open = end != "\n" and not text.endswith("\n")

    def _end_err_line(self) -> None:
        if self._err_line_open:
            self._err.print()
            self._err_line_open = False

    # ---- renderer ----------------------------------------------------------------------

    def thread_started(self, thread_id: str, model: str, provider: str, cwd: str) -> None:
        self._err_print(f"thread {thread_id} · model {model} ({provider}) · {cwd}", "dim")

    def on_event(self, event: ev.Event) -> None:
        msg = event.msg
        if isinstance(msg, ev.TurnStartedEvent):
            self._spin("thinking…")
        elif isinstance(msg, ev.AgentMessageDelta):
            self._streamed.add(msg.item_id)
            self._write_out(msg.delta)
        elif isinstance(msg, ev.ReasoningSummaryDelta):
            if msg.item_id not in self._streamed:
                self._streamed.add(msg.item_id)
                self._err_print("thinking: ", "dim bold", end="")
            self._err_print(msg.delta, "dim italic", end="")
        elif isinstance(msg, ev.CommandOutputDelta):
            self._streamed.add(msg.item_id)
            self._err_print(msg.delta, "dim", end="")
        elif isinstance(msg, ev.ItemStarted):
            self._item_started(msg.item)
        elif isinstance(msg, ev.ItemCompleted):
            self._item_completed(msg.item)
        elif isinstance(msg, ev.StreamRetry):
            self._err_print(
                f"model stream failed ({msg.message}); retry {msg.attempt}/{msg.max_attempts} "
                f"in {msg.delay_s:.1f}s",
                "yellow",
            )
        elif isinstance(msg, ev.WarningEvent):
            self._err_print(f"warning: {msg.message}", "yellow")
        elif isinstance(msg, ev.ErrorEvent):
            self._err_print(f"error: {msg.message}", "bold red")
        elif isinstance(msg, ev.ApprovalResolved):
            self._spin("running…")

    def _item_started(self, item: Any) -> None:
        if isinstance(item, CommandExecutionThreadItem):
            self._err_print(f"$ {item.command}", "bold cyan")
            self._spin("running…")

    def _item_completed(self, item: Any) -> None:
        if isinstance(item, AgentMessageThreadItem):
            if item.id not in self._streamed and item.text:
                self._write_out(item.text)
            self._end_out_line()
            self._spin("thinking…")
        elif isinstance(item, ReasoningThreadItem):
            if item.id in self._streamed:
                self._end_err_line()
            elif item.summary:
                self._err_print("thinking: " + " ".join(item.summary), "dim italic")
            self._spin("thinking…")
        elif isinstance(item, CommandExecutionThreadItem):
            if item.id not in self._streamed and item.aggregated_output:
                self._err_print(item.aggregated_output.rstrip("\n"), "dim")
            self._end_err_line()
            took = f" in {item.duration_ms / 1000:.1f}s" if item.duration_ms is not None else ""
            code = item.exit_code
            style = "green" if code == 0 else "red"
            self._err_print(f"  exit {code if code is not None else item.status}{took}", style)
            self._spin("thinking…")

    def note(self, message: str, style: str = "yellow") -> None:
        self._err_print(message, style)

    def approval(self, request: ev.ExecApprovalRequest, decision: str, why: str) -> None:
        self._err_print(f"approval for `{request.command}`: {decision} ({why})", "yellow")

    def finished(self, turn: Turn, usage: TokenUsage | None, total: TokenUsageInfo | None) -> None:
        self._unspin()
        self._end_out_line()
        self._end_err_line()
        if turn.status == "interrupted":
            self._err_print("turn interrupted", "yellow")
        elif turn.status == "failed":
            message = turn.error.message if turn.error is not None else "unknown error"
            self._err_print(f"turn failed: {message}", "bold red")
        if usage is not None:
            line = (
                f"tokens used: {usage.total_tokens} (input {usage.input_tokens}"
                f"{f', cached {usage.cached_input_tokens}' if usage.cached_input_tokens else ''}"
                f", output {usage.output_tokens}"
                f"{f', reasoning {usage.reasoning_output_tokens}' if usage.reasoning_output_tokens else ''})"
            )
            if total is not None and total.total_token_usage.total_tokens != usage.total_tokens:
                line += f" · thread total {total.total_token_usage.total_tokens}"
            if total is not None and total.model_context_window:
                line += f" · context window {total.model_context_window}"
            self._err_print(line, "bold")
        else:
            self._err_print("tokens used: none reported by the model", "bold")

    def close(self) -> None:
        self._unspin()


__all__ = ["HumanRenderer", "JsonRenderer", "Renderer", "usage_delta", "usage_dict"]
