"""The model-facing MCP tools against a real MCP server (stdio, the ``mcp`` SDK).

The catalog here is a thin stand-in for the connection manager: a real ``ClientSession``
to ``tests/support/mcp_servers/m2_tools.py``; what is under test is how the tools are
named and offered, the ``mcpToolCall`` item's life and what the model gets back.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from threadline.protocol import events as ev
from threadline.protocol.items import FunctionCallItem, dump_response_item, parse_response_item
from threadline.protocol.v2.item import McpToolCallProgressNotification, McpToolCallThreadItem
from threadline.tools.mcp_tools import (
    MAX_NAME_LEN,
    McpTool,
    dispatch_name,
    flat_names,
    mcp_tools,
    namespace_specs,
    needs_approval,
)
from threadline.tools.registry import ToolContext, ToolRegistry
from threadline.tools.view_image import sniff_image_mime

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "m2_tools.py"
NAME_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Info:
    server: str
    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None


class SessionCatalog:
    """One live MCP session, listed and called as the manager would."""

    def __init__(self, server: str, session: ClientSession, infos: list[Info]) -> None:
        self.server = server
        self.session = session
        self.infos = infos

    def tools(self) -> Sequence[Info]:
        return self.infos

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        meta: dict[str, Any] | None = None,
        progress: Any = None,
        timeout_s: float | None = None,
    ) -> Any:
        assert server == self.server
        if tool not in {i.name for i in self.infos}:
            raise RuntimeError(f"unknown MCP tool {server}/{tool}")
        return await self.session.call_tool(
            tool, arguments, read_timeout_seconds=timeout_s, progress_callback=progress
        )


@asynccontextmanager
async def open_catalog() -> AsyncIterator[SessionCatalog]:
    """Opened and closed inside one test (the SDK's task groups must exit in the task
    that entered them, which an async fixture's teardown does not guarantee)."""
    async with AsyncExitStack() as stack:
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        listed = await session.list_tools()
        infos = [
            Info(
                "docs",
                t.name,
                t.description,
                t.input_schema,
                t.annotations.model_dump(by_alias=True, exclude_none=True)
                if t.annotations
                else None,
            )
            for t in listed.tools
        ]
        yield SessionCatalog("docs", session, infos)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def emit(self, msg: Any) -> None:
        self.events.append(msg)

    def context(self, call_id: str) -> ToolContext:
        # never + danger-full-access: every MCP call runs unasked (approval: test_mcp_approval)
        return ToolContext(
            thread_id="thr",
            turn_id="turn-1",
            call_id=call_id,
            cwd=Path("/"),
            emit=self.emit,
            sandbox_mode="danger-full-access",
        )

    def items(self) -> list[McpToolCallThreadItem]:
        return [
            e.item
            for e in self.events
            if isinstance(e, ev.ItemStarted | ev.ItemCompleted)
            and isinstance(e.item, McpToolCallThreadItem)
        ]


def _tool(catalog: SessionCatalog, name: str) -> McpTool:
    registry = ToolRegistry(list(mcp_tools(catalog)))
    tool = registry.get(f"mcp__docs__{name}")
    assert isinstance(tool, McpTool), registry.names()
    return tool


async def test_offered_flat_and_namespaced() -> None:
    async with open_catalog() as catalog:
        tools = mcp_tools(catalog, reserved=["mcp__docs__boom"])
        names = [t.name for t in tools]
        assert names == [
            "mcp__docs__echo",
            "mcp__docs__weather",
            "mcp__docs__picture",
            "mcp__docs__slow",
            "mcp__docs__signup",
        ]
        echo = tools[0].spec()
        assert echo["type"] == "function" and echo["description"] == "Echo the text back."
        assert echo["parameters"]["required"] == ["text"]
        [space] = namespace_specs(catalog.tools())
        assert space["type"] == "namespace" and space["name"] == "mcp__docs"
        assert [t["name"] for t in space["tools"]] == [
            "echo",
            "weather",
            "picture",
            "boom",
            "slow",
            "signup",
        ]
        assert all(t["type"] == "function" for t in space["tools"])


def test_flat_names_are_valid_and_distinct() -> None:
    schema: dict[str, Any] = {"type": "object"}
    infos = [
        Info("my.server", "read file", None, schema),
        Info("my_server", "read_file", None, schema),
        Info("s", "x" * 100, None, schema),
        Info("s", "x" * 100 + "y", None, schema),
    ]
    names = list(flat_names(infos))
    assert len(set(names)) == 4
    assert all(NAME_RULE.match(n) for n in names), names
    assert names[0] == "mcp__my_server__read_file"
    assert names[1] != names[0] and names[1].startswith("mcp__my_server__read_file"[:40])
    assert all(len(n) <= MAX_NAME_LEN for n in names)
    assert list(flat_names(infos)) == names  # stable from one listing to the next


async def test_text_call_is_an_mcp_item_and_reaches_the_model() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        out = await _tool(catalog, "echo").run(rec.context("call-1"), json.dumps({"text": "hi"}))
        # the SDK's server sends structured content with a text tool: that is what the model gets
        assert out.success and json.loads(out.text) == {"result": "echo: hi"}
        started, done = rec.items()
        assert (
            started.status == "inProgress" and started.server == "docs" and started.tool == "echo"
        )
        assert started.arguments == {"text": "hi"} and started.id == "call-1"
        assert done.status == "completed" and done.result is not None and done.error is None
        assert done.result.content == [{"type": "text", "text": "echo: hi"}]
        assert done.duration_ms is not None and done.completed_at_ms is not None


async def test_structured_content_goes_back_as_json() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        out = await _tool(catalog, "weather").run(rec.context("c2"), '{"city": "Oslo"}')
        assert json.loads(out.text) == {"city": "Oslo", "celsius": 21}
        done = rec.items()[-1]
        assert done.result is not None and done.result.structured_content == {
            "city": "Oslo",
            "celsius": 21,
        }


async def test_image_reaches_the_model_as_an_image_part() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        out = await _tool(catalog, "picture").run(rec.context("c3"), "{}")
        assert out.content is not None
        text, image = out.content
        assert text.type == "input_text" and text.text == "a red dot"
        assert image.type == "input_image" and image.image_url is not None
        head, _, data = image.image_url.partition(",")
        assert head == "data:image/png;base64"
        assert sniff_image_mime(base64.b64decode(data)) == "image/png"


async def test_is_error_fails_the_item_and_the_output() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        out = await _tool(catalog, "boom").run(rec.context("c4"), "")
        assert not out.success and "it broke" in out.text
        assert rec.items()[-1].status == "failed"


async def test_progress_notifications_become_progress_events() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        out = await _tool(catalog, "slow").run(rec.context("c5"), "{}")
        assert out.success
        progress = [e for e in rec.events if isinstance(e, ev.McpToolCallProgress)]
        assert [p.message for p in progress] == ["half way", "2/2"]
        assert all(p.item_id == "c5" and p.turn_id == "turn-1" for p in progress)
        wire = McpToolCallProgressNotification(
            thread_id="thr",
            turn_id=progress[0].turn_id,
            item_id=progress[0].item_id,
            message=progress[0].message,
        )
        assert wire.item_id == "c5"
        kinds = [type(e).__name__ for e in rec.events]
        assert kinds == [
            "ItemStarted",
            "McpToolCallProgress",
            "McpToolCallProgress",
            "ItemCompleted",
        ]


async def test_a_failed_call_tells_the_model_and_the_client() -> None:
    async with open_catalog() as catalog:
        rec = Recorder()
        ghost = McpTool("mcp__docs__ghost", Info("docs", "ghost", None, {}), catalog)
        out = await ghost.run(rec.context("c6"), "{}")
        assert not out.success and "unknown MCP tool docs/ghost" in out.text
        done = rec.items()[-1]
        assert done.status == "failed" and done.error is not None
        assert done.error.message == "unknown MCP tool docs/ghost" and done.result is None
        bad = await ghost.run(rec.context("c7"), "[1, 2]")
        assert (
            not bad.success and len(rec.items()) == 2
        )  # no item for arguments that are not an object


def test_approval_follows_policy_and_annotations() -> None:
    assert not needs_approval("on-request", {"readOnlyHint": True})
    assert not needs_approval("never", {"destructiveHint": True})
    assert needs_approval("on-request", {"destructiveHint": True})
    assert needs_approval("on-request", None)  # the MCP default is destructive
    # openWorldHint left out counts as open-world (Codex 0.169 asks)
    assert needs_approval("on-request", {"destructiveHint": False})
    assert not needs_approval("on-request", {"destructiveHint": False, "openWorldHint": False})
    assert needs_approval("untrusted", {"destructiveHint": False, "openWorldHint": True})


async def test_a_namespaced_call_dispatches_to_its_tool() -> None:
    async with open_catalog() as catalog:
        registry = ToolRegistry(list(mcp_tools(catalog)))
        # the model calls into the namespace tool: name and namespace come apart
        call = parse_response_item(
            {
                "type": "function_call",
                "namespace": "mcp__docs",
                "name": "echo",
                "arguments": '{"text": "ns"}',
                "call_id": "c9",
            }
        )
        assert isinstance(call, FunctionCallItem)
        name = dispatch_name(registry, call.name, getattr(call, "namespace", None))
        assert name == "mcp__docs__echo"
        assert dump_response_item(call)["namespace"] == "mcp__docs"  # the history keeps it
        rec = Recorder()
        out = await registry.dispatch(name, call.arguments, rec.context(call.call_id))
        assert json.loads(out.text) == {"result": "echo: ns"}
        assert dispatch_name(registry, "echo", None) == "echo"


def test_namespaced_names_match_the_namespace_specs() -> None:
    schema: dict[str, Any] = {"type": "object"}
    infos = [Info("a b", "x.y", None, schema), Info("a b", "x_y", None, schema)]

    class Fixed:
        def tools(self) -> list[Info]:
            return infos

        async def call_tool(self, *a: Any, **kw: Any) -> Any:
            raise AssertionError("not called")

    tools = mcp_tools(Fixed())
    [space] = namespace_specs(infos)
    assert space["name"] == "mcp__a_b" == tools[0].namespace == tools[1].namespace
    inner = [t["name"] for t in space["tools"]]
    assert inner == [t.namespaced_name for t in tools] and len(set(inner)) == 2
    registry = ToolRegistry(list(tools))
    assert [dispatch_name(registry, n, "mcp__a_b") for n in inner] == [t.name for t in tools]
