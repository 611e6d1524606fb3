"""Several connections to one server: served at once, each with its own initialize gate,
one closing leaves the others. The real server in-process on the memory transport
(the websocket transport's own behaviour is in ``test_websocket.py``)."""

from __future__ import annotations

import asyncio
import time

from tests.support.memory_server import MemoryServerFactory


async def test_two_connections_are_served_at_once(memory_server: MemoryServerFactory) -> None:
    server = await memory_server(name="slow_client")
    slow = server.client
    fast = await server.connect(name="fast_client")
    started = time.monotonic()
    sleeping = asyncio.ensure_future(slow.request("test/sleep", {"ms": 3000}))
    await asyncio.sleep(0.1)
    assert await fast.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    assert time.monotonic() - started < 2.0  # not queued behind the other connection
    assert not sleeping.done()
    assert await sleeping == {"sleptMs": 3000}


async def test_each_connection_has_its_own_initialize_gate(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server()
    ready = server.client
    fresh = await server.connect(initialize=False)
    error = await fresh.request_error("thread/loaded/list", {})
    assert error == {"code": -32600, "message": "Not initialized"}
    assert await ready.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    assert (await ready.request_error("initialize", {"clientInfo": {"name": "a", "version": "1"}}))[
        "message"
    ] == "Already initialized"
    await fresh.initialize()
    assert await fresh.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}


async def test_closing_one_connection_leaves_the_others(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server()
    first = server.client
    second = await server.connect()
    await server.disconnect(first)
    assert first.closed
    assert not server.serving(first) and server.serving(second)
    assert await second.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
