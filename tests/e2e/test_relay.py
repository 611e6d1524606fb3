"""Clients on any server (issue #16): two real ``threadline app-server`` processes on one
PostgreSQL database; a client on B follows, starts, steers and interrupts a turn that A
runs, and sees exactly the notifications A's own client sees, in the same order.

* the turn's notifications on B (methods, params, order) equal A's client's, from
  ``turn/started`` to ``turn/completed``, deltas included;
* ``turn/steer`` with the wrong ``expectedTurnId`` gets A's error (code, message, data);
* the resume's usage replay goes only to B's requester, not to A's client;
* a command approval asked by A's turn reaches the client on B, whose answer runs it;
  one already open when B follows the thread is asked on B too;
* a rename on B reaches A (which keeps it in its own index writes and history); an
  archive on B is refused and B follows the thread again on the next resume;
* SIGKILL of A while B follows: B takes the thread over and its client, still
  subscribed, sees the open turn end and can run the next turn on B.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.e2e.conftest import launch_on_store as _launch
from tests.support.appserver import AppServerClient, AppServerProcess
from tests.support.mock_model import Gate, MockModel, function_call, text, usage
from tests.support.postgres import pg_database_url


@pytest.fixture
def store_url() -> str:
    return pg_database_url("relay")


def _turn_window(client: AppServerClient, turn_id: str) -> list[tuple[str, Any]]:
    """Every notification from ``turn/started`` of ``turn_id`` to its ``turn/completed``."""
    notes = [m for m in client.received() if "method" in m and "id" not in m]
    start = next(
        n for n, m in enumerate(notes)
        if m["method"] == "turn/started" and m["params"]["turn"]["id"] == turn_id
    )
    end = next(
        n for n, m in enumerate(notes)
        if m["method"] == "turn/completed" and m["params"]["turn"]["id"] == turn_id
    )
    return [(m["method"], m["params"]) for m in notes[start : end + 1]]


def _position(client: AppServerClient, what: Any, turn_id: str | None = None) -> int:
    """Where the response to request ``what`` (or notification ``what`` of ``turn_id``)
    is among the messages the client received."""
    for n, m in enumerate(client.received()):
        if turn_id is None and "method" not in m and m.get("id") == what:
            return n
        if turn_id is not None and m.get("method") == what and m["params"]["turn"]["id"] == turn_id:
            return n
    raise AssertionError(f"{what} not received")


async def _completed(client: AppServerClient, turn_id: str) -> dict[str, Any]:
    note = await client.wait_for_notification(
        "turn/completed", timeout=30, predicate=lambda p: p["turn"]["id"] == turn_id
    )
    return dict(note["params"]["turn"])


async def _first_turn(a: AppServerProcess) -> str:
    tid = str((await a.client.request("thread/start", {}))["thread"]["id"])
    turn = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]}
    )
    await _completed(a.client, turn["turn"]["id"])
    return tid


async def test_a_client_on_b_starts_steers_and_interrupts_a_turn_running_on_a(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.enqueue(text("first answer", usage=usage(input=500, output=20)))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    tid = await _first_turn(a)

    resumed = await b.client.request("thread/resume", {"threadId": tid})
    assert resumed["thread"]["id"] == tid
    assert [t["status"] for t in resumed["thread"]["turns"]] == ["completed"]
    replay = await b.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p["threadId"] == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 520
    # The replay is the requester's: A's client saw only the live update of its own turn.
    assert len(a.client.received("thread/tokenUsage/updated")) == 1

    # A turn started from B runs on A: both clients stream it.
    gate = Gate()
    mock_model.enqueue(
        text(" ".join(f"part{n}" for n in range(12)), chunks=12, delay_s=0.05),
        text("after the steer, a long answer", chunks=6, gate=gate),
    )
    answer = await b.client.call(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
    )
    turn_id = answer["result"]["turn"]["id"]
    await b.client.wait_for_notification(
        "item/agentMessage/delta", timeout=20, predicate=lambda p: p["turnId"] == turn_id
    )
    # As on A: the response first, then the turn's notifications.
    assert _position(b.client, answer["id"]) < _position(b.client, "turn/started", turn_id)
    wrong = await b.client.request_error(
        "turn/steer",
        {"threadId": tid, "expectedTurnId": "nope", "input": [{"type": "text", "text": "x"}]},
    )
    assert wrong["code"] == -32600
    assert wrong["message"] == f"expected active turn id `nope` but found `{turn_id}`"
    assert wrong["data"] == {"expectedTurnId": "nope", "activeTurnId": turn_id}
    steered = await b.client.request(
        "turn/steer",
        {"threadId": tid, "expectedTurnId": turn_id, "input": [{"type": "text", "text": "more"}]},
    )
    assert steered == {"turnId": turn_id}
    # The steered input reaches the model in a second request, which waits at the gate.
    for _ in range(200):
        if len(mock_model.requests) >= 3:
            break
        await asyncio.sleep(0.05)
    assert len(mock_model.requests) == 3
    assert "more" in str(mock_model.requests[-1].body["input"])
    stop = await b.client.call("turn/interrupt", {"threadId": tid, "turnId": turn_id})
    assert stop["result"] == {}
    gate.set()
    on_b = await _completed(b.client, turn_id)
    assert _position(b.client, stop["id"]) < _position(b.client, "turn/completed", turn_id)
    on_a = await _completed(a.client, turn_id)
    assert on_b["status"] == on_a["status"] == "interrupted"

    seen_a, seen_b = _turn_window(a.client, turn_id), _turn_window(b.client, turn_id)
    deltas = "".join(p["delta"] for m, p in seen_b if m == "item/agentMessage/delta")
    assert deltas and " ".join(f"part{n}" for n in range(12)).startswith(deltas)  # the steer cut it
    assert seen_b == seen_a  # same methods, same items, same order
    assert not a.violations() and not b.violations()

    # Idle again: B's next turn starts on A and completes for both.
    mock_model.enqueue(text("third answer"))
    third = await b.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "three"}]}
    )
    assert (await _completed(b.client, third["turn"]["id"]))["status"] == "completed"
    assert _turn_window(b.client, third["turn"]["id"]) == _turn_window(a.client, third["turn"]["id"])
    read = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert [t["status"] for t in read["thread"]["turns"]] == ["completed", "interrupted", "completed"]


async def test_an_approval_asked_on_a_is_answered_from_b(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    marker = work / "approved.txt"
    mock_model.enqueue(text("first answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    tid = str(
        (await a.client.request("thread/start", {"cwd": str(work), "approvalPolicy": "untrusted"}))[
            "thread"
        ]["id"]
    )
    first = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]}
    )
    await _completed(a.client, first["turn"]["id"])
    await b.client.request("thread/resume", {"threadId": tid})
    cmd = f"echo yes > {marker}"
    mock_model.enqueue(
        function_call("exec_command", {"cmd": cmd, "login": False}, call_id="c1"), text("done")
    )
    started = await b.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "write it"}]}
    )
    asked_b = await b.client.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    asked_a = await a.client.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    assert asked_b["params"] == asked_a["params"]
    await b.client.respond(asked_b["id"], {"decision": "accept"})
    done = await _completed(b.client, started["turn"]["id"])
    assert done["status"] == "completed"
    assert marker.read_text() == "yes\n"
    resolved = await a.client.wait_for_notification("serverRequest/resolved", timeout=10)
    assert resolved["params"] == {"threadId": tid, "requestId": asked_a["id"]}
    assert _turn_window(b.client, started["turn"]["id"]) == _turn_window(
        a.client, started["turn"]["id"]
    )


async def test_a_question_open_before_b_follows_is_asked_on_b_too(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    marker = work / "approved.txt"
    mock_model.enqueue(text("first answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    start = {"cwd": str(work), "approvalPolicy": "untrusted"}
    tid = str((await a.client.request("thread/start", start))["thread"]["id"])
    first = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]}
    )
    await _completed(a.client, first["turn"]["id"])
    mock_model.enqueue(
        function_call("exec_command", {"cmd": f"echo late > {marker}", "login": False}, call_id="c2"),
        text("done"),
    )
    started = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "write it"}]}
    )
    asked_a = await a.client.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    resumed = await b.client.request("thread/resume", {"threadId": tid})
    assert resumed["thread"]["status"] == {"type": "active", "activeFlags": ["waitingOnApproval"]}
    asked_b = await b.client.wait_for_request("item/commandExecution/requestApproval", timeout=20)
    assert asked_b["params"] == asked_a["params"]
    await b.client.respond(asked_b["id"], {"decision": "accept"})
    assert (await _completed(a.client, started["turn"]["id"]))["status"] == "completed"
    assert marker.read_text() == "late\n"
    resolved = await a.client.wait_for_notification("serverRequest/resolved", timeout=10)
    assert resolved["params"] == {"threadId": tid, "requestId": asked_a["id"]}


async def test_a_rename_on_b_sticks_on_the_owner(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.set_default(text("an answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    tid = await _first_turn(a)
    await b.client.request("thread/resume", {"threadId": tid})
    await b.client.request("thread/name/set", {"threadId": tid, "name": "named on b"})
    for _ in range(50):  # B answers once its index row is written; A applies it just after
        if (await a.client.request("thread/resume", {"threadId": tid}))["thread"]["name"]:
            break  # (a rejoin on A shows A's own thread)
        await asyncio.sleep(0.1)
    turn = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
    )
    await _completed(a.client, turn["turn"]["id"])  # A writes its index row again after it
    for client in (a.client, b.client):
        read = await client.request("thread/read", {"threadId": tid})
        assert read["thread"]["name"] == "named on b"
    # Archiving is the owner's to do; B's attempt unloads B's follower and fails...
    err = await b.client.request_error("thread/archive", {"threadId": tid})
    assert err["message"].startswith(f"thread {tid} is in use by another threadline process")
    # ...and following it again, B's client gets A's turns as before.
    await b.client.request("thread/resume", {"threadId": tid})
    third = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "three"}]}
    )
    await _completed(b.client, third["turn"]["id"])
    await a.stop()  # B takes over from the stored history, which has the rename
    for _ in range(50):
        if (await b.client.request("thread/loaded/list", {}))["data"] == [tid]:
            break
        await asyncio.sleep(0.1)
    resumed = await b.client.request("thread/resume", {"threadId": tid})
    assert resumed["thread"]["name"] == "named on b"


async def test_b_takes_over_when_the_owner_is_killed_and_its_client_carries_on(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.enqueue(text("first answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    tid = await _first_turn(a)
    await b.client.request("thread/resume", {"threadId": tid})
    gate = Gate()
    mock_model.enqueue(text("a long streaming answer that never ends", chunks=8, gate=gate))
    second = await b.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
    )
    turn_id = second["turn"]["id"]
    await b.client.wait_for_notification(
        "item/started",
        timeout=20,
        predicate=lambda p: p["turnId"] == turn_id and p["item"]["type"] == "agentMessage",
    )
    os.kill(a.proc.pid, signal.SIGKILL)
    await a.proc.wait()
    gate.set()
    ended = await _completed(b.client, turn_id)  # told by B once it has taken the thread
    assert ended["status"] == "interrupted"
    mock_model.enqueue(text("after the takeover"))
    third = await b.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "three"}]}
    )
    assert (await _completed(b.client, third["turn"]["id"]))["status"] == "completed"
    read = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert [t["status"] for t in read["thread"]["turns"]] == ["completed", "interrupted", "completed"]
    assert not b.violations()
