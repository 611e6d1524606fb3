"""JSON lines over stdin/stdout.

stdout carries protocol messages only. :func:`stdio_channel` with
``reserve_stdout=True`` duplicates file descriptor 1 for the protocol and points
fd 1 at stderr, so a stray ``print`` or a child process that inherits stdout
cannot corrupt the stream. Lines longer than
:data:`~threadline.protocol.jsonrpc.MAX_MESSAGE_BYTES` are skipped up to their
newline and reported as one error, without being buffered whole.

stdin and stdout may each be a pipe, a socket, a regular file, ``/dev/null`` or a
terminal. Only pipes and sockets go through the event loop's pipe transports:
epoll refuses regular files and ``/dev/null`` (asyncio then never reads, uvloop
aborts the process). Those never make a read or write wait, so they are served by
plain blocking calls in a worker thread. A terminal is read when the loop reports
it readable and written from a worker thread, so its file flags (shared with the
shell and with stderr) are never switched to non-blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import Literal

from threadline.protocol.jsonrpc import (
    MAX_MESSAGE_BYTES,
    JsonObject,
    decode_message,
    frame_parts,
    too_large,
)
from threadline.server.transports.base import Incoming

_CHUNK = 1 << 16


class LineFramer:
    """Splits a byte stream into lines, refusing to buffer more than ``limit`` bytes."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._skipped: int | None = None  # bytes dropped of an overlong line

    def feed(self, data: bytes) -> list[bytes | int]:
        """Complete lines (without newline) and, for overlong lines, their size (an int)."""
        out: list[bytes | int] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            piece = data[start:] if nl < 0 else data[start:nl]
            if self._skipped is not None:
                self._skipped += len(piece)
            elif len(self._buf) + len(piece) > self._limit:
                self._skipped = len(self._buf) + len(piece)
                self._buf.clear()
            else:
                self._buf += piece
            if nl < 0:
                return out
            if self._skipped is not None:
                out.append(self._skipped)
                self._skipped = None
            else:
                out.append(bytes(self._buf))
                self._buf.clear()
            start = nl + 1

    def finish(self) -> list[bytes | int]:
        """What remains at end of input (a last line without newline)."""
        if self._skipped is not None:
            size, self._skipped = self._skipped, None
            return [size]
        rest, self._buf = bytes(self._buf), bytearray()
        return [rest] if rest.strip() else []


def _frame(item: bytes | int) -> Incoming | None:
    if isinstance(item, int):
        return too_large(item)
    if not item.strip():
        return None
    return decode_message(item)


class StdioChannel:
    """The single connection of ``--listen stdio://``."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._read_kind: _StreamKind = "file"
        self._closed = asyncio.Event()

    @property
    def peer(self) -> str:
        return "stdio"

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._read_kind = _stream_kind(self._read_fd)
        if self._read_kind == "pipe":
            reader = asyncio.StreamReader(limit=_CHUNK)
            rfile = os.fdopen(self._read_fd, "rb", buffering=0, closefd=False)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), rfile)
            self._reader = reader
        if _stream_kind(self._write_fd) == "pipe":
            wfile = os.fdopen(self._write_fd, "wb", buffering=0, closefd=False)
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, wfile
            )
            self._writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def _read_chunk(self) -> bytes:
        if self._reader is not None:
            return await self._reader.read(_CHUNK)
        if self._read_kind == "tty":
            return await _read_when_ready(self._read_fd)
        return await asyncio.to_thread(os.read, self._read_fd, _CHUNK)

    async def incoming(self) -> AsyncIterator[Incoming]:
        framer = LineFramer()
        while not self._closed.is_set():
            read = asyncio.ensure_future(self._read_chunk())
            closed = asyncio.ensure_future(self._closed.wait())
            done, _ = await asyncio.wait({read, closed}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                read.cancel()
                return
            closed.cancel()
            chunk = read.result()
            items = framer.feed(chunk) if chunk else framer.finish()
            for item in items:
                message = _frame(item)
                if message is not None:
                    yield message
            if not chunk:
                return

    async def send(self, message: JsonObject) -> None:
        await self._write(frame_parts(message))

    async def send_many(self, messages: list[JsonObject]) -> None:
        """Write several messages with one write (one line each)."""
        parts: list[bytes] = []
        for message in messages:
            parts += frame_parts(message)
        await self._write(parts)

    async def _write(self, parts: list[bytes]) -> None:
        """Write ``parts`` in order; a pre-encoded answer (``jsonrpc.Encoded``, megabytes)
        is handed to the transport as it is, its newline after it, never copied to join."""
        if self._writer is not None:
            if len(parts) == 1:
                self._writer.write(parts[0])
            else:
                self._writer.writelines(parts)
            await self._writer.drain()
        else:
            await asyncio.to_thread(_write_all, self._write_fd, b"".join(parts))

    async def close(self, reason: str = "") -> None:
        self._closed.set()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer.drain()
            self._writer.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_StreamKind = Literal["pipe", "tty", "file"]


def _stream_kind(fd: int) -> _StreamKind:
    """``pipe`` for pipes and sockets (event-loop transports), ``tty`` for a terminal,
    ``file`` for the rest: regular files, ``/dev/null`` and other devices, whose reads
    and writes return at once and are done with blocking calls in a worker thread."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "pipe"
    if stat.S_ISCHR(mode) and os.isatty(fd):
        return "tty"
    return "file"


async def _read_when_ready(fd: int) -> bytes:
    """One read from a terminal, made once the loop reports it readable (a terminal in
    line mode then hands over what was typed without waiting for more)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    try:
        return os.read(fd, _CHUNK)
    except OSError as exc:
        if exc.errno == errno.EIO:  # the terminal went away (its master side closed)
            return b""
        raise


@contextlib.asynccontextmanager
async def stdio_channel(*, reserve_stdout: bool = True) -> AsyncIterator[StdioChannel]:
    """Open the stdio channel; with ``reserve_stdout`` fd 1 is re-pointed at stderr."""
    read_fd = sys.stdin.fileno()
    if reserve_stdout:
        sys.stdout.flush()
        write_fd = os.dup(1)
        os.dup2(2, 1)
    else:
        write_fd = sys.stdout.fileno()
    channel = StdioChannel(read_fd, write_fd)
    await channel.open()
    try:
        yield channel
    finally:
        await channel.close()
