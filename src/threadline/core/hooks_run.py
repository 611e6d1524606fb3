"""Running hooks at their events: a command hook gets the event as JSON on stdin and
answers with its exit code and, optionally, JSON on stdout.

The stdin object has Codex's members: ``session_id``, ``turn_id`` (not for
``SessionStart``), ``transcript_path``, ``cwd``, ``hook_event_name`` (``PreToolUse``…),
``model``, ``permission_mode`` and the event's own (``source``; ``prompt``;
``tool_name``/``tool_input``/``tool_use_id`` and ``tool_response``;
``stop_hook_active``/``last_assistant_message``).

What a hook answers:

- exit 0: done; stdout JSON may carry ``hookSpecificOutput.permissionDecision =
  "deny"`` with ``permissionDecisionReason`` or ``decision = "block"`` with ``reason``
  (the run is ``blocked``), ``hookSpecificOutput.additionalContext`` (a ``context``
  entry: the model gets it as a developer message), ``systemMessage`` (a warning) or
  ``continue = false`` with ``stopReason`` (``stopped``). Plain text on stdout is
  context for ``SessionStart`` and ``UserPromptSubmit`` and ignored otherwise;
- exit 2: ``blocked`` with stderr as the reason (for events that can block);
- any other exit (``hook exited with code N``), bad JSON or the timeout (``hook timed
  out after Ns``): ``failed`` with an ``error`` entry, Codex's words; the event goes on
  as if the hook were not there.

Hooks run one after another in display order, as the user's own commands, in the
thread's cwd: they are not sandboxed (Codex runs them with ``$SHELL -lc`` outside the
tool sandbox too). ``async`` hooks are started and not waited for; their answers change
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from threadline.core.hooks import WIRE_TO_CONFIG, Hook, discover
from threadline.protocol import events as ev

Emit = Callable[[Any], Awaitable[None]]
_T = TypeVar("_T")
_CAN_BLOCK = frozenset(
    {"preToolUse", "postToolUse", "userPromptSubmit", "stop", "permissionRequest"}
)
_PLAIN_CONTEXT = frozenset({"sessionStart", "userPromptSubmit"})
_MAX_OUTPUT = 1 << 20


@dataclass(slots=True)
class HookOutcome:
    """What the hooks of one event decided, together."""

    blocked: bool = False
    reasons: list[str] = field(default_factory=list)
    fragments: list[tuple[str, str]] = field(default_factory=list)
    """``(hook run id, reason)`` of each hook that blocked."""
    contexts: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def reason(self) -> str:
        return "; ".join(r for r in self.reasons if r) or "blocked by a hook"


def _kebab(event: str) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in event)


def interpret(
    event: str, code: int | None, stdout: str, stderr: str
) -> tuple[str, list[dict[str, str]]]:
    """``(status, entries)`` of one finished run (``code`` None: it timed out)."""
    if code == 2 and event in _CAN_BLOCK:
        return "blocked", [{"kind": "feedback", "text": stderr.strip() or "blocked by hook"}]
    if code != 0:  # Codex reports the code alone (stderr is not shown)
        return "failed", [{"kind": "error", "text": f"hook exited with code {code}"}]
    out = stdout.strip()
    if not out:
        return "completed", []
    if not out.startswith("{"):
        if event in _PLAIN_CONTEXT:
            return "completed", [{"kind": "context", "text": out}]
        return "completed", []
    try:
        data = json.loads(out)
    except ValueError as exc:
        return "failed", [{"kind": "error", "text": f"hook printed invalid JSON: {exc}"}]
    if not isinstance(data, dict):
        return "failed", [{"kind": "error", "text": "hook output must be a JSON object"}]
    status = "completed"
    entries: list[dict[str, str]] = []
    message = data.get("systemMessage")
    if isinstance(message, str) and message:
        entries.append({"kind": "warning", "text": message})
    specific = data.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    context = specific.get("additionalContext")
    if isinstance(context, str) and context:  # before the block's feedback, as in Codex
        entries.append({"kind": "context", "text": context})
    if event in _CAN_BLOCK:
        if specific.get("permissionDecision") == "deny":
            status = "blocked"
            entries.append(
                {"kind": "feedback", "text": str(specific.get("permissionDecisionReason") or "")}
            )
        elif data.get("decision") == "block":
            status = "blocked"
            entries.append({"kind": "feedback", "text": str(data.get("reason") or "")})
    if data.get("continue") is False:
        status = "stopped"
        entries.append({"kind": "stop", "text": str(data.get("stopReason") or "")})
    return status, entries


async def run_command(
    command: str, stdin: bytes, cwd: str, timeout: float
) -> tuple[int | None, str, str]:
    """Run ``command`` as Codex does, with ``$SHELL -lc`` (``/bin/sh`` when unset), in
    its own process group (killed whole on timeout); ``(exit code or None on timeout,
    stdout, stderr)``, each stream cut at 1 MiB."""
    proc = await asyncio.create_subprocess_exec(
        os.environ.get("SHELL") or "/bin/sh",
        "-lc",
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd if os.path.isdir(cwd) else None,
        start_new_session=True,
    )

    async def talk() -> tuple[bytes, bytes]:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        proc.stdin.close()
        out, err = await asyncio.gather(
            proc.stdout.read(_MAX_OUTPUT), proc.stderr.read(_MAX_OUTPUT)
        )
        await proc.wait()
        return out, err

    try:
        out, err = await asyncio.wait_for(talk(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise
        return None, "", ""
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class HookRunner:
    """The hooks of one thread: reads the home's hook config at each event (so a
    change applies to the next event) and runs the matching, trusted hooks."""

    def __init__(self, home: Path, transcript: Callable[[], Path | None], *, resumed: bool) -> None:
        self.home = home
        self._transcript = transcript
        self.session_source = "resume" if resumed else "startup"
        self.session_started = False
        self.stop_blocked_turn: str | None = None
        """The turn a ``Stop`` hook already sent round once (its next ``Stop`` is
        ``stop_hook_active`` and cannot block again)."""
        self._background: set[asyncio.Task[Any]] = set()

    def hooks_for(self, event: str, target: str | None = None) -> list[Hook]:
        return discover(self.home).for_event(event, target)

    async def run(
        self,
        event: str,
        *,
        emit: Emit,
        thread_id: str,
        turn_id: str | None,
        cwd: str,
        model: str,
        approval_policy: str,
        fields: dict[str, Any],
        target: str | None = None,
        call_id: str | None = None,
        interrupt: asyncio.Event | None = None,
    ) -> HookOutcome:
        """Run ``event``'s hooks (matching ``target``, the tool name or session source).

        ``interrupt`` (the turn's): when it is set while a hook runs, the hook's process
        group is killed, its run completes as ``stopped`` and no further hook runs."""
        outcome = HookOutcome()
        hooks = await asyncio.to_thread(self.hooks_for, event, target)
        if not hooks:
            return outcome
        transcript = self._transcript()
        payload: dict[str, Any] = {"session_id": thread_id}
        if event != "sessionStart" and turn_id is not None:
            payload["turn_id"] = turn_id
        payload.update(
            transcript_path=str(transcript) if transcript is not None else None,
            cwd=cwd,
            hook_event_name=WIRE_TO_CONFIG[event],
            model=model,
            permission_mode="bypassPermissions" if approval_policy == "never" else "default",
        )
        payload.update(fields)
        stdin = json.dumps(payload).encode()
        scope = "thread" if event == "sessionStart" else "turn"
        for hook in hooks:
            run_id = f"{_kebab(event)}:{hook.display_order}:{hook.source_path}"
            if call_id is not None:
                run_id += f":{call_id}"
            summary: dict[str, Any] = {
                "id": run_id,
                "event_name": event,
                "handler_type": "command",
                "execution_mode": "async" if hook.is_async else "sync",
                "scope": scope,
                "source_path": str(hook.source_path),
                "source": "user",
                "display_order": hook.display_order,
                "status": "running",
                "status_message": hook.status_message,
                "started_at": int(time.time()),
                "completed_at": None,
                "duration_ms": None,
                "entries": [],
            }
            await emit(ev.HookStarted(turn_id=turn_id, run=dict(summary)))
            job = self._one(hook, event, stdin, cwd, summary, emit, turn_id)
            if hook.is_async:
                task = asyncio.ensure_future(job)
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                continue
            finished = await _unless(job, interrupt)
            if finished is None:  # the turn was interrupted: this hook is stopped
                summary.update(status="stopped", completed_at=int(time.time()))
                await emit(ev.HookCompleted(turn_id=turn_id, run=dict(summary)))
                break
            status, entries = finished
            for e in entries:
                if e["kind"] == "context":
                    outcome.contexts.append(e["text"])
                elif e["kind"] == "feedback" and status == "blocked":
                    outcome.reasons.append(e["text"])
                    outcome.fragments.append((run_id, e["text"]))
                elif e["kind"] == "stop":
                    outcome.reasons.append(e["text"])
            if status == "blocked":
                outcome.blocked = True
            elif status == "stopped":
                outcome.stopped = True
        return outcome

    async def _one(
        self,
        hook: Hook,
        event: str,
        stdin: bytes,
        cwd: str,
        summary: dict[str, Any],
        emit: Emit,
        turn_id: str | None,
    ) -> tuple[str, list[dict[str, str]]]:
        start = time.monotonic()
        try:
            code, out, err = await run_command(hook.command, stdin, cwd, hook.timeout_sec)
        except OSError as exc:
            status, entries = "failed", [{"kind": "error", "text": f"failed to start hook: {exc}"}]
        else:
            if code is None:
                status, entries = (
                    "failed",
                    [{"kind": "error", "text": f"hook timed out after {hook.timeout_sec}s"}],
                )
            else:
                status, entries = interpret(event, code, out, err)
        summary.update(
            status=status,
            entries=entries,
            completed_at=int(time.time()),
            duration_ms=int((time.monotonic() - start) * 1000),
        )
        await emit(ev.HookCompleted(turn_id=turn_id, run=dict(summary)))
        return status, entries


async def _unless(job: Awaitable[_T], interrupt: asyncio.Event | None) -> _T | None:
    """``job``'s result, or None (``job`` cancelled) when ``interrupt`` is set first."""
    if interrupt is None:
        return await job
    task = asyncio.ensure_future(job)
    stop = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


def tool_hook_name(name: str) -> str:
    """The tool name hooks see and match: Codex calls its shell tools ``Bash``."""
    return "Bash" if name in ("exec_command", "shell", "local_shell", "shell_command") else name


def tool_hook_input(name: str, arguments: Any) -> Any:
    """``tool_input`` for a hook: ``{"command": ...}`` for the shell tools, else the
    parsed arguments (the raw text when they are not JSON)."""
    parsed: Any = arguments
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = arguments
    if tool_hook_name(name) == "Bash" and isinstance(parsed, dict):
        cmd = parsed.get("cmd", parsed.get("command"))
        if isinstance(cmd, list):
            cmd = " ".join(str(c) for c in cmd)
        return {"command": cmd}
    return parsed


__all__ = [
    "HookOutcome",
    "HookRunner",
    "interpret",
    "run_command",
    "tool_hook_input",
    "tool_hook_name",
]
