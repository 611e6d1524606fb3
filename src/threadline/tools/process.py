"""The one place a tool starts a child process: pipes or a pseudo-terminal, read without
blocking the event loop.

Usage::

    handle = await ProcessHandle.spawn(SpawnSpec(argv, cwd, env, tty=True, size=(24, 80)))
    await handle.write(b"print(6*7)\\n")
    while (chunk := await handle.output.get()) is not None:
        stream, data = chunk          # "stdout" | "stderr"; a pty's output is "stdout"
    code = await handle.wait()       # a signal n is reported as 128 + n, as a shell does
    await handle.aclose()            # kills what is left, closes every descriptor

The child runs in its own session (so in its own process group): :meth:`ProcessHandle.kill`
takes down the whole group. With ``tty`` the child's stdin, stdout and stderr are the
slave side of a fresh pty, which is also its controlling terminal (through util-linux
``setsid --ctty`` when present, so no Python code runs between fork and exec). Our side
of every pipe and of the pty master is non-blocking and watched with
``loop.add_reader`` / ``loop.add_writer``; nothing here blocks the loop.

Descriptors: the child's ends are closed in this process right after the start; ours are
closed when their stream ends (reads) or on :meth:`close_stdin`, and all of them by
:meth:`aclose`. The descriptors in ``SpawnSpec.pass_fds`` belong to the caller, which
closes its copies after :meth:`spawn` returns (as :class:`~threadline.sandbox.bwrap.Launch`
does).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import struct
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Stream = Literal["stdout", "stderr"]
Chunk = tuple[Stream, bytes]

DEFAULT_PTY_SIZE = (24, 80)
"""(rows, cols) of a pty when the spec names no size."""
_READ_CHUNK = 64 * 1024
_EOF_CHAR = b"\x04"


@dataclass(frozen=True)
class SpawnSpec:
    """What to start and how.

    ``size`` is the pty's (rows, cols) (:data:`DEFAULT_PTY_SIZE` when ``None``; only with
    ``tty``). ``pass_fds`` are inherited by the child (for example bubblewrap's seccomp
    descriptor). ``stdin=False`` gives the child ``/dev/null`` (without ``tty``; a pty is
    always the child's stdin). ``merge_stderr`` sends stderr into the stdout pipe, so the
    two arrive in the order the child wrote them (without ``tty``, where they are one
    stream anyway)."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    tty: bool = False
    size: tuple[int, int] | None = None
    pass_fds: tuple[int, ...] = ()
    stdin: bool = True
    merge_stderr: bool = False


class ProcessHandle:
    """A running (or ended) child process; see the module docstring."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        *,
        tty: bool,
        stdin_fd: int | None,
        read_fds: dict[int, Stream],
    ) -> None:
        self._proc = proc
        self.pid: int = proc.pid
        self.tty = tty
        self.output: asyncio.Queue[Chunk | None] = asyncio.Queue()
        """Output chunks in arrival order; ``None`` once every output stream has ended."""
        self._loop = asyncio.get_running_loop()
        self._stdin_fd = stdin_fd
        self._readers = dict(read_fds)
        self._write_lock = asyncio.Lock()
        self._closed = False
        for fd in self._readers:
            self._loop.add_reader(fd, self._on_readable, fd)
        if not self._readers:
            self.output.put_nowait(None)

    # ---- start --------------------------------------------------------------------------

    @classmethod
    async def spawn(cls, spec: SpawnSpec) -> ProcessHandle:
        """Start ``spec.argv`` in its own session; raises ``OSError`` when it cannot start."""
        if not spec.argv:
            raise ValueError("argv must not be empty")
        if spec.tty:
            return await cls._spawn_pty(spec)
        return await cls._spawn_pipes(spec)

    @classmethod
    async def _spawn_pipes(cls, spec: SpawnSpec) -> ProcessHandle:
        ours: list[int] = []
        theirs: list[int] = []
        parent_in: int | None = None
        try:
            if spec.stdin:
                child_in, parent_in = os.pipe()
                ours.append(parent_in)
                theirs.append(child_in)
                stdin: int = child_in
            else:
                stdin = asyncio.subprocess.DEVNULL
            out_r, out_w = os.pipe()
            ours.append(out_r)
            theirs.append(out_w)
            if spec.merge_stderr:
                err_r, err_w = None, out_w
            else:
                err_r, err_w = os.pipe()
                ours.append(err_r)
                theirs.append(err_w)
            for fd in ours:
                os.set_blocking(fd, False)
            proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=stdin,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                pass_fds=spec.pass_fds,
            )
        except BaseException:
            _close_all(ours)
            raise
        finally:
            _close_all(theirs)
        read_fds: dict[int, Stream] = {out_r: "stdout"}
        if err_r is not None:
            read_fds[err_r] = "stderr"
        return cls(proc, tty=False, stdin_fd=parent_in, read_fds=read_fds)

    @classmethod
    async def _spawn_pty(cls, spec: SpawnSpec) -> ProcessHandle:
        master, slave = os.openpty()
        try:
            rows, cols = spec.size or DEFAULT_PTY_SIZE
            _set_winsize(master, rows, cols)
            os.set_blocking(master, False)
            setsid = shutil.which("setsid")
            if setsid is not None:
                # setsid(1) would start and then fail: say so the way exec would.
                _check_executable(spec.argv[0], spec.cwd, spec.env)
                # Not a group leader here (no start_new_session), so setsid(1) calls
                # setsid(2) itself without forking, takes the pty as its controlling
                # terminal and execs the command: same pid, new session.
                proc = await asyncio.create_subprocess_exec(
                    setsid,
                    "--ctty",
                    *spec.argv,
                    cwd=spec.cwd,
                    env=spec.env,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    pass_fds=spec.pass_fds,
                )
            else:  # pragma: no cover - util-linux is everywhere we run
                proc = await asyncio.create_subprocess_exec(
                    *spec.argv,
                    cwd=spec.cwd,
                    env=spec.env,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    start_new_session=True,
                    pass_fds=spec.pass_fds,
                    preexec_fn=_take_controlling_tty,
                )
        except BaseException:
            _close_all([master])
            raise
        finally:
            _close_all([slave])
        return cls(proc, tty=True, stdin_fd=master, read_fds={master: "stdout"})

    # ---- i/o ----------------------------------------------------------------------------

    def _on_readable(self, fd: int) -> None:
        stream = self._readers.get(fd)
        if stream is None:
            return
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO: every slave side of the pty is closed (the pty's end of file).
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if data:
            self.output.put_nowait((stream, data))
            return
        self._end_stream(fd)

    def _end_stream(self, fd: int) -> None:
        if self._readers.pop(fd, None) is None:
            return
        self._loop.remove_reader(fd)
        if fd == self._stdin_fd:  # the pty master: no more output, no more input either
            self._remove_stdin()
        else:
            _close_all([fd])
        if not self._readers:
            self.output.put_nowait(None)

    async def write(self, data: bytes) -> None:
        """Write all of ``data`` to the child's stdin (the pty master with ``tty``).

        Raises ``BrokenPipeError`` when stdin is closed or the child stopped reading."""
        async with self._write_lock:
            view = memoryview(data)
            while view:
                fd = self._stdin_fd
                if fd is None:
                    raise BrokenPipeError(errno.EPIPE, "stdin is closed")
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    await self._writable(fd)
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EPIPE):
                        raise BrokenPipeError(errno.EPIPE, "the process closed its input") from exc
                    raise
                view = view[written:]

    async def _writable(self, fd: int) -> None:
        ready = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

    async def close_stdin(self) -> None:
        """End the child's input: closes the pipe, or sends end-of-file (^D) on a pty."""
        if self._stdin_fd is None:
            return
        if self.tty:
            with contextlib.suppress(OSError):
                await self.write(_EOF_CHAR)
            return
        async with self._write_lock:
            self._remove_stdin()

    def _remove_stdin(self) -> None:
        fd, self._stdin_fd = self._stdin_fd, None
        if fd is not None and fd not in self._readers:
            _close_all([fd])

    def resize(self, rows: int, cols: int) -> None:
        """Set the pty's size (the child gets ``SIGWINCH``); ``ValueError`` without a pty."""
        if not self.tty:
            raise ValueError("resize needs a process started with tty")
        if rows <= 0 or cols <= 0:
            raise ValueError("rows and cols must be positive")
        fd = self._stdin_fd if self._stdin_fd is not None else next(iter(self._readers), None)
        if fd is None:
            raise ValueError("the pty is closed")
        _set_winsize(fd, rows, cols)

    # ---- life ---------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has been reaped (signals as 128 + n)."""
        return _shell_code(self._proc.returncode)

    async def wait(self) -> int:
        code = await self._proc.wait()
        return _shell_code(code) or 0

    def kill(self) -> None:
        """``SIGKILL`` the child's whole process group (harmless once it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def stop_reading(self) -> None:
        """Stop watching the output (for example when a leftover background process keeps
        a pipe open after the child exited): the streams end, ``None`` is queued."""
        for fd in list(self._readers):
            self._end_stream(fd)

    async def aclose(self) -> None:
        """Kill the group if the child still runs, reap it, close every descriptor."""
        if self._closed:
            return
        self._closed = True
        if self._proc.returncode is None:
            self.kill()
        try:
            await asyncio.shield(self._proc.wait())
        finally:
            self.stop_reading()
            self._remove_stdin()

    @property
    def open_fds(self) -> tuple[int, ...]:
        """Our descriptors still open (for tests and leak checks)."""
        fds = set(self._readers)
        if self._stdin_fd is not None:
            fds.add(self._stdin_fd)
        return tuple(sorted(fds))


def _shell_code(code: int | None) -> int | None:
    if code is None:
        return None
    return 128 - code if code < 0 else code


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _check_executable(program: str, cwd: Path, env: dict[str, str]) -> None:
    if "/" in program:
        path = program if os.path.isabs(program) else os.path.join(cwd, program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", program)
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            raise PermissionError(errno.EACCES, "Permission denied", program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", program)


def _take_controlling_tty() -> None:  # pragma: no cover - runs in the child
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


__all__ = ["DEFAULT_PTY_SIZE", "Chunk", "ProcessHandle", "SpawnSpec", "Stream"]
