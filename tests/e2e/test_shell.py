"""``exec_command`` over the real stdio app-server: sandboxing, approvals, message order.

The mock model asks for commands with ``function_call("exec_command", …)``; the commands
really run (under real bubblewrap) in the test's workspace. Message order is compared with
the reference traces s02_tool_call and s03_approval_* as far as threadline emits those
notifications (usage updates are left out of the comparison: threadline sends them when
the model response ends, Codex after the tool ran).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient
from tests.e2e.test_turns import TRACES, collect_turn, of, start_turn
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, RecordedRequest, function_call, text
from tests.support.stores import StoreUnderTest, both_stores

_IGNORED = {"warning", "<answer>"}
_DECLINED_TEXT = "rejected by user"


def shell_call(cmd: str, call_id: str) -> Any:
    return function_call("exec_command", {"cmd": cmd, "login": False}, call_id=call_id)


async def start_thread(
    client: AppServerClient, cwd: Path, *, approval: str = "never", sandbox: str = "workspace-write"
) -> str:
    result = await client.request(
        "thread/start", {"cwd": str(cwd), "approvalPolicy": approval, "sandbox": sandbox}
    )
    await client.wait_for_notification("thread/started")
    thread_id: str = result["thread"]["id"]
    return thread_id


def comparable(messages: list[dict[str, Any]]) -> list[str]:
    """Method names (requests marked ``?``), without usage, deltas and answers."""
    out = []
    for m in messages:
        name = m.get("method", "<answer>")
        if name in _IGNORED or name.endswith("/delta") or name.endswith("outputDelta"):
            continue
        out.append(name + ("?" if "id" in m and "method" in m else ""))
    return out


def reference(trace: str) -> list[str]:
    """The same view of a reference trace, from its ``turn/start`` to ``turn/completed``."""
    messages = []
    started = False
    for line in (TRACES / trace).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        msg = record.get("msg") or {}
        if record["dir"] == "c2s" and msg.get("method") == "turn/start":
            started = True
        elif started and record["dir"] == "s2c":
            messages.append(msg)
            if msg.get("method") == "turn/completed":
                break
    return comparable(messages)


def outputs(request: RecordedRequest) -> dict[str, str]:
    """``call_id`` → ``function_call_output.output`` in what the model was sent."""
    return {
        i["call_id"]: i["output"]
        for i in request.body["input"]
        if i.get("type") == "function_call_output"
    }


def command_items(messages: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [p["item"] for p in of(messages, method) if p["item"]["type"] == "commandExecution"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def outside() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="threadline-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- s02: commands run, stream, and their output reaches the model ------------------------


async def test_commands_run_and_match_s02_order(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        shell_call("echo hi", "call_s02_echo"),
        shell_call("for i in 1 2 3; do echo line$i; sleep 0.2; done", "call_s02_loop"),
        shell_call("ls /definitely-not-here", "call_s02_fail"),
        text("The command printed: hi"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace)
    turn_id = await start_turn(client, thread_id, "Run `echo hi`")
    messages = await collect_turn(client, turn_id)

    assert comparable(messages) == reference("s02_tool_call.jsonl")

    started = command_items(messages, "item/started")
    done = command_items(messages, "item/completed")
    assert [i["id"] for i in done] == ["call_s02_echo", "call_s02_loop", "call_s02_fail"]
    assert [i["id"] for i in started] == [i["id"] for i in done]
    assert all(
        i["status"] == "inProgress" and i["source"] == "unifiedExecStartup" and i["processId"]
        for i in started
    )
    assert started[0]["command"] == "/bin/bash -c 'echo hi'"
    assert started[0]["cwd"] == str(workspace)
    assert [(i["status"], i["exitCode"]) for i in done] == [
        ("completed", 0),
        ("completed", 0),
        ("failed", 2),
    ]
    assert done[0]["aggregatedOutput"] == "hi\n"
    assert done[1]["aggregatedOutput"] == "line1\nline2\nline3\n"
    assert done[1]["durationMs"] >= 400
    assert "No such file or directory" in done[2]["aggregatedOutput"]
    assert done[2]["commandActions"] == [
        {"type": "listFiles", "command": "ls /definitely-not-here", "path": "/definitely-not-here"}
    ]
    # The loop's lines streamed as outputDelta notifications for that item.
    loop_deltas = [
        p["delta"]
        for p in of(messages, "item/commandExecution/outputDelta")
        if p["itemId"] == "call_s02_loop"
    ]
    assert "".join(loop_deltas) == "line1\nline2\nline3\n" and len(loop_deltas) == 3
    # Commands are not part of the turn summary; the final answer is.
    [completed] = of(messages, "turn/completed")
    assert [i["type"] for i in completed["turn"]["items"]] == ["agentMessage"]

    requests = mock_model.requests
    assert len(requests) == 4
    tool = next(t for t in requests[0].body["tools"] if t.get("name") == "exec_command")
    assert tool["parameters"]["required"] == ["cmd"]
    assert tool["parameters"]["additionalProperties"] is False
    final = outputs(requests[3])
    assert final["call_s02_echo"].startswith("Chunk ID: ")
    assert "Process exited with code 0\n" in final["call_s02_echo"]
    assert final["call_s02_echo"].endswith("Output:\nhi\n")
    assert final["call_s02_loop"].endswith("Output:\nline1\nline2\nline3\n")
    assert "Process exited with code 2\n" in final["call_s02_fail"]
    assert outputs(requests[1]) == {"call_s02_echo": final["call_s02_echo"]}


# ---- sandbox modes ----------------------------------------------------------------------------


async def test_read_only_sandbox_blocks_a_write(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(shell_call("touch blocked.txt", "call_ro"), text("It failed."))
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox="read-only")
    messages = await collect_turn(client, await start_turn(client, thread_id, "touch it"))

    assert not (workspace / "blocked.txt").exists()
    [item] = command_items(messages, "item/completed")
    assert (item["status"], item["exitCode"]) == ("failed", 1)
    assert "Read-only file system" in item["aggregatedOutput"]
    assert "Read-only file system" in outputs(mock_model.requests[1])["call_ro"]


async def test_workspace_write_allows_cwd_but_not_outside(
    start_client: StartClient, mock_model: MockModel, workspace: Path, outside: Path
) -> None:
    mock_model.enqueue(
        shell_call("echo inside > inside.txt", "call_in"),
        shell_call(f"echo outside > {outside}/outside.txt", "call_out"),
        text("Done."),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, sandbox="workspace-write")
    messages = await collect_turn(client, await start_turn(client, thread_id, "write files"))

    assert (workspace / "inside.txt").read_text() == "inside\n"
    assert not (outside / "outside.txt").exists()
    items = {i["id"]: i for i in command_items(messages, "item/completed")}
    assert items["call_in"]["status"] == "completed"
    assert items["call_out"]["status"] == "failed"
    assert "Read-only file system" in outputs(mock_model.requests[2])["call_out"]


# ---- s03: approvals ----------------------------------------------------------------------------


async def _approval_turn(
    client: AppServerClient, workspace: Path, decision: str, filename: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run an ``untrusted`` turn whose command needs approval; answer with ``decision``.

    Returns every s2c message from the ``turn/start`` answer to ``turn/completed`` in
    arrival order (the approval request included), and the request.
    """
    thread_id = await start_thread(client, workspace, approval="untrusted")
    first = len(client.received())
    turn_id = await start_turn(client, thread_id, f"Create {filename} with touch.")
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    # Nothing runs while the question is open.
    assert not (workspace / filename).exists()
    await client.respond(request["id"], {"decision": decision})
    await collect_turn(client, turn_id)
    return client.received()[first:], request


async def test_untrusted_accept_runs_the_command_in_s03_order(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        function_call(
            "exec_command", {"cmd": "touch approved.txt"}, call_id="call_s03_approval_accept"
        ),
        text("Finished (accept)."),
    )
    client = await start_client()
    messages, request = await _approval_turn(client, workspace, "accept", "approved.txt")

    assert (workspace / "approved.txt").exists()
    assert comparable(messages) == reference("s03_approval_accept.jsonl")
    params = request["params"]
    assert list(params) == [
        "kind",
        "threadId",
        "turnId",
        "itemId",
        "startedAtMs",
        "environmentId",
        "command",
        "cwd",
        "commandActions",
        "proposedExecpolicyAmendment",
        "availableDecisions",
    ]
    assert params["itemId"] == "call_s03_approval_accept"
    assert params["command"] == "/bin/bash -lc 'touch approved.txt'"
    assert params["commandActions"] == [{"type": "unknown", "command": "touch approved.txt"}]
    assert params["proposedExecpolicyAmendment"] == ["touch", "approved.txt"]
    assert params["availableDecisions"] == [
        "accept",
        {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["touch", "approved.txt"]}},
        "cancel",
    ]
    [resolved] = of(messages, "serverRequest/resolved")
    assert resolved["requestId"] == request["id"]
    flags = [s["status"].get("activeFlags") for s in of(messages, "thread/status/changed")]
    assert flags == [[], ["waitingOnApproval"], [], None]
    [started] = command_items(messages, "item/started")
    assert (started["source"], started["processId"]) == ("agent", None)
    [done] = command_items(messages, "item/completed")
    assert (done["status"], done["exitCode"], done["source"]) == (
        "completed",
        0,
        "unifiedExecStartup",
    )
    assert done["processId"] is not None
    answer = outputs(mock_model.requests[1])["call_s03_approval_accept"]
    assert "Process exited with code 0" in answer


async def test_untrusted_decline_does_not_run_the_command_in_s03_order(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        function_call(
            "exec_command", {"cmd": "touch declined.txt"}, call_id="call_s03_approval_decline"
        ),
        text("Finished (decline)."),
    )
    client = await start_client()
    messages, _ = await _approval_turn(client, workspace, "decline", "declined.txt")

    assert not (workspace / "declined.txt").exists()
    assert comparable(messages) == reference("s03_approval_decline.jsonl")
    [done] = command_items(messages, "item/completed")
    assert (done["status"], done["processId"], done["exitCode"]) == ("declined", None, None)
    assert _DECLINED_TEXT in outputs(mock_model.requests[1])["call_s03_approval_decline"]
    [turn] = of(messages, "turn/completed")
    assert turn["turn"]["status"] == "completed"


async def test_cancel_decision_interrupts_the_turn(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(function_call("exec_command", {"cmd": "touch c.txt"}, call_id="call_c"))
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="untrusted")
    turn_id = await start_turn(client, thread_id, "touch c.txt")
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    await client.respond(request["id"], {"decision": "cancel"})
    messages = await collect_turn(client, turn_id)

    assert not (workspace / "c.txt").exists()
    [turn] = of(messages, "turn/completed")
    assert turn["turn"]["status"] == "interrupted"
    [done] = command_items(messages, "item/completed")
    assert done["status"] == "declined"
    assert len(mock_model.requests) == 1  # the model is not sampled again


async def test_interrupt_while_waiting_for_approval_resolves_the_request(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(function_call("exec_command", {"cmd": "touch i.txt"}, call_id="call_i"))
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="untrusted")
    turn_id = await start_turn(client, thread_id, "touch i.txt")
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    messages = await collect_turn(client, turn_id)

    resolved = of(messages, "serverRequest/resolved")
    assert [r["requestId"] for r in resolved] == [request["id"]]
    [turn] = of(messages, "turn/completed")
    assert turn["turn"]["status"] == "interrupted"
    assert not (workspace / "i.txt").exists()
    # A late answer is harmless: the command still does not run.
    await client.respond(request["id"], {"decision": "accept"})
    thread = await client.request("thread/read", {"threadId": thread_id})
    assert thread["thread"]["status"]["type"] == "idle"
    assert not (workspace / "i.txt").exists()


@both_stores
@pytest.mark.parametrize("extended", [False, True])
async def test_exec_command_end_is_persisted_only_in_extended_mode(
    start_client: StartClient, mock_model: MockModel, workspace: Path, extended: bool,
    store: StoreUnderTest,
) -> None:
    mock_model.enqueue(shell_call("echo persisted", "call_p"), text("ok"))
    client = await start_client()
    result = await client.request(
        "thread/start",
        {
            "cwd": str(workspace),
            "approvalPolicy": "never",
            "sandbox": "workspace-write",
            "persistExtendedHistory": extended,
        },
    )
    thread_id = result["thread"]["id"]
    await collect_turn(client, await start_turn(client, thread_id, "echo"))
    lines = store.lines(result["thread"]["path"])
    ends = [
        line["payload"]
        for line in lines
        if line["type"] == "event_msg" and line["payload"]["type"] == "exec_command_end"
    ]
    outputs_ = [
        line["payload"]
        for line in lines
        if line["type"] == "response_item" and line["payload"]["type"] == "function_call_output"
    ]
    assert len(outputs_) == 1 and outputs_[0]["call_id"] == "call_p"
    if extended:
        [end] = ends
        assert (end["call_id"], end["exit_code"]) == ("call_p", 0)
        assert end["command"] == ["/bin/bash", "-c", "echo persisted"]
        assert end["aggregated_output"] == "persisted\n"
    else:
        assert ends == []


async def test_accept_for_session_is_not_asked_again_for_the_same_command(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    cmd = "echo ran >> session.log"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": cmd}, call_id="call_s1"),
        text("first done"),
        function_call("exec_command", {"cmd": cmd}, call_id="call_s2"),
        text("second done"),
        function_call("exec_command", {"cmd": "touch other.txt"}, call_id="call_s3"),
        text("third done"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="untrusted")
    first = await start_turn(client, thread_id, "log once")
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    assert request["params"]["itemId"] == "call_s1"
    await client.respond(request["id"], {"decision": "acceptForSession"})
    await collect_turn(client, first)
    assert (workspace / "session.log").read_text() == "ran\n"

    # The same command again in a later turn of the thread: it runs without a question.
    messages = await collect_turn(client, await start_turn(client, thread_id, "log again"))
    assert [m for m in messages if m.get("method", "").endswith("requestApproval")] == []
    assert (workspace / "session.log").read_text() == "ran\nran\n"

    # A different command is still asked about; declining leaves the disk alone.
    third = await start_turn(client, thread_id, "touch other")
    request = await client.wait_for_request("item/commandExecution/requestApproval")
    assert request["params"]["itemId"] == "call_s3"
    await client.respond(request["id"], {"decision": "decline"})
    await collect_turn(client, third)
    assert not (workspace / "other.txt").exists()
