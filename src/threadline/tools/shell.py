"""``exec_command``: run a shell command for the model, sandboxed and approved per policy.

One call = one ``commandExecution`` item whose id is the function call's ``call_id``.
The command runs as ``<shell> -lc <cmd>`` (``-c`` when ``login`` is false), under
bubblewrap unless the sandbox mode is ``danger-full-access`` or the user approved an
escalation. Output (stdout and stderr merged, as a terminal shows them) streams out as
``CommandOutputDelta`` events; the model gets a plain-text summary with the exit code
and the (middle-truncated) output.

Nothing here blocks the event loop: the process is an asyncio subprocess in its own
process group, killed as a group on timeout or when the turn is interrupted. A sandboxed
command runs in its own PID namespace, which dies with it: processes that left the group
(``setsid``, double forks) go too. Its number of processes is bounded as well
(``max_processes``, see :mod:`threadline.sandbox.limits`).

``workdir`` is only where the command starts (relative to the thread's cwd); what the
command may write is decided by the thread's cwd and the sandbox policy alone.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import math
import os
import secrets
import shlex
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.v2.item import CommandExecutionThreadItem
from threadline.sandbox.bwrap import Launch, SandboxUnavailable, prepare_launch
from threadline.sandbox.env_policy import ShellEnvironmentPolicy
from threadline.sandbox.limits import DEFAULT_MAX_PROCESSES, resolve_max_processes
from threadline.sandbox.policy import (
    ExecPlan,
    SandboxPolicy,
    SessionApprovals,
    assess,
    looks_like_sandbox_denial,
    split_words,
)
from threadline.tools.exec_text import (
    BYTES_PER_TOKEN,
    ExecArgs,
    OutputCapture,
    command_actions,
    truncate_middle,
)
from threadline.tools.registry import ToolContext, ToolOutput

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_OUTPUT_TOKENS = 10_000
DEFAULT_CAPTURE_BYTES = 1024 * 1024
"""Aggregated output kept per command (head and tail halves; the middle is dropped)."""
TIMEOUT_EXIT_CODE = 124
_READ_CHUNK = 64 * 1024
_DRAIN_AFTER_EXIT_S = 1.0

REJECTED_BY_USER = (
    'exec_command failed: CreateProcess { message: "Rejected(\\"rejected by user\\")" }'
)
"""What the model is told about a declined command (the text Codex sends)."""

_ACCEPTS = frozenset({"accept", "acceptForSession", "acceptWithExecpolicyAmendment"})


@dataclass(slots=True)
class _Run:
    exit_code: int
    output: str
    duration_s: float
    pid: int | None
    timed_out: bool = False
    total_bytes: int = 0


# ---- the tool ---------------------------------------------------------------------------------


PatchInterceptor = Callable[[ToolContext, str, str | None], Awaitable[ToolOutput | None]]


class ExecCommandTool:
    """The model's way to run shell commands in the thread's working directory."""

    name = "exec_command"

    def __init__(
        self,
        *,
        writable_roots: tuple[str, ...] = (),
        network_access: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        capture_bytes: int = DEFAULT_CAPTURE_BYTES,
        default_shell: str = "/bin/bash",
        env_policy: ShellEnvironmentPolicy | None = None,
        secret_env_names: tuple[str, ...] = (),
        max_processes: int | None = DEFAULT_MAX_PROCESSES,
    ) -> None:
        """``timeout_s`` bounds a command's wall time (its whole process tree);
        ``max_processes`` bounds how many processes it has at once inside the sandbox
        (``None`` or ``0``: no limit)."""
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s}")
        self.max_processes = resolve_max_processes(max_processes)
        self.env_policy = env_policy or ShellEnvironmentPolicy()
        """What the server's environment passes on to commands (``[shell_environment_policy]``)."""
        self.secret_env_names = tuple(secret_env_names)
        """The model providers' ``env_key`` variables: never passed on unless ``set``."""
        self.writable_roots = tuple(writable_roots)
        self.network_access = network_access
        self.timeout_s = timeout_s
        self.capture_bytes = capture_bytes
        self.default_shell = default_shell
        self.approved = SessionApprovals()
        self.patch_interceptor: PatchInterceptor | None = None
        """Set by ``tools_for``: answers a command that is an ``apply_patch`` invocation
        (``(ctx, cmd, workdir) -> output``, ``None``: not one, run it)."""

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": (
                "Run a shell command in the workspace and return its exit code and output "
                "(stdout and stderr together). Commands run inside the configured sandbox; "
                "some may need the user's approval first."
            ),
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {
                    "cmd": {"type": "string", "description": "The shell command line to run."},
                    "justification": {
                        "type": "string",
                        "description": (
                            "With require_escalated: one sentence telling the user why the "
                            "command needs to leave the sandbox."
                        ),
                    },
                    "login": {
                        "type": "boolean",
                        "description": "Run through a login shell (default true).",
                    },
                    "max_output_tokens": {
                        "type": "number",
                        "description": "Longest output to return, in tokens; the middle is cut.",
                    },
                    "prefix_rule": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": (
                            "With require_escalated: a command prefix the user may approve "
                            "once for similar commands later."
                        ),
                    },
                    "sandbox_permissions": {
                        "type": "string",
                        "enum": ["use_default", "require_escalated"],
                        "description": (
                            "use_default runs in the sandbox; require_escalated asks the user "
                            "to run it without the sandbox."
                        ),
                    },
                    "shell": {
                        "type": "string",
                        "description": "Shell executable to use (default /bin/bash).",
                    },
                    "tty": {
                        "type": "boolean",
                        "description": "Accepted for compatibility; output is never a terminal.",
                    },
                    "workdir": {
                        "type": "string",
                        "description": "Directory to run in (default: the thread's cwd).",
                    },
                    "yield_time_ms": {
                        "type": "number",
                        "description": "Accepted for compatibility; commands run to completion.",
                    },
                },
                "required": ["cmd"],
                "additionalProperties": False,
            },
        }

    def sandbox_policy(self, mode: str) -> SandboxPolicy:
        return SandboxPolicy.from_mode(
            mode, writable_roots=self.writable_roots, network_access=self.network_access
        )

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        try:
            args = ExecArgs.parse(arguments)
            policy = self.sandbox_policy(ctx.sandbox_mode)
            plan = assess(
                ctx.approval_policy,
                policy,
                args.cmd,
                escalation_requested=args.sandbox_permissions == "require_escalated",
                justification=args.justification,
                approved=self.approved,
                shell=args.shell or self.default_shell,
            )
        except ValueError as exc:
            return ToolOutput(f"exec_command: {exc}", success=False)
        if self.patch_interceptor is not None:
            patched = await self.patch_interceptor(ctx, args.cmd, args.workdir)
            if patched is not None:
                return patched
        if plan.reject is not None:
            return ToolOutput(f"exec_command failed: {plan.reject}", success=False)
        cwd = Path(os.path.normpath(ctx.cwd / args.workdir)) if args.workdir else ctx.cwd
        if not cwd.is_dir():
            return ToolOutput(
                f"exec_command: `workdir` {args.workdir!r} is not a directory ({cwd})",
                success=False,
            )
        login = args.login or self.env_policy.experimental_use_profile
        argv = [args.shell or self.default_shell, "-lc" if login else "-c", args.cmd]
        return await _Call(self, ctx, args, plan, policy, cwd, argv).run()


class _Call:
    """One ``exec_command`` call from approval to the model's answer."""

    def __init__(
        self,
        tool: ExecCommandTool,
        ctx: ToolContext,
        args: ExecArgs,
        plan: ExecPlan,
        policy: SandboxPolicy,
        cwd: Path,
        argv: list[str],
    ) -> None:
        self.tool = tool
        self.ctx = ctx
        self.args = args
        self.plan = plan
        self.policy = policy
        self.cwd = cwd
        self.argv = argv
        self.item = CommandExecutionThreadItem(
            id=ctx.call_id,
            command=shlex.join(argv),
            cwd=str(cwd),
            status="inProgress",
            command_actions=command_actions(args.cmd),
            source="agent",
            started_at_ms=now_ms(),
        )
        self.announced = False

    # -- events --

    async def _emit(self, msg: Any) -> None:
        if self.ctx.emit is not None:
            await self.ctx.emit(msg)

    async def _start(self, **update: Any) -> None:
        self.item = self.item.model_copy(update=update)
        if not self.announced:
            self.announced = True
            await self._emit(
                ev.ItemStarted(
                    turn_id=self.ctx.turn_id, item=self.item, started_at_ms=self.item.started_at_ms
                )
            )

    async def _complete(self, *, keep: bool = True, **update: Any) -> None:
        done = now_ms()
        self.item = self.item.model_copy(update={"completed_at_ms": done, **update})
        if keep and self.ctx.complete_item is not None:
            await self.ctx.complete_item(self.item)
        else:
            await self._emit(
                ev.ItemCompleted(turn_id=self.ctx.turn_id, item=self.item, completed_at_ms=done)
            )

    # -- approval --

    async def _ask(self, reason: str | None) -> str:
        """The user's decision; the item is announced while the thread waits."""
        requester = self.ctx.request_approval
        if requester is None:
            return "decline"
        words = split_words(self.args.cmd)
        amendment = list(self.args.prefix_rule) if self.args.prefix_rule else words
        request = ev.ExecApprovalRequest(
            approval_id=uuid.uuid4().hex,
            turn_id=self.ctx.turn_id,
            item_id=self.ctx.call_id,
            command=self.item.command,
            cwd=str(self.cwd),
            reason=reason,
            proposed_amendment=amendment,
            started_at_ms=self.item.started_at_ms,
            command_actions=[
                a.model_dump(mode="json", by_alias=True) for a in self.item.command_actions
            ],
        )
        started = None
        if not self.announced:
            self.announced = True
            started = self.item

        async def on_decision(decision: str) -> None:
            if decision not in _ACCEPTS:
                # A refused command is not part of the turn's history (Codex keeps no item).
                await self._complete(keep=False, status="declined")

        decision = await requester(request, started, on_decision)
        if decision == "acceptForSession":
            self.tool.approved.remember(self.args.cmd)
        elif decision == "acceptWithExecpolicyAmendment":
            self.tool.approved.remember(self.args.cmd, amendment)
        return decision

    def _declined(self, decision: str) -> ToolOutput:
        return ToolOutput(REJECTED_BY_USER, success=False, abort_turn=decision == "cancel")

    # -- the call --

    async def run(self) -> ToolOutput:
        plan = self.plan
        if plan.ask:
            decision = await self._ask(plan.reason)
            if decision not in _ACCEPTS:
                return self._declined(decision)
        try:
            result = await self._execute(sandboxed=plan.sandboxed)
        except SandboxUnavailable as exc:
            message = f"exec_command failed: {exc}"
            await self._start()
            await self._complete(status="failed", aggregated_output=message)
            return ToolOutput(message, success=False)
        if (
            plan.ask_on_sandbox_failure
            and result.exit_code != 0
            and looks_like_sandbox_denial(result.exit_code, result.output)
        ):
            decision = await self._ask(
                "the command failed inside the sandbox; run it again without the sandbox?"
            )
            if decision in _ACCEPTS:
                result = await self._execute(sandboxed=False)
        return await self._finish(result)

    async def _execute(self, *, sandboxed: bool) -> _Run:
        if sandboxed and self.policy.sandboxed:
            # Writable roots come from the thread's cwd; ``workdir`` is only the start.
            launch = await prepare_launch(
                self.policy,
                self.ctx.cwd,
                self.argv,
                start_dir=self.cwd,
                max_processes=self.tool.max_processes,
            )
            mode = self.policy.mode
        else:
            launch = Launch(list(self.argv))
            mode = "danger-full-access"
        argv = launch.argv
        env = self.tool.env_policy.build(os.environ, secret_names=self.tool.secret_env_names)
        env.update(
            {
                "THREADLINE_SANDBOX": mode,
                "PAGER": "cat",
                "GIT_PAGER": "cat",
                "NO_COLOR": "1",
                "CODEX_THREAD_ID": self.ctx.thread_id,
            }
        )
        if not self.policy.allows_network and mode != "danger-full-access":
            env["THREADLINE_SANDBOX_NETWORK_DISABLED"] = "1"
            env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
        started = time.monotonic()
        try:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=self.cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=launch.pass_fds,
                )
            finally:
                launch.close_fds()
        except OSError as exc:
            await launch.finish()
            return _Run(127, f"failed to start {argv[0]}: {exc}\n", 0.0, None)
        try:
            return await self._wait(proc, started)
        finally:
            # Also when cancelled: whatever the command left behind is killed, its
            # cgroup removed (shielded, so a second cancellation cannot skip it).
            await asyncio.shield(launch.finish())

    async def _wait(self, proc: asyncio.subprocess.Process, started: float) -> _Run:
        await self._start(process_id=str(proc.pid), source="unifiedExecStartup")
        capture = OutputCapture(self.tool.capture_bytes)
        reader = asyncio.ensure_future(self._pump(proc, capture))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(proc.wait(), self.tool.timeout_s)
            except TimeoutError:
                timed_out = True
                _kill_group(proc.pid)
                await proc.wait()
            # Output still buffered in the pipe is read; a leftover background child
            # holding the pipe open is killed after a short grace period.
            try:
                await asyncio.wait_for(asyncio.shield(reader), _DRAIN_AFTER_EXIT_S)
            except TimeoutError:
                _kill_group(proc.pid)
                reader.cancel()
        finally:
            if proc.returncode is None:  # cancelled (interrupt): take the whole group down
                _kill_group(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            if not reader.done():
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        output = capture.text()
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = TIMEOUT_EXIT_CODE
            output += f"\ncommand timed out after {self.tool.timeout_s:g} seconds\n"
        elif code < 0:  # killed by a signal: report it the way a shell does
            code = 128 - code
        return _Run(
            code,
            output,
            time.monotonic() - started,
            proc.pid,
            timed_out=timed_out,
            total_bytes=capture.total,
        )

    async def _pump(self, proc: asyncio.subprocess.Process, capture: OutputCapture) -> None:
        assert proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        streamed = 0
        while True:
            data = await proc.stdout.read(_READ_CHUNK)
            if not data:
                break
            capture.add(data)
            if streamed >= self.tool.capture_bytes:
                continue
            streamed += len(data)
            delta = decoder.decode(data)
            if delta:
                await self._emit(
                    ev.CommandOutputDelta(
                        turn_id=self.ctx.turn_id, item_id=self.ctx.call_id, delta=delta
                    )
                )

    async def _finish(self, result: _Run) -> ToolOutput:
        duration_ms = int(result.duration_s * 1000)
        status = "completed" if result.exit_code == 0 else "failed"
        await self._complete(
            status=status,
            exit_code=result.exit_code,
            aggregated_output=result.output or None,
            duration_ms=duration_ms,
        )
        max_tokens = self.args.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
        shown = truncate_middle(result.output, max(max_tokens, 1))
        text = (
            f"Chunk ID: {secrets.token_hex(3)}\n"
            f"Wall time: {result.duration_s:.4f} seconds\n"
            f"Process exited with code {result.exit_code}\n"
            f"Original token count: {math.ceil(result.total_bytes / BYTES_PER_TOKEN)}\n"
            f"Output:\n{shown}"
        )
        secs = int(result.duration_s)
        await self._emit(
            ev.ExecCommandEnd(
                call_id=self.ctx.call_id,
                turn_id=self.ctx.turn_id,
                command=self.argv,
                cwd=str(self.cwd),
                exit_code=result.exit_code,
                aggregated_output=result.output,
                stdout=result.output,
                formatted_output=shown,
                duration={"secs": secs, "nanos": int((result.duration_s - secs) * 1e9)},
            )
        )
        return ToolOutput(text, success=status == "completed")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_TIMEOUT_S",
    "REJECTED_BY_USER",
    "TIMEOUT_EXIT_CODE",
    "ExecArgs",
    "ExecCommandTool",
    "command_actions",
    "truncate_middle",
]
