"""Opening rollout files safely: regular files only, symbolic links never followed.

Anything under ``sessions/`` may have been put there by someone else: a FIFO
named ``rollout-….jsonl`` would block a plain ``open()`` forever, a device node
or a socket is no rollout either, and a symbolic link could lead a resume to
append to a file outside the home. So every open of a rollout goes through
:func:`open_regular` (read) or :func:`open_regular_append` (write): the open
itself never blocks (``O_NONBLOCK``) and never follows a final symbolic link
(``O_NOFOLLOW``), and the descriptor is checked with ``fstat`` to be a regular
file before any byte is read or written (no window between check and use).

:func:`rollout_file_problem` is the cheap ``lstat`` check that discovery and
request validation use to name what is wrong with a path before opening it, and
:func:`unwritable_reason` tells whether a rollout could be written at all (a
read-only home), :func:`unmovable_reason` whether it could be moved (archived).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


def append_lines_synced(fd: int, data: bytes) -> int:
    """Append whole lines to the file open at ``fd`` and sync them, or leave the file as it
    was: a failed or short write is cut back to the previous end (blocking). A torn last
    line already there gets a newline first, so it cannot swallow the new lines. Returns
    the offset where the appended bytes start."""
    start = os.fstat(fd).st_size
    if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
        data = b"\n" + data
    try:
        written = os.write(fd, data)
        if written < len(data):
            raise OSError(f"short write ({written} of {len(data)} bytes)")
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise
    return start


__all__ = [
    "append_lines_synced",
    "NotRegularFileError",
    "describe_mode",
    "open_regular",
    "open_regular_append",
    "rollout_file_problem",
    "unmovable_reason",
    "unwritable_reason",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)


class NotRegularFileError(OSError):
    """The path names something other than a regular file (or a symbolic link)."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(errno.EINVAL, f"not a regular file: it is {what}", str(path))
        self.what = what


def describe_mode(mode: int) -> str:
    """``"a FIFO"``, ``"a directory"``, … for a ``st_mode``."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISREG, "a regular file"),
    )
    for test, name in kinds:
        if test(mode):
            return name
    return "not a regular file"


def _open_checked(path: Path, flags: int, mode: int = 0o644) -> int:
    # A first look without opening: opening a device node can have effects of its own.
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    else:
        if not stat.S_ISREG(before.st_mode):
            raise NotRegularFileError(path, describe_mode(before.st_mode))
    # The open itself cannot block or follow a link, and fstat checks what was opened.
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _NOCTTY | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            # O_NOFOLLOW on a symbolic link (EMLINK on some BSDs).
            raise NotRegularFileError(path, "a symbolic link") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR, errno.EOPNOTSUPP):
            # A FIFO without reader opened for writing, a directory, a socket.
            try:
                what = describe_mode(os.lstat(path).st_mode)
            except OSError:
                raise exc from None
            raise NotRegularFileError(path, what) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(path, describe_mode(info.st_mode))
        if _NONBLOCK:
            # Regular files ignore O_NONBLOCK, but leave the descriptor in the usual mode.
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file.

    Raises :class:`NotRegularFileError` (an ``OSError``) for a FIFO, directory,
    socket, device or symbolic link, and the usual ``OSError`` otherwise.
    """
    fd = _open_checked(path, os.O_RDONLY)
    return os.fdopen(fd, "rb")


def open_regular_append(
    path: Path, *, create: bool = False, readable: bool = False
) -> BinaryIO:
    """Open ``path`` for unbuffered appending (``"ab"``, or ``"a+b"`` when ``readable``),
    with the same refusals as :func:`open_regular`.

    ``create`` allows making a new file (mode 0644 before the umask).
    """
    access = os.O_RDWR if readable else os.O_WRONLY
    flags = access | os.O_APPEND | (os.O_CREAT if create else 0)
    fd = _open_checked(path, flags)
    return os.fdopen(fd, "a+b" if readable else "ab", buffering=0)


def rollout_file_problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a rollout to open, or ``None`` when it is a regular
    file. Uses ``lstat``: a symbolic link is reported as such, never followed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            target = f" to `{os.readlink(path)}`"
        except OSError:
            target = ""
        return f"it is a symbolic link{target}, and rollouts are never opened through one"
    return f"it is {describe_mode(info.st_mode)}, not a regular file"


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or "/")


def _is_read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _blocked(target: Path, needed: int) -> str | None:
    if os.access(target, needed):
        return None
    why = "is on a read-only file system" if _is_read_only_fs(target) else "is not writable"
    return f"`{target}` {why}"


def unwritable_reason(path: Path) -> str | None:
    """``None`` when ``path`` can be written: an existing file opened for appending, or
    a new file created together with its missing parent directories. Otherwise what
    stands in the way, naming the file or directory."""
    if os.path.lexists(path):
        return _blocked(path, os.W_OK)
    target = _nearest_existing(path.parent)
    if not target.is_dir():
        # Something in the way of a directory to create is no read-only home; the
        # writer reports it (and retries) when it tries to create the file.
        return None
    return _blocked(target, os.W_OK | os.X_OK)


def unmovable_reason(source: Path, target: Path) -> str | None:
    """``None`` when ``source`` can be renamed to ``target`` (both directories writable;
    the target's missing directories creatable). Otherwise what stands in the way, naming
    the directory (a read-only home)."""
    reason = _blocked(source.parent, os.W_OK | os.X_OK)
    if reason is None and source.parent != target.parent:
        reason = unwritable_reason(target)
    return reason
