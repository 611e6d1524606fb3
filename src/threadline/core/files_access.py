"""Host-filesystem operations confined to a set of roots (the ``fs/*`` methods).

Codex's ``fs/*`` methods touch any path the server process can reach. Threadline
answers the same requests with the same shapes and error wording, but only inside
:class:`FileRoots`: the directories a connection may touch (the server decides which).

Confinement is checked on what the kernel resolves, not on the spelling of the path:
every operation opens the directory that holds its target (``O_PATH``), reads back
where that descriptor really is (``/proc/self/fd``), refuses it unless it lies inside
a root, and then acts relative to the descriptor with ``O_NOFOLLOW`` on the last
component. A symlink that points out, ``..`` in the path, or a symlink swapped in
between the check and the use therefore cannot make an operation reach outside.

Errors: :class:`~threadline.core.errors.InvalidRequest` for a refused or malformed
request (the server answers ``-32600``), :class:`FileOpError` for a failing
operating-system call (``-32603``, worded like Rust's ``io::Error``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from threadline.core.errors import CoreError, InvalidRequest

__all__ = [
    "DirEntry",
    "FileOpError",
    "FileRoots",
    "Metadata",
    "absolute_path",
    "copy",
    "create_directory",
    "get_metadata",
    "read_directory",
    "read_file",
    "remove",
    "write_file",
]

_O_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
MAX_READ_BYTES = 512 * 1024 * 1024
"""The largest file ``fs/readFile`` returns (it is sent base64 in one message)."""


class FileOpError(CoreError):
    """An operating-system call failed; ``message`` reads like Rust's ``io::Error``."""

    @classmethod
    def from_os(cls, exc: OSError) -> FileOpError:
        code = exc.errno
        if code is None:
            return cls(str(exc))
        return cls(f"{os.strerror(code)} (os error {code})")


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise FileOpError.from_os(exc) from exc


def absolute_path(raw: str, *, field: str = "path") -> str:
    """``raw`` normalized (``.`` and ``..`` folded away), refused unless absolute."""
    if not raw or not os.path.isabs(raw):
        raise InvalidRequest(
            f"Invalid request: {field} must be an absolute path "
            f"(AbsolutePathBuf deserialized without a base path): {raw!r}"
        )
    if "\x00" in raw:
        raise InvalidRequest(f"Invalid request: {field} contains a NUL byte")
    return os.path.normpath(raw)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True, slots=True)
class FileRoots:
    """The real (symlink-free) directories an operation may reach, and nothing else.

    ``/`` is never a root: it would open the whole host. Roots that do not exist are
    dropped.
    """

    roots: tuple[str, ...]

    @classmethod
    def of(cls, candidates: Iterable[str | Path]) -> FileRoots:
        seen: list[str] = []
        for candidate in candidates:
            text = str(candidate)
            if not os.path.isabs(text):
                continue
            real = os.path.realpath(text)
            if real == "/" or not os.path.isdir(real) or real in seen:
                continue
            seen.append(real)
        return cls(tuple(seen))

    def contains(self, real: str) -> bool:
        return any(_within(real, root) for root in self.roots)

    def refusal(self, path: str) -> InvalidRequest:
        allowed = ", ".join(f"`{r}`" for r in self.roots) or "none"
        return InvalidRequest(
            f"path `{path}` is outside the roots this connection may access (allowed: {allowed})"
        )

    def check(self, path: str, real: str) -> None:
        if not self.contains(real):
            raise self.refusal(path)

    # -- descriptors checked against the roots ------------------------------------------

    def check_fd(self, path: str, fd: int) -> int:
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # pragma: no cover - /proc is mounted wherever we run
            real = os.path.realpath(path)
        if not self.contains(real):
            os.close(fd)
            raise self.refusal(path)
        return fd

    def open_dir(self, path: str) -> int:
        """An ``O_PATH`` descriptor of the directory ``path`` (symlinks followed),
        refused unless it lies inside a root."""
        with _os_errors():
            fd = os.open(path, _DIR_FLAGS)
        return self.check_fd(path, fd)

    @contextlib.contextmanager
    def parent(self, path: str) -> Iterator[tuple[int, str]]:
        """``(directory descriptor, last component)`` for ``path``: the directory that
        holds it, resolved and checked, and the name to use with ``dir_fd`` (never
        followed). A path that is a root itself is addressed through its own parent
        only when that parent is inside a root too."""
        real_parent = os.path.realpath(os.path.dirname(path))
        name = os.path.basename(path)
        if not name:
            raise self.refusal(path)
        if os.path.join(real_parent, name) in self.roots:
            raise InvalidRequest(
                f"path `{path}` is a root of this connection: it cannot be created, "
                "replaced or removed here"
            )
        if not self.contains(real_parent):
            # The target may be a root itself (e.g. reading the workspace directory);
            # that is fine for operations through the target, not through its parent.
            raise self.refusal(path)
        fd = self.open_dir(real_parent)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def resolve(self, path: str) -> str:
        """The real path of ``path`` (symlinks followed as far as they exist), checked."""
        real = os.path.realpath(path)
        self.check(path, real)
        return real

    def open_target(self, path: str, flags: int) -> int:
        """Open ``path`` itself (following symlinks) and check where it really is."""
        self.resolve(path)
        with _os_errors():
            fd = os.open(path, flags | os.O_CLOEXEC)
        return self.check_fd(path, fd)


# -- operations ---------------------------------------------------------------------------


def read_file(roots: FileRoots, path: str) -> bytes:
    fd = roots.open_target(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with _os_errors():
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InvalidRequest(f"path `{path}` is not a file")
            if info.st_size > MAX_READ_BYTES:
                raise InvalidRequest(
                    f"path `{path}` is {info.st_size} bytes; fs/readFile returns at most "
                    f"{MAX_READ_BYTES}"
                )
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > MAX_READ_BYTES:
                    raise InvalidRequest(f"path `{path}` grew past {MAX_READ_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    finally:
        os.close(fd)


def _final(roots: FileRoots, path: str) -> str:
    """``path`` with a symlink in its last component replaced by where it points (so a
    write through a link lands on the link's target, which must be inside a root)."""
    if os.path.islink(path):
        return roots.resolve(path)
    return path


def write_file(roots: FileRoots, path: str, data: bytes) -> None:
    target = _final(roots, path)
    with roots.parent(target) as (dfd, name), _os_errors():
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
            0o666,
            dir_fd=dfd,
        )
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InvalidRequest(f"path `{path}` is not a file")
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)


def create_directory(roots: FileRoots, path: str, *, recursive: bool) -> None:
    if not recursive:
        with roots.parent(path) as (dfd, name), _os_errors():
            os.mkdir(name, 0o777, dir_fd=dfd)
        return
    # Find the deepest existing ancestor, check it, then create the rest one
    # component at a time relative to descriptors (never following a link).
    missing: list[str] = []
    existing = path
    while not os.path.lexists(existing):
        missing.append(os.path.basename(existing))
        existing = os.path.dirname(existing)
    if not missing:
        real = roots.resolve(path)
        if not os.path.isdir(real):
            raise FileOpError.from_os(OSError(errno.EEXIST, "exists"))
        return
    fd = roots.open_dir(roots.resolve(existing))
    try:
        for name in reversed(missing):
            with _os_errors():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                nxt = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Metadata:
    is_directory: bool
    is_file: bool
    is_symlink: bool
    created_at_ms: int
    modified_at_ms: int


def get_metadata(roots: FileRoots, path: str) -> Metadata:
    with _os_errors():
        link = stat.S_ISLNK(os.lstat(path).st_mode)
    fd = roots.open_target(path, _O_PATH or os.O_RDONLY)
    try:
        with _os_errors():
            info = os.fstat(fd)
    finally:
        os.close(fd)
    birth = getattr(info, "st_birthtime", None)
    return Metadata(
        is_directory=stat.S_ISDIR(info.st_mode),
        is_file=stat.S_ISREG(info.st_mode),
        is_symlink=link,
        created_at_ms=int(birth * 1000) if birth else 0,
        modified_at_ms=info.st_mtime_ns // 1_000_000,
    )


@dataclass(frozen=True, slots=True)
class DirEntry:
    file_name: str
    is_directory: bool
    is_file: bool


def read_directory(roots: FileRoots, path: str) -> list[DirEntry]:
    real = roots.resolve(path)
    with _os_errors():
        fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fd = roots.check_fd(path, fd)
    try:
        entries: list[DirEntry] = []
        with _os_errors(), os.scandir(fd) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir()
                    is_file = entry.is_file()
                except OSError:
                    is_dir = is_file = False
                entries.append(DirEntry(entry.name, is_dir, is_file))
    finally:
        os.close(fd)
    entries.sort(key=lambda e: e.file_name)
    return entries


def remove(roots: FileRoots, path: str, *, recursive: bool, force: bool) -> None:
    if not os.path.lexists(path):
        if force:
            # Still refuse a path outside the roots: "nothing to do" is an answer too.
            roots.check(path, os.path.realpath(path))
            return
    with roots.parent(path) as (dfd, name), _os_errors():
        try:
            info = os.lstat(name, dir_fd=dfd)
        except FileNotFoundError:
            if force:
                return
            raise
        if stat.S_ISDIR(info.st_mode):
            if recursive:
                shutil.rmtree(name, dir_fd=dfd)
            else:
                os.rmdir(name, dir_fd=dfd)
        else:
            os.unlink(name, dir_fd=dfd)


def _copy_file_fd(src_fd: int, dst_dir: int, name: str, mode: int) -> None:
    out = os.open(
        name,
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=dst_dir,
    )
    try:
        while chunk := os.read(src_fd, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
        os.fchmod(out, stat.S_IMODE(mode))
    finally:
        os.close(out)


def _copy_tree(src_dir: int, dst_dir: int) -> None:
    """Copy the entries of the open directory ``src_dir`` into ``dst_dir`` (both
    descriptors): files, directories and symlinks (as links); other kinds skipped."""
    with os.scandir(src_dir) as it:
        entries = list(it)
    for entry in entries:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(FileExistsError):
                os.mkdir(entry.name, 0o777, dir_fd=dst_dir)
            sub_src = os.open(
                entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src_dir
            )
            try:
                sub_dst = os.open(entry.name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dst_dir)
                try:
                    _copy_tree(sub_src, sub_dst)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
        elif stat.S_ISREG(info.st_mode):
            fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
            try:
                _copy_file_fd(fd, dst_dir, entry.name, info.st_mode)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(entry.name, dir_fd=src_dir), entry.name, dir_fd=dst_dir)


def copy(roots: FileRoots, source: str, destination: str, *, recursive: bool) -> None:
    with roots.parent(source) as (sdir, sname), _os_errors():
        info = os.lstat(sname, dir_fd=sdir)
        if stat.S_ISLNK(info.st_mode):
            link = os.readlink(sname, dir_fd=sdir)
            with roots.parent(destination) as (ddir, dname):
                os.symlink(link, dname, dir_fd=ddir)
            return
        if stat.S_ISREG(info.st_mode):
            fd = os.open(sname, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sdir)
            try:
                target = _final(roots, destination)
                with roots.parent(target) as (ddir, dname):
                    _copy_file_fd(fd, ddir, dname, info.st_mode)
            finally:
                os.close(fd)
            return
        if not stat.S_ISDIR(info.st_mode):
            raise InvalidRequest("fs/copy only supports regular files, directories, and symlinks")
        if not recursive:
            raise InvalidRequest("fs/copy requires recursive: true when sourcePath is a directory")
        src_real = os.path.realpath(source)
        if _within(os.path.realpath(destination), src_real):
            raise InvalidRequest(
                "fs/copy cannot copy a directory to itself or one of its descendants"
            )
        src_fd = os.open(sname, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=sdir)
        try:
            create_directory(roots, destination, recursive=True)
            dst_fd = roots.open_dir(roots.resolve(destination))
            try:
                _copy_tree(src_fd, dst_fd)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
