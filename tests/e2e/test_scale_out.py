"""Two ``threadline app-server`` processes, each with its own home (two machines), on one
PostgreSQL database (``THREADLINE_STORE_URL``): one thread space, one owner per thread.

* a thread started on A is listed and read on B; B's resume is refused (naming A's
  pid) while A has it loaded, and succeeds once A shuts down;
* SIGKILL of A mid-turn: B resumes the thread (the advisory lock dies with A's
  database session) with every item A had completed, the open turn interrupted;
* a command A had started when it was killed is not run again by B.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer, write_mock_config
from tests.support.appserver import AppServerClient, AppServerProcess, RpcResponseError
from tests.support.mock_model import Gate, MockModel, function_call, text, usage
from tests.support.postgres import pg_database_url


@pytest.fixture
def store_url() -> str:
    return pg_database_url("scale")


async def _launch(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, name: str, url: str
) -> AppServerProcess:
    home = tmp_path / name
    write_mock_config(home, mock_model.base_url)
    return await launch_server(home=home, env={"THREADLINE_STORE_URL": url})


async def _run_turn(client: AppServerClient, thread_id: str, prompt: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
    )
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == thread_id
    )
    return dict(done["params"]["turn"])


def _in_use(thread_id: str, pid: int) -> str:
    return f"thread {thread_id} is in use by another threadline process (pid {pid})"


async def test_thread_started_on_a_is_listed_read_and_resumed_on_b(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    mock_model.set_default(text("answer", usage=usage(input=900, output=100)))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    tid = (await a.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(a.client, tid, "one")
    await a.client.request("thread/name/set", {"threadId": tid, "name": "shared thread"})

    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    listed = await b.client.request("thread/list", {})
    assert [(t["id"], t["name"], t["preview"]) for t in listed["data"]] == [
        (tid, "shared thread", "one")
    ]
    found = await b.client.request("thread/list", {"searchTerm": "SHARED"})
    assert [t["id"] for t in found["data"]] == [tid]
    read = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert [i["type"] for i in read["thread"]["turns"][0]["items"]] == ["userMessage", "agentMessage"]
    # B's home has no rollout: everything came from the database.
    assert not (b.home / "sessions").exists() and not (a.home / "sessions").exists()

    err = await b.client.request_error("thread/resume", {"threadId": tid})
    assert err["code"] == -32600
    assert err["message"] == _in_use(tid, a.proc.pid)

    await _run_turn(a.client, tid, "two")
    await a.stop()  # shutdown releases the lease

    resumed = await b.client.request("thread/resume", {"threadId": tid})
    assert [t["status"] for t in resumed["thread"]["turns"]] == ["completed", "completed"]
    replay = await b.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 2000
    turn = await _run_turn(b.client, tid, "three")
    assert turn["status"] == "completed"
    final = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert len(final["thread"]["turns"]) == 3


async def test_sigkill_of_the_owner_mid_turn_lets_b_resume(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    mock_model.enqueue(text("first answer", usage=usage(input=100, output=10)))
    tid = (await a.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(a.client, tid, "one")
    gate = Gate()
    mock_model.enqueue(text("a long streaming answer that never ends", chunks=8, gate=gate))
    second = await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
    )
    await a.client.wait_for_notification(
        "item/started",
        timeout=20,
        predicate=lambda p: p["turnId"] == second["turn"]["id"]
        and p["item"]["type"] == "agentMessage",
    )
    err = await b.client.request_error("thread/resume", {"threadId": tid})
    assert err["message"] == _in_use(tid, a.proc.pid)

    os.kill(a.proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    await a.proc.wait()
    gate.set()
    result: dict[str, Any] | None = None
    while result is None and time.monotonic() - killed_at < 15:
        try:
            result = await b.client.request("thread/resume", {"threadId": tid})
        except RpcResponseError:
            await asyncio.sleep(0.2)
    assert result is not None, "B could not take the thread over within 15 s"
    turns = result["thread"]["turns"]
    assert [t["status"] for t in turns] == ["completed", "interrupted"]
    assert [i["type"] for i in turns[0]["items"]] == ["userMessage", "agentMessage"]
    assert [i["type"] for i in turns[1]["items"]][:1] == ["userMessage"]
    mock_model.enqueue(text("after the takeover"))
    assert (await _run_turn(b.client, tid, "three"))["status"] == "completed"


async def test_a_command_started_before_the_kill_is_not_run_again(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    marker = work / "ran.txt"
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    b = await _launch(launch_server, tmp_path, mock_model, "b", store_url)
    cmd = f"echo ran >> {marker} && sleep 30"
    mock_model.enqueue(function_call("exec_command", {"cmd": cmd, "login": False}, call_id="c1"))
    tid = (await a.client.request("thread/start", {"cwd": str(work)}))["thread"]["id"]
    await a.client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "run it"}]}
    )
    await a.client.wait_for_notification(
        "item/started", timeout=20, predicate=lambda p: p["item"]["type"] == "commandExecution"
    )
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert marker.read_text() == "ran\n"
    os.kill(a.proc.pid, signal.SIGKILL)
    await a.proc.wait()

    resumed = await b.client.request("thread/resume", {"threadId": tid})
    turns = resumed["thread"]["turns"]
    assert [t["status"] for t in turns] == ["interrupted"]
    mock_model.enqueue(text("done"))
    assert (await _run_turn(b.client, tid, "carry on"))["status"] == "completed"
    assert marker.read_text() == "ran\n"  # B never ran the command again
    last = mock_model.requests[-1].body
    calls = [i for i in last["input"] if i.get("type") == "function_call"]
    assert [c["call_id"] for c in calls] == ["c1"]  # the call A recorded, once
