"""``exec_command`` and ``write_stdin``: shell commands for the model, sandboxed and approved
per policy, that may keep running as exec sessions (:mod:`threadline.tools.exec_sessions`).

One ``exec_command`` call = one ``commandExecution`` item whose id is the function call's
``call_id`` and whose ``processId`` is the session id. The command runs as
``<shell> -lc <cmd>`` (``-c`` when ``login`` is false), under bubblewrap unless the
sandbox mode is ``danger-full-access`` or the user approved an escalation, on pipes
(stdout and stderr merged, stdin ``/dev/null``) or, with ``tty``, on a pseudo-terminal
(24 rows, 80 columns) whose input stays open for ``write_stdin``. The call waits up to
``yield_time_ms``; the model then gets the output so far and either the exit code or the
session id. Output streams out as ``CommandOutputDelta`` events while the process runs,
also after its call (or turn) has ended; the item completes when the process exits, and
each ``write_stdin`` call is reported as ``TerminalInteraction`` on that item.

Nothing here blocks the event loop (:mod:`threadline.tools.process`). A process runs in
its own process group, killed as a group on timeout (``timeout_s`` bounds the wall time
of every process, sessions included), when its ``exec_command`` call is cancelled (an
interrupted turn), when the session is reaped to make room, and when the thread unloads.
A sandboxed command runs in its own PID namespace, which dies with it: processes that
left the group (``setsid``, double forks) go too. Its number of processes is bounded as
well (``max_processes``, see :mod:`threadline.sandbox.limits`).

``workdir`` is only where the command starts (relative to the thread's cwd); what the
command may write is decided by the thread's cwd and the sandbox policy alone.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import secrets
import shlex
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
from threadline.tools.defaults import DEFAULT_TIMEOUT_S
from threadline.tools.exec_sessions import (
    EARLY_EXIT_GRACE_S,
    POST_WRITE_PAUSE_S,
    TIMEOUT_EXIT_CODE,
    ExecSession,
    SessionPool,
    StdinClosed,
    exec_yield_s,
    write_yield_s,
)
from threadline.tools.exec_text import (
    ExecArgs,
    WriteStdinArgs,
    command_actions,
    exec_command_spec,
    exec_output_text,
    token_count,
    truncate_middle,
    write_stdin_spec,
)
from threadline.tools.process import DEFAULT_PTY_SIZE, ProcessHandle, SpawnSpec
from threadline.tools.registry import ToolContext, ToolOutput

DEFAULT_MAX_OUTPUT_TOKENS = 10_000
DEFAULT_CAPTURE_BYTES = 1024 * 1024
"""Output kept per session (head and tail halves; the middle is dropped)."""

REJECTED_BY_USER = (
    'exec_command failed: CreateProcess { message: "Rejected(\\"rejected by user\\")" }'
)
"""What the model is told about a declined command (the text Codex sends)."""
STDIN_CLOSED = (
    "write_stdin failed: stdin is closed for this session; rerun exec_command with tty=true "
    "to keep stdin open"
)

_ACCEPTS = frozenset({"accept", "acceptForSession", "acceptWithExecpolicyAmendment"})
_SESSION_ENV = {
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GH_PAGER": "cat",
    "NO_COLOR": "1",
    "COLORTERM": "",
    "CODEX_CI": "1",
}
"""Set for every command, as Codex's unified exec sets them."""


def unknown_session(session_id: int) -> str:
    return f"write_stdin failed: Unknown process id {session_id}"


@dataclass(slots=True)
class _Answer:
    """What one call hands the model."""

    output: str
    total_bytes: int
    wall_s: float
    exit_code: int | None
    session_id: int | None

    def text(self, max_tokens: int | None) -> str:
        budget = max(max_tokens or DEFAULT_MAX_OUTPUT_TOKENS, 1)
        return exec_output_text(
            chunk_id=secrets.token_hex(3),
            wall_time_s=self.wall_s,
            exit_code=self.exit_code,
            session_id=self.session_id,
            original_tokens=token_count(self.total_bytes),
            output=truncate_middle(self.output, budget),
        )


# ---- the tools --------------------------------------------------------------------------------


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
        sessions: SessionPool | None = None,
    ) -> None:
        """``timeout_s`` bounds a command's wall time (its whole process tree, also as a
        session); ``max_processes`` bounds how many processes it has at once inside the
        sandbox (``None`` or ``0``: no limit); ``sessions`` is the thread's session pool
        (shared with :class:`WriteStdinTool`)."""
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
        self.sessions = sessions if sessions is not None else SessionPool()
        self.patch_interceptor: PatchInterceptor | None = None
        """Set by ``tools_for``: answers a command that is an ``apply_patch`` invocation
        (``(ctx, cmd, workdir) -> output``, ``None``: not one, run it)."""

    def spec(self) -> dict[str, Any]:
        return exec_command_spec()

    def sandbox_policy(self, mode: str) -> SandboxPolicy:
        return SandboxPolicy.from_mode(
            mode, writable_roots=self.writable_roots, network_access=self.network_access
        )

    async def aclose(self) -> None:
        """The thread unloads: every session is killed."""
        await self.sessions.close_all()

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


class WriteStdinTool:
    """Writes to (or polls) a session ``exec_command`` left running."""

    name = "write_stdin"

    def __init__(self, sessions: SessionPool) -> None:
        self.sessions = sessions

    def spec(self) -> dict[str, Any]:
        return write_stdin_spec()

    async def aclose(self) -> None:
        await self.sessions.close_all()

    async def run(self, ctx: ToolContext, arguments: str) -> ToolOutput:
        try:
            args = WriteStdinArgs.parse(arguments)
        except ValueError as exc:
            return ToolOutput(f"failed to parse write_stdin arguments: {exc}", success=False)
        session = self.sessions.get(args.session_id)
        if session is None:
            return ToolOutput(unknown_session(args.session_id), success=False)
        if args.chars and not session.tty:
            return ToolOutput(STDIN_CLOSED, success=False)
        async with session.lock:
            if args.chars:
                with contextlib.suppress(StdinClosed):
                    await session.write(args.chars)
                await asyncio.sleep(POST_WRITE_PAUSE_S)
            started = time.monotonic()
            await session.collect(started + write_yield_s(args.yield_time_ms, empty=not args.chars))
            wall = time.monotonic() - started
            exited = not session.running
            if args.chars or not exited:
                await _emit(
                    ctx,
                    ev.TerminalInteraction(
                        turn_id=ctx.turn_id,
                        item_id=session.item_id,
                        process_id=str(session.id),
                        stdin=args.chars,
                    ),
                )
        if exited:
            await asyncio.shield(session.ended.wait())
            self.sessions.remove(session.id)
        taken = session.take()
        answer = _Answer(
            taken.text,
            taken.total_bytes,
            wall,
            session.exit_code if exited else None,
            None if exited else session.id,
        )
        return ToolOutput(answer.text(args.max_output_tokens))


async def _emit(ctx: ToolContext, msg: Any) -> None:
    if ctx.emit is not None:
        await ctx.emit(msg)


class _Call:
    """One ``exec_command`` call from approval to the model's answer, and then its session's
    item until the process ends."""

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
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._streamed = 0

    # -- events --

    async def _start(self, **update: Any) -> None:
        self.item = self.item.model_copy(update=update)
        if not self.announced:
            self.announced = True
            await _emit(
                self.ctx,
                ev.ItemStarted(
                    turn_id=self.ctx.turn_id, item=self.item, started_at_ms=self.item.started_at_ms
                ),
            )

    async def _complete(self, *, keep: bool = True, **update: Any) -> None:
        done = now_ms()
        self.item = self.item.model_copy(update={"completed_at_ms": done, **update})
        if keep and self.ctx.complete_item is not None:
            await self.ctx.complete_item(self.item)
        else:
            await _emit(
                self.ctx,
                ev.ItemCompleted(turn_id=self.ctx.turn_id, item=self.item, completed_at_ms=done),
            )

    async def _on_output(self, data: bytes) -> None:
        if self._streamed >= self.tool.capture_bytes:
            return
        self._streamed += len(data)
        delta = self._decoder.decode(data)
        if delta:
            await _emit(
                self.ctx,
                ev.CommandOutputDelta(
                    turn_id=self.ctx.turn_id, item_id=self.ctx.call_id, delta=delta
                ),
            )

    async def _on_end(self, session: ExecSession) -> None:
        """The process has ended (maybe long after the call): the item completes."""
        code = session.exit_code if session.exit_code is not None else -1
        ended = session.ended_at or time.monotonic()
        duration_s = max(ended - session.started, 0.0)
        output = session.transcript.text()
        await self._complete(
            status="completed" if code == 0 else "failed",
            exit_code=code,
            aggregated_output=output or None,
            duration_ms=int(duration_s * 1000),
        )
        secs = int(duration_s)
        await _emit(
            self.ctx,
            ev.ExecCommandEnd(
                call_id=self.ctx.call_id,
                turn_id=self.ctx.turn_id,
                command=self.argv,
                cwd=str(self.cwd),
                exit_code=code,
                aggregated_output=output,
                stdout=output,
                formatted_output=truncate_middle(output, DEFAULT_MAX_OUTPUT_TOKENS),
                duration={"secs": secs, "nanos": int((duration_s - secs) * 1e9)},
            ),
        )

    # -- approval --

    async def _ask(self, reason: str | None) -> str:
        """The user's decision; the item is announced while the thread waits."""
        requester = self.ctx.request_approval
        if requester is None:
            return "decline"
        amendment = list(self.args.prefix_rule) if self.args.prefix_rule else self._rule()
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

    def _rule(self) -> list[str] | None:
        """The rule proposed for "don't ask again": the command's words when it is one plain
        command, else (redirections, pipes, expansions) the whole shell invocation, as Codex
        proposes it -- a prefix rule with a literal ``>`` in it would be wrong."""
        words = split_words(self.args.cmd)
        if words is not None and _plain(self.args.cmd):
            return words
        return [self.args.shell or self.tool.default_shell, "-lc", self.args.cmd]

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
            answer = await self._execute(sandboxed=plan.sandboxed)
        except SandboxUnavailable as exc:
            message = f"exec_command failed: {exc}"
            await self._start()
            await self._complete(status="failed", aggregated_output=message)
            return ToolOutput(message, success=False)
        if (
            plan.ask_on_sandbox_failure
            and answer.exit_code not in (None, 0)
            and looks_like_sandbox_denial(answer.exit_code or 0, answer.output)
        ):
            decision = await self._ask(
                "the command failed inside the sandbox; run it again without the sandbox?"
            )
            if decision in _ACCEPTS:
                self._reset_item()
                answer = await self._execute(sandboxed=False)
        success = answer.exit_code in (None, 0)
        return ToolOutput(answer.text(self.args.max_output_tokens), success=success)

    def _reset_item(self) -> None:
        """A second run (without the sandbox) of the same call reports on the same item."""
        self.item = self.item.model_copy(
            update={"status": "inProgress", "exit_code": None, "aggregated_output": None}
        )
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._streamed = 0

    def _env(self, mode: str) -> dict[str, str]:
        env = self.tool.env_policy.build(os.environ, secret_names=self.tool.secret_env_names)
        env.update(_SESSION_ENV)
        env.update(
            {
                "THREADLINE_SANDBOX": mode,
                "CODEX_THREAD_ID": self.ctx.thread_id,
            }
        )
        if not self.policy.allows_network and mode != "danger-full-access":
            env["THREADLINE_SANDBOX_NETWORK_DISABLED"] = "1"
            env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
        return env

    async def _execute(self, *, sandboxed: bool) -> _Answer:
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
        pool = self.tool.sessions
        session_id = pool.allocate_id()
        tty = self.args.tty
        spec = SpawnSpec(
            launch.argv,
            self.cwd,
            self._env(mode),
            tty=tty,
            size=DEFAULT_PTY_SIZE if tty else None,
            pass_fds=launch.pass_fds,
            stdin=tty,
            merge_stderr=True,
        )
        try:
            try:
                handle = await ProcessHandle.spawn(spec)
            finally:
                launch.close_fds()
        except OSError as exc:
            pool.release_id(session_id)
            await launch.finish()
            message = f"failed to start {launch.argv[0]}: {exc}\n"
            await self._start(process_id=str(session_id), source="unifiedExecStartup")
            await self._complete(status="failed", exit_code=127, aggregated_output=message)
            return _Answer(message, len(message), 0.0, 127, None)
        session = ExecSession(
            session_id,
            handle,
            command=self.args.cmd,
            item_id=self.ctx.call_id,
            tty=tty,
            capture_bytes=self.tool.capture_bytes,
            timeout_s=self.tool.timeout_s,
            on_output=self._on_output,
            on_end=self._on_end,
            cleanup=launch.finish,
        )
        session.start()
        reaped = pool.add(session)
        try:
            await self._start(process_id=str(session_id), source="unifiedExecStartup")
            await session.wait_for_exit(EARLY_EXIT_GRACE_S)
            started = time.monotonic()
            async with session.lock:
                await session.collect(started + exec_yield_s(self.args.yield_time_ms))
            wall = time.monotonic() - started
            exited = not session.running
            if exited:
                await asyncio.shield(session.ended.wait())
        except asyncio.CancelledError:
            # An interrupted turn: the command goes with it (its item is not completed).
            pool.remove(session_id)
            await asyncio.shield(session.close(silent=True))
            raise
        if exited:
            pool.remove(session_id)
        taken = session.take()
        output = taken.text
        if reaped is not None:
            output = _reaped_note(reaped, pool.limit) + output
        return _Answer(
            output,
            taken.total_bytes,
            wall,
            session.exit_code if exited else None,
            None if exited else session_id,
        )


def _reaped_note(reaped: ExecSession, limit: int) -> str:
    return (
        f"[session {reaped.id} (`{reaped.command}`) was ended to keep at most {limit} "
        "sessions open]\n"
    )


__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_TIMEOUT_S",
    "REJECTED_BY_USER",
    "STDIN_CLOSED",
    "TIMEOUT_EXIT_CODE",
    "ExecArgs",
    "ExecCommandTool",
    "WriteStdinTool",
    "command_actions",
    "truncate_middle",
    "unknown_session",
]


def _plain(cmd: str) -> bool:
    """Whether ``cmd`` is words only: no operators, redirections or expansions."""
    if any(c in cmd for c in "$`\n"):
        return False
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return False
    return not any(t and all(c in "();<>|&" for c in t) for t in tokens)
