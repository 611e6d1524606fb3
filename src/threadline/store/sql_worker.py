"""The worker thread of one SQLite connection, and short reads that skip it.

Every statement of the index (and of the state tables that share its database) runs
on one dedicated thread, in submission order, so the event loop never waits on a
long query or on a write's lock. Handing a read to that thread and back costs two
thread wake-ups, about 0.1 ms on a loaded 2-CPU machine, which is most of a warm
``thread/list``. So :meth:`SqlWorker.read` runs a read on the caller's thread when
the worker has nothing submitted and not finished (nothing can then be using the
connection, and nothing submitted earlier is overtaken), and only while it stays
short: a progress handler interrupts it after :data:`INLINE_STEPS` SQLite virtual
machine instructions (a 25-row page takes about 1,100, a 100-row one about 3,700; a
search or a filter that scans the table takes far more) and it then runs on the
worker like any other statement.

:meth:`SqlWorker.read_cached` also remembers a few such reads by a key (the statement
and its parameters): an answer is reused while nothing has been handed to the worker
since (every change of this connection goes through it) and ``PRAGMA data_version``
(which moves when another connection, another process's, commits) is unchanged, so it
is what the statement would read again. A call handed over with ``changes_reads=False``
(a read, or the rollout stats' write: tables no cached read reads) does not count.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["INLINE_STEPS", "SqlWorker"]

_T = TypeVar("_T")

INLINE_STEPS = 10_000
"""Most virtual machine instructions a read runs on the caller's thread before it is
interrupted and handed to the worker (checked every :data:`_TICK` instructions)."""

_TICK = 1_000

CACHED_READS = 16
"""How many answers :meth:`SqlWorker.read_cached` keeps (the oldest goes first)."""


class _TooLong(Exception):
    """An inline read ran past its budget."""


class SqlWorker:
    """``run(fn)``: ``fn()`` on the worker thread. ``read(conn, fn)``: the same, or on the
    calling thread when the worker is idle and ``fn`` (a read of ``conn`` only) is short."""

    def __init__(self, thread_name_prefix: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name_prefix)
        self._submitted = 0
        """Calls handed to the worker (only the event loop's thread counts them)."""
        self._finished = 0
        """Of those, the ones done or cancelled (counted by whichever thread ends them)."""
        self._count_lock = threading.Lock()
        self._changes = 0
        """Calls handed over that may change what a cached read reads (the version's half
        kept by this connection)."""
        self._cache: dict[Hashable, tuple[tuple[int, int], Any]] = {}

    def _ended(self, _future: Future[Any]) -> None:
        with self._count_lock:
            self._finished += 1

    @property
    def idle(self) -> bool:
        """Nothing handed to the worker is still queued or running."""
        return self._submitted == self._finished

    async def run(self, fn: Callable[[], _T], *, changes_reads: bool = True) -> _T:
        """``fn()`` on the worker. ``changes_reads=False`` for a read, or for a write that no
        cached read reads (it then leaves the cached answers valid)."""
        future = self._executor.submit(fn)
        self._submitted += 1
        self._changes += changes_reads
        future.add_done_callback(self._ended)
        return await asyncio.wrap_future(future)

    async def read(self, conn: sqlite3.Connection | None, fn: Callable[[], _T]) -> _T:
        if conn is not None and self.idle:
            try:
                return _inline(conn, fn)
            except _TooLong:
                pass
        return await self.run(fn)

    async def read_cached(
        self, conn: sqlite3.Connection | None, key: Hashable, fn: Callable[[], _T]
    ) -> _T:
        """:meth:`read`, answered from the last read of ``key`` while the database has not
        changed since (see the module's docstring). The answer is shared: never change it."""
        if conn is None or not self.idle:
            return await self.run(fn)
        version = (self._changes, conn.execute("PRAGMA data_version").fetchone()[0])
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            value: _T = hit[1]
            return value
        try:
            value = _inline(conn, fn)
        except _TooLong:
            return await self.run(fn)
        self._cache.pop(key, None)
        if len(self._cache) >= CACHED_READS:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (version, value)
        return value

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def _inline(conn: sqlite3.Connection, fn: Callable[[], _T]) -> _T:
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 1 if ticks * _TICK > INLINE_STEPS else 0

    conn.set_progress_handler(tick, _TICK)
    try:
        return fn()
    except sqlite3.OperationalError:
        if ticks * _TICK > INLINE_STEPS:  # interrupted by tick(), not a real failure
            raise _TooLong from None
        raise
    finally:
        conn.set_progress_handler(None, 0)
