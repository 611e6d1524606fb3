"""Paired in-memory channels: for unit tests and for embedding the server in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from threadline.protocol.jsonrpc import Encoded, JsonObject, parse_message
from threadline.server.transports.base import Incoming

_EOF = object()


class MemoryServerChannel:
    """Server end of an in-memory pair (implements ``MessageChannel``)."""

    def __init__(self, to_server: asyncio.Queue[object], to_client: asyncio.Queue[object]) -> None:
        self._in = to_server
        self._out = to_client
        self._closed = False

    @property
    def peer(self) -> str:
        return "memory"

    async def incoming(self) -> AsyncIterator[Incoming]:
        while True:
            item = await self._in.get()
            if item is _EOF:
                return
            yield parse_message(item)

    async def send(self, message: JsonObject) -> None:
        if self._closed:
            raise ConnectionError("channel closed")
        self._out.put_nowait(message.decoded() if isinstance(message, Encoded) else message)

    async def close(self, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            self._in.put_nowait(_EOF)
            self._out.put_nowait(_EOF)


class MemoryClientChannel:
    """Client end: send JSON values, receive the server's JSON objects."""

    def __init__(self, to_server: asyncio.Queue[object], to_client: asyncio.Queue[object]) -> None:
        self._out = to_server
        self._in = to_client

    def send(self, message: object) -> None:
        self._out.put_nowait(message)

    async def receive(self, timeout: float | None = 5.0) -> JsonObject | None:
        """The next server message, or ``None`` once the server closed the channel
        (``timeout=None`` waits as long as it takes)."""
        item = await asyncio.wait_for(self._in.get(), timeout)
        if item is _EOF:
            return None
        assert isinstance(item, dict)
        return item

    def pending(self) -> int:
        """How many server messages are waiting to be received."""
        return self._in.qsize()

    def close(self) -> None:
        self._out.put_nowait(_EOF)


def memory_pair() -> tuple[MemoryServerChannel, MemoryClientChannel]:
    """A connected (server, client) pair of in-memory channels."""
    to_server: asyncio.Queue[object] = asyncio.Queue()
    to_client: asyncio.Queue[object] = asyncio.Queue()
    return MemoryServerChannel(to_server, to_client), MemoryClientChannel(to_server, to_client)
