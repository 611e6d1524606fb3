"""Two ``threadline app-server`` processes, each with its own home (two machines), on one
PostgreSQL database (``THREADLINE_STORE_URL``): one thread space, one owner per thread.

* a thread started on A is listed and read on B; B's resume while A has it loaded
  follows it through the relay (A's turn shows on B), and B takes it over once A
  shuts down;
* SIGKILL of A mid-turn: B resumes the thread (the advisory lock dies with A's
  database session) with every item A had completed, the open turn interrupted;
* a command A had started when it was killed is not run again by B;
* ``threadline threads export`` of a thread in the database gives a rollout the real
  Codex 0.169 reads with the same turns (skipped when the binary is absent).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.e2e.conftest import launch_on_store as _launch
from tests.support.appserver import AppServerClient, RpcResponseError
from tests.support.codex_ref import CODEX_CONFIG, codex_binary
from tests.support.mock_model import Gate, MockModel, function_call, text, usage
from tests.support.postgres import pg_database_url


@pytest.fixture
def store_url() -> str:
    return pg_database_url("scale")


async def _run_turn(client: AppServerClient, thread_id: str, prompt: str) -> dict[str, Any]:
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": prompt}]}
    )
    done = await client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["threadId"] == thread_id
    )
    return dict(done["params"]["turn"])


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

    # A has it loaded: B follows it through the relay (core.relay) and sees A's turns.
    followed = await b.client.request("thread/resume", {"threadId": tid})
    assert [t["status"] for t in followed["thread"]["turns"]] == ["completed"]
    replay = await b.client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == tid
    )
    assert replay["params"]["tokenUsage"]["total"]["totalTokens"] == 1000
    second = await _run_turn(a.client, tid, "two")
    seen = await b.client.wait_for_notification(
        "turn/completed", timeout=20, predicate=lambda p: p["turn"]["id"] == second["id"]
    )
    assert seen["params"]["turn"] == second
    before = len(b.client.received("thread/status/changed"))
    await a.stop()  # shutdown releases the lease: B takes the thread over
    for _ in range(100):
        if len(b.client.received("thread/status/changed")) > before:
            break
        await asyncio.sleep(0.1)
    assert len(b.client.received("thread/status/changed")) > before

    resumed = await b.client.request("thread/resume", {"threadId": tid})
    assert [t["status"] for t in resumed["thread"]["turns"]] == ["completed", "completed"]
    assert resumed["thread"]["status"] == {"type": "idle"}
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
    # B does not follow it (test_relay.py has a follower's takeover); it reads both turns.
    read = await b.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    assert [t["id"] for t in read["thread"]["turns"]][1:] == [second["turn"]["id"]]

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


async def _codex_read(binary: Path, rollout: Path, thread_id: str, base: Path, url: str) -> Any:
    """The real Codex's ``thread/read`` (with turns) of ``rollout`` placed in a fresh home."""
    home = base / "codex-home"
    day = home / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    shutil.copy(rollout, day / rollout.name)
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=url))
    env = {**os.environ, "CODEX_HOME": str(home), "MOCK_OPENAI_API_KEY": "k", "RUST_LOG": "error"}
    proc = await asyncio.create_subprocess_exec(
        str(binary), "app-server", cwd=base, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, limit=1 << 24,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def request(rid: int, method: str, params: Any) -> Any:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"id": rid, "method": method, "params": params}) + "\n").encode())
        await proc.stdin.drain()
        while True:
            message = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
            if message.get("id") == rid and "method" not in message:
                assert "error" not in message, message
                return message["result"]

    try:
        await request(1, "initialize", {"clientInfo": {"name": "t", "title": "t", "version": "0"}})
        proc.stdin.write(b'{"method": "initialized"}\n')
        return await request(2, "thread/read", {"threadId": thread_id, "includeTurns": True})
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _shape(turns: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (t["id"], t["status"], [(i["type"], i.get("text")) for i in t["items"]]) for t in turns
    ]


async def test_exported_thread_reads_the_same_in_the_real_codex(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel, store_url: str
) -> None:
    binary = codex_binary()
    if binary is None:
        pytest.skip("the Codex 0.169 reference binary is not installed")
    mock_model.enqueue(text("first answer"), text("second answer"))
    a = await _launch(launch_server, tmp_path, mock_model, "a", store_url)
    tid = (await a.client.request("thread/start", {}))["thread"]["id"]
    await _run_turn(a.client, tid, "one")
    await _run_turn(a.client, tid, "two")
    ours = await a.client.request("thread/read", {"threadId": tid, "includeTurns": True})
    out = tmp_path / "export" / f"rollout-2026-12-01T10-00-00-{tid}.jsonl"
    out.parent.mkdir()
    env = {**os.environ, "THREADLINE_HOME": str(a.home), "THREADLINE_STORE_URL": store_url}
    exported = subprocess.run(
        [sys.executable, "-m", "threadline", "threads", "export", tid, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert exported.returncode == 0, exported.stderr
    codex = await _codex_read(binary, out, tid, tmp_path / "codex", mock_model.base_url)
    assert _shape(codex["thread"]["turns"]) == _shape(ours["thread"]["turns"])
    assert len(codex["thread"]["turns"]) == 2


async def test_an_unreachable_database_fails_requests_clearly(
    launch_server: LaunchServer, tmp_path: Path, mock_model: MockModel
) -> None:
    url = f"postgresql://postgres@/gone?host={tmp_path}/no-such-dir&connect_timeout=1"
    server = await _launch(launch_server, tmp_path, mock_model, "a", url)
    started = time.monotonic()
    for method, params in (("thread/list", {}), ("thread/start", {})):
        err = await server.client.request_error(method, params, timeout=30)
        assert "the thread database is unavailable" in err["message"], err
    assert time.monotonic() - started < 25
