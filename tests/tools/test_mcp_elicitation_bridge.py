"""MCP elicitation through :class:`ElicitationBridge`, against a real MCP server.

The server's tool ``signup`` calls the ``mcp`` SDK's ``ctx.elicit`` (a pydantic schema
with a top-level ``title``); the bridge turns it into the ``McpElicitationRequest`` ask
the thread sends as ``mcpServer/elicitation/request``, and the client's answer (as the
server's ASK_TABLE line reads it) goes back to the MCP server.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import mcp.types as mt
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from tests.support.schema import registry

from threadline.protocol import events as ev
from threadline.protocol.methods import SERVER_REQUESTS
from threadline.protocol.v2.common import dump_wire
from threadline.server.requests import ASK_TABLE
from threadline.tools.mcp_elicitation import ElicitationBridge
from threadline.tools.mcp_tools import McpTool
from threadline.tools.registry import ToolContext

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "m2_tools.py"
ROUTE = ASK_TABLE[ev.McpElicitationRequest]


class Client:
    """Plays the app-server client: records each ask, answers with a scripted reply
    (read back through the ASK_TABLE line, as the router does)."""

    def __init__(self, reply: Any, counter: Counter | None = None) -> None:
        self.reply = reply
        self.counter = counter
        self.asked: list[ev.McpElicitationRequest] = []
        self.count_while_asked: list[int] = []

    async def ask(self, request: ev.ClientAsk, started: Any, on_decision: Any) -> Any:
        assert isinstance(request, ev.McpElicitationRequest)
        self.asked.append(request)
        if self.counter is not None:
            self.count_while_asked.append(self.counter.count)
        return ROUTE.answer(self.reply)


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def increment_elicitation(self) -> int:
        self.count += 1
        return self.count

    def decrement_elicitation(self) -> int:
        self.count -= 1
        return self.count


@asynccontextmanager
async def connect(bridge: ElicitationBridge) -> AsyncIterator[ClientSession]:
    async def on_elicit(context: Any, params: mt.ElicitRequestParams) -> mt.ElicitResult:
        return await bridge("forms", params)

    async with AsyncExitStack() as stack:
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(
            ClientSession(read, write, elicitation_callback=on_elicit)
        )
        await session.initialize()
        yield session


class Catalog:
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    def tools(self) -> list[Any]:
        return []

    async def call_tool(self, server: str, tool: str, arguments: Any, **kw: Any) -> Any:
        return await self.session.call_tool(tool, arguments)


class Info:
    server = "forms"
    name = "signup"
    description = None
    input_schema: dict[str, Any] = {"type": "object"}
    annotations = None


async def _model_call(reply: Any) -> tuple[Client, str]:
    """The model calls ``signup``; the elicitation is asked on behalf of that call."""
    client = Client(reply)
    bridge = ElicitationBridge(client.ask)
    async with connect(bridge) as session:
        tool = McpTool("mcp__forms__signup", Info(), Catalog(session), elicitations=bridge)
        # never + danger-full-access: the call runs unasked (approval: test_mcp_approval)
        ctx = ToolContext(
            thread_id="thr",
            turn_id="turn-7",
            call_id="call-3",
            cwd=Path("/"),
            sandbox_mode="danger-full-access",
        )
        out = await tool.run(ctx, "{}")
    return client, out.text


async def test_accepted_content_reaches_the_server() -> None:
    client, text = await _model_call({"action": "accept", "content": {"name": "Ada", "age": 36}})
    assert "accepted Ada 36" in text
    [asked] = client.asked
    assert asked.turn_id == "turn-7" and asked.item_id == "call-3"
    assert asked.server_name == "forms" and asked.message == "Who are you?"
    schema = asked.requested_schema
    assert schema["type"] == "object" and set(schema["properties"]) == {"name", "age"}
    wire = _wire(asked)
    assert ROUTE.method == "mcpServer/elicitation/request" and ROUTE.method in SERVER_REQUESTS
    assert wire["turnId"] == "turn-7" and wire["mode"] == "form"
    assert wire["requestedSchema"] == schema and "title" not in schema  # SDK's title dropped
    assert schema["properties"]["age"] == {"title": "Age", "type": "integer"}
    assert schema["required"] == ["name", "age"]


async def test_declined() -> None:
    _, text = await _model_call({"action": "decline"})
    assert "decline" in text


async def test_empty_reply_counts_as_decline() -> None:
    _, text = await _model_call({})
    assert "decline" in text


async def test_cancelled() -> None:
    _, text = await _model_call({"action": "cancel"})
    assert "cancel" in text


async def test_out_of_band_elicitation_holds_the_counter() -> None:
    counter = Counter()
    client = Client({"action": "accept", "content": {"name": "Bo", "age": 5}}, counter)
    bridge = ElicitationBridge(client.ask, counter)
    async with connect(bridge) as session:  # a call not made by the model: no in_call
        result = await session.call_tool("signup", {})
    assert "accepted Bo 5" in str(result.content[0])
    assert client.count_while_asked == [1] and counter.count == 0
    [asked] = client.asked
    assert asked.turn_id == "" and asked.item_id == ""
    assert _wire(asked)["turnId"] is None


def _wire(asked: ev.McpElicitationRequest) -> dict[str, Any]:
    """The request as sent, checked against the reference schema."""
    wire: dict[str, Any] = dump_wire(ROUTE.params("thr", asked))
    registry().validate_s2c({"id": 1, "method": ROUTE.method, "params": wire})
    return wire
