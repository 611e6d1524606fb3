"""The per-thread rollout writer: one asyncio task owns the file.

Callers talk to the task through a queue of commands (append, materialize,
flush, close); every command carries a future that the task resolves once the
command is done, so ``await writer.flush()`` returns only when the lines are
handed to the OS (and fsynced, when configured).

* **Lazy creation.** A writer made with :meth:`RolloutWriter.create` touches
  nothing on disk until :meth:`materialize` is called or the first
  ``user_message`` event is appended. Then the directories and the file are
  created, the ``session_meta`` line is written first and the buffered lines
  follow it.
* **Whole lines.** Each line is written with a single ``write`` on an unbuffered
  append-mode file. If a write is cut short (disk full), the torn fragment is
  terminated with a newline before the retry, so readers skip exactly one
  garbage line and no record is merged into another.
* **No silent loss.** A failed write raises :class:`RolloutWriteError` to the
  caller awaiting that command; the line that failed and everything after it
  stay queued, and the next flush (or append) writes them again — nothing is
  dropped and nothing already written is written twice.
* Blocking I/O runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from threadline.protocol.rollout import (
    EventMsg,
    RolloutItem,
    RolloutLine,
    SessionMeta,
    dump_line_json,
    line_from_item,
)
from threadline.rollout.errors import RolloutClosedError, RolloutWriteError
from threadline.rollout.policy import PersistencePolicy, sanitize_event

__all__ = ["RolloutWriter"]

log = logging.getLogger(__name__)

_CommandKind = Literal["append", "materialize", "flush", "close"]


@dataclass
class _Command:
    kind: _CommandKind
    done: asyncio.Future[None]
    lines: list[RolloutLine] = field(default_factory=list)
    materialize: bool = False


class RolloutWriter:
    """Writes one thread's rollout; see the module docstring for the guarantees."""

    def __init__(
        self,
        path: Path,
        *,
        meta: SessionMeta | None,
        materialized: bool,
        policy: PersistencePolicy | None = None,
        fsync: bool = False,
        queue_size: int = 256,
    ) -> None:
        self._path = Path(path)
        self._meta = meta
        self._want_file = materialized
        self._policy = policy or PersistencePolicy()
        self._fsync = fsync
        self._queue: asyncio.Queue[_Command] = asyncio.Queue(maxsize=queue_size)
        self._pending: deque[bytes] = deque()
        self._handle: IO[bytes] | None = None
        self._torn = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._lines_written = 0

    # construction ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: Path,
        meta: SessionMeta,
        *,
        policy: PersistencePolicy | None = None,
        fsync: bool = False,
    ) -> RolloutWriter:
        """A writer for a new thread; the file appears on :meth:`materialize`."""
        return cls(path, meta=meta, materialized=False, policy=policy, fsync=fsync)

    @classmethod
    def resume(
        cls, path: Path, *, policy: PersistencePolicy | None = None, fsync: bool = False
    ) -> RolloutWriter:
        """A writer appending to an existing rollout (no new ``session_meta``)."""
        return cls(path, meta=None, materialized=True, policy=policy, fsync=fsync)

    # state ----------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def meta(self) -> SessionMeta | None:
        """The ``session_meta`` this writer starts the file with (None when resuming)."""
        return self._meta

    @property
    def materialized(self) -> bool:
        """True once the file has been requested (it exists after a successful write)."""
        return self._want_file

    @property
    def pending(self) -> int:
        """Lines accepted but not yet on disk."""
        return len(self._pending)

    @property
    def lines_written(self) -> int:
        return self._lines_written

    @property
    def closed(self) -> bool:
        return self._closed

    # public commands ------------------------------------------------------------------------
    async def append(self, items: Iterable[RolloutItem | RolloutLine]) -> None:
        """Queue items (filtered by the persistence policy) and wait until handled.

        Once the file exists the lines are written right away. A ``user_message``
        event materializes a lazily created file.
        """
        lines: list[RolloutLine] = []
        materialize = False
        for item in items:
            line = self._to_line(item)
            if line is None:
                continue
            if line.event_type == "user_message":
                materialize = True
            lines.append(line)
        if not lines and not materialize:
            return
        await self._submit(_Command("append", self._future(), lines=lines, materialize=materialize))

    async def materialize(self) -> None:
        """Create the file now: ``session_meta`` first, then any buffered lines."""
        await self._submit(_Command("materialize", self._future(), materialize=True))

    async def flush(self) -> None:
        """Write everything pending (when materialized) and wait for it."""
        await self._submit(_Command("flush", self._future()))

    async def close(self) -> None:
        """Flush and close the file, then stop the task.

        If the final flush fails the error is raised and the writer stays open,
        so the caller can fix the cause and call :meth:`flush`/:meth:`close` again.
        """
        if self._closed:
            return
        await self._submit(_Command("close", self._future()))

    # internals ------------------------------------------------------------------------------
    def _to_line(self, item: RolloutItem | RolloutLine) -> RolloutLine | None:
        if isinstance(item, RolloutLine):
            return item if self._policy.keeps_line(item) else None
        if not self._policy.keeps(item):
            return None
        if isinstance(item, EventMsg) and item.type == "exec_command_end":
            item = EventMsg.model_validate(sanitize_event(item.dump()))
        return line_from_item(item)

    @staticmethod
    def _future() -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, command: _Command) -> None:
        if self._closed:
            raise RolloutClosedError(f"rollout writer for {self._path} is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"rollout-writer:{self._path.name}")
        await self._queue.put(command)
        await command.done

    async def _run(self) -> None:
        while True:
            command = await self._queue.get()
            try:
                await self._handle_command(command)
            except BaseException as exc:
                if not command.done.done():
                    command.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    await asyncio.to_thread(self._close_handle)
                    raise
            else:
                if not command.done.done():
                    command.done.set_result(None)
            if command.kind == "close" and self._closed:
                return

    async def _handle_command(self, command: _Command) -> None:
        for line in command.lines:
            self._pending.append((dump_line_json(line) + "\n").encode("utf-8"))
        if command.materialize and not self._want_file:
            self._want_file = True
            if self._meta is not None:
                meta_line = line_from_item(self._meta)
                self._pending.appendleft((dump_line_json(meta_line) + "\n").encode("utf-8"))
        if self._want_file:
            sync = self._fsync and command.kind in ("flush", "close", "materialize")
            if self._pending or sync or command.kind == "close":
                await asyncio.to_thread(self._drain, sync, command.kind == "close")
        elif command.kind == "close" and self._pending:
            log.debug("closing unmaterialized rollout %s; %d buffered line(s) dropped",
                      self._path, len(self._pending))
            self._pending.clear()
        if command.kind == "close":
            self._closed = True

    # blocking part (worker thread) ---------------------------------------------------------
    def _open(self) -> IO[bytes]:
        if self._handle is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self._path, "ab", buffering=0)
        return self._handle

    def _close_handle(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    def _write_pending(self) -> None:
        handle = self._open()
        while self._pending:
            data = self._pending[0]
            chunk = b"\n" + data if self._torn else data
            written = handle.write(chunk) or 0
            if written < len(chunk):
                # A short write leaves a fragment without newline; terminate it before retrying.
                self._torn = True
                raise OSError(f"short write ({written} of {len(chunk)} bytes)")
            self._torn = False
            self._pending.popleft()
            self._lines_written += 1

    def _drain(self, sync: bool, close: bool) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                self._write_pending()
                if sync and self._handle is not None:
                    os.fsync(self._handle.fileno())
                break
            except OSError as exc:
                self._close_handle()
                if attempts >= 2:
                    log.error("rollout write to %s failed: %s", self._path, exc)
                    raise RolloutWriteError(self._path, exc, len(self._pending)) from exc
        if close:
            self._close_handle()
