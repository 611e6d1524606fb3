"""Bounded queues: a saturated ingress answers -32001, a client that stops reading is cut off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import AppServerFactory
from tests.support.appserver import AppServerClient

from threadline.protocol.jsonrpc import JsonObject, parse_message
from threadline.server.app import AppServer
from threadline.server.connection import DEFAULT_INGRESS_CAPACITY
from threadline.server.dispatch import MethodTable
from threadline.server.transports.base import Incoming

TEST_METHODS = {"THREADLINE_TEST_SLOW_METHOD": "1"}
FLOOD = 400
SLOW_MS = 3000
"""Long enough for the whole flood to arrive while the connection is busy, even on a loaded machine."""


async def flood(client: AppServerClient) -> list[dict[str, Any]]:
    """Block the connection with a slow request, then send FLOOD more at once."""
    # Start from an empty ingress queue (the `initialized` notification may still sit there).
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    lines = [json.dumps({"id": "slow", "method": "test/sleep", "params": {"ms": SLOW_MS}})]
    lines += [
        json.dumps({"id": n, "method": "thread/loaded/list", "params": {}}) for n in range(FLOOD)
    ]
    for line in lines:
        await client.send_raw(line)
    answers = [await client.wait_for_answer(n, timeout=15) for n in range(FLOOD)]
    slow = await client.wait_for_answer("slow", timeout=15)
    assert slow == {"id": "slow", "result": {"sleptMs": SLOW_MS}}
    return answers


def check_flood(answers: list[dict[str, Any]]) -> None:
    overloaded = [a for a in answers if "error" in a]
    served = [a for a in answers if "result" in a]
    for answer in overloaded:
        assert answer["error"] == {"code": -32001, "message": "Server overloaded; retry later."}
    assert all(a["result"] == {"data": [], "nextCursor": None} for a in served)
    # Exactly what did not fit behind the slow request was refused (±1 for when the
    # slow request left the queue), and nothing was lost.
    expected = FLOOD - DEFAULT_INGRESS_CAPACITY
    assert expected <= len(overloaded) <= expected + 1, (len(overloaded), len(served))
    assert len(served) + len(overloaded) == FLOOD


@pytest.mark.parametrize("transport", ["stdio", "ws"])
async def test_saturated_ingress_answers_overloaded(
    app_server: AppServerFactory, transport: str
) -> None:
    server = await app_server(transport=transport, env=TEST_METHODS)
    client = server.client if transport == "stdio" else await server.connect()
    answers = await flood(client)
    check_flood(answers)
    # The overload was transient: the connection serves normally again.
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    # Refusals went out at once, before the slow request finished.
    order = [m.get("id") for m in client.received() if "id" in m]
    first_overload = next(a["id"] for a in answers if "error" in a)
    assert order.index(first_overload) < order.index("slow")


class StuckChannel:
    """A client that sends one initialize and then never reads anything."""

    def __init__(self) -> None:
        self.closed_with: str | None = None
        self._closed = asyncio.Event()
        self.sent = 0

    @property
    def peer(self) -> str:
        return "stuck"

    async def incoming(self) -> AsyncIterator[Incoming]:
        yield parse_message(
            {
                "id": 1,
                "method": "initialize",
                "params": {"clientInfo": {"name": "s", "version": "1"}},
            }
        )
        await self._closed.wait()

    async def send(self, message: JsonObject) -> None:
        self.sent += 1
        if self.sent > 1:  # the initialize answer goes through, then the pipe is "full"
            await asyncio.Event().wait()

    async def close(self, reason: str = "") -> None:
        self.closed_with = reason
        self._closed.set()


async def test_client_that_stops_reading_is_disconnected(tmp_path: Path) -> None:
    server = AppServer(MethodTable(), home=tmp_path, egress_capacity=8)
    channel = StuckChannel()
    task = asyncio.ensure_future(server.serve_channel(channel))
    for _ in range(100):
        if server.initialized_connections():
            break
        await asyncio.sleep(0.01)
    (conn,) = server.initialized_connections()
    queued = [conn.send_notification("thread/closed", {"threadId": str(n)}) for n in range(20)]
    # (No await in between, so the writer takes none.) 8 fit; the 9th ends the connection.
    assert queued[:8] == [True] * 8
    assert not any(queued[8:])
    await asyncio.wait_for(task, 5)
    assert channel.closed_with == "outgoing queue overflow: client is not reading"
    assert conn.closed and server.connections == set()
