"""Command executions and file changes survive a restart (issue #11, Deliver 6).

* threadline writes a finished command and a finished patch as Codex 0.169 does, an
  ``item_completed`` line carrying Codex's core ``CommandExecution`` / ``FileChange``
  item, and ``thread/read`` / ``thread/resume`` show them after a restart as the live
  ``item/completed`` showed them;
* a rollout the real Codex 0.169 wrote (``data/codex_0169_command_and_patch.jsonl``: one
  approved ``exec_command``, one approved freeform ``apply_patch``) comes back here with
  the items Codex's own ``thread/resume`` returned for it (``….resume.json``);
* the real Codex reads what threadline wrote (skipped when the reference binary is not
  installed): it resumes the file and runs a turn on it, a file with a turn cut off while
  an approval was pending (``client_ask_*`` lines) included.

Every message threadline sends is checked against the reference schema by the fixtures.
Each test runs on the local store and on PostgreSQL (the Codex rollout imported into the
database; what Codex reads is then ``threadline threads export``'s file).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.codex_ref import CODEX_CONFIG
from tests.support.codex_ref import codex_binary as _codex_binary
from tests.support.mock_model import MockModel, custom_tool_call, function_call, text
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

DATA = Path(__file__).parent / "data"
CODEX_ROLLOUT = DATA / "codex_0169_command_and_patch.jsonl"
CODEX_RESUME = DATA / "codex_0169_command_and_patch.resume.json"
PATCH = "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+TWO\n*** Add File: b.txt\n+new\n*** End Patch\n"
COMMAND_KEYS = (
    "id",
    "command",
    "cwd",
    "source",
    "status",
    "commandActions",
    "aggregatedOutput",
    "exitCode",
    "durationMs",
    "startedAtMs",
    "completedAtMs",
)
FILE_KEYS = ("id", "changes", "status", "startedAtMs", "completedAtMs")


def _view(item: dict[str, Any]) -> dict[str, Any]:
    keys = COMMAND_KEYS if item["type"] == "commandExecution" else FILE_KEYS
    return {"type": item["type"], **{k: item.get(k) for k in keys}}


def _tool_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_view(i) for i in items if i["type"] in ("commandExecution", "fileChange")]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    (path / "a.txt").write_text("one\ntwo\n")
    return path


async def _command_and_patch_turn(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path
) -> tuple[str, str, list[dict[str, Any]], Path]:
    """One turn with a command and a patch (no approvals); returns the thread and turn
    ids, the tool items the live ``item/completed`` carried, and the rollout path."""
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "echo hi", "login": False}, call_id="call_cmd"),
        custom_tool_call("apply_patch", PATCH, call_id="call_patch"),
        text("done"),
    )
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start",
        {
            "cwd": str(workspace),
            "approvalPolicy": "never",
            "sandbox": "workspace-write",
            "model": "gpt-5.5",
        },
    )
    thread_id = started["thread"]["id"]
    turn = await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
    )
    await client.wait_for_notification("turn/completed", timeout=30)
    live = _tool_items([m["params"]["item"] for m in client.received("item/completed")])
    await server.stop()
    assert (workspace / "a.txt").read_text() == "one\nTWO\n"
    return thread_id, turn["turn"]["id"], live, Path(started["thread"]["path"])


async def test_commands_and_file_changes_come_back_after_a_restart(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path, store: StoreUnderTest
) -> None:
    thread_id, turn_id, live, rollout = await _command_and_patch_turn(
        launch_server, mock_model, workspace
    )
    assert [(i["type"], i["id"], i["status"]) for i in live] == [
        ("commandExecution", "call_cmd", "completed"),
        ("fileChange", "call_patch", "completed"),
    ]

    # Written as Codex writes them: item_completed with its core items, same keys.
    lines = store.lines(rollout)
    ours = {
        line["payload"]["item"]["type"]: line["payload"]["item"]
        for line in lines
        if line["type"] == "event_msg" and line["payload"]["type"] == "item_completed"
    }
    codex = {
        line["payload"]["item"]["type"]: line["payload"]["item"]
        for line in map(json.loads, CODEX_ROLLOUT.read_text().splitlines())
        if line["type"] == "event_msg" and line["payload"]["type"] == "item_completed"
    }
    for kind in ("CommandExecution", "FileChange"):
        assert set(ours[kind]) == set(codex[kind]), kind
    assert ours["CommandExecution"]["command"] == ["/bin/bash", "-c", "echo hi"]
    assert ours["CommandExecution"]["cwd"] == "file://" + str(workspace)
    assert set(ours["FileChange"]["changes"]) == {
        str(workspace / "a.txt"),
        str(workspace / "b.txt"),
    }

    server = await launch_server()
    client = server.client
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    [turn] = read["thread"]["turns"]
    assert turn["id"] == turn_id
    assert [i["type"] for i in turn["items"]] == [
        "userMessage",
        "commandExecution",
        "fileChange",
        "agentMessage",
    ]
    assert _tool_items(turn["items"]) == live
    resumed = await client.request("thread/resume", {"threadId": thread_id})
    assert _tool_items(resumed["thread"]["turns"][0]["items"]) == live


async def test_a_rollout_codex_wrote_shows_its_commands_and_file_changes(
    launch_server: LaunchServer, mock_home: Path, store: StoreUnderTest
) -> None:
    expected = json.loads(CODEX_RESUME.read_text())
    thread_id = expected["thread_id"]
    day = mock_home / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    copy = day / f"rollout-2026-12-01T14-23-46-{thread_id}.jsonl"
    shutil.copy(CODEX_ROLLOUT, copy)
    await store.seed(copy)
    server = await launch_server()
    client = server.client
    read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    resumed = await client.request("thread/resume", {"threadId": thread_id})
    [want] = expected["turns"]
    for got in (read["thread"]["turns"], resumed["thread"]["turns"]):
        [turn] = got
        assert turn["id"] == want["id"]
        assert [i["type"] for i in turn["items"]] == [i["type"] for i in want["items"]]
        assert _tool_items(turn["items"]) == _tool_items(want["items"])


# ---- the real Codex reads threadline's files ------------------------------------------------




class _Codex:
    """A minimal JSON-RPC client for ``codex app-server`` over stdio."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []
        self._next = 0

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise ConnectionError("codex app-server closed its stdout")
        message: dict[str, Any] = json.loads(raw)
        self.seen.append(message)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self._next += 1
        rid = self._next
        await self.send({"id": rid, "method": method, "params": params})
        while True:
            message = await self._read(timeout)
            if message.get("id") == rid and "method" not in message:
                assert "error" not in message, message
                return message["result"]
            if "method" in message and "id" in message:  # decline anything it asks
                await self.send({"id": message["id"], "result": {"decision": "decline"}})

    async def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        while True:
            message = await self._read(timeout)
            if message.get("method") == method and "id" not in message:
                return message


async def _codex_resume_and_turn(
    binary: Path, rollout: Path, thread_id: str, base: Path, mock: MockModel
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give ``rollout`` to the real Codex: resume it, then run one turn on it."""
    home, cwd = base / "codex-home", base / "codex-cwd"
    day = home / "sessions" / "2026" / "12" / "01"
    day.mkdir(parents=True)
    cwd.mkdir()
    shutil.copy(rollout, day / f"rollout-2026-12-01T10-00-00-{thread_id}.jsonl")
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=mock.base_url))
    env = {**os.environ, "CODEX_HOME": str(home), "MOCK_OPENAI_API_KEY": "k", "RUST_LOG": "error"}
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        "app-server",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=1 << 24,
    )
    codex = _Codex(proc)
    try:
        await codex.request(
            "initialize", {"clientInfo": {"name": "t", "title": "t", "version": "0"}}
        )
        await codex.send({"method": "initialized"})
        resumed = await codex.request("thread/resume", {"threadId": thread_id})
        mock.enqueue(text("read it"))
        await codex.request(
            "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "again"}]}
        )
        done = await codex.wait_for("turn/completed")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return resumed, done


def _input_types(body: dict[str, Any]) -> list[str]:
    return [i.get("type", "message") for i in body["input"]]


async def test_codex_resumes_what_threadline_wrote(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path, tmp_path: Path,
    mock_home: Path, store: StoreUnderTest,
) -> None:
    binary = _codex_binary()
    if binary is None:
        pytest.skip("the Codex 0.169 reference binary is not installed")
    thread_id, turn_id, _, rollout = await _command_and_patch_turn(
        launch_server, mock_model, workspace
    )
    rollout = await store.rollout_file(rollout, home=mock_home, out=tmp_path / "out" / "one.jsonl")
    resumed, done = await _codex_resume_and_turn(
        binary, rollout, thread_id, tmp_path / "one", mock_model
    )
    [turn] = resumed["thread"]["turns"]
    assert (turn["id"], turn["status"]) == (turn_id, "completed")
    assert done["params"]["turn"]["status"] == "completed"
    # Codex sent the model the whole history, the command's and the patch's results included.
    sent = _input_types(mock_model.requests[-1].body)
    assert {
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
    } <= set(sent)


async def test_codex_resumes_a_file_cut_off_while_an_approval_was_pending(
    launch_server: LaunchServer, mock_model: MockModel, workspace: Path, tmp_path: Path,
    mock_home: Path, store: StoreUnderTest,
) -> None:
    binary = _codex_binary()
    if binary is None:
        pytest.skip("the Codex 0.169 reference binary is not installed")
    mock_model.enqueue(
        function_call("exec_command", {"cmd": "touch x", "login": False}, call_id="call_x")
    )
    server = await launch_server()
    client = server.client
    started = await client.request(
        "thread/start",
        {"cwd": str(workspace), "approvalPolicy": "untrusted", "sandbox": "workspace-write"},
    )
    thread_id = started["thread"]["id"]
    await client.request(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "touch"}]}
    )
    await client.wait_for_request("item/commandExecution/requestApproval")
    os.kill(server.proc.pid, signal.SIGKILL)
    await server.proc.wait()
    rollout = Path(started["thread"]["path"])
    kinds = [line["payload"].get("type") for line in store.lines(rollout)]
    assert "client_ask_opened" in kinds

    resumed, done = await _codex_resume_and_turn(
        binary, await store.rollout_file(rollout, home=mock_home, out=tmp_path / "out" / "two.jsonl"),
        thread_id, tmp_path / "two", mock_model,
    )
    [turn] = resumed["thread"]["turns"]
    assert turn["status"] == "interrupted"
    assert [i["type"] for i in turn["items"]] == ["userMessage"]
    assert done["params"]["turn"]["status"] == "completed"
    assert not (workspace / "x").exists()

    # threadline continues the turn (asked again, accepted); Codex reads the result too.
    mock_model.enqueue(text("touched"))
    server = await launch_server()
    client = server.client
    await client.request("thread/resume", {"threadId": thread_id})
    again = await client.wait_for_request("item/commandExecution/requestApproval")
    await client.respond(again["id"], {"decision": "accept"})
    await client.wait_for_notification("turn/completed", timeout=30)
    await server.stop()
    assert (workspace / "x").exists()
    kinds = [line["payload"].get("type") for line in store.lines(rollout)]
    assert (kinds.count("client_ask_opened"), kinds.count("client_ask_answered")) == (2, 1)
    resumed, done = await _codex_resume_and_turn(
        binary, await store.rollout_file(rollout, home=mock_home, out=tmp_path / "out" / "three.jsonl"),
        thread_id, tmp_path / "three", mock_model,
    )
    [turn] = resumed["thread"]["turns"]
    assert turn["status"] == "completed"
    assert [i["type"] for i in turn["items"]] == ["userMessage", "agentMessage"]
    assert done["params"]["turn"]["status"] == "completed"
