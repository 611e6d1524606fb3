"""``threadline mcp-server`` driven by the ``mcp`` SDK's stdio client against the mock model:
``codex`` then ``codex-reply`` on the same thread, and a command approval answered through
MCP elicitation (as ``codex mcp-server`` 0.153.4 asked for it)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import mcp.types as mt
import pytest
from mcp.client.extension import NotificationBinding
from mcp.client.session import ClientRequestContext
from pydantic import BaseModel, Field
from tests.e2e.conftest import write_mock_config
from tests.support.mock_model import Gate, MockModel, custom_tool_call, failed, function_call, text

from mcp import ClientSession, StdioServerParameters, stdio_client

pytestmark = pytest.mark.asyncio


class _CodexEvent(BaseModel):
    """One ``codex/event`` notification's params."""

    meta: dict[str, Any] = Field(alias="_meta")
    msg: dict[str, Any]
    id: str


def _params(home: Path, cwd: Path) -> StdioServerParameters:
    env = {"THREADLINE_HOME": str(home), "PATH": os.environ["PATH"], "HOME": str(home)}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "threadline", "mcp-server"], env=env, cwd=str(cwd)
    )


def _inputs(body: dict[str, Any]) -> list[str]:
    out = []
    for item in body.get("input", []):
        if item.get("type") == "message" and item.get("role") == "user":
            out += [c.get("text", "") for c in item.get("content", [])]
    return out


async def test_codex_then_codex_reply_continue_one_thread(
    tmp_path: Path, mock_model: MockModel
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    mock_model.enqueue(text("first answer"), text("second answer"))
    events: list[dict[str, Any]] = []

    async def on_event(params: _CodexEvent) -> None:
        events.append({"_meta": params.meta, "msg": params.msg, "id": params.id})

    binding = NotificationBinding(method="codex/event", params_type=_CodexEvent, handler=on_event)
    async with stdio_client(_params(home, tmp_path)) as (r, w):
        async with ClientSession(r, w, notification_bindings=[binding]) as session:
            init = await session.initialize()
            assert init.server_info.name == "threadline-mcp-server"
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"codex", "codex-reply"}
            assert tools["codex"].input_schema["required"] == ["prompt"]
            assert "approval-policy" in tools["codex"].input_schema["properties"]
            first = await session.call_tool(
                "codex", {"prompt": "hello there", "cwd": str(tmp_path)}
            )
            assert not first.is_error
            assert isinstance(first.content[0], mt.TextContent)
            assert first.content[0].text == "first answer"
            assert first.structured_content is not None
            thread_id = first.structured_content["threadId"]
            assert first.structured_content["content"] == "first answer"
            second = await session.call_tool(
                "codex-reply", {"threadId": thread_id, "prompt": "again"}
            )
            assert second.structured_content == {"threadId": thread_id, "content": "second answer"}
            missing = await session.call_tool("codex-reply", {"threadId": "nope", "prompt": "x"})
            assert missing.is_error
            # the bindings hand events over through a queue: let it drain
            for _ in range(100):
                if sum(e["msg"]["type"] == "task_complete" for e in events) == 2:
                    break
                await asyncio.sleep(0.02)
    # codex/event: Codex's event_msg shapes, tagged with the tools/call id and the thread
    first_call = [e for e in events if e["msg"]["type"] == "session_configured"]
    assert len(first_call) == 1 and first_call[0]["msg"]["thread_id"] == thread_id
    assert first_call[0]["id"] == ""
    assert all(e["_meta"]["threadId"] == thread_id for e in events)
    by_request: dict[Any, list[str]] = {}
    for e in events:
        by_request.setdefault(e["_meta"]["requestId"], []).append(e["msg"]["type"])
    assert len(by_request) == 2
    for kinds in by_request.values():
        assert {"task_started", "user_message", "agent_message", "task_complete"} <= set(kinds)
    finals = [e["msg"]["last_agent_message"] for e in events if e["msg"]["type"] == "task_complete"]
    assert sorted(finals) == ["first answer", "second answer"]
    requests = mock_model.requests
    assert len(requests) == 2
    # the reply's request carries the first turn: same thread, one more user message
    assert "hello there" in _inputs(requests[1].body) and "again" in _inputs(requests[1].body)
    assert any(
        i.get("type") == "message" and i.get("role") == "assistant"
        for i in requests[1].body["input"]
    )


@pytest.mark.parametrize(("action", "made"), [("accept", True), ("decline", False)])
async def test_command_approval_reaches_the_host_as_elicitation(
    tmp_path: Path, mock_model: MockModel, action: str, made: bool
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    work = tmp_path / "work"
    work.mkdir()
    mock_model.enqueue(
        function_call(
            "exec_command",
            {
                "cmd": "touch made_here",
                "sandbox_permissions": "require_escalated",
                "justification": "need it",
            },
            call_id="call_1",
        ),
        text("done"),
    )
    asked: list[mt.ElicitRequestParams] = []

    async def elicit(
        context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        asked.append(params)
        return mt.ElicitResult.model_validate({"action": action, "content": {}})

    async with stdio_client(_params(home, tmp_path)) as (r, w):
        async with ClientSession(r, w, elicitation_callback=elicit) as session:
            await session.initialize()
            result = await session.call_tool(
                "codex",
                {
                    "prompt": "make a file",
                    "cwd": str(work),
                    "approval-policy": "on-request",
                    "sandbox": "read-only",
                },
            )
    assert not result.is_error, result
    assert result.structured_content is not None and result.structured_content["content"] == "done"
    assert len(asked) == 1
    params = asked[0]
    assert isinstance(params, mt.ElicitRequestFormParams)
    assert params.message.startswith("Allow Codex to run `") and f"in `{work}`?" in params.message
    meta: dict[str, Any] = dict(params.meta or {})
    assert meta["codex_elicitation"] == "exec-approval"
    assert meta["threadId"] == result.structured_content["threadId"]
    assert (work / "made_here").exists() is made
    outputs = [
        i for i in mock_model.requests[1].body["input"] if i.get("type") == "function_call_output"
    ]
    assert len(outputs) == 1 and outputs[0]["call_id"] == "call_1"


async def test_patch_approval_and_failures_come_back_as_codex_shapes(
    tmp_path: Path, mock_model: MockModel
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("one\ntwo\n")
    patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n*** End Patch\n"
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch, call_id="call_p"),
        text("patched"),
        failed("the model broke"),
    )
    asked: list[mt.ElicitRequestParams] = []

    async def elicit(
        context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        asked.append(params)
        return mt.ElicitResult.model_validate({"action": "accept", "content": {}})

    async with stdio_client(_params(home, tmp_path)) as (r, w):
        async with ClientSession(r, w, elicitation_callback=elicit) as session:
            await session.initialize()
            result = await session.call_tool(
                "codex",
                {
                    "prompt": "edit a",
                    "cwd": str(work),
                    "model": "gpt-5.5",
                    "approval-policy": "on-request",
                    "sandbox": "read-only",
                },
            )
            assert result.structured_content is not None, result
            thread_id = result.structured_content["threadId"]
            assert result.structured_content["content"] == "patched"
            broken = await session.call_tool(
                "codex-reply", {"threadId": thread_id, "prompt": "again"}
            )
            no_id = await session.call_tool("codex-reply", {"prompt": "again"})
            no_prompt = await session.call_tool("codex", {})
    assert (work / "a.txt").read_text() == "one\nTWO\n"
    [params] = asked
    assert params.message == "Allow Codex to apply proposed code changes?"
    meta: dict[str, Any] = dict(params.meta or {})
    assert meta["codex_elicitation"] == "patch-approval"
    assert meta["codex_changes"][str(work / "a.txt")]["type"] == "update"
    # a failed turn: isError, the error text, and the thread it happened on
    assert broken.is_error and broken.structured_content is not None
    assert broken.structured_content["threadId"] == thread_id
    assert no_id.is_error and isinstance(no_id.content[0], mt.TextContent)
    assert "either threadId or conversationId must be provided" in no_id.content[0].text
    assert no_prompt.is_error and isinstance(no_prompt.content[0], mt.TextContent)
    assert "missing field `prompt`" in no_prompt.content[0].text


async def test_config_argument_overrides_the_config_for_that_thread(
    tmp_path: Path, mock_model: MockModel
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    mock_model.enqueue(text("one"), text("two"), text("three"))
    async with stdio_client(_params(home, tmp_path)) as (r, w):
        async with ClientSession(r, w) as session:
            await session.initialize()
            first = await session.call_tool(
                "codex",
                {"prompt": "hi", "config": {"model": "model-from-config"}},
            )
            assert first.structured_content is not None, first
            thread_id = first.structured_content["threadId"]
            again = await session.call_tool(
                "codex-reply", {"threadId": thread_id, "prompt": "more"}
            )
            assert again.structured_content == {"threadId": thread_id, "content": "two"}
            plain = await session.call_tool("codex", {"prompt": "hi"})
            assert plain.structured_content is not None
            bad = await session.call_tool(
                "codex", {"prompt": "hi", "config": {"approval_policy": "sometimes"}}
            )
    models = [req.body["model"] for req in mock_model.requests]
    assert models == ["model-from-config", "model-from-config", "mock-model"]
    assert bad.is_error and isinstance(bad.content[0], mt.TextContent)
    assert "Failed to load Codex configurations from overrides" in bad.content[0].text


async def test_an_mcp_servers_elicitation_is_relayed_to_the_host(
    tmp_path: Path, mock_model: MockModel
) -> None:
    home = tmp_path / "home"
    toolbox = Path(__file__).parents[1] / "support" / "mcp_servers" / "toolbox.py"
    write_mock_config(
        home,
        mock_model.base_url,
        provider_extra=(
            f"\n[mcp_servers.box]\ncommand = {json.dumps(sys.executable)}\n"
            f"args = [{json.dumps(str(toolbox))}]\n"
            'default_tools_approval_mode = "approve"\n'
        ),
    )
    mock_model.enqueue(
        function_call("ask", {}, call_id="call_m", namespace="mcp__box"), text("greeted")
    )
    asked: list[mt.ElicitRequestParams] = []

    async def elicit(
        context: ClientRequestContext, params: mt.ElicitRequestParams
    ) -> mt.ElicitResult | mt.ErrorData:
        asked.append(params)
        return mt.ElicitResult.model_validate({"action": "accept", "content": {"name": "Ada"}})

    async with stdio_client(_params(home, tmp_path)) as (r, w):
        async with ClientSession(r, w, elicitation_callback=elicit) as session:
            await session.initialize()
            result = await session.call_tool("codex", {"prompt": "greet me", "cwd": str(tmp_path)})
    assert result.structured_content is not None and not result.is_error, result
    offered = [str(t.get("name", "")) for t in mock_model.requests[0].body.get("tools", [])]
    assert "mcp__box" in offered  # the server's namespace on the Responses API
    [params] = asked
    assert isinstance(params, mt.ElicitRequestFormParams)
    assert params.message == "What is your name?"
    assert "name" in params.requested_schema["properties"]
    outputs = [
        i for i in mock_model.requests[1].body["input"] if i.get("type") == "function_call_output"
    ]
    assert len(outputs) == 1 and "hello Ada" in json.dumps(outputs[0])


async def test_a_cancelled_call_interrupts_its_turn(tmp_path: Path, mock_model: MockModel) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    gate = Gate()
    mock_model.enqueue(text("never seen", gate=gate), text("after the cancel"))
    started: list[str] = []

    async def on_event(params: _CodexEvent) -> None:
        if params.msg["type"] == "session_configured":
            started.append(params.msg["thread_id"])

    binding = NotificationBinding(method="codex/event", params_type=_CodexEvent, handler=on_event)
    try:
        async with stdio_client(_params(home, tmp_path)) as (r, w):
            async with ClientSession(r, w, notification_bindings=[binding]) as session:
                await session.initialize()
                call = asyncio.ensure_future(session.call_tool("codex", {"prompt": "slow"}))
                await asyncio.to_thread(mock_model.wait_for_requests, 1)  # held by the gate
                call.cancel()  # the SDK sends notifications/cancelled
                with pytest.raises(asyncio.CancelledError):
                    await call
                assert started, "no session_configured before the model request"
                reply = None
                for _ in range(50):  # the interrupt lands shortly after the cancel
                    reply = await session.call_tool(
                        "codex-reply", {"threadId": started[0], "prompt": "go on"}
                    )
                    if not reply.is_error:
                        break
                    await asyncio.sleep(0.1)
                assert reply is not None and reply.structured_content is not None
                assert reply.structured_content["content"] == "after the cancel", reply
    finally:
        gate.set()
    # the cancelled turn's request, then the reply's
    assert len(mock_model.requests) == 2
