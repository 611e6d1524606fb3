"""The model calls MCP tools: offered per server (a ``mcp__<server>`` namespace on the
Responses API, flat ``mcp__<server>__<tool>`` names over Chat Completions), run against a
real stdio MCP server (``tests/support/mcp_servers/m2_tools.py``), reported as
``mcpToolCall`` items, and their results reach the next model request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

SERVER = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "m2_tools.py")
# The calls here run unasked (approval_policy never): tests/e2e/test_mcp_approval.py asks.
TABLE = (
    f"[mcp_servers.m2]\ncommand = {json.dumps(sys.executable)}\nargs = {json.dumps([SERVER])}\n"
    'default_tools_approval_mode = "approve"\n'
)


def _home(tmp_path: Path, mock_model: MockModel, *, chat: bool = False) -> Path:
    home = tmp_path / "home"
    path = write_mock_config(home, mock_model.base_url, extra=TABLE)
    if chat:
        path.write_text(path.read_text().replace('wire_api = "responses"', 'wire_api = "chat"'))
    return home


async def _ready_thread(client: AppServerClient, cwd: Path) -> str:
    started = await client.request("thread/start", {"cwd": str(cwd)})
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=30, predicate=lambda p: p["status"] == "ready"
    )
    thread_id: str = started["thread"]["id"]
    return thread_id


async def _turn(client: AppServerClient, thread_id: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
    )
    done = await client.wait_for_notification("turn/completed", timeout=30)
    turn: dict[str, Any] = done["params"]["turn"]
    return turn


def _mcp_items(client: AppServerClient, method: str) -> list[dict[str, Any]]:
    return [
        m["params"]["item"]
        for m in client.received(method)
        if m["params"]["item"]["type"] == "mcpToolCall"
    ]


def _outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {
        i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"
    }


async def test_a_namespaced_mcp_call_reaches_the_server_and_its_result_the_model(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    mock_model.enqueue(
        function_call("echo", {"text": "hi"}, call_id="m1", namespace="mcp__m2"),
        function_call("boom", {}, call_id="m2", namespace="mcp__m2"),
        text("done"),
    )
    client = await start_client(home=_home(tmp_path, mock_model))
    thread_id = await _ready_thread(client, tmp_path)
    turn = await _turn(client, thread_id)
    assert turn["status"] == "completed"

    offered = mock_model.requests[0].body["tools"]
    [space] = [t for t in offered if t.get("type") == "namespace"]
    assert space["name"] == "mcp__m2"
    inner = {t["name"]: t for t in space["tools"]}
    assert {"echo", "weather", "picture", "boom"} <= set(inner)
    assert inner["echo"]["type"] == "function"
    assert inner["echo"]["parameters"]["properties"]["text"]["type"] == "string"
    assert not any(str(t.get("name", "")).startswith("mcp__m2__") for t in offered)

    echoed = _outputs(mock_model.requests[1].body)["m1"]
    assert "echo: hi" in json.dumps(echoed)
    failed = _outputs(mock_model.requests[2].body)["m2"]
    assert "it broke" in json.dumps(failed)
    # the namespaced call keeps its namespace in the history the model sees again
    calls = [i for i in mock_model.requests[2].body["input"] if i.get("type") == "function_call"]
    assert [(c["name"], c.get("namespace")) for c in calls] == [
        ("echo", "mcp__m2"),
        ("boom", "mcp__m2"),
    ]

    started = _mcp_items(client, "item/started")
    completed = {i["id"]: i for i in _mcp_items(client, "item/completed")}
    assert [(i["id"], i["server"], i["tool"], i["status"]) for i in started] == [
        ("m1", "m2", "echo", "inProgress"),
        ("m2", "m2", "boom", "inProgress"),
    ]
    assert completed["m1"]["status"] == "completed"
    assert completed["m1"]["arguments"] == {"text": "hi"}
    assert completed["m2"]["status"] == "failed"


async def test_chat_completions_gets_flat_mcp_names(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    mock_model.enqueue(function_call("mcp__m2__echo", {"text": "flat"}, call_id="f1"), text("ok"))
    client = await start_client(home=_home(tmp_path, mock_model, chat=True))
    thread_id = await _ready_thread(client, tmp_path)
    turn = await _turn(client, thread_id)
    assert turn["status"] == "completed"

    request = mock_model.requests[0]
    assert request.path.endswith("/chat/completions")
    names = [t["function"]["name"] for t in request.body["tools"] if t.get("type") == "function"]
    assert "mcp__m2__echo" in names and "mcp__m2__weather" in names
    tool_messages = [m for m in mock_model.requests[1].body["messages"] if m["role"] == "tool"]
    assert "echo: flat" in json.dumps(tool_messages)
    [done] = _mcp_items(client, "item/completed")
    assert (done["server"], done["tool"], done["status"]) == ("m2", "echo", "completed")
