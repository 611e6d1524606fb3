"""One writer per thread across processes: an advisory ``flock`` per thread id.

Every process that loads a thread for writing (start, resume, fork) takes an
exclusive, non-blocking ``flock`` on ``$THREADLINE_HOME/locks/<thread-id>.lock``
and keeps the descriptor open while the thread is loaded. A second process asking
for the same thread fails at once with :class:`~threadline.store.base.ThreadInUse`,
naming the holder's pid (written into the lock file by the holder). Reading and
listing take no lock.

Why a lock file keyed by thread id, and not a lock on the rollout itself:

* a new thread has no rollout until its first user message (Codex creates the
  file lazily), yet it must be locked from ``thread/start`` on;
* the rollout's inode changes when it is recreated after being deleted or
  replaced (see the rollout writer) and when a tool rewrites it, so a lock on it
  could silently stop excluding anyone;
* nothing is added to the ``sessions/`` tree, which Codex reads too.

Why ``flock`` and not ``fcntl``/``lockf`` record locks: a record lock belongs to the
process and disappears when *any* descriptor of the file in that process is
closed, and it never conflicts within one process; an ``flock`` belongs to the
open file description, so it is released exactly when our descriptor closes —
on release, on exit, and on a crash (SIGKILL included), since the kernel closes
the descriptors of a dead process. Descriptors are opened close-on-exec, so a
tool subprocess that outlives a killed server does not keep the lock.

A clean release unlinks the lock file while still holding the lock; an acquirer
that raced with that unlink notices (its descriptor's inode is no longer the one
at the path) and tries again, so two holders can never coexist.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from threadline.store.base import StoreError, ThreadInUse

__all__ = ["LOCKS_SUBDIR", "FileThreadLease", "NullThreadLease", "acquire_thread_lock"]

log = logging.getLogger(__name__)

LOCKS_SUBDIR = "locks"
_ATTEMPTS = 8
_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class FileThreadLease:
    """A held ``flock``; :meth:`release` unlinks the lock file and closes the descriptor."""

    def __init__(self, thread_id: str, path: Path, fd: int) -> None:
        self._thread_id = thread_id
        self._path = path
        self._fd: int | None = fd

    @property
    def thread_id(self) -> str:
        return self._thread_id

    @property
    def path(self) -> Path:
        return self._path

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                if os.stat(self._path).st_ino == os.fstat(fd).st_ino:
                    os.unlink(self._path)
        finally:
            os.close(fd)

    def __del__(self) -> None:  # a lease dropped without release still frees the lock
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class NullThreadLease:
    """A lease that excludes nobody: stores without shared storage, unwritable homes."""

    def __init__(self, thread_id: str) -> None:
        self._thread_id = thread_id
        self._held = True

    @property
    def thread_id(self) -> str:
        return self._thread_id

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def _holder_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 64, 0)
    except OSError:
        return None
    first = raw.split(b"\n", 1)[0].strip()
    return int(first) if first.isdigit() else None


def acquire_thread_lock(locks_dir: Path, thread_id: str) -> FileThreadLease | NullThreadLease:
    """Take the lock of ``thread_id`` under ``locks_dir`` or raise ``ThreadInUse``.

    A home where the lock file cannot be created at all (read-only, not ours) gets a
    :class:`NullThreadLease` and a warning: nothing can be written there anyway.
    """
    path = locks_dir / f"{thread_id}.lock"
    try:
        locks_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in _UNWRITABLE:
            log.warning("cannot create %s (%s); thread %s is not locked", locks_dir, exc, thread_id)
            return NullThreadLease(thread_id)
        raise StoreError(f"cannot lock thread {thread_id}: {exc.strerror or exc}") from exc
    for _ in range(_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno in _UNWRITABLE:
                log.warning("cannot open %s (%s); thread %s is not locked", path, exc, thread_id)
                return NullThreadLease(thread_id)
            raise StoreError(f"cannot lock thread {thread_id}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            raise ThreadInUse(thread_id, pid) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock thread {thread_id}: {exc.strerror or exc}") from exc
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder unlinked it between our open and flock
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            log.warning("cannot record the holder pid in %s: %s", path, exc)
        return FileThreadLease(thread_id, path, fd)
    raise StoreError(f"cannot lock thread {thread_id}: the lock file keeps being replaced")
