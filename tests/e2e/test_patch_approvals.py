"""Patch approvals over the real stdio app-server, each decision checked on the filesystem.

``read-only`` with ``on-request`` asks before every patch (Codex does the same); the
order of messages around ``item/fileChange/requestApproval`` is the one the real
``codex app-server`` 0.169 sent for the same scenario against this mock model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import StartClient
from tests.e2e.test_apply_patch import (
    file_items,
    order,
    populate,
    start_thread,
    tool_outputs,
)
from tests.e2e.test_turns import of, start_turn
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, custom_tool_call, text

APPROVAL = "item/fileChange/requestApproval"


def patch_for(name: str, old: str = "two", new: str = "TWO") -> str:
    return f"*** Begin Patch\n*** Update File: {name}\n@@\n one\n-{old}\n+{new}\n*** End Patch\n"


async def drive(
    client: AppServerClient, turn_id: str, decisions: list[Any], timeout: float = 15
) -> list[dict[str, Any]]:
    """Messages until ``turn/completed``, answering each patch approval with the next of
    ``decisions`` (a decision string, or ``Exception`` to answer with a JSON-RPC error)."""
    pending = list(decisions)
    out: list[dict[str, Any]] = []
    while True:
        message = await client.next_message(timeout)
        out.append(message)
        if message.get("method") == APPROVAL and "id" in message:
            decision = pending.pop(0)
            if decision is Exception:
                await client.respond_error(message["id"], -32000, "no user here")
            else:
                await client.respond(message["id"], {"decision": decision})
        if message.get("method") == "turn/completed" and message["params"]["turn"]["id"] == turn_id:
            assert not pending, f"approvals never asked: {pending}"
            return out


def requests_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("method") == APPROVAL and "id" in m]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    populate(path, {"a.txt": "one\ntwo\n", "b.txt": "one\ntwo\n"})
    return path


async def test_accept_writes_the_patch_in_codexs_order(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_a"), text("ok")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="on-request", sandbox="read-only")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, ["accept"])

    assert (workspace / "a.txt").read_bytes() == b"one\nTWO\n"
    [request] = requests_of(messages)
    params = request["params"]
    [started] = file_items(messages, "item/started")
    assert params == {
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": "call_a",
        "startedAtMs": started["startedAtMs"],
        "reason": None,
        "grantRoot": None,
    }
    [resolved] = of(messages, "serverRequest/resolved")
    assert resolved == {"threadId": thread_id, "requestId": request["id"]}
    [done] = file_items(messages, "item/completed")
    assert done["status"] == "completed"
    # Codex 0.169's order (it also repeats turn/diff/updated after each model response,
    # and sends patchUpdated only with its apply_patch_streaming_events feature).
    assert order(messages) == [
        "thread/status/changed:active",
        "turn/started",
        "item/started:userMessage",
        "item/completed:userMessage",
        "item/fileChange/patchUpdated",
        "item/started:fileChange",
        "thread/status/changed:waitingOnApproval",
        f"{APPROVAL}?",
        "serverRequest/resolved",
        "thread/status/changed:active",
        "item/completed:fileChange",
        "turn/diff/updated",
        "item/started:agentMessage",
        "item/completed:agentMessage",
        "thread/status/changed:idle",
        "turn/completed",
    ]
    output = tool_outputs(mock_model.requests[1])["call_a"]
    assert output.startswith("Exit code: 0\n") and output.endswith("\nM a.txt\n")


async def test_accept_for_session_covers_later_patches_to_the_same_file(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_1"),
        text("first"),
        custom_tool_call("apply_patch", patch_for("a.txt", "TWO", "2"), call_id="call_2"),
        text("second"),
        custom_tool_call("apply_patch", patch_for("b.txt"), call_id="call_3"),
        text("third"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="on-request", sandbox="read-only")

    first = await drive(client, await start_turn(client, thread_id, "one"), ["acceptForSession"])
    assert len(requests_of(first)) == 1
    assert (workspace / "a.txt").read_bytes() == b"one\nTWO\n"

    second = await drive(client, await start_turn(client, thread_id, "two"), [])
    assert requests_of(second) == []
    assert (workspace / "a.txt").read_bytes() == b"one\n2\n"
    [done] = file_items(second, "item/completed")
    assert done["status"] == "completed"

    # Codex keys the session approval by file: another file is asked about again.
    third = await drive(client, await start_turn(client, thread_id, "three"), ["decline"])
    assert len(requests_of(third)) == 1
    assert (workspace / "b.txt").read_bytes() == b"one\ntwo\n"


async def test_decline_leaves_the_file_and_tells_the_model(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_d"), text("ok")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="on-request", sandbox="read-only")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, ["decline"])

    assert (workspace / "a.txt").read_bytes() == b"one\ntwo\n"
    [done] = file_items(messages, "item/completed")
    assert done["status"] == "declined"
    assert not of(messages, "turn/diff/updated")
    assert tool_outputs(mock_model.requests[1])["call_d"] == "patch rejected by user"
    assert order(messages)[5:11] == [
        "item/started:fileChange",
        "thread/status/changed:waitingOnApproval",
        f"{APPROVAL}?",
        "serverRequest/resolved",
        "thread/status/changed:active",
        "item/completed:fileChange",
    ]


async def test_cancel_interrupts_the_turn_and_writes_nothing(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_c"),
        text("never sent"),
        text("after the cancel"),
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="on-request", sandbox="read-only")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, ["cancel"])

    assert (workspace / "a.txt").read_bytes() == b"one\ntwo\n"
    [completed] = of(messages, "turn/completed")
    assert completed["turn"]["status"] == "interrupted"
    # As Codex: the fileChange item is announced but never completed.
    assert len(file_items(messages, "item/started")) == 1
    assert not file_items(messages, "item/completed")
    assert len(mock_model.requests) == 1

    # The next turn tells the model the call was aborted.
    await drive(client, await start_turn(client, thread_id, "again"), [])
    output = tool_outputs(mock_model.requests[1])["call_c"]
    assert output.startswith("aborted by user after ")


async def test_read_only_never_refuses_without_asking(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_n"), text("ok")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="never", sandbox="read-only")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, [])
    assert (workspace / "a.txt").read_bytes() == b"one\ntwo\n"
    assert tool_outputs(mock_model.requests[1])["call_n"] == (
        "patch rejected: writing outside of the project; rejected by user approval settings"
    )
    assert not file_items(messages, "item/started")


async def test_untrusted_asks_even_inside_the_workspace(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_u"), text("ok")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="untrusted")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, ["accept"])
    assert len(requests_of(messages)) == 1
    assert (workspace / "a.txt").read_bytes() == b"one\nTWO\n"


async def test_a_client_that_cannot_answer_declines(
    start_client: StartClient, mock_model: MockModel, workspace: Path
) -> None:
    mock_model.enqueue(
        custom_tool_call("apply_patch", patch_for("a.txt"), call_id="call_e"), text("ok")
    )
    client = await start_client()
    thread_id = await start_thread(client, workspace, approval="on-request", sandbox="read-only")
    turn_id = await start_turn(client, thread_id, "edit a")
    messages = await drive(client, turn_id, [Exception])
    assert (workspace / "a.txt").read_bytes() == b"one\ntwo\n"
    [done] = file_items(messages, "item/completed")
    assert done["status"] == "declined"
