"""Client-defined tools over stdio: ``dynamicTools`` on ``thread/start`` are offered to
the model, a call becomes ``item/tool/call`` and a ``dynamicToolCall`` item, the client's
content items go back to the model; ``{}`` and an error reply fail the call as Codex does."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.e2e.test_view_image import outputs, png
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text
from tests.support.stores import StoreUnderTest, both_stores

TICKET = {
    "type": "function",
    "name": "lookup_ticket",
    "description": "Look up a ticket by id",
    "inputSchema": {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "required": ["id"],
    },
}


async def start_thread(client: AppServerClient, cwd: Path, **extra: Any) -> str:
    result = await client.request("thread/start", {"cwd": str(cwd), **extra})
    return str(result["thread"]["id"])


async def run_turn(client: AppServerClient, tid: str) -> None:
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "go"}]})


def dynamic_items(client: AppServerClient, method: str) -> list[dict[str, Any]]:
    return [
        m["params"]["item"]
        for m in client.received(method)
        if m["params"]["item"]["type"] == "dynamicToolCall"
    ]


async def test_dynamic_tool_round_trip(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    dot = "data:image/png;base64," + base64.b64encode(png(1, 1)).decode()
    mock_model.enqueue(function_call("lookup_ticket", {"id": "7"}, call_id="d1"), text("open"))
    server = await launch_server()
    client = server.client
    tid = await start_thread(client, tmp_path, dynamicTools=[TICKET])
    await run_turn(client, tid)

    request = await client.wait_for_request("item/tool/call", timeout=20)
    assert request["params"] == {
        "threadId": tid,
        "turnId": request["params"]["turnId"],
        "callId": "d1",
        "namespace": None,
        "tool": "lookup_ticket",
        "arguments": {"id": "7"},
    }
    started = dynamic_items(client, "item/started")
    assert [(i["id"], i["status"], i["arguments"]) for i in started] == [
        ("d1", "inProgress", {"id": "7"})
    ]
    reply = [
        {"type": "inputText", "text": "ticket 7: open"},
        {"type": "inputImage", "imageUrl": dot},
        {"type": "inputImage", "imageUrl": "data:image/png;base64,AAAA"},
    ]
    await client.respond(request["id"], {"contentItems": reply, "success": True})
    await client.wait_for_notification("turn/completed", timeout=20)

    offered = [t for t in mock_model.requests[0].body["tools"] if t.get("name") == "lookup_ticket"]
    assert offered == [
        {
            "type": "function",
            "name": "lookup_ticket",
            "description": "Look up a ticket by id",
            "strict": False,
            "parameters": TICKET["inputSchema"],
        }
    ]
    assert outputs(mock_model)["d1"] == [
        {"type": "input_text", "text": "ticket 7: open"},
        {"type": "input_image", "image_url": dot},
        {"type": "input_text", "text": "image content omitted because it could not be processed"},
    ]
    (done,) = dynamic_items(client, "item/completed")
    assert done["status"] == "completed"
    assert done["success"] is True
    assert done["contentItems"] == reply
    assert isinstance(done["durationMs"], int)
    # Codex announces no serverRequest/resolved for a client-side tool call.
    assert client.received("serverRequest/resolved") == []


async def test_dynamic_tool_empty_and_error_replies_fail_the_call(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    mock_model.enqueue(
        function_call("lookup_ticket", {"id": "1"}, call_id="d1"),
        function_call("lookup_ticket", {"id": "2"}, call_id="d2"),
        text("gave up"),
    )
    server = await launch_server()
    client = server.client
    tid = await start_thread(client, tmp_path, dynamicTools=[TICKET])
    await run_turn(client, tid)
    first = await client.wait_for_request("item/tool/call", timeout=20)
    await client.respond(first["id"], {})  # the openai-codex SDK's default answer
    second = await client.wait_for_request("item/tool/call", timeout=20)
    await client.respond_error(second["id"], -32601, "no handler")
    await client.wait_for_notification("turn/completed", timeout=20)

    out = outputs(mock_model)
    assert out["d1"] == "dynamic tool response was invalid"
    assert out["d2"] == "dynamic tool request failed"
    done = {i["id"]: i for i in dynamic_items(client, "item/completed")}
    assert done["d1"]["status"] == "failed"
    assert done["d1"]["success"] is False
    assert done["d1"]["contentItems"] == [
        {"type": "inputText", "text": "dynamic tool response was invalid"}
    ]
    assert done["d2"]["contentItems"] == [
        {"type": "inputText", "text": "dynamic tool request failed"}
    ]


async def test_dynamic_tool_specs_are_checked_and_kept_across_resume(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    server = await launch_server()
    client = server.client
    bad = {**TICKET, "name": "bad name!"}
    error = await client.request_error(
        "thread/start", {"cwd": str(tmp_path), "dynamicTools": [bad]}
    )
    assert error["code"] == -32600
    assert error["message"] == (
        "dynamic tool name must match ^[a-zA-Z0-9_-]+$ to match Responses API: bad name!"
    )
    # Named like a built-in tool: not offered (the built-in wins), as in Codex 0.169.
    clash = {**TICKET, "name": "exec_command", "description": "shadow"}
    mock_model.enqueue(text("hi"))
    tid = await start_thread(client, tmp_path, dynamicTools=[TICKET, clash])
    await run_turn(client, tid)
    await client.wait_for_notification("turn/completed", timeout=20)
    tools = mock_model.requests[-1].body["tools"]
    assert [t["description"] for t in tools if t.get("name") == "exec_command"] != ["shadow"]
    assert "lookup_ticket" in [t.get("name") for t in tools]
    await server.stop()

    # A new process resumes the thread: the client-defined tool is offered again.
    again = await launch_server()
    await again.client.request("thread/resume", {"threadId": tid})
    mock_model.enqueue(function_call("lookup_ticket", {"id": "3"}, call_id="d3"), text("ok"))
    await run_turn(again.client, tid)
    request = await again.client.wait_for_request("item/tool/call", timeout=20)
    await again.client.respond(
        request["id"], {"contentItems": [{"type": "inputText", "text": "three"}], "success": True}
    )
    await again.client.wait_for_notification("turn/completed", timeout=20)
    assert outputs(mock_model)["d3"] == "three"  # one text item: a plain string, as Codex

    # A fork keeps them too (Codex copies them into the fork's session_meta).
    fork = (await again.client.request("thread/fork", {"threadId": tid}))["thread"]["id"]
    mock_model.enqueue(function_call("lookup_ticket", {"id": "4"}, call_id="d4"), text("ok"))
    await run_turn(again.client, fork)
    request = await again.client.wait_for_request("item/tool/call", timeout=20)
    assert request["params"]["threadId"] == fork
    await again.client.respond(
        request["id"], {"contentItems": [{"type": "inputText", "text": "four"}], "success": False}
    )
    await again.client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == fork
    )
    assert outputs(mock_model)["d4"] == "four"
    done = [i for i in dynamic_items(again.client, "item/completed") if i["id"] == "d4"]
    assert [(i["status"], i["success"]) for i in done] == [("failed", False)]


@both_stores
async def test_image_view_and_dynamic_items_survive_a_restart(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path, mock_home: Path,
    store: StoreUnderTest,
) -> None:
    (tmp_path / "dot.png").write_bytes(png(1, 1))
    mock_model.enqueue(
        function_call("view_image", {"path": "dot.png"}, call_id="v1"),
        function_call("lookup_ticket", {"id": "9"}, call_id="d9"),
        text("seen"),
    )
    server = await launch_server()
    client = server.client
    tid = await start_thread(client, tmp_path, dynamicTools=[TICKET])
    await run_turn(client, tid)
    request = await client.wait_for_request("item/tool/call", timeout=20)
    answer = [{"type": "inputText", "text": "nine"}]
    await client.respond(request["id"], {"contentItems": answer, "success": True})
    await client.wait_for_notification("turn/completed", timeout=20)
    await server.stop()

    # The rollout has Codex's core items.
    (rollout,) = store.histories(mock_home).values()
    lines = [json.loads(line) for line in rollout]
    meta = lines[0]["payload"]
    assert meta["dynamic_tools"] == [TICKET]
    kept = {
        p["item"]["type"]: p["item"]
        for p in (line["payload"] for line in lines if line["type"] == "event_msg")
        if p["type"] == "item_completed"
    }
    assert kept["ImageView"] == {
        "type": "ImageView",
        "id": "v1",
        "path": (tmp_path / "dot.png").as_uri(),
    }
    assert kept["DynamicToolCall"]["content_items"] == answer
    assert kept["DynamicToolCall"]["status"] == "completed"

    again = await launch_server()
    read = await again.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    items = read["thread"]["turns"][0]["items"]
    view = next(i for i in items if i["type"] == "imageView")
    assert view["path"] == str(tmp_path / "dot.png")
    call = next(i for i in items if i["type"] == "dynamicToolCall")
    assert (call["id"], call["tool"], call["arguments"]) == ("d9", "lookup_ticket", {"id": "9"})
    assert call["contentItems"] == answer
    assert call["success"] is True
