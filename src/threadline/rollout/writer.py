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
* **Whole lines.** Lines are written whole, up to 1 MiB of them in one ``write`` on an
  unbuffered append-mode file. If a write is cut short (disk full), the lines it wrote
  whole are done and the torn fragment of the next is terminated with a newline before
  the retry, so readers skip exactly one garbage line and no record is merged into
  another.
* **No silent loss.** A failed write raises :class:`RolloutWriteError` to the
  caller awaiting that command; the line that failed and everything after it
  stay queued, and the next flush (or append) writes them again — nothing is
  dropped and nothing already written is written twice.
* **Torn tails.** A file opened for append that does not end with a newline
  (a crash cut its last line) gets one before the first new line, so the torn
  record is skipped by readers and never glues onto the next record. The torn
  bytes are kept, not truncated: nothing already on disk is ever destroyed.
* **Deleted or replaced files.** Before each batch of writes the open
  descriptor is compared with what the path names now (device, inode, link
  count). If the file was deleted or another file was put in its place, the
  whole history — read back through the still-open descriptor — is written to a
  new file at the path, a replacing file is kept aside as
  ``<name>.replaced-<ms>``, and appending continues there. Recreating (rather
  than failing the turn) keeps the thread resumable with everything it said.
* Blocking I/O runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Literal, NoReturn

from threadline.protocol.rollout import (
    RolloutItem,
    RolloutLine,
    SessionMeta,
    dump_line_json,
    line_from_item,
)
from threadline.rollout.errors import RolloutClosedError, RolloutWriteError
from threadline.rollout.files import (
    append_lines_synced,
    open_regular_append,
    rollout_file_problem,
)
from threadline.rollout.gc_pause import gc_paused
from threadline.rollout.lines import CopiedLines, encode_copies
from threadline.rollout.policy import PersistencePolicy

__all__ = ["RolloutWriter", "append_synced", "append_to_rollout"]

log = logging.getLogger(__name__)

_CommandKind = Literal["append", "materialize", "flush", "close", "open", "write_now"]


@dataclass
class _Command:
    kind: _CommandKind
    done: asyncio.Future[None]
    lines: list[RolloutLine] = field(default_factory=list)
    materialize: bool = False
    copied: int = 0
    """How many lines, from the first, are copies :func:`~threadline.rollout.lines.restamped`
    made (a fork's): encoded by ``encode_copies``, in a worker thread when there are many."""


_WRITE_CHUNK = 1 << 20
"""At most this many bytes of whole lines go in one write (a longer line alone)."""

_COPIES_OFF_LOOP = 256
"""A batch of copied lines at least this long (a fork of a real thread) is encoded in a
worker thread: 64,000 lines take about 100 ms, the event loop's otherwise."""


def _encode_copies(lines: list[RolloutLine]) -> list[bytes]:
    with gc_paused():  # as many objects as lines, all short-lived
        return encode_copies(lines)


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
        self._recreated = 0
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

    @property
    def recreated(self) -> int:
        """How many times the file was rewritten after being deleted or replaced."""
        return self._recreated

    # public commands ------------------------------------------------------------------------
    async def append(self, items: Iterable[RolloutItem | RolloutLine]) -> None:
        """Queue items (filtered by the persistence policy) and wait until handled.

        Once the file exists the lines are written right away. A ``user_message``
        event materializes a lazily created file.
        """
        lines: list[RolloutLine] = []
        materialize = False
        copies = items.copies() if isinstance(items, CopiedLines) else frozenset()
        copied = 0  # how many lines, from the first, are such copies
        for item in items:
            line = self._policy.line_for(item)
            if line is None:
                continue
            if line.event_type == "user_message":
                materialize = True
            if copied == len(lines) and id(line) in copies:
                copied += 1
            lines.append(line)
        if not lines and not materialize:
            return
        await self._submit(_Command("append", self._future(), lines=lines, materialize=materialize,
                                    copied=copied))

    async def append_or_discard(self, items: Iterable[RolloutItem | RolloutLine]) -> None:
        """Write ``items`` now and sync them to disk, or not at all.

        For one-off records whose request fails when they cannot be stored (a rename):
        unlike :meth:`append`, lines that fail are dropped, never retried by a later
        flush, and the file is cut back to where it ended before them. Lines already
        pending are written first; if they fail, ``items`` are not attempted. Before
        the file is materialized the lines are buffered like :meth:`append`'s.
        """
        lines = [line for item in items if (line := self._policy.line_for(item)) is not None]
        if lines:
            await self._submit(_Command("write_now", self._future(), lines=lines))

    async def materialize(self) -> None:
        """Create the file now: ``session_meta`` first, then any buffered lines."""
        await self._submit(_Command("materialize", self._future(), materialize=True))

    async def open(self) -> None:
        """Open an existing rollout now (resume), so a later deletion or replacement of
        the file can be repaired from this descriptor. A file that cannot be opened
        for writing is not an error yet: the first write reports it."""
        await self._submit(_Command("open", self._future()))

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
        if command.kind == "open":
            if self._want_file and self._handle is None:
                await asyncio.to_thread(self._try_open)
            return
        if command.kind == "write_now" and self._want_file:
            data = b"".join((dump_line_json(line) + "\n").encode("utf-8") for line in command.lines)
            await asyncio.to_thread(self._write_now, data, len(command.lines))
            return
        copied = command.copied
        if copied >= _COPIES_OFF_LOOP:
            self._pending.extend(await asyncio.to_thread(_encode_copies, command.lines[:copied]))
        elif copied:
            self._pending.extend(encode_copies(command.lines[:copied]))
        for line in command.lines[copied:]:
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
            # Readable (see _recreate); a link, FIFO, device or directory is refused.
            handle = open_regular_append(self._path, create=True, readable=True)
            try:
                info = os.fstat(handle.fileno())
                if info.st_size > 0 and os.pread(handle.fileno(), 1, info.st_size - 1) != b"\n":
                    log.warning("rollout %s ends with a torn line; starting a new line", self._path)
                    self._torn = True
            except OSError:
                handle.close()
                raise
            self._handle = handle
        else:
            self._repair_if_moved()
        assert self._handle is not None
        return self._handle

    def _try_open(self) -> None:
        if rollout_file_problem(self._path) is not None:
            return  # never create a resumed rollout that vanished before its first write
        try:
            self._open()
        except OSError as exc:
            log.debug("rollout %s not opened yet: %s", self._path, exc)

    def _repair_if_moved(self) -> None:
        """Recreate the file when the path no longer names the file we hold open."""
        handle = self._handle
        assert handle is not None
        mine = os.fstat(handle.fileno())
        try:
            there = os.lstat(self._path)  # a link put in its place is a replacement
        except FileNotFoundError:
            self._recreate(handle, replaced=False)
            return
        if mine.st_nlink == 0 or (there.st_dev, there.st_ino) != (mine.st_dev, mine.st_ino):
            self._recreate(handle, replaced=True)

    def _recreate(self, handle: IO[bytes], *, replaced: bool) -> None:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(size - offset, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
        if data and not data.endswith(b"\n"):
            data += b"\n"
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        temp = parent / f".{self._path.name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # a leftover (or a planted link) is never written through
        with open_regular_append(temp, create=True) as out:
            out.write(data)
            if self._fsync:
                os.fsync(out.fileno())
        aside: Path | None = None
        if replaced:
            aside = self._path.with_name(f"{self._path.name}.replaced-{time.time_ns() // 1_000_000}")
            with contextlib.suppress(FileNotFoundError):
                os.replace(self._path, aside)
        os.replace(temp, self._path)
        self._close_handle()
        self._torn = False
        self._recreated += 1
        log.warning(
            "rollout %s was %s while its thread was loaded; rewrote %d bytes of history%s",
            self._path,
            "replaced" if replaced else "deleted",
            len(data),
            f" (the replacing file is kept as {aside.name})" if aside is not None else "",
        )
        self._open()

    def _close_handle(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        handle = self._open()
        pending = self._pending
        while pending:
            # Whole lines, as many as fit in one write (a fork copies 64,000: one write
            # each took most of its writing time).
            count = size = 0
            for data in pending:  # (iterated: indexing a deque walks it)
                if count and size + len(data) > _WRITE_CHUNK:
                    break
                size += len(data)
                count += 1
            data = pending[0] if count == 1 else b"".join(islice(pending, count))
            chunk = b"\n" + data if self._torn else data
            written = handle.write(chunk) or 0
            if written < len(chunk):
                self._short_write(written, len(chunk))
            self._torn = False
            for _ in range(count):
                pending.popleft()
            self._lines_written += count

    def _short_write(self, written: int, wanted: int) -> NoReturn:
        """After a write of whole lines that wrote only ``written`` bytes: the lines it
        wrote whole are done, and a fragment of the next one is torn (terminated with a
        newline before the retry), as when each line was written alone."""
        left = written
        if self._torn and left:
            left -= 1  # the newline that ended the earlier fragment
            self._torn = False
        pending = self._pending
        while left and left >= len(pending[0]):
            left -= len(pending.popleft())
            self._lines_written += 1
        if left:
            self._torn = True
        raise OSError(f"short write ({written} of {wanted} bytes)")

    def _write_now(self, data: bytes, count: int) -> None:
        self._drain(False, False)
        handle = self._open()
        try:
            append_lines_synced(handle.fileno(), data)
        except OSError as exc:
            self._close_handle()
            log.error("rollout write to %s failed, %d line(s) discarded: %s", self._path, count, exc)
            raise RolloutWriteError(self._path, exc, len(self._pending)) from exc
        self._torn = False
        self._lines_written += count

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


def append_to_rollout(path: Path, data: bytes) -> None:
    """Append whole lines to a rollout no writer of ours holds open (blocking).

    Like the writer, a torn last line is terminated first so ``data`` starts a line.
    Only an existing regular file is appended to (never created, never through a link).
    """
    with open_regular_append(path, readable=True) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > 0 and os.pread(handle.fileno(), 1, size - 1) != b"\n":
            data = b"\n" + data
        handle.write(data)


def append_synced(path: Path, data: bytes) -> None:
    """Append whole lines to a rollout no writer of ours holds open and sync them, or
    leave the file as it was: on failure it is cut back to its previous end (blocking).
    Only an existing regular file is appended to (never created, never through a link)."""
    with open_regular_append(path, readable=True) as handle:
        append_lines_synced(handle.fileno(), data)
