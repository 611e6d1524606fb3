"""Approval of the model's MCP tool calls, as Codex 0.169 decides it (probed against the real
Codex with tests/support/mcp_servers/annotated.py on the same mock model):

* a call needs approval unless the tool declares ``readOnlyHint``, or declares both
  ``destructiveHint`` and ``openWorldHint`` false (left out, they count as true); a tool's
  ``approval_mode`` (``[mcp_servers.<s>.tools.<t>]``, or the server's
  ``default_tools_approval_mode``) ``approve`` never asks, ``prompt`` always asks;
* under ``untrusted`` / ``on-request`` the user is asked with an ``mcpServer/elicitation/request``
  (empty form, ``_meta.codex_approval_kind = "mcp_tool_call"``, the tool's name, annotations,
  description and arguments); accept runs the call, decline and ``{}`` give the model
  "user rejected MCP tool call", cancel "user cancelled MCP tool call" (the item fails, the
  server never sees the call); an accept with ``_meta.persist = "session"`` is not asked again;
* under ``never`` such a call is not asked about: it fails with "MCP tool call requires
  approval, but approval policy is never", unless the sandbox is ``danger-full-access``.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, function_call, text

SERVER = Path(__file__).parents[1] / "support" / "mcp_servers" / "annotated.py"
NEVER = "MCP tool call requires approval, but approval policy is never"


def _home(tmp_path: Path, mock_model: MockModel, extra: str = "") -> tuple[Path, Path]:
    log = tmp_path / "calls.log"
    table = (
        f"[mcp_servers.ann]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(SERVER), '--log', str(log)])}\n{extra}"
    )
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url, extra=table)
    return home, log


async def _thread(client: AppServerClient, cwd: Path, policy: str, sandbox: str) -> str:
    started = await client.request(
        "thread/start", {"cwd": str(cwd), "approvalPolicy": policy, "sandbox": sandbox}
    )
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated", timeout=30, predicate=lambda p: p["status"] == "ready"
    )
    thread_id: str = started["thread"]["id"]
    return thread_id


async def _call(
    client: AppServerClient,
    mock_model: MockModel,
    thread_id: str,
    tool: str,
    answer: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any], Any]:
    """The model calls ``tool``; ``answer`` replies to an approval request if one comes.
    Returns (the approval request's params or None, the completed item, the model's output)."""
    call_id = f"call_{tool}_{len(mock_model.requests)}"
    mock_model.enqueue(
        function_call(tool, {"note": "x"}, call_id=call_id, namespace="mcp__ann"), text("ok")
    )
    seen = len(client.received("mcpServer/elicitation/request"))
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": f"use {tool}"}]}
    )
    asked: dict[str, Any] | None = None
    if answer is not None:
        request = await client.wait_for_request("mcpServer/elicitation/request", timeout=30)
        asked = request["params"]
        # While the approval is open the thread waits on approval (Codex's flag for it).
        flags = [
            m["params"]["status"].get("activeFlags")
            for m in client.received("thread/status/changed")
            if m["params"]["threadId"] == thread_id
        ]
        assert flags[-1] == ["waitingOnApproval"], flags
        await client.respond(request["id"], answer)
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["threadId"] == thread_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    if answer is None:
        assert len(client.received("mcpServer/elicitation/request")) == seen, "asked unexpectedly"
    [item] = [
        m["params"]["item"]
        for m in client.received("item/completed")
        if m["params"]["item"].get("id") == call_id
    ]
    outputs = [
        i
        for i in mock_model.requests[-1].body["input"]
        if i.get("type") == "function_call_output" and i.get("call_id") == call_id
    ]
    assert len(outputs) == 1
    return asked, item, outputs[0]["output"]


def _ran(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("policy", ["untrusted", "on-request"])
async def test_the_annotations_decide_which_calls_are_asked_about(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient, policy: str
) -> None:
    home, log = _home(tmp_path, mock_model)
    client = await start_client(home=home)
    thread_id = await _thread(client, tmp_path, policy, "workspace-write")
    accept = {"action": "accept", "content": None, "_meta": None}
    for tool in ("look", "tweak"):  # read-only; not destructive and not open-world
        asked, item, _ = await _call(client, mock_model, thread_id, tool)
        assert item["status"] == "completed"
    for tool in ("wipe", "web", "calm", "soft", "plain"):
        asked, item, output = await _call(client, mock_model, thread_id, tool, accept)
        assert asked is not None
        assert asked["threadId"] == thread_id and asked["serverName"] == "ann"
        assert asked["mode"] == "form"
        assert asked["message"] == f'Allow the ann MCP server to run tool "{tool}"?'
        assert asked["requestedSchema"] == {"type": "object", "properties": {}}
        meta = asked["_meta"]
        assert meta["codex_approval_kind"] == "mcp_tool_call"
        assert meta["persist"] == ["session", "always"]
        assert meta["tool_name"] == tool
        assert meta["tool_description"] == f"The {tool} tool."
        assert meta["tool_params"] == {"note": "x"}
        assert meta["tool_params_display"] == [
            {"name": "note", "value": "x", "display_name": "note"}
        ]
        assert ("tool_annotations" in meta) == (tool != "plain")
        assert item["status"] == "completed"
        assert f"ran {tool}" in json.dumps(output)
    assert _ran(log) == ["look", "tweak", "wipe", "web", "calm", "soft", "plain"]
    wipe_meta = client.received("mcpServer/elicitation/request")[0]["params"]["_meta"]
    assert wipe_meta["tool_annotations"] == {"readOnlyHint": False, "destructiveHint": True}


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"action": "decline", "content": None, "_meta": None}, "user rejected MCP tool call"),
        ({}, "user rejected MCP tool call"),
        ({"action": "cancel", "content": None, "_meta": None}, "user cancelled MCP tool call"),
    ],
)
async def test_a_refused_call_never_reaches_the_server(
    tmp_path: Path,
    mock_model: MockModel,
    start_client: StartClient,
    answer: dict[str, Any],
    said: str,
) -> None:
    home, log = _home(tmp_path, mock_model)
    client = await start_client(home=home)
    thread_id = await _thread(client, tmp_path, "untrusted", "workspace-write")
    asked, item, output = await _call(client, mock_model, thread_id, "wipe", answer)
    assert asked is not None
    assert item["status"] == "failed"
    assert item["error"] == {"message": said}
    assert item["result"] is None
    assert said in json.dumps(output)
    assert _ran(log) == []


async def test_under_never_a_call_that_needs_approval_fails_unless_nothing_is_sandboxed(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home, log = _home(tmp_path, mock_model)
    client = await start_client(home=home)
    sandboxed = await _thread(client, tmp_path, "never", "workspace-write")
    _, item, _ = await _call(client, mock_model, sandboxed, "look")
    assert item["status"] == "completed"
    _, item, output = await _call(client, mock_model, sandboxed, "wipe")
    assert item["status"] == "failed" and item["error"] == {"message": NEVER}
    assert NEVER in json.dumps(output)
    assert _ran(log) == ["look"]
    full = await _thread(client, tmp_path, "never", "danger-full-access")
    _, item, output = await _call(client, mock_model, full, "wipe")
    assert item["status"] == "completed" and "ran wipe" in json.dumps(output)
    assert _ran(log) == ["look", "wipe"]


async def test_allowed_for_the_session_is_not_asked_again(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home, log = _home(tmp_path, mock_model)
    client = await start_client(home=home)
    thread_id = await _thread(client, tmp_path, "untrusted", "workspace-write")
    session = {"action": "accept", "content": None, "_meta": {"persist": "session"}}
    asked, item, _ = await _call(client, mock_model, thread_id, "wipe", session)
    assert asked is not None and item["status"] == "completed"
    _, item, _ = await _call(client, mock_model, thread_id, "wipe")  # not asked
    assert item["status"] == "completed"
    # Another tool of the same server is still asked about.
    asked, _, _ = await _call(
        client, mock_model, thread_id, "plain", {"action": "accept", "content": None}
    )
    assert asked is not None and asked["_meta"]["tool_name"] == "plain"
    assert _ran(log) == ["wipe", "wipe", "plain"]


async def test_the_configured_approval_mode_overrides_the_annotations(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    extra = (
        'default_tools_approval_mode = "approve"\n'
        '[mcp_servers.ann.tools.look]\napproval_mode = "prompt"\n'
        '[mcp_servers.ann.tools.plain]\napproval_mode = "auto"\n'
    )
    home, log = _home(tmp_path, mock_model, extra)
    client = await start_client(home=home)
    thread_id = await _thread(client, tmp_path, "untrusted", "workspace-write")
    accept = {"action": "accept", "content": None}
    asked, _, _ = await _call(client, mock_model, thread_id, "look", accept)  # prompt: asked
    assert asked is not None and asked["_meta"]["tool_name"] == "look"
    _, item, _ = await _call(client, mock_model, thread_id, "wipe")  # the default: approve
    assert item["status"] == "completed"
    asked, _, _ = await _call(client, mock_model, thread_id, "plain", accept)  # auto: asked
    assert asked is not None
    assert _ran(log) == ["look", "wipe", "plain"]


async def test_allowed_for_good_is_written_to_the_config(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient
) -> None:
    home, log = _home(tmp_path, mock_model)
    client = await start_client(home=home)
    thread_id = await _thread(client, tmp_path, "untrusted", "workspace-write")
    always = {"action": "accept", "content": None, "_meta": {"persist": "always"}}
    asked, item, _ = await _call(client, mock_model, thread_id, "wipe", always)
    assert asked is not None and item["status"] == "completed"
    _, item, _ = await _call(client, mock_model, thread_id, "wipe")  # not asked again
    assert item["status"] == "completed"
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["mcp_servers"]["ann"]["tools"]["wipe"] == {"approval_mode": "approve"}
    assert config["mcp_servers"]["ann"]["command"] == sys.executable  # the rest kept
    assert _ran(log) == ["wipe", "wipe"]
