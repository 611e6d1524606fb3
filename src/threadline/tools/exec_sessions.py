"""Exec sessions: processes started by ``exec_command`` that outlive the call.

A call waits for its process up to the yield time (``yield_time_ms``); a process still
running then stays in the thread's :class:`SessionPool` under a session id, and
``write_stdin`` writes to it and collects what it printed since the last call. Numbers
and rules follow Codex 0.169's unified exec:

* session ids are random in ``[1000, 100000)``; the commandExecution item's
  ``processId`` is the session id;
* ``exec_command`` waits ``yield_time_ms`` (default 10 000, clamped to 250 to 30 000) after
  a 150 ms early-exit grace; ``write_stdin`` waits 250 ms by default after a write
  (at most 30 000) and, for an empty poll, between 5 000 and 300 000 ms;
* a call returns early only when the process has exited and its output has ended
  (at most 50 ms after the exit when a leftover child holds the output open);
* only a pty session has a stdin (a pipe session's stdin is ``/dev/null``);
* at most 64 sessions per thread: adding one more ends the least recently used one,
  sparing the 8 most recently used (fewer in a smaller pool) and preferring one that
  has exited already.

A session's output is kept twice: what the model has not seen yet (``pending``) and the
whole transcript (for the item's ``aggregatedOutput``), each as the head and tail of at
most ``capture_bytes``. What happens to items and events is the caller's: a session
reports output and its end through the two hooks it is built with.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from threadline.tools.exec_text import OutputCapture
from threadline.tools.process import ProcessHandle

MIN_YIELD_TIME_MS = 250
MAX_YIELD_TIME_MS = 30_000
MIN_EMPTY_YIELD_TIME_MS = 5_000
MAX_EMPTY_YIELD_TIME_MS = 300_000
DEFAULT_EXEC_YIELD_TIME_MS = 10_000
DEFAULT_WRITE_YIELD_TIME_MS = 250
MAX_SESSIONS = 64
RECENT_SPARED = 8
EARLY_EXIT_GRACE_S = 0.15
"""How long ``exec_command`` first waits for a quick exit before its yield clock starts."""
POST_WRITE_PAUSE_S = 0.1
"""After a write, the process gets this long to react before the yield clock starts."""
POST_EXIT_CLOSE_WAIT_S = 0.05
DRAIN_AFTER_EXIT_S = 1.0
"""After the exit, how long a leftover child may hold the output open before it is killed."""
TIMEOUT_EXIT_CODE = 124
TERMINATED_EXIT_CODE = -1
"""The exit code of a session ended by threadline (reaped, thread unloaded), as Codex reports."""

_ID_RANGE = (1_000, 100_000)


def exec_yield_s(requested_ms: int | None) -> float:
    ms = DEFAULT_EXEC_YIELD_TIME_MS if requested_ms is None else requested_ms
    return min(max(ms, MIN_YIELD_TIME_MS), MAX_YIELD_TIME_MS) / 1000


def write_yield_s(requested_ms: int | None, *, empty: bool) -> float:
    ms = DEFAULT_WRITE_YIELD_TIME_MS if requested_ms is None else requested_ms
    ms = max(ms, MIN_YIELD_TIME_MS)
    if empty:
        return min(max(ms, MIN_EMPTY_YIELD_TIME_MS), MAX_EMPTY_YIELD_TIME_MS) / 1000
    return min(ms, MAX_YIELD_TIME_MS) / 1000


class StdinClosed(Exception):
    """``write_stdin`` with characters to a session without a pty."""


@dataclass(frozen=True, slots=True)
class Taken:
    """Output handed to the model by one call."""

    text: str
    total_bytes: int


OutputHook = Callable[[bytes], Awaitable[None]]
EndHook = Callable[["ExecSession"], Awaitable[None]]


class ExecSession:
    """One process and what it printed; see the module docstring."""

    def __init__(
        self,
        session_id: int,
        handle: ProcessHandle,
        *,
        command: str,
        item_id: str,
        tty: bool,
        capture_bytes: int,
        timeout_s: float,
        on_output: OutputHook,
        on_end: EndHook,
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.id = session_id
        self.handle = handle
        self.command = command
        self.item_id = item_id
        """The commandExecution item the session reports on."""
        self.tty = tty
        self.started = time.monotonic()
        self.last_used = self.started
        self.capture_bytes = capture_bytes
        self.timeout_s = timeout_s
        self.transcript = OutputCapture(capture_bytes)
        self._pending = OutputCapture(capture_bytes)
        self._on_output = on_output
        self._on_end = on_end
        self._cleanup = cleanup
        self._changed = asyncio.Event()
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()
        self.ended = asyncio.Event()
        """Set once the end hook ran and every descriptor is closed."""
        self.lock = asyncio.Lock()
        """Held by the call waiting on the session; the end hook runs outside any call."""
        self.exit_code: int | None = None
        self.timed_out = False
        self.terminated = False
        """Ended by threadline (reaped or unloaded), not by itself."""
        self.silent = False
        """End without reporting (the call that started it was cancelled)."""
        self.ended_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---- life ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._pump(), name=f"exec-session-{self.id}-output"),
            asyncio.create_task(self._watch(), name=f"exec-session-{self.id}-exit"),
        ]

    async def _pump(self) -> None:
        while (chunk := await self.handle.output.get()) is not None:
            data = chunk[1]
            self._pending.add(data)
            self.transcript.add(data)
            self._changed.set()
            if not self.silent:
                await self._on_output(data)
        self.output_closed.set()
        self._changed.set()

    async def _watch(self) -> None:
        try:
            try:
                code = await asyncio.wait_for(self.handle.wait(), self.timeout_s)
            except TimeoutError:
                self.timed_out = True
                self.handle.kill()
                code = await self.handle.wait()
            self.ended_at = time.monotonic()
            self.exit_code = (
                TIMEOUT_EXIT_CODE
                if self.timed_out
                else TERMINATED_EXIT_CODE
                if self.terminated
                else code
            )
            self.exited.set()
            self._changed.set()
            try:
                await asyncio.wait_for(
                    asyncio.shield(self.output_closed.wait()), DRAIN_AFTER_EXIT_S
                )
            except TimeoutError:  # a leftover background child holds the output open
                self.handle.kill()
                self.handle.stop_reading()
                await self.output_closed.wait()
            if self.timed_out:
                note = f"\ncommand timed out after {self.timeout_s:g} seconds\n".encode()
                self._pending.add(note)
                self.transcript.add(note)
            if self._cleanup is not None:
                await asyncio.shield(self._cleanup())
            async with self.lock:  # after the call that is waiting, if any, has answered
                if not self.silent:
                    await self._on_end(self)
        finally:
            await asyncio.shield(self.handle.aclose())
            self.ended.set()
            self._changed.set()

    def terminate(self) -> None:
        """Kill the session's process group; it then ends as usual (exit code -1)."""
        if not self.exited.is_set():
            self.terminated = True
        self.handle.kill()

    async def close(self, *, silent: bool = False) -> None:
        """Terminate and wait until the session has ended (its end reported unless
        ``silent``)."""
        if silent:
            self.silent = True
        self.terminate()
        await asyncio.shield(self.ended.wait())

    @property
    def running(self) -> bool:
        return not self.exited.is_set()

    @property
    def done(self) -> bool:
        """Exited and its output ended: nothing more will come."""
        return self.exited.is_set() and self.output_closed.is_set()

    # ---- calls --------------------------------------------------------------------------

    async def write(self, data: str) -> None:
        if not self.tty:
            raise StdinClosed
        with contextlib.suppress(BrokenPipeError):  # exited meanwhile: the poll tells
            await self.handle.write(data.encode())

    async def wait_for_exit(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited.wait()), timeout)

    async def collect(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic), or until the process has exited and its
        output ended (at most :data:`POST_EXIT_CLOSE_WAIT_S` after the exit)."""
        post_exit: float | None = None
        while True:
            if self.done:
                return
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                return
            if self.exited.is_set():
                if post_exit is None:
                    post_exit = now + min(remaining, POST_EXIT_CLOSE_WAIT_S)
                remaining = post_exit - now
                if remaining <= 0:
                    return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return

    def take(self) -> Taken:
        """The output not handed out yet (head and tail when it grew past the cap)."""
        pending, self._pending = self._pending, OutputCapture(self.capture_bytes)
        return Taken(pending.text(), pending.total)


class SessionPool:
    """A thread's open exec sessions (shared by ``exec_command`` and ``write_stdin``)."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._sessions: dict[int, ExecSession] = {}
        self._reserved: set[int] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._sessions)

    def allocate_id(self) -> int:
        while True:
            candidate = random.randrange(*_ID_RANGE)
            if candidate not in self._reserved:
                self._reserved.add(candidate)
                return candidate

    def release_id(self, session_id: int) -> None:
        if session_id not in self._sessions:
            self._reserved.discard(session_id)

    def add(self, session: ExecSession) -> ExecSession | None:
        """Keep ``session``; returns the session reaped to make room, if any (already
        terminated)."""
        reaped = None
        if len(self._sessions) >= self.limit:
            victim = self._pick_victim()
            if victim is not None:
                reaped = self._sessions.pop(victim)
                self._reserved.discard(victim)
                reaped.terminate()
        self._sessions[session.id] = session
        self._reserved.add(session.id)
        if self._closing:
            session.terminate()
        return reaped

    def _pick_victim(self) -> int | None:
        by_recency = sorted(self._sessions.values(), key=lambda s: s.last_used, reverse=True)
        spared = {s.id for s in by_recency[: min(RECENT_SPARED, self.limit // 2)]}
        oldest_first = [s for s in reversed(by_recency) if s.id not in spared]
        for session in oldest_first:
            if not session.running:
                return session.id
        return oldest_first[0].id if oldest_first else None

    def get(self, session_id: int) -> ExecSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_used = time.monotonic()
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)
        self._reserved.discard(session_id)

    def ids(self) -> list[int]:
        return sorted(self._sessions)

    async def close_all(self) -> None:
        """End every session (the thread is unloading): killed, reported, descriptors closed."""
        self._closing = True
        sessions = list(self._sessions.values())
        self._sessions.clear()
        self._reserved.clear()
        for session in sessions:
            session.terminate()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


__all__ = [
    "DEFAULT_EXEC_YIELD_TIME_MS",
    "DEFAULT_WRITE_YIELD_TIME_MS",
    "EARLY_EXIT_GRACE_S",
    "MAX_SESSIONS",
    "POST_WRITE_PAUSE_S",
    "TERMINATED_EXIT_CODE",
    "TIMEOUT_EXIT_CODE",
    "ExecSession",
    "SessionPool",
    "StdinClosed",
    "Taken",
    "exec_yield_s",
    "write_yield_s",
]
