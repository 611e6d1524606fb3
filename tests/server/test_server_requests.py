"""Server→client requests: integer ids from 0 per connection, answers matched by id.

One round trip over a real stdio subprocess; the rest in-process on the memory transport.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ConfigDict
from tests.conftest import AppServerFactory
from tests.support.memory_server import MemoryServerFactory
from tests.support.schema import SchemaRegistry

from threadline.protocol.v2.common import Empty, WireModel
from threadline.protocol.v2.thread_ops import (
    ThreadLoadedListParams,
    ThreadLoadedListResponse,
)
from threadline.server.app import AppServer
from threadline.server.connection import Connection
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.errors import ConnectionClosedError, RpcError
from threadline.server.transports.memory import memory_pair

TEST_METHODS = {"THREADLINE_TEST_SLOW_METHOD": "1"}


class AskResponse(WireModel):
    """``{"answer": <the client's answer>}`` (the client's answer as it came)."""

    model_config = ConfigDict(extra="allow")


def approval_params(item: str) -> dict[str, Any]:
    return {
        "threadId": "thr-1",
        "turnId": "turn-1",
        "itemId": item,
        "startedAtMs": int(time.time() * 1000),
        "command": "touch x",
        "cwd": "/tmp",
    }


async def test_server_request_round_trip_over_stdio(app_server: AppServerFactory) -> None:
    server = await app_server(env=TEST_METHODS)
    client = server.client
    pending = asyncio.ensure_future(
        client.request(
            "test/serverRequest",
            {"method": "item/commandExecution/requestApproval", "params": approval_params("c1")},
        )
    )
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    assert request["id"] == 0
    assert request["params"]["itemId"] == "c1"
    await client.respond(request["id"], {"decision": "accept"})
    assert await pending == {"result": {"decision": "accept"}}

    # The next one gets id 1; an error answer reaches the waiting code as an error.
    pending = asyncio.ensure_future(
        client.request(
            "test/serverRequest",
            {"method": "item/fileChange/requestApproval", "params": approval_params("f1")},
        )
    )
    request = await client.wait_for_request("item/fileChange/requestApproval")
    assert request["id"] == 1
    await client.respond_error(request["id"], -32000, "user went away")
    assert await pending == {"error": {"code": -32000, "message": "user went away"}}


async def test_server_request_ids_are_per_connection(memory_server: MemoryServerFactory) -> None:
    server = await memory_server()
    first, second = server.client, await server.connect()
    for client in (first, second):
        pending = asyncio.ensure_future(
            client.request(
                "test/serverRequest",
                {"method": "item/commandExecution/requestApproval", "params": approval_params("c")},
            )
        )
        request = await client.wait_for_request("item/commandExecution/requestApproval")
        assert request["id"] == 0
        await client.respond(0, {"decision": "decline"})
        assert (await pending)["result"] == {"decision": "decline"}


# -- in process: the Connection itself over a memory channel ----------------------


class Harness:
    """A Connection served in-process; every server message is schema-checked."""

    def __init__(self, schema: SchemaRegistry) -> None:
        self.schema = schema
        table = MethodTable()
        self.contexts: list[RequestContext] = []

        async def remember(
            ctx: RequestContext, params: ThreadLoadedListParams
        ) -> ThreadLoadedListResponse:
            self.contexts.append(ctx)
            return ThreadLoadedListResponse(data=[], next_cursor=None)

        table.register("thread/loaded/list", remember)
        self.server = AppServer(table, home=Path("/tmp/threadline-test"))
        server_end, self.client = memory_pair()
        self.task = asyncio.ensure_future(self.server.serve_channel(server_end))

    async def receive(self) -> dict[str, Any]:
        message = await self.client.receive(timeout=5)
        assert message is not None, "server closed the channel"
        self.schema.validate_s2c(message, "initialize" if message.get("id") == "init" else None)
        return message

    async def connection(self) -> Connection:
        self.client.send(
            {
                "id": "init",
                "method": "initialize",
                "params": {"clientInfo": {"name": "t", "version": "1"}},
            }
        )
        assert "result" in await self.receive()
        (conn,) = self.server.connections
        return conn


async def test_client_answer_resolves_the_future(schema: SchemaRegistry) -> None:
    h = Harness(schema)
    conn = await h.connection()
    assert (conn.client_name, conn.client_version) == ("t", "1")
    future = conn.send_request("item/commandExecution/requestApproval", approval_params("a"))
    request = await h.receive()
    assert request["id"] == 0
    h.client.send({"id": 0, "result": {"decision": "accept"}})
    assert await asyncio.wait_for(future, 5) == {"decision": "accept"}

    future = conn.send_request("item/commandExecution/requestApproval", approval_params("b"))
    assert (await h.receive())["id"] == 1
    h.client.send({"id": 1, "error": {"code": 7, "message": "nope"}})
    with pytest.raises(RpcError) as info:
        await asyncio.wait_for(future, 5)
    assert (info.value.code, info.value.message) == (7, "nope")
    h.client.close()
    await asyncio.wait_for(h.task, 5)


async def test_pending_requests_fail_when_the_connection_closes(schema: SchemaRegistry) -> None:
    h = Harness(schema)
    conn = await h.connection()
    closed: list[int] = []
    conn.add_close_callback(lambda c: closed.append(c.id))
    future = conn.send_request("item/commandExecution/requestApproval", approval_params("a"))
    await h.receive()
    h.client.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(future, 5)
    await asyncio.wait_for(h.task, 5)
    assert closed == [conn.id]
    assert conn.closed and h.server.connections == set()
    # After close nothing more is queued, and a new request fails at once.
    assert conn.send_notification("thread/closed", {"threadId": "x"}) is False
    with pytest.raises(ConnectionClosedError):
        await conn.send_request("item/commandExecution/requestApproval", approval_params("z"))


async def test_answers_resolve_while_a_handler_is_waiting(schema: SchemaRegistry) -> None:
    """A handler that awaits a client answer does not deadlock the connection."""
    h = Harness(schema)
    conn = await h.connection()

    async def ask(ctx: RequestContext, params: Empty) -> AskResponse:
        answer = await ctx.send_request(
            "item/commandExecution/requestApproval", approval_params("q")
        )
        return AskResponse(answer=answer)

    h.server.method_table.register_unlisted("test/ask", Empty, AskResponse, ask)
    h.client.send({"id": 5, "method": "test/ask", "params": {}})
    request = await h.receive()
    assert request["method"] == "item/commandExecution/requestApproval"
    h.client.send({"id": request["id"], "result": {"decision": "accept"}})
    answer = await h.receive()
    assert answer == {"id": 5, "result": {"answer": {"decision": "accept"}}}
    assert conn.initialized
    h.client.close()
    await asyncio.wait_for(h.task, 5)
