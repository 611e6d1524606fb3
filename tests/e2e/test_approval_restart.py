"""Approvals that survive a restart (issue #11, Deliver 7 and the kill -9 acceptance point).

The mock model asks for a command that increments a counter file; under the
``untrusted`` policy the server asks the client first. The app-server subprocess is
killed with SIGKILL while that question is open (or, in the last test, after the answer
was given and while the command runs), started again on the same home, and the thread is
resumed over stdio:

* the same ``item/commandExecution/requestApproval`` (same item and turn ids) reaches
  the resuming connection; *accept* runs the command exactly once (the counter is 1)
  and the turn goes on to the model and completes under its original id;
* *decline* tells the model the command was rejected and the turn completes;
* after an answer was recorded the command is never run again: the model hears that
  its outcome is unknown, and the turn completes.

Every test runs on the local store and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient, AppServerProcess
from tests.support.mock_model import (
    MockModel,
    RecordedRequest,
    custom_tool_call,
    function_call,
    text,
)
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

INCREMENT = "n=$(cat counter.txt 2>/dev/null || echo 0); echo $((n+1)) > counter.txt"
CALL_ID = "call_counter"
PATCH_APPROVAL = "item/fileChange/requestApproval"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def _outputs(request: RecordedRequest) -> dict[str, str]:
    return {
        i["call_id"]: i["output"]
        for i in request.body["input"]
        if i.get("type") == "function_call_output"
    }


async def _kill(server: AppServerProcess) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    await server.proc.wait()


async def _ask_and_crash(
    launch_server: LaunchServer, workspace: Path, command: str
) -> tuple[str, str, dict[str, Any]]:
    """Start a thread and a turn whose command needs approval; kill -9 the server while
    the question is open. Returns the thread id, turn id and the question seen first."""
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start",
        {"cwd": str(workspace), "approvalPolicy": "untrusted", "sandbox": "workspace-write"},
    )
    thread_id = started["thread"]["id"]
    turn = await client.request(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": "count once"}]},
    )
    asked = await client.wait_for_request("item/commandExecution/requestApproval")
    assert asked["params"]["itemId"] == CALL_ID
    if command == "kill-while-asked":
        await _kill(server)
    return thread_id, turn["turn"]["id"], asked


async def _resume(
    launch_server: LaunchServer, thread_id: str
) -> tuple[AppServerClient, dict[str, Any], AppServerProcess]:
    server = await launch_server()
    client = server.client
    result = await client.request("thread/resume", {"threadId": thread_id})
    return client, result, server


def _turn(result: dict[str, Any], turn_id: str) -> dict[str, Any]:
    [turn] = [t for t in result["thread"]["turns"] if t["id"] == turn_id]
    return turn


def _after(client: AppServerClient, method: str) -> list[str]:
    """Method names received after the first ``method`` answer/notification (requests marked ``?``)."""
    names: list[str] = []
    for m in client.received():
        name = m.get("method")
        if name is None or name.endswith("/delta") or name in ("warning",):
            continue
        names.append(name + ("?" if "id" in m else ""))
    return names


async def test_kill_while_asked_then_accept_runs_the_command_exactly_once(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": INCREMENT, "login": False}, call_id=CALL_ID),
        text("Counted."),
    )
    thread_id, turn_id, first = await _ask_and_crash(launch_server, workspace, "kill-while-asked")
    assert not (workspace / "counter.txt").exists()

    client, result, server = await _resume(launch_server, thread_id)
    # The cut-off turn is shown going on (it continues right after this answer).
    assert _turn(result, turn_id)["status"] == "inProgress"
    again = await client.wait_for_request("item/commandExecution/requestApproval")
    params, before = again["params"], first["params"]
    assert (params["threadId"], params["turnId"], params["itemId"]) == (thread_id, turn_id, CALL_ID)
    assert (params["command"], params["cwd"]) == (before["command"], before["cwd"])
    assert params["availableDecisions"] == before["availableDecisions"]
    assert not (workspace / "counter.txt").exists(), "ran before the answer"
    await client.respond(again["id"], {"decision": "accept"})
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    assert (workspace / "counter.txt").read_text() == "1\n"

    # What the resuming client saw: the turn starts again under its id, the item and the
    # question, the answer resolved, the item completes, the model answers, the turn ends.
    [restarted] = client.received("turn/started")
    assert restarted["params"]["turn"]["id"] == turn_id
    assert restarted["params"]["turn"]["status"] == "inProgress"
    assert restarted["params"]["turn"]["startedAt"] == _turn(result, turn_id)["startedAt"]
    names = _after(client, "thread/resume")
    expected = [
        "turn/started",
        "item/started",
        "item/commandExecution/requestApproval?",
        "serverRequest/resolved",
        "item/completed",
    ]
    assert [n for n in names if n in expected][: len(expected)] == expected
    assert names.index("turn/completed") > names.index("item/completed")
    completed = [
        m["params"]["item"] for m in client.received("item/completed")
        if m["params"]["item"]["type"] in ("commandExecution", "agentMessage")
    ]
    assert [(i["type"], i.get("status"), i.get("text")) for i in completed] == [
        ("commandExecution", "completed", None),
        ("agentMessage", None, "Counted."),
    ]

    # The model got the command's result in a new request, in the same conversation.
    assert len(mock_model.requests) == 2
    assert "Process exited with code 0" in _outputs(mock_model.requests[1])[CALL_ID]

    # Read back (loaded) and after another restart: one turn, completed, with its items.
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    turn = _turn(read, turn_id)
    assert turn["status"] == "completed"
    assert [i["type"] for i in turn["items"]] == ["userMessage", "commandExecution", "agentMessage"]
    await server.stop()
    client2, result2, _ = await _resume(launch_server, thread_id)
    turn2 = _turn(result2, turn_id)
    assert turn2["status"] == "completed"
    assert [i["type"] for i in turn2["items"]] == ["userMessage", "commandExecution", "agentMessage"]
    await asyncio.sleep(0.5)
    assert not client2.received("item/commandExecution/requestApproval")
    assert (workspace / "counter.txt").read_text() == "1\n"
    assert len(mock_model.requests) == 2


async def test_kill_while_asked_then_decline_tells_the_model(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        function_call("exec_command", {"cmd": INCREMENT, "login": False}, call_id=CALL_ID),
        text("Not counted."),
    )
    thread_id, turn_id, _ = await _ask_and_crash(launch_server, workspace, "kill-while-asked")
    client, _, _ = await _resume(launch_server, thread_id)
    again = await client.wait_for_request("item/commandExecution/requestApproval")
    assert again["params"]["itemId"] == CALL_ID
    await client.respond(again["id"], {"decision": "decline"})
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    assert not (workspace / "counter.txt").exists()
    [item] = [
        m["params"]["item"] for m in client.received("item/completed")
        if m["params"]["item"]["type"] == "commandExecution"
    ]
    assert item["status"] == "declined"
    assert "rejected by user" in _outputs(mock_model.requests[1])[CALL_ID]


async def test_kill_after_the_answer_never_runs_the_command_twice(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path, store: StoreUnderTest
) -> None:
    # The command counts, then keeps running: the server is killed while it runs.
    slow = INCREMENT + "; sleep 30"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": slow, "login": False, "yield_time_ms": 60000},
                      call_id=CALL_ID),
        text("I will check the counter."),
    )
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start",
        {"cwd": str(workspace), "approvalPolicy": "untrusted", "sandbox": "workspace-write"},
    )
    thread_id = started["thread"]["id"]
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "count"}]}
    )
    turn_id = turn["turn"]["id"]
    asked = await client.wait_for_request("item/commandExecution/requestApproval")
    await client.respond(asked["id"], {"decision": "accept"})
    counter = workspace / "counter.txt"
    for _ in range(200):
        if counter.exists() and counter.read_text() == "1\n":
            break
        await asyncio.sleep(0.05)
    assert counter.read_text() == "1\n"
    await _kill(server)
    rollout = Path(started["thread"]["path"])
    kinds = [line["payload"].get("type") for line in store.lines(rollout)]
    assert kinds.count("client_ask_answered") == 1

    client, _, _ = await _resume(launch_server, thread_id)
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    assert not client.received("item/commandExecution/requestApproval")
    await asyncio.sleep(0.3)
    assert counter.read_text() == "1\n", "the command ran a second time"
    told = _outputs(mock_model.requests[1])[CALL_ID]
    assert "unknown" in told and "not run again" in told


async def test_kill_while_a_patch_waits_then_accept_applies_it_once(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> None:
    (workspace / "a.txt").write_text("one\ntwo\n")
    patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n*** Add File: n.txt\n+1\n*** End Patch\n"
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch, call_id="call_patch"), text("Patched.")
    )
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start",
        {"cwd": str(workspace), "approvalPolicy": "on-request", "sandbox": "read-only",
         "model": "gpt-5.5"},
    )
    thread_id = started["thread"]["id"]
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "edit"}]}
    )
    turn_id = turn["turn"]["id"]
    first = await client.wait_for_request(PATCH_APPROVAL)
    assert first["params"]["itemId"] == "call_patch"
    await _kill(server)
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"

    client, result, _ = await _resume(launch_server, thread_id)
    assert _turn(result, turn_id)["status"] == "inProgress"
    again = await client.wait_for_request(PATCH_APPROVAL)
    assert (again["params"]["turnId"], again["params"]["itemId"]) == (turn_id, "call_patch")
    await client.respond(again["id"], {"decision": "accept"})
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    assert (workspace / "a.txt").read_text() == "one\nTWO\n"
    assert (workspace / "n.txt").read_text() == "1\n"
    [item] = [
        m["params"]["item"] for m in client.received("item/completed")
        if m["params"]["item"]["type"] == "fileChange"
    ]
    assert item["status"] == "completed"
    answer = {
        i["call_id"]: i["output"] for i in mock_model.requests[1].body["input"]
        if i.get("type") == "custom_tool_call_output"
    }["call_patch"]
    assert "Success. Updated the following files:" in str(answer)


async def test_kill_while_a_client_tool_call_waits_asks_the_resuming_client(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> None:
    # Not only approvals: any question a tool asks the client (here a client-defined
    # tool's item/tool/call) is asked again after a restart and its answer reaches the model.
    ticket = {
        "type": "function",
        "name": "lookup_ticket",
        "description": "Look up a ticket by id",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
    mock_model.enqueue(
        function_call("lookup_ticket", {"id": "7"}, call_id="call_ticket"), text("It is open.")
    )
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start", {"cwd": str(workspace), "dynamicTools": [ticket]}
    )
    thread_id = started["thread"]["id"]
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "ticket 7?"}]}
    )
    turn_id = turn["turn"]["id"]
    first = await client.wait_for_request("item/tool/call")
    await _kill(server)

    client, _, _ = await _resume(launch_server, thread_id)
    again = await client.wait_for_request("item/tool/call")
    assert again["params"] == {**first["params"], "turnId": turn_id}
    reply = {"contentItems": [{"type": "inputText", "text": "ticket 7: open"}], "success": True}
    await client.respond(again["id"], reply)
    done = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    assert done["params"]["turn"]["status"] == "completed"
    assert "ticket 7: open" in json.dumps(_outputs(mock_model.requests[1])["call_ticket"])
