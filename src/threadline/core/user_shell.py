"""A command the user runs inside a thread (``thread/shellCommand``, the TUI's ``!cmd``).

As Codex 0.169 does it (recorded against the real app-server):

* it runs through the thread's shell (``/bin/bash -lc <command>``) in the thread's cwd,
  unsandboxed, with no approval: the user typed it;
* it is a ``commandExecution`` item with ``source: "userShell"`` (no ``processId``, one
  ``unknown`` command action); output streams as ``item/commandExecution/outputDelta``;
  the completed item carries stdout followed by stderr, the exit code and the duration;
* on an idle thread it is a turn of its own (``turn/started`` … ``turn/completed``, no
  model request); while a turn runs, its item belongs to that turn;
* the model sees it as a user message ``<user_shell_command>…</user_shell_command>``
  (command, exit code, duration, output) recorded in the history (and the rollout);
* the timeout defaults to one hour; a command that overruns it is killed, the item
  fails with exit code -1.

While a turn runs, the record becomes that turn's pending input, as in Codex: the turn
samples once more if its model stream had already ended without tool calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

from threadline.core.errors import InvalidRequest
from threadline.core.ids import new_thread_id
from threadline.core.turn import ActiveTurn
from threadline.protocol import events as ev
from threadline.protocol.clock import now_ms
from threadline.protocol.items import ContentItem, MessageItem
from threadline.protocol.ops import RunUserShellCommand
from threadline.protocol.v2.item import CommandExecutionThreadItem
from threadline.protocol.v2.item_parts import UnknownCommandAction
from threadline.protocol.v2.turn import Turn
from threadline.sandbox.env_policy import ShellEnvironmentPolicy
from threadline.tools.process import ProcessHandle, SpawnSpec

if TYPE_CHECKING:
    from threadline.core.session import Session

__all__ = ["DEFAULT_TIMEOUT_MS", "UserShell", "shell_command_record"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 60 * 60 * 1000
SHELL = "/bin/bash"
_DRAIN_TIMEOUT_S = 2.0


def shell_command_record(command: str, exit_code: int, duration_s: float, output: str) -> str:
    """The model-visible text of a user shell command (Codex's format)."""
    return (
        "<user_shell_command>\n"
        f"<command>\n{command}\n</command>\n"
        "<result>\n"
        f"Exit code: {exit_code}\n"
        f"Duration: {duration_s:.4f} seconds\n"
        f"Output:\n{output}\n"
        "</result>\n"
        "</user_shell_command>"
    )


class UserShell:
    """Runs a thread's user shell commands (one task each, kept until it ends)."""

    def __init__(
        self,
        session: Session,
        *,
        env_policy: ShellEnvironmentPolicy | None = None,
        secret_env_names: tuple[str, ...] = (),
    ) -> None:
        self.session = session
        self.env_policy = env_policy or ShellEnvironmentPolicy()
        self.secret_env_names = secret_env_names
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, op: RunUserShellCommand) -> str:
        """Start ``op``; returns the id of the turn it runs in."""
        if not op.command.strip():
            raise InvalidRequest("command must not be empty")
        if op.timeout_ms is not None and op.timeout_ms < 0:
            raise InvalidRequest(f"timeoutMs must be non-negative, got {op.timeout_ms}")
        session = self.session
        turn = session.active
        own = turn is None or turn.closing
        if own:
            turn = ActiveTurn(id=new_thread_id(), started_at=time.time())
            loop = asyncio.get_running_loop()
            turn.done = loop.create_future()
            turn.abort_ack = loop.create_future()
            turn.kind = "userShell"
            session.active = turn
        assert turn is not None
        task = asyncio.get_running_loop().create_task(
            self._run(turn, op, own), name=f"user-shell-{turn.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return turn.id

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # ---- one command --------------------------------------------------------------------

    async def _run(self, turn: ActiveTurn, op: RunUserShellCommand, own: bool) -> None:
        session = self.session
        status = "failed"
        try:
            # A thread whose first act is a shell command has a rollout from then on, as in Codex.
            await session.sink.materialize()
            if own:
                await session.turn_started(turn)
            interrupted = await self._command(turn, op, own)
            status = "interrupted" if interrupted else "completed"
        except Exception:
            log.exception("thread %s: user shell command failed", session.thread_id)
        finally:
            # Its own turn always ends (also when cancelled: the thread is unloading).
            if own:
                await asyncio.shield(self._finish(turn, status))

    async def _command(self, turn: ActiveTurn, op: RunUserShellCommand, own: bool) -> bool:
        """Run the command as an item of ``turn``; whether an interrupt stopped it."""
        session = self.session
        cwd = session.settings.cwd
        argv = [SHELL, "-lc", op.command]
        started_ms = now_ms()
        item = CommandExecutionThreadItem(
            id=new_thread_id(),
            command=shlex.join(argv),
            cwd=cwd,
            status="inProgress",
            command_actions=[UnknownCommandAction(command=op.command)],
            source="userShell",
            started_at_ms=started_ms,
        )
        await session.emit(
            turn.id, ev.ItemStarted(turn_id=turn.id, item=item, started_at_ms=started_ms)
        )
        env = self.env_policy.build(os.environ, secret_names=self.secret_env_names)
        timeout_s = (DEFAULT_TIMEOUT_MS if op.timeout_ms is None else op.timeout_ms) / 1000
        started = time.monotonic()
        out = bytearray()
        err = bytearray()
        interrupted = False
        failure: str | None = None
        code = -1
        try:
            handle = await ProcessHandle.spawn(
                SpawnSpec(argv=argv, cwd=Path(cwd), env=env, stdin=False)
            )
        except OSError as exc:
            failure = f"execution error: failed to start {SHELL}: {exc}"
        else:
            try:
                code, interrupted, timed_out = await self._wait(
                    handle, turn, item.id, timeout_s, out, err
                )
                if timed_out:
                    failure = f"execution error: command timed out after {int(timeout_s * 1000)} ms"
                elif interrupted:
                    failure = "execution error: interrupted"
            finally:
                await asyncio.shield(handle.aclose())
        duration = time.monotonic() - started
        if failure is not None:
            code = -1
            output = failure
        else:
            output = (bytes(out) + bytes(err)).decode("utf-8", errors="replace")
        done = item.model_copy(
            update={
                "status": "completed" if failure is None and code == 0 else "failed",
                "aggregated_output": output,
                "exit_code": code,
                "duration_ms": int(duration * 1000),
                "completed_at_ms": now_ms(),
            }
        )
        text = shell_command_record(op.command, code, duration, output)
        record = MessageItem(role="user", content=[ContentItem(type="input_text", text=text)])
        joins = not own and not turn.closing
        if joins:
            # The running turn takes it in before its next sampling (and samples again). It
            # is queued before the item is announced: a client that reacts to
            # ``item/completed`` finds the turn already holding the record.
            turn.pending_items.append(record)
        await session.complete_item(turn, done)
        if not joins:
            await session.record([record])
        elif turn.closing and record in turn.pending_items:
            # The turn ended without sampling again: the record is still the thread's.
            turn.pending_items.remove(record)
            await session.record([record])
        return interrupted

    async def _wait(
        self,
        handle: ProcessHandle,
        turn: ActiveTurn,
        item_id: str,
        timeout_s: float,
        out: bytearray,
        err: bytearray,
    ) -> tuple[int, bool, bool]:
        """``(exit code, interrupted, timed out)`` once the process and its output ended."""
        session = self.session

        async def pump() -> None:
            while (chunk := await handle.output.get()) is not None:
                stream, data = chunk
                (out if stream == "stdout" else err).extend(data)
                text = data.decode("utf-8", errors="replace")
                session.deliver(
                    ev.Event(
                        id=turn.id,
                        msg=ev.CommandOutputDelta(turn_id=turn.id, item_id=item_id, delta=text),
                    )
                )

        reader = asyncio.ensure_future(pump())
        exited = asyncio.ensure_future(handle.wait())
        stop = asyncio.ensure_future(turn.interrupt.wait())
        try:
            await asyncio.wait(
                {exited, stop}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            interrupted = stop.done() and not exited.done()
            timed_out = not exited.done() and not interrupted
            if not exited.done():
                handle.kill()
            code = await exited
            done, _ = await asyncio.wait({reader}, timeout=_DRAIN_TIMEOUT_S)
            if not done:
                handle.stop_reading()
                await reader
            return code, interrupted, timed_out
        finally:
            stop.cancel()
            if not reader.done():
                reader.cancel()

    async def _finish(self, turn: ActiveTurn, status: str) -> None:
        session = self.session
        turn.closing = True
        now = time.time()
        snap = Turn(
            id=turn.id,
            root_turn_id=turn.id,
            items=[],
            items_view="notLoaded",
            status=status,  # type: ignore[arg-type]
            started_at=int(turn.started_at),
            completed_at=int(now),
            duration_ms=int((now - turn.started_at) * 1000),
        )
        if status == "interrupted":
            await session.emit(
                turn.id,
                ev.TurnAborted(
                    turn_id=turn.id,
                    reason="interrupted",
                    completed_at=snap.completed_at,
                    duration_ms=snap.duration_ms,
                ),
            )
        else:
            await session.emit(
                turn.id,
                ev.TaskComplete(
                    turn_id=turn.id,
                    last_agent_message=None,
                    completed_at=snap.completed_at,
                    duration_ms=snap.duration_ms,
                ),
            )
        await session.turn_finished(turn, snap)
