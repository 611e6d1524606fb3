"""Which rollouts another program may have appended to, without a ``stat`` of every one.

``LocalThreadStore.list`` notices appends it did not make (Codex resuming one of the
home's threads, say) by comparing each rollout's size and mtime with the last ones it
saw (``thread_state.changed_rollouts``). Over ten thousand threads that is ten thousand
``stat`` calls per look. :class:`AppendWatch` narrows the look down with Linux inotify:
it watches each directory that holds a listed rollout, and a later look stats only the
rollouts the kernel reported touched, those of directories it does not watch (yet) and
those never seen. The first look after a directory's watch is added stats all of that
directory's rollouts, after the watch exists, so nothing written in between is missed.

It falls back to the full look wherever inotify cannot answer: not Linux, no watch left
(``fs.inotify.max_user_watches``), an event queue that overflowed, and every
:data:`FULL_SWEEP_INTERVAL_S` in any case (a file system whose remote writers inotify
does not see, NFS for one, is then noticed that much later).

One look runs at a time (the store's re-check lock), on the store's I/O thread.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import weakref
from collections.abc import Callable, Sequence

__all__ = ["FULL_SWEEP_INTERVAL_S", "AppendWatch", "Inotify", "Row"]

log = logging.getLogger(__name__)

FULL_SWEEP_INTERVAL_S = 60.0
"""The longest a look trusts the watches without a ``stat`` of every rollout."""

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
"""What changes a rollout's size or mtime in a directory (written, touched, renamed or
created there), and the directory itself going away."""

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


class Inotify:
    """One inotify instance (``inotify_init1``) through ``ctypes``; :meth:`open` returns
    None where there is none."""

    def __init__(self, fd: int, add_watch: Callable[[int, bytes, int], int]) -> None:
        self.fd = fd
        self._add_watch = add_watch
        # A user has few instances (fs.inotify.max_user_instances, often 128): one of a
        # store dropped without close() is given back when it is collected.
        self._closer = weakref.finalize(self, os.close, fd)

    @classmethod
    def open(cls) -> Inotify | None:
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            init1 = libc.inotify_init1
            add_watch = libc.inotify_add_watch
        except (OSError, AttributeError, ImportError):
            return None
        init1.argtypes = [ctypes.c_int]
        init1.restype = ctypes.c_int
        add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        add_watch.restype = ctypes.c_int
        fd = init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.debug("no inotify instance: %s", os.strerror(ctypes.get_errno()))
            return None
        return cls(fd, add_watch)

    def add_watch(self, directory: str) -> int | None:
        """The watch descriptor of ``directory``, or None when it cannot be watched."""
        wd = self._add_watch(self.fd, os.fsencode(directory), WATCH_MASK)
        return wd if wd >= 0 else None

    def read_events(self) -> list[tuple[int, int, bytes]]:
        """``(wd, mask, name)`` of every event queued now (none waited for)."""
        out: list[tuple[int, int, bytes]] = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            if not buf:
                return out
            at = 0
            while at + _EVENT.size <= len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, at)
                at += _EVENT.size
                name = buf[at : at + length].rstrip(b"\0")
                at += length
                out.append((wd, mask, name))

    def close(self) -> None:
        self._closer()


Row = tuple[str, str, int]
"""(thread id, rollout path, the row's ``updated_at_ms``)."""


class AppendWatch:
    """:meth:`look` is ``changed_rollouts(rows, known)``, statting only what may differ.

    It keeps a map of ``rows`` from one look to the next and builds it again only when
    given another ``rows`` object (the store passes the same one while its index is
    unchanged), so a quiet look costs the events queued and no walk over the rows."""

    def __init__(self, *, full_sweep_interval_s: float = FULL_SWEEP_INTERVAL_S) -> None:
        self._full_every = full_sweep_interval_s
        self._inotify: Inotify | None = None
        self._opened = False
        self._dirs: dict[str, int] = {}  # watched directory -> its watch descriptor
        self._by_wd: dict[int, str] = {}
        self._unwatchable: set[str] = set()
        self._full_at = float("-inf")
        self._rows: Sequence[Row] | None = None  # the rows the map below is of
        self._by_place: dict[tuple[str, str], Row] = {}  # (directory, file name) -> row
        self._always: list[Row] = []  # rows of directories no watch covers
        self._pending: list[Row] = []  # rows whose rollout no look has seen yet
        self.statted = 0
        """How many rollouts the last look stat-ed (a figure for tests and benchmarks)."""

    def look(
        self, rows: Sequence[Row], known: dict[str, tuple[int, int]]
    ) -> tuple[list[str], dict[str, tuple[int, int]]]:
        """Of ``rows``: the ids whose rollout changed since ``known`` (the size and mtime
        each had at the last look), and the new size and mtime of each that differs.
        ``rows`` is not changed; pass the same object again only while it still holds
        the same rows (other rows come as another sequence)."""
        if not self._opened:
            self._opened = True
            self._inotify = Inotify.open()
        inotify = self._inotify
        now = time.monotonic()
        if inotify is None:
            return self._full(rows, known, now)
        touched, overflow, lost = self._drain(inotify)
        fresh = self._map(inotify, rows, known) if lost or rows is not self._rows else []
        if overflow or now - self._full_at >= self._full_every:
            return self._full(rows, known, now)
        pick = {row[0]: row for row in (*fresh, *self._always, *self._pending)}
        for place in touched:
            row = self._by_place.get(place)
            if row is not None:
                pick[row[0]] = row
        return self._stat(list(pick.values()), known)

    def _stat(
        self, rows: Sequence[Row], known: dict[str, tuple[int, int]]
    ) -> tuple[list[str], dict[str, tuple[int, int]]]:
        from threadline.store.thread_state import changed_rollouts  # loads with the state

        self.statted = len(rows)
        changed, seen = changed_rollouts(rows, known)
        self._pending = [row for row in rows if row[0] not in seen and row[0] not in known]
        return changed, seen

    def _full(
        self, rows: Sequence[Row], known: dict[str, tuple[int, int]], now: float
    ) -> tuple[list[str], dict[str, tuple[int, int]]]:
        self._full_at = now
        return self._stat(rows, known)

    def _drain(self, inotify: Inotify) -> tuple[set[tuple[str, str]], bool, bool]:
        """The (directory, name) pairs the queued events name, whether the queue
        overflowed, and whether a watched directory went away."""
        touched: set[tuple[str, str]] = set()
        overflow = lost = False
        for wd, mask, name in inotify.read_events():
            if mask & IN_Q_OVERFLOW:
                overflow = True
                continue
            directory = self._by_wd.get(wd)
            if directory is None:
                continue
            if mask & IN_IGNORED:  # the directory went away (or was moved): watch it anew
                del self._by_wd[wd]
                if self._dirs.get(directory) == wd:
                    del self._dirs[directory]
                lost = True
                continue
            if name:
                touched.add((directory, os.fsdecode(name)))
        return touched, overflow, lost

    def _map(
        self, inotify: Inotify, rows: Sequence[Row], known: dict[str, tuple[int, int]]
    ) -> list[Row]:
        """Map ``rows`` by place, adding a watch for each of their directories not watched
        yet; returns the rows to look at now: those of a directory just watched (after
        the watch exists, so nothing written meanwhile is missed) or never seen."""
        self._rows = rows
        self._by_place = {}
        self._always = []
        added: set[str] = set()
        fresh: list[Row] = []
        for row in rows:
            directory, name = os.path.split(row[1])
            self._by_place[(directory, name)] = row
            if directory not in self._dirs and directory not in self._unwatchable:
                wd = inotify.add_watch(directory)
                if wd is None:
                    # Gone, not a directory, or no watch left: its rollouts every time.
                    self._unwatchable.add(directory)
                else:
                    self._dirs[directory] = wd
                    self._by_wd[wd] = directory
                    added.add(directory)
            if directory in self._unwatchable:
                self._always.append(row)
            elif directory in added or row[0] not in known:
                fresh.append(row)
        return fresh

    def close(self) -> None:
        inotify, self._inotify = self._inotify, None
        if inotify is not None:
            inotify.close()
        self._dirs.clear()
        self._by_wd.clear()
        self._rows = None
