"""Two app-servers on one THREADLINE_HOME: a loaded thread has one writer across
processes. The second process gets a clear error naming the thread and the holder's
pid, can still list and read the thread, and takes it over once the holder is gone
(shut down or killed)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import MockModel, text, usage


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


async def test_second_process_cannot_resume_a_loaded_thread_but_can_read_it(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    mock_model.set_default(text("answer", usage=usage(input=900, output=100)))
    a = await launch_server()
    tid = (await a.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(a.client, tid, "one")

    b = await launch_server()
    err = await b.client.request_error("thread/resume", {"threadId": tid})
    assert err["code"] == -32600
    assert err["message"] == _in_use(tid, a.proc.pid)
    # Listing and reading take no lock.
    listed = await b.client.request("thread/list", {})
    assert tid in [t["id"] for t in listed["data"]]
    read = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert len(read["thread"]["turns"]) == 1
    # Archiving would move the file under the holder's feet: refused the same way.
    err = await b.client.request_error("thread/archive", {"threadId": tid})
    assert err["code"] == -32600
    assert err["message"] == _in_use(tid, a.proc.pid)

    # The holder keeps writing; the others' failed attempts changed nothing.
    await _run_turn(a.client, tid, "two")
    await _run_turn(a.client, tid, "three")
    # The same process resuming its loaded thread keeps working (rejoin).
    again = await a.client.request("thread/resume", {"threadId": tid})
    assert len(again["thread"]["turns"]) == 3
    await a.stop()  # shutdown releases the lock

    resumed = await b.client.request("thread/resume", {"threadId": tid})
    turns = resumed["thread"]["turns"]
    assert [t["status"] for t in turns] == ["completed"] * 3
    replay = await b.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 3000
    await _run_turn(b.client, tid, "four")
    await b.stop()

    c = await launch_server()
    final = await c.client.request("thread/resume", {"threadId": tid})
    assert len(final["thread"]["turns"]) == 4
    replay = await c.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 4000


async def test_started_and_forked_threads_are_locked_and_a_crash_frees_them(
    launch_server: LaunchServer, mock_model: MockModel
) -> None:
    mock_model.set_default(text("answer"))
    a = await launch_server()
    tid = (await a.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(a.client, tid, "one")
    fork = (await a.client.request("thread/fork", {"threadId": tid}))["thread"]
    assert Path(fork["path"]).exists()

    b = await launch_server()
    for thread_id in (tid, fork["id"]):
        err = await b.client.request_error("thread/resume", {"threadId": thread_id})
        assert err["message"] == _in_use(thread_id, a.proc.pid)
    by_path = {"threadId": fork["id"], "path": fork["path"]}
    err = await b.client.request_error("thread/resume", by_path)
    assert err["message"] == _in_use(fork["id"], a.proc.pid)
    # Forking reads the source only: allowed while it is loaded elsewhere.
    other = (await b.client.request("thread/fork", {"threadId": tid}))["thread"]
    assert other["id"] not in (tid, fork["id"])

    os.kill(a.proc.pid, signal.SIGKILL)  # the kernel drops a dead holder's locks
    await a.proc.wait()
    for thread_id in (tid, fork["id"]):
        resumed = await b.client.request("thread/resume", {"threadId": thread_id})
        assert resumed["thread"]["id"] == thread_id
    await _run_turn(b.client, fork["id"], "two")
    # Nothing is left behind that another process could mistake for a holder.
    await b.stop()
    locks = a.home / "locks"
    assert sorted(p.name for p in locks.iterdir()) == []
